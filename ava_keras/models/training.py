"""The training step of an AVA: one tape per gradient group, one optimizer per block (docs/design_choices.md)."""

import contextlib

import keras
import tensorflow as tf
from keras import ops

from ava_keras import distribute
from ava_keras.constants import BLOCKS, SWITCH_BLOCKS
from ava_keras.models.objectives import adversaries_started

# The terms a step logs (`compute_losses`), each with its own tracker.
LOG_NAMES = (
    "loss",
    "reconstruction",
    "kl",
    "decoder_adversarial",
    "encoder_adversarial",
    "discriminator_loss",
    "latent_discriminator_loss",
    "d_real",
    "d_fake",
    "latent_d_real",
    "latent_d_fake",
    "feature_reconstruction",
    "frequency_reconstruction",
    "d_prior",
    "adaptive_adversarial_weight",
)


# Adam's beta_1 for the discriminators (the GAN practice of Radford et al. 2016).
DISCRIMINATOR_BETA_1 = 0.5

# The optimizer `AVA.compile` gives each block by default; keyword arguments
# add to it, e.g. `DEFAULT_OPTIMIZERS["decoder"](use_ema=True, ema_momentum=0.99)`.
DEFAULT_OPTIMIZERS = {
    "encoder": lambda **options: keras.optimizers.Adam(1e-3, **options),
    "decoder": lambda **options: keras.optimizers.Adam(1e-3, **options),
    "discriminator": lambda **options: keras.optimizers.Adam(2e-4, beta_1=DISCRIMINATOR_BETA_1, **options),
    "latent_discriminator": lambda **options: keras.optimizers.Adam(2e-4, beta_1=DISCRIMINATOR_BETA_1, **options),
}


def ema_options(momentum):
    """A Keras optimizer's arguments for an average of its block's weights at `momentum` (None: no average)."""
    return {} if momentum is None else {"use_ema": True, "ema_momentum": momentum}


