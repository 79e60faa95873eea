"""benchmarks/decoder_noise.py: the decoder noise inputs behind a docs/quality.md row."""

import importlib.util
import os

import keras
import numpy as np

from ava_keras.layers import ConvDecoder


def _load_benchmark():
    path = os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks", "decoder_noise.py")
    module_spec = importlib.util.spec_from_file_location("decoder_noise", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def test_noise_inputs_start_silent_and_are_restored_afterwards():
    decoder_noise = _load_benchmark().decoder_noise
    latents = keras.random.normal((3, 4), seed=0)
    with decoder_noise():
        decoder = ConvDecoder(image_shape=(12, 10, 3), filters=(8, 4))
        decoder.build((None, 4))
        scales = decoder.noise_scales
        assert [tuple(scale.shape) for scale in scales] == [(8,), (4,)]
        assert {id(scale) for scale in scales} <= {id(weight) for weight in decoder.trainable_weights}
        silent = keras.ops.convert_to_numpy(decoder(latents))
        np.testing.assert_allclose(keras.ops.convert_to_numpy(decoder(latents)), silent)
        for scale in scales:
            scale.assign(np.ones(scale.shape))
        first = keras.ops.convert_to_numpy(decoder(latents))
        second = keras.ops.convert_to_numpy(decoder(latents))
    assert first.shape == (3, 12, 10, 3)
    assert np.abs(first - silent).max() > 1e-3
    assert np.abs(first - second).max() > 1e-3
    plain = ConvDecoder(image_shape=(12, 10, 3), filters=(8, 4))
    plain.build((None, 4))
    assert not hasattr(plain, "noise_scales")
