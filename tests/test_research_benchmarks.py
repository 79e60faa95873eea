"""The research ingredients of benchmarks/ behind docs/quality.md rows: decoder noise, minibatch SD."""

import importlib.util
import os

import keras
import numpy as np

from ava_keras.layers import ConvDecoder, PatchDiscriminator


def _load_benchmark(name):
    path = os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks", f"{name}.py")
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def test_noise_inputs_start_silent_and_are_restored_afterwards():
    decoder_noise = _load_benchmark("decoder_noise").decoder_noise
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


def test_minibatch_stddev_channel_tells_a_repeated_image_from_varied_ones():
    module = _load_benchmark("minibatch_stddev")
    varied = keras.random.uniform((4, 16, 16, 3), seed=1)
    repeated = keras.ops.repeat(varied[:1], 4, axis=0)
    features = keras.ops.convert_to_numpy(module.with_batch_stddev(varied))
    np.testing.assert_allclose(features[..., :3], keras.ops.convert_to_numpy(varied))
    assert np.all(features[..., 3] > 0.05)
    np.testing.assert_allclose(features[..., 3], features[:1, ..., 3].repeat(4, axis=0))
    assert np.all(keras.ops.convert_to_numpy(module.with_batch_stddev(repeated))[..., 3] < 1e-3)
    with module.minibatch_stddev():
        d = PatchDiscriminator(filters=(8, 16))
        assert tuple(d(varied).shape) == (4, 4, 4, 1)
        assert tuple(d.logit.kernel.shape) == (3, 3, 17, 1)
        assert not np.allclose(keras.ops.convert_to_numpy(d(varied)[:1]), keras.ops.convert_to_numpy(d(repeated)[:1]))
    assert tuple(PatchDiscriminator(filters=(8, 16))(varied).shape) == (4, 4, 4, 1)
    plain = PatchDiscriminator(filters=(8, 16))
    plain.build((None, 16, 16, 3))
    assert tuple(plain.logit.kernel.shape) == (3, 3, 16, 1)
