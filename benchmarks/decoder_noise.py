"""Runs an ava-keras command with per-pixel noise inputs in the decoder (docs/quality.md).

A research ingredient, not a package option: StyleGAN's noise inputs
(Karras et al. 2019, section 3.2) give a generator its own source of
per-pixel randomness for stochastic detail such as texture. After each of
the ConvDecoder's upsampling blocks this adds s_c * N(0, 1), one noise map
per pixel shared by the channels, scaled by a learned per-channel weight s
initialised at 0, at training and at inference alike. The rest of the
command is the package's own:

    python benchmarks/decoder_noise.py experiment quality --dataset photos --image-size 64 \
        --networks scaled --presets ava5 --discriminator patch --adaptive-adversarial-weight \
        --steps 1500 --samples 1000 --no-baseline --seeds 3 --label NAME --out DIR

Models it trains hold the patched decoder and are not meant to be saved.
"""

import sys
from unittest import mock

import keras

from ava_keras import cli
from ava_keras.layers.conv_decoder import ConvDecoder

NOISE_SEED = 1234


def _build_with_noise(build):
    def build_with_noise(self, input_shape):
        build(self, input_shape)
        self.noise_scales = [
            self.add_weight(shape=(filters,), initializer="zeros", name=f"noise_scale_{i}")
            for i, filters in enumerate(self.filters)
        ]
        self.noise_seed = keras.random.SeedGenerator(NOISE_SEED)

    return build_with_noise


def _call_with_noise(self, inputs):
    x = self.reshape(self.seed_dense(inputs))
    for layer, norm, scale in zip(self.upsample_layers, self.norm_layers, self.noise_scales):
        if self.upsampling == "resize":
            x = self.resize(x)
        x = layer(x)
        if norm is not None:
            x = self.activation_layer(norm(x))
        batch, height, width = keras.ops.shape(x)[:3]
        noise = keras.random.normal((batch, height, width, 1), seed=self.noise_seed, dtype=x.dtype)
        x = x + keras.ops.cast(scale, x.dtype) * noise
    return self.crop(self.output_conv(x))


def decoder_noise():
    """Every ConvDecoder built inside the block has the noise inputs.

    A context manager (`unittest.mock.patch.multiple`) that restores the class on exit.
    """
    return mock.patch.multiple(ConvDecoder, build=_build_with_noise(ConvDecoder.build), call=_call_with_noise)


def main(argv=None):
    with decoder_noise():
        return cli.main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
