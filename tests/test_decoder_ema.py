"""An exponential moving average of the decoder's weights: Keras' `use_ema` on the decoder's optimizer."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from ava_keras.errors import TrainingDivergedError
from tests._tiny import block_weights, sgd_compile, tiny_images, tiny_model

MOMENTUM = 0.5  # far from 1, so a few steps give an average well apart from the last weights
IMAGES = tiny_images(8)
BATCH_SIZE, EPOCHS = 4, 3  # 6 steps


class RecordWeights(keras.callbacks.Callback):
    """Every block's weights after each completed step (before `fit` finalizes them)."""

    def on_train_begin(self, logs=None):
        self.steps = []

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append(block_weights(self.model))


class RaiseLearningRate(keras.callbacks.Callback):
    """Makes the encoder's steps diverge after `after` steps."""

    def __init__(self, after):
        super().__init__()
        self.after = after

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.encoder_optimizer.iterations) == self.after:
            self.model.encoder_optimizer.learning_rate = 1e30


def ema_model(momentum=MOMENTUM, loss_scaled=False):
    """The tiny AVA5 with SGD(0.1) everywhere; the decoder's SGD keeps an average at `momentum` (None: none)."""
    keras.utils.set_random_seed(0)  # the same initial weights every time
    model = sgd_compile(tiny_model("ava5"), 0.1)
    if momentum is not None:
        decoder = keras.optimizers.SGD(0.1, use_ema=True, ema_momentum=momentum)
        if loss_scaled:
            decoder = keras.optimizers.LossScaleOptimizer(decoder)
        model.compile(
            encoder_optimizer=keras.optimizers.SGD(0.1),
            decoder_optimizer=decoder,
            discriminator_optimizer=keras.optimizers.SGD(0.1),
            latent_discriminator_optimizer=keras.optimizers.SGD(0.1),
        )
    return model


def reference_ema(steps, momentum):
    """Keras' average (base_optimizer._update_model_variables_moving_average): the first step's weights,
    then ema ← m·ema + (1 − m)·w after each later step."""
    average = [w.copy() for w in steps[0]]
    for weights in steps[1:]:
        average = [momentum * a + (1 - momentum) * w for a, w in zip(average, weights)]
    return average


def fit_recording(model, callbacks=()):
    recorder = RecordWeights()
    model.fit(IMAGES, batch_size=BATCH_SIZE, epochs=EPOCHS, shuffle=False, verbose=0,
              callbacks=[recorder, *callbacks])
    return recorder.steps


@pytest.mark.parametrize("loss_scaled", [False, True])
def test_fit_ends_with_the_decoder_as_the_average_of_its_weights(loss_scaled):
    model = ema_model(loss_scaled=loss_scaled)
    steps = fit_recording(model)
    assert len(steps) == EPOCHS * len(IMAGES) // BATCH_SIZE
    final = block_weights(model)
    expected = reference_ema([s["decoder"] for s in steps], MOMENTUM)
    for got, want, last in zip(final["decoder"], expected, steps[-1]["decoder"]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    assert any(not np.allclose(want, last) for want, last in zip(expected, steps[-1]["decoder"]))
    for block in ("encoder", "discriminator", "latent_discriminator"):  # their plain trained weights
        for got, last in zip(final[block], steps[-1][block]):
            np.testing.assert_array_equal(got, last, err_msg=block)


def test_fit_under_a_strategy_ends_with_the_average():
    # `--strategy mirrored` on one device: the optimizers' variables are mirrored.
    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        model = ema_model()
    steps = fit_recording(model)
    expected = reference_ema([s["decoder"] for s in steps], MOMENTUM)
    for got, want in zip(block_weights(model)["decoder"], expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_without_use_ema_fit_keeps_the_last_weights():
    model = ema_model(momentum=None)
    steps = fit_recording(model)
    final = block_weights(model)
    for block, weights in final.items():
        for got, last in zip(weights, steps[-1][block]):
            np.testing.assert_array_equal(got, last, err_msg=block)


def test_a_block_whose_optimizer_never_stepped_keeps_its_weights():
    # AVA1 never updates the latent discriminator: an average of no steps must not replace its weights.
    model = sgd_compile(tiny_model("ava5"), 0.1)
    model.set_variant("ava1")
    model.compile(latent_discriminator_optimizer=keras.optimizers.SGD(0.1, use_ema=True, ema_momentum=MOMENTUM))
    before = block_weights(model)["latent_discriminator"]
    model.fit(IMAGES, batch_size=BATCH_SIZE, epochs=1, verbose=0)
    assert int(model.latent_discriminator_optimizer.iterations) == 0
    for got, want in zip(block_weights(model)["latent_discriminator"], before):
        np.testing.assert_array_equal(got, want)


def test_a_fit_stopped_by_divergence_keeps_the_trained_weights():
    # Keras finalizes only a fit that returns: the stopped model keeps the weights of its last finite step.
    model = ema_model()
    recorder = RecordWeights()
    with pytest.raises(TrainingDivergedError):
        model.fit(IMAGES, batch_size=BATCH_SIZE, epochs=20, shuffle=False, verbose=0,
                  callbacks=[recorder, RaiseLearningRate(after=4)])
    assert len(recorder.steps) >= 4
    final = block_weights(model)["decoder"]
    for got, last in zip(final, recorder.steps[-1]["decoder"]):
        np.testing.assert_array_equal(got, last)
    # The average is still there for a user who wants it.
    expected = reference_ema([s["decoder"] for s in recorder.steps], MOMENTUM)
    model.finalize_variable_values()
    for got, want in zip(block_weights(model)["decoder"], expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_use_ema_leaves_a_training_step_unchanged():
    # The average is a side record: one step's updates (SGD: -0.1 x the gradients) are the same with and without it.
    deltas = []
    for momentum in (None, MOMENTUM):
        model = ema_model(momentum)
        before = block_weights(model)
        model.train_on_batch(IMAGES[:BATCH_SIZE])
        after = block_weights(model)
        deltas.append({b: [a - w for a, w in zip(after[b], before[b])] for b in before})
    plain, averaged = deltas
    for block in plain:
        assert any(np.abs(d).max() > 0 for d in plain[block]), block
        for got, want in zip(averaged[block], plain[block]):
            np.testing.assert_array_equal(got, want, err_msg=block)


def test_the_keras_file_keeps_the_decoders_average(tmp_path):
    model = ema_model(momentum=0.9)
    model.fit(IMAGES, batch_size=BATCH_SIZE, epochs=1, verbose=0)
    model.save(tmp_path / "ema.keras")
    restored = keras.models.load_model(tmp_path / "ema.keras")
    config = restored.decoder_optimizer.get_config()
    assert config["use_ema"] is True and config["ema_momentum"] == 0.9
    assert restored.decoder_optimizer.get_config() == model.decoder_optimizer.get_config()
    assert not restored.encoder_optimizer.get_config()["use_ema"]
    for got, want in zip(restored.decoder_optimizer.variables, model.decoder_optimizer.variables):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want), err_msg=want.path)