class BlockTrainer:
    """The steps of `ava_keras.AVA` and its optimizers, one per block (a mixin of `keras.Model`).

    `train_step` runs one forward pass (`compute_losses`), records it on one
    `GradientTape` per gradient group and applies each block's optimizer to
    that block's own objective, while one of its switches is on.
    `AVA.compile` creates the `{block}_optimizer`s (`_create_optimizers`);
    `get_compile_config` saves them with the model. Needs the blocks,
    `_switch_variables`, `trackers`, `routing`, `discriminator_start_step`,
    `safety_checks` and the image checks of `ava_keras.models.safety.SafetyChecks`.
    """

    def _block_is_on(self, block):
        """A scalar bool tensor: whether `block` is updated this step."""
        if block in ("encoder", "decoder"):
            return tf.constant(True)
        names = [name for name, owner in SWITCH_BLOCKS.items() if owner == block]
        is_on = tf.reduce_any([self._switch_variables[name] > 0.5 for name in names])
        started = adversaries_started(self)
        return is_on if started is None else is_on & started

    def _gradient_groups(self):
        """Tuples of blocks whose gradients come from one backward pass.

        In `joint` routing the decoder's objective is the encoder's minus
        the KL term, which does not depend on Φ, so the gradient of the
        encoder's objective with respect to Θ and Φ gives both blocks'
        gradients: one backward pass through the discriminators and the
        decoder instead of two. In `paper` routing, or when A_d does not
        reach the encoder, the two objectives differ by more than K, so each
        block has its own tape.
        """
        blocks = [b for b in BLOCKS if getattr(self, b) is not None]
        if self.routing == "joint" and self.decoder_adversarial_reaches_encoder:
            return [("encoder", "decoder")] + [(b,) for b in blocks[2:]]
        return [(b,) for b in blocks]

    def train_step(self, data):
        images, labels, valid = self._inputs_from(data, "fit")
        groups = self._gradient_groups()
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with contextlib.ExitStack() as stack:
            tapes = []
            for group in groups:
                tape = stack.enter_context(tf.GradientTape(watch_accessed_variables=False))
                tape.watch([v.value for block in group for v in getattr(self, block).trainable_variables])
                tapes.append(tape)
            objectives, logs = self.compute_losses(images, labels, training=True)
            # Gradients are summed over replicas, so scale to the global batch,
            # then by the loss scale of the group's first optimizer (1 without
            # loss scaling), as Keras' own train_step does.
            scaled = [self._optimizer(group[0]).scale_loss(objectives[group[0]] / replicas) for group in groups]
        updates = {}  # every gradient first: a non-finite one stops every block's update
        for group, tape, objective in zip(groups, tapes, scaled):
            variables = [getattr(self, block).trainable_variables for block in group]
            gradients = tape.gradient(objective, [v for block_variables in variables for v in block_variables])
            for block, block_variables in zip(group, variables):
                block_gradients, gradients = gradients[: len(block_variables)], gradients[len(block_variables) :]
                # Each optimizer unscales by its own loss scale (powers of 2, so the ratio is exact).
                ratio = self._loss_scale(block) / self._loss_scale(group[0])
                block_gradients = [
                    ops.zeros_like(v) if g is None else g * ratio for g, v in zip(block_gradients, block_variables)
                ]
                updates[block] = (block_gradients, block_variables)
        healthy = self._record_divergence(objectives, logs, updates, valid) if self.safety_checks else valid
        # Read before any optimizer step moves the decoder's iteration counter (`discriminator_start_step`).
        is_on = {block: self._block_is_on(block) & healthy for block in updates}
        for block, (block_gradients, block_variables) in updates.items():
            self._apply_if_on(block, block_gradients, block_variables, replicas, is_on[block])
        return self._update_trackers(logs)

    def _create_optimizers(self, given, scale_loss):
        """Sets `{block}_optimizer`: `given[block]` (an optimizer, a name, a config or None: the default), built
        on the block's variables, in a `keras.optimizers.LossScaleOptimizer` if `scale_loss`; None without the block."""
        for block in BLOCKS:
            network = getattr(self, block)
            if network is None:
                setattr(self, f"{block}_optimizer", None)
                continue
            optimizer = DEFAULT_OPTIMIZERS[block]() if given[block] is None else keras.optimizers.get(given[block])
            if scale_loss and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer, name=f"{block}_loss_scale_optimizer")
            optimizer.build(network.trainable_variables)
            setattr(self, f"{block}_optimizer", optimizer)

    def finalize_variable_values(self):
        """Ends training as Keras' `fit` ends it for its one optimizer: every block whose optimizer has
        `use_ema=True` takes the moving average of its trainable weights; the other blocks keep theirs.

        `fit` calls it after its last epoch (not after a fit that raised, e.g.
        on divergence); call it yourself after a loop of `train_on_batch`. A
        block whose optimizer has not taken a step yet (switched off, or before
        `discriminator_start_step`) keeps its weights: its average holds none.
        """
        for block in BLOCKS:
            optimizer = getattr(self, f"{block}_optimizer", None)  # None without the block
            if optimizer is not None and optimizer.iterations.numpy() > 0:
                optimizer.finalize_variable_values(getattr(self, block).trainable_variables)

    def get_compile_config(self):
        if not self.compiled:  # nothing to restore: loading leaves the model uncompiled
            return None
        config = {"jit_compile": bool(self.jit_compile), "auto_scale_loss": getattr(self, "_auto_scale_loss", True)}
        for block in BLOCKS:
            optimizer = getattr(self, f"{block}_optimizer", None)
            if optimizer is not None:
                config[f"{block}_optimizer"] = keras.optimizers.serialize(optimizer)
        return config

    def compile_from_config(self, config):
        config = dict(config)
        for block in BLOCKS:
            if config.get(f"{block}_optimizer") is not None:
                config[f"{block}_optimizer"] = keras.optimizers.deserialize(config[f"{block}_optimizer"])
        self.compile(**config)

    def _optimizer(self, block):
        return getattr(self, f"{block}_optimizer")

    def _loss_scale(self, block):
        """The current loss scale of `block`'s optimizer, a float32 scalar."""
        return ops.cast(self._optimizer(block).scale_loss(1.0), "float32")

    def _apply_if_on(self, block, gradients, variables, replicas, is_on):
        """Applies `block`'s optimizer only if `is_on`: one of its switches is on and the step is healthy.

        On one replica the step is skipped outright, so a switched-off block
        (or an unhealthy step) does not move at all (a zero-gradient Adam step
        would still move it by its momentum). Under a `tf.distribute` strategy,
        even with one replica, an optimizer step cannot sit inside control flow
        (it synchronises replicas), so there the gradients are zeroed instead; see
        docs/distributed.md.
        """
        optimizer = self._optimizer(block)
        if replicas > 1 or tf.distribute.has_strategy():
            optimizer.apply([tf.where(is_on, g, tf.zeros_like(g)) for g in gradients], variables)
            return

        def apply():
            optimizer.apply(gradients, variables)
            return tf.constant(True)

        tf.cond(is_on, apply, lambda: tf.constant(False))

    def test_step(self, data):
        images, labels, _ = self._inputs_from(data, "evaluate")
        _, logs = self.compute_losses(images, labels, training=False)
        return self._update_trackers(logs)

    def predict_step(self, data):
        images, labels, _ = self._inputs_from(data, "predict")
        return self(images if labels is None else (images, labels), training=False)

    def _create_trackers(self):
        self.trackers = {name: keras.metrics.Mean(name=name) for name in LOG_NAMES}

    def _update_trackers(self, logs):
        for name, value in logs.items():
            self.trackers[name].update_state(value)
        return distribute.step_logs({name: self.trackers[name].result() for name in logs})

    @property
    def metrics(self):
        return list(self.trackers.values())
