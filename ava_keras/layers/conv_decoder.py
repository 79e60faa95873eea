"""Convolutional decoder g(z | Φ): latent vector -> image of an exact shape."""

import math

import keras

from ava_keras._validation import (
    check_activation,
    check_filters,
    check_image_shape,
    check_positive_int,
)
from ava_keras.constants import UPSAMPLINGS
from ava_keras.errors import InputError
from ava_keras.layers._normalization import check_normalization, normalization_layer


@keras.saving.register_keras_serializable(package="ava_keras")
class ConvDecoder(keras.layers.Layer):
    """Decoder g(z | Φ) of eq. 1: dense seed map, upsampling convolutions, crop.

    Each entry of `filters` doubles the spatial size, by a stride-2
    transposed convolution (`upsampling="transpose"`) or by nearest-neighbour
    resizing followed by a convolution (`"resize"`), which cannot make the
    checkerboard patterns of uneven kernel overlap (Odena et al. 2016). The seed map is
    `ceil(H / 2**n) x ceil(W / 2**n)`, so the upsampled map covers the
    requested size; the surplus rows and columns are cropped centrally, which
    gives exactly `image_shape` for any height and width (83 x 60 included).
    The output activation is a sigmoid (the paper's a_g), so pixels lie in
    [0, 1] and a'_g(x') = x'(1 - x') in the leaning terms (eqs. 10, 16).

    Args:
        image_shape: `(height, width, channels)` of the images, 1 or 3 channels.
        filters: Filter counts of the transposed convolutions, coarse to fine.
        kernel_size: Convolution kernel size.
        activation: Hidden activation.
        upsampling: `"transpose"` (default) or `"resize"` (above).
        normalization: `None` (default) or `"group"`: group normalisation
            between each upsampling convolution and its activation.
        **kwargs: Base layer keyword arguments, such as `name`.

    Call arguments:
        inputs: Latent vectors of shape `(batch, latent_dim)`.

    Output shape:
        `(batch, height, width, channels)`, values in [0, 1].

    Example:

    >>> decoder = ConvDecoder(image_shape=(83, 60, 3), filters=(32, 16))
    >>> decoder(keras.ops.zeros((2, 8))).shape
    (2, 83, 60, 3)

    Reference:
        Nguyen (2023), eqs. 1 and 6.
    """

    def __init__(
        self,
        image_shape,
        filters=(64, 32),
        kernel_size=3,
        activation="relu",
        upsampling="transpose",
        normalization=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # === Config ===
        self.image_shape = check_image_shape(image_shape)
        self.filters = check_filters("filters", filters, allow_empty=True)
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        self.activation = check_activation(activation)
        if upsampling not in UPSAMPLINGS:
            raise InputError(f"`upsampling` must be one of {UPSAMPLINGS}. Received: upsampling={upsampling!r}")
        self.upsampling = upsampling
        self.normalization = check_normalization(normalization)

        height, width, channels = self.image_shape
        scale = 2 ** len(self.filters)
        self.seed_shape = (
            math.ceil(height / scale),
            math.ceil(width / scale),
            self.filters[0] if self.filters else channels,
        )
        extra_h = self.seed_shape[0] * scale - height
        extra_w = self.seed_shape[1] * scale - width

        # === Layers ===
        self.seed_dense = keras.layers.Dense(
            math.prod(self.seed_shape), activation=self.activation, name="seed_dense", dtype=self.dtype_policy
        )
        self.reshape = keras.layers.Reshape(self.seed_shape, name="seed_map", dtype=self.dtype_policy)
        # With normalisation the activation follows it; without, it is the convolution's own.
        conv_activation = None if self.normalization else self.activation
        convolution, strides = (
            (keras.layers.Conv2DTranspose, 2) if self.upsampling == "transpose" else (keras.layers.Conv2D, 1)
        )
        self.upsample_layers = [
            convolution(
                n,
                self.kernel_size,
                strides=strides,
                padding="same",
                activation=conv_activation,
                name=f"upsample_{i}",
                dtype=self.dtype_policy,
            )
            for i, n in enumerate(self.filters)
        ]
        self.resize = keras.layers.UpSampling2D(2, interpolation="nearest", name="resize", dtype=self.dtype_policy)
        self.norm_layers = [
            normalization_layer(self.normalization, n, f"norm_{i}", self.dtype_policy)
            for i, n in enumerate(self.filters)
        ]
        self.activation_layer = keras.layers.Activation(
            self.activation, name="activation", dtype=self.dtype_policy
        )
        self.output_conv = keras.layers.Conv2D(
            channels,
            self.kernel_size,
            padding="same",
            activation="sigmoid",
            name="output_conv",
            dtype=self.dtype_policy,
        )
        self.crop = keras.layers.Cropping2D(
            ((extra_h // 2, extra_h - extra_h // 2), (extra_w // 2, extra_w - extra_w // 2)),
            name="crop",
            dtype=self.dtype_policy,
        )

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise InputError(
                "ConvDecoder expects latent vectors of shape (batch, latent_dim). "
                f"Received: input_shape={input_shape}"
            )
        self.seed_dense.build(input_shape)
        shape = (input_shape[0],) + self.seed_shape
        self.resize.build(shape)  # weightless; built even when unused, so that the whole model counts as built
        for layer, norm in zip(self.upsample_layers, self.norm_layers):
            if self.upsampling == "resize":
                shape = self.resize.compute_output_shape(shape)
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
            if norm is not None:
                norm.build(shape)
        self.output_conv.build(shape)
        self.built = True

    def call(self, inputs):
        x = self.reshape(self.seed_dense(inputs))
        for layer, norm in zip(self.upsample_layers, self.norm_layers):
            if self.upsampling == "resize":
                x = self.resize(x)
            x = layer(x)
            if norm is not None:
                x = self.activation_layer(norm(x))
        return self.crop(self.output_conv(x))

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self.image_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_shape": list(self.image_shape),
                "filters": list(self.filters),
                "kernel_size": self.kernel_size,
                "activation": self.activation,
                "upsampling": self.upsampling,
                "normalization": self.normalization,
            }
        )
        return config
