"""Differentiable augmentation of a discriminator's inputs (DiffAugment)."""

import keras
from keras import ops

from ava_keras.errors import InputError

POLICIES = ("color", "translation", "cutout")


@keras.saving.register_keras_serializable(package="ava_keras")
class DiffAugment(keras.layers.Layer):
    """Random, differentiable colour, translation and cutout (Zhao et al. 2020).

    A discriminator trained on little data memorises it and its gradients
    stop helping the generator. DiffAugment shows it the same random
    transformation of real and generated images, every step, through
    differentiable ops, so the generator still receives gradients. Each
    image gets its own draw: brightness shift in [−0.5, 0.5], saturation and
    contrast factors in [0, 2] and [0.5, 1.5] (`"color"`); a shift by up to
    1/8 of the size with zero fill (`"translation"`); a zeroed square of half
    the size at a random place (`"cutout"`). Outside training it is the identity.

    Args:
        policy: Tuple of transformations from `POLICIES` (default all three).
        seed: Optional integer seed.
        **kwargs: Base layer keyword arguments, such as `name`.

    Call arguments:
        inputs: Images `(batch, height, width, channels)`.
        training: Python bool; augments only when true.

    Output shape:
        Same as the input.

    Example:

    >>> augmented = DiffAugment(seed=0)(keras.ops.ones((2, 28, 28, 1)), training=True)

    Reference:
        Zhao, Liu, Lin, Zhu and Han (2020), "Differentiable Augmentation for
        Data-Efficient GAN Training", NeurIPS.
    """

    def __init__(self, policy=POLICIES, seed=None, **kwargs):
        super().__init__(**kwargs)
        policy = (policy,) if isinstance(policy, str) else tuple(policy)
        unknown = [p for p in policy if p not in POLICIES]
        if unknown or not policy:
            raise InputError(f"`policy` must be a non-empty tuple from {POLICIES}. Received: policy={policy!r}")
        self.policy = policy
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def call(self, inputs, training=False):
        if not training:
            return inputs
        x = inputs
        if "color" in self.policy:
            x = self._color(x)
        if "translation" in self.policy:
            x = self._translation(x)
        if "cutout" in self.policy:
            x = self._cutout(x)
        return x

    def _uniform(self, shape, low, high):
        return keras.random.uniform(shape, low, high, dtype=self.compute_dtype, seed=self.seed_generator)

    def _color(self, x):
        batch = (ops.shape(x)[0], 1, 1, 1)
        x = x + self._uniform(batch, -0.5, 0.5)
        mean = ops.mean(x, axis=-1, keepdims=True)
        x = (x - mean) * self._uniform(batch, 0.0, 2.0) + mean
        mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
        return (x - mean) * self._uniform(batch, 0.5, 1.5) + mean

    def _shift_masks(self, size, max_shift, batch):
        """Per-image one-hot shift matrices `(batch, size, size)`: row i picks source i − shift."""
        shift = ops.cast(ops.round(self._uniform((batch, 1, 1), -max_shift - 0.5, max_shift + 0.5)), "int32")
        rows = ops.reshape(ops.arange(size), (1, size, 1))
        cols = ops.reshape(ops.arange(size), (1, 1, size))
        return ops.cast(ops.equal(cols, rows - shift), self.compute_dtype)

    def _translation(self, x):
        batch, height, width = ops.shape(x)[0], x.shape[1], x.shape[2]
        vertical = self._shift_masks(height, max(1, height // 8), batch)
        horizontal = self._shift_masks(width, max(1, width // 8), batch)
        # Shift = permutation matrices with zero fill: out[i, j] = x[i − dy, j − dx].
        x = ops.einsum("bij,bjwc->biwc", vertical, x)
        return ops.einsum("bkw,bhwc->bhkc", horizontal, x)

    def _cutout(self, x):
        batch, height, width = ops.shape(x)[0], x.shape[1], x.shape[2]
        cut_h, cut_w = max(1, height // 2), max(1, width // 2)
        top = ops.floor(self._uniform((batch, 1, 1, 1), 0.0, 1.0) * (height - cut_h + 1))
        left = ops.floor(self._uniform((batch, 1, 1, 1), 0.0, 1.0) * (width - cut_w + 1))
        rows = ops.cast(ops.reshape(ops.arange(height), (1, height, 1, 1)), self.compute_dtype)
        cols = ops.cast(ops.reshape(ops.arange(width), (1, 1, width, 1)), self.compute_dtype)
        inside = (rows >= top) & (rows < top + cut_h) & (cols >= left) & (cols < left + cut_w)
        return x * (1.0 - ops.cast(inside, x.dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"policy": list(self.policy), "seed": self.seed})
        return config
