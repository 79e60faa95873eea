"""Reparameterization layer, eq. 8 of the AVA paper."""

import keras
import tensorflow as tf
from keras import ops

from ava_keras.errors import InputError


@keras.saving.register_keras_serializable(package="ava_keras")
class Sampling(keras.layers.Layer):
    """Draws `z = mean + exp(log_var / 2) * r` with `r ~ N(0, I)` (eq. 8).

    The noise is drawn in the layer's compute dtype (float16 or bfloat16
    under a mixed precision policy) from a `keras.random.SeedGenerator`,
    so a seeded layer gives the same sequence of draws on every run. Its
    state is saved with the layer (`.keras` files and checkpoints), so
    training resumed from a file continues the same noise sequence.

    Args:
        seed: Optional integer seed for the noise.
        **kwargs: Base layer keyword arguments, such as `name`.

    Call arguments:
        inputs: List `[mean, log_var]` of two tensors of the same shape
            `(batch, latent_dim)`.

    Output shape:
        Same as `mean`.

    Example:

    >>> z = Sampling(seed=0)([keras.ops.zeros((2, 4)), keras.ops.zeros((2, 4))])

    Reference:
        Nguyen (2023), "Adversarial Variational Autoencoders", eq. 8.
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and not isinstance(seed, int):
            raise InputError(
                f"`seed` must be an integer or None. Received: seed={seed!r}"
            )
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def call(self, inputs):
        mean, log_var = inputs
        return mean + ops.exp(0.5 * log_var) * self._noise(ops.shape(mean))

    def _noise(self, shape):
        replica = tf.distribute.get_replica_context()
        if replica is None or replica.num_replicas_in_sync == 1:
            return keras.random.normal(shape, dtype=self.compute_dtype, seed=self.seed_generator)
        # Every replica reads the same generator state: fold the replica id
        # into the seed, so that each replica's examples get their own noise
        # (replica 0 draws what a single device would).
        seed = self.seed_generator.next()
        seed = seed + ops.cast(replica.replica_id_in_sync_group, seed.dtype) * ops.array([1_000_003, 0], seed.dtype)
        seed = ops.cast(ops.mod(seed, 2**31 - 2), "int32")  # as keras.random casts its seeds
        return tf.random.stateless_normal(shape, seed=seed, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def save_own_variables(self, store):
        # The layer owns no weights; its only state is the noise generator's.
        store["seed_state"] = ops.convert_to_numpy(self.seed_generator.state.value)

    def load_own_variables(self, store):
        if "seed_state" in store:
            self.seed_generator.state.assign(store["seed_state"])

    def get_config(self):
        config = super().get_config()
        config.update({"seed": self.seed})
        return config
