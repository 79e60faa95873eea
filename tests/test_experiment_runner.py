"""The run skeleton shared by the experiments (ava_keras.experiments._runner)."""

import itertools
import math

import keras
import numpy as np

from ava_keras.experiments import _runner
from tests._tiny import tiny_images, tiny_model


def _train(model, images, steps=3):
    losses, diverged_at, _ = _runner.train_steps(model, itertools.repeat(images), steps)
    assert diverged_at is None and len(losses) == steps
    return losses, [v.numpy() for v in model.weights]


def test_restore_state_repeats_a_run_exactly_adam_slots_included():
    images = tiny_images()
    model = tiny_model("ava5")
    model.compile()  # Adam for every block: moments that must restart too
    initial = _runner.capture_state(tiny_model("ava5"))  # a fresh model built alike
    _runner.restore_state(model, initial)
    first_losses, first_weights = _train(model, images)
    assert int(model.encoder_optimizer.iterations) == 3
    _runner.restore_state(model, initial)
    assert int(model.encoder_optimizer.iterations) == 0
    assert all(not np.any(v.numpy()) for v in model.encoder_optimizer.variables if v.name != "learning_rate")
    second_losses, second_weights = _train(model, images)
    assert first_losses == second_losses
    for a, b in zip(first_weights, second_weights):
        np.testing.assert_array_equal(a, b)


def test_restore_state_sets_the_learning_rate_of_every_block():
    model = tiny_model("ava5")
    model.compile()
    _runner.restore_state(model, _runner.capture_state(model), learning_rate=0.25)
    for block in ("encoder", "decoder", "discriminator", "latent_discriminator"):
        assert float(getattr(model, f"{block}_optimizer").learning_rate) == 0.25


def test_train_steps_stops_at_the_first_non_finite_value_and_reports_progress():
    model = tiny_model("vae", safety_checks=False)  # the loop itself must notice
    model.compile(encoder_optimizer=keras.optimizers.SGD(1e12), decoder_optimizer=keras.optimizers.SGD(1e12))
    lines = []
    losses, diverged_at, seconds = _runner.train_steps(
        model, _runner.shuffled_batches(tiny_images(8), 4, seed=0), 50, lambda text, **_: lines.append(text), "vae")
    assert diverged_at is not None and len(losses) == diverged_at < 50 and seconds >= 0
    assert all(math.isfinite(v) for v in losses[:-1])  # it stopped at the first bad step
    assert all(line.startswith("    vae step ") for line in lines) and len(lines) == (diverged_at - 1) // 10


def test_shuffled_batches_cover_every_image_once_per_pass():
    images = np.arange(10)
    batches = _runner.shuffled_batches(images, 5, seed=3)
    first_pass = np.concatenate([next(batches), next(batches)])
    assert sorted(first_pass) == list(range(10))
    again = _runner.shuffled_batches(images, 5, seed=3)
    np.testing.assert_array_equal(next(again), first_pass[:5])
