"""Image discriminator d(x | Ψ): image -> realism logit."""

import keras

from ava_keras._validation import check_activation, check_filters, check_positive_int
from ava_keras.errors import InputError


@keras.saving.register_keras_serializable(package="ava_keras")
class Discriminator(keras.layers.Layer):
    """Decoder discriminator d(x | Ψ) of eqs. 2-4: strided convolutions, one logit.

    It returns the logit `net_d`; the probability that an image is real is
    `d(x) = sigmoid(net_d)` (a_d is the sigmoid). The losses in
    `ava_keras.losses` take logits so that saturated outputs stay finite.

    Args:
        filters: Filter counts of the stride-2 convolutions.
        kernel_size: Convolution kernel size.
        dropout: Dropout rate before the output unit (0 for none).
        spectral_normalization: Divide every weight matrix by its largest
            singular value, estimated by power iteration (Miyato et al. 2018),
            so that d is roughly 1-Lipschitz.
        **kwargs: Base layer keyword arguments, such as `name`.

    Call arguments:
        inputs: Images of shape `(batch, height, width, channels)`.
        training: Python bool; enables dropout.

    Output shape:
        `(batch, 1)` logits.

    Example:

    >>> logits = Discriminator(filters=(16, 32))(keras.ops.zeros((2, 28, 28, 1)))

    Reference:
        Nguyen (2023), eqs. 2, 4 and 7.
    """

    def __init__(self, filters=(32, 64), kernel_size=3, dropout=0.0, spectral_normalization=False, **kwargs):
        super().__init__(**kwargs)
        # === Config ===
        self.filters = check_filters("filters", filters)
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        if not 0.0 <= float(dropout) < 1.0:
            raise InputError(f"`dropout` must be in [0, 1). Received: dropout={dropout!r}")
        self.dropout = float(dropout)
        self.spectral_normalization = bool(spectral_normalization)

        # === Layers ===
        self.conv_layers = [
            self._normalized(
                keras.layers.Conv2D(
                    n, self.kernel_size, strides=2, padding="same", name=f"conv_{i}", dtype=self.dtype_policy
                )
            )
            for i, n in enumerate(self.filters)
        ]
        self.activation_layer = keras.layers.LeakyReLU(
            negative_slope=0.2, name="leaky_relu", dtype=self.dtype_policy
        )
        self.flatten = keras.layers.Flatten(name="flatten", dtype=self.dtype_policy)
        self.dropout_layer = keras.layers.Dropout(self.dropout, name="dropout", dtype=self.dtype_policy)
        self.logit = self._normalized(self._logit_layer())

    def _logit_layer(self):
        """The output unit: one logit from the flattened features."""
        return keras.layers.Dense(1, name="logit", dtype=self.dtype_policy)

    def _normalized(self, layer):
        if not self.spectral_normalization:
            return layer
        return keras.layers.SpectralNormalization(layer, name=f"spectral_{layer.name}", dtype=self.dtype_policy)

    def _build_convolutions(self, input_shape):
        """Builds the convolutions for `input_shape`; returns the shape of their last feature map."""
        if len(input_shape) != 4:
            raise InputError(
                f"{type(self).__name__} expects images of shape (batch, height, width, "
                f"channels). Received: input_shape={input_shape}"
            )
        shape = input_shape
        for layer in self.conv_layers:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        return shape

    def build(self, input_shape):
        self.logit.build(self.flatten.compute_output_shape(self._build_convolutions(input_shape)))
        self.built = True

    def _feature_map(self, inputs, training=False):
        """The last convolution's activations, `(batch, h, w, filters[-1])`."""
        x = inputs
        for layer in self.conv_layers:
            x = self.activation_layer(layer(x, training=training))
        return x

    def features(self, inputs, training=False):
        """The last convolution's activations, flattened: `(batch, features)`.

        The representation Dis_l(x) that feature-wise reconstruction
        compares (Larsen et al. 2016, eq. 7; `AVA(feature_reconstruction_weight=...)`).
        """
        return self.flatten(self._feature_map(inputs, training=training))

    def call(self, inputs, training=False):
        x = self.dropout_layer(self.features(inputs, training=training), training=training)
        return self.logit(x, training=training)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": list(self.filters),
                "kernel_size": self.kernel_size,
                "dropout": self.dropout,
                "spectral_normalization": self.spectral_normalization,
            }
        )
        return config
