"""Latent discriminator D(μ | Λ): mean vector -> realism logit."""

import keras

from ava_keras._validation import check_filters
from ava_keras.errors import InputError


@keras.saving.register_keras_serializable(package="ava_keras")
class LatentDiscriminator(keras.layers.Layer):
    """Encoder discriminator D(μ | Λ) of eqs. 11-13: a small MLP, one logit.

    It judges mean vectors: μ(x) of real images against μ(x′) of their
    reconstructions. `D(μ) = sigmoid(logit)`.

    Args:
        units: Hidden layer sizes.
        **kwargs: Base layer keyword arguments, such as `name`.

    Call arguments:
        inputs: Vectors of shape `(batch, latent_dim)`.

    Output shape:
        `(batch, 1)` logits.

    Example:

    >>> logits = LatentDiscriminator(units=(16,))(keras.ops.zeros((2, 8)))

    Reference:
        Nguyen (2023), eqs. 11, 13 and 16.
    """

    def __init__(self, units=(64, 64), **kwargs):
        super().__init__(**kwargs)
        # === Config ===
        self.units = check_filters("units", units, allow_empty=True)

        # === Layers ===
        self.hidden_layers = [
            keras.layers.Dense(n, name=f"hidden_{i}", dtype=self.dtype_policy)
            for i, n in enumerate(self.units)
        ]
        self.activation_layer = keras.layers.LeakyReLU(
            negative_slope=0.2, name="leaky_relu", dtype=self.dtype_policy
        )
        self.logit = keras.layers.Dense(1, name="logit", dtype=self.dtype_policy)

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise InputError(
                "LatentDiscriminator expects vectors of shape (batch, latent_dim). "
                f"Received: input_shape={input_shape}"
            )
        shape = input_shape
        for layer in self.hidden_layers:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.logit.build(shape)
        self.built = True

    def call(self, inputs):
        x = inputs
        for layer in self.hidden_layers:
            x = self.activation_layer(layer(x))
        return self.logit(x)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self):
        config = super().get_config()
        config.update({"units": list(self.units)})
        return config
