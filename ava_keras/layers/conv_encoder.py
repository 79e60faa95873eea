"""Convolutional encoder f(x | Θ): image -> (mean, log-variance)."""

import keras

from ava_keras._validation import check_activation, check_positive_int, check_filters
from ava_keras.errors import InputError
from ava_keras.layers._normalization import check_normalization, normalization_layer


@keras.saving.register_keras_serializable(package="ava_keras")
class ConvEncoder(keras.layers.Layer):
    """Encoder f(x | Θ) of eq. 1: strided convolutions, then two dense heads.

    The mean head is linear (the paper's a_μ; a'_μ = 1 in eq. 16) and the
    second head returns log σ², the log of the diagonal of Σ(x).

    Args:
        latent_dim: Size of the latent vector z.
        filters: Sequence of filter counts, one stride-2 convolution each.
        kernel_size: Convolution kernel size.
        hidden_units: Units of the dense layer before the heads (0 for none).
        activation: Hidden activation.
        normalization: `None` (default) or `"group"`: group normalisation
            between each convolution and its activation.
        **kwargs: Base layer keyword arguments, such as `name`.

    Call arguments:
        inputs: Images of shape `(batch, height, width, channels)` in [0, 1].

    Output shape:
        Tuple `(mean, log_var)`, each `(batch, latent_dim)`.

    Example:

    >>> encoder = ConvEncoder(latent_dim=8, filters=(16, 32))
    >>> mean, log_var = encoder(keras.ops.zeros((2, 28, 28, 1)))

    Reference:
        Nguyen (2023), eqs. 1 and 8.
    """

    def __init__(
        self,
        latent_dim,
        filters=(32, 64),
        kernel_size=3,
        hidden_units=128,
        activation="relu",
        normalization=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # === Config ===
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        self.filters = check_filters("filters", filters)
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        self.hidden_units = check_positive_int("hidden_units", hidden_units, allow_zero=True)
        self.activation = check_activation(activation)
        self.normalization = check_normalization(normalization)

        # === Layers ===
        # With normalisation the activation follows it; without, it is the convolution's own.
        self.conv_layers = [
            keras.layers.Conv2D(
                n,
                self.kernel_size,
                strides=2,
                padding="same",
                activation=None if self.normalization else self.activation,
                name=f"conv_{i}",
                dtype=self.dtype_policy,
            )
            for i, n in enumerate(self.filters)
        ]
        self.norm_layers = [
            normalization_layer(self.normalization, n, f"norm_{i}", self.dtype_policy)
            for i, n in enumerate(self.filters)
        ]
        self.activation_layer = keras.layers.Activation(
            self.activation, name="activation", dtype=self.dtype_policy
        )
        self.flatten = keras.layers.Flatten(name="flatten", dtype=self.dtype_policy)
        self.hidden = (
            keras.layers.Dense(
                self.hidden_units, activation=self.activation, name="hidden", dtype=self.dtype_policy
            )
            if self.hidden_units
            else None
        )
        self.mean_head = keras.layers.Dense(self.latent_dim, name="mean", dtype=self.dtype_policy)
        self.log_var_head = keras.layers.Dense(
            self.latent_dim, kernel_initializer="zeros", name="log_var", dtype=self.dtype_policy
        )

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise InputError(
                "ConvEncoder expects images of shape (batch, height, width, "
                f"channels). Received: input_shape={input_shape}"
            )
        shape = input_shape
        for layer, norm in zip(self.conv_layers, self.norm_layers):
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
            if norm is not None:
                norm.build(shape)
        self.flatten.build(shape)
        shape = self.flatten.compute_output_shape(shape)
        if self.hidden is not None:
            self.hidden.build(shape)
            shape = self.hidden.compute_output_shape(shape)
        self.mean_head.build(shape)
        self.log_var_head.build(shape)
        self.built = True

    def call(self, inputs):
        x = inputs
        for layer, norm in zip(self.conv_layers, self.norm_layers):
            x = layer(x)
            if norm is not None:
                x = self.activation_layer(norm(x))
        x = self.flatten(x)
        if self.hidden is not None:
            x = self.hidden(x)
        return self.mean_head(x), self.log_var_head(x)

    def compute_output_shape(self, input_shape):
        shape = (input_shape[0], self.latent_dim)
        return shape, shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "latent_dim": self.latent_dim,
                "filters": list(self.filters),
                "kernel_size": self.kernel_size,
                "hidden_units": self.hidden_units,
                "activation": self.activation,
                "normalization": self.normalization,
            }
        )
        return config
