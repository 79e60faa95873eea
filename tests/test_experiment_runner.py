"""The run skeleton shared by the experiments (ava_keras.experiments._runner)."""

import itertools
import math

import keras
import numpy as np
import pytest

from ava_keras.errors import TrainingDivergedError
from ava_keras.experiments import _runner, paper
from tests._tiny import tiny_images, tiny_model


def _train(model, images, steps=3):
    run = _runner.train_steps(model, itertools.repeat(images), steps)
    assert run.status == "ok" and run.diverged_at is None and len(run.losses) == steps
    return run.losses, [v.numpy() for v in model.weights]


@pytest.mark.integration  # the experiments' repeatability; the fast tier keeps the runner's own checks below
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
    run = _runner.train_steps(
        model, _runner.shuffled_batches(tiny_images(8), 4, seed=0), 50, lambda text, **_: lines.append(text), "vae")
    assert run.status == "diverged" and len(run.losses) == run.diverged_at < 50 and run.seconds >= 0
    assert run.term.endswith(" term") and run.term[: -len(" term")] in model.trackers
    assert all(math.isfinite(v) for v in run.losses[:-1])  # it stopped at the first bad step
    assert all(line.startswith("    vae step ") for line in lines) and len(lines) == (run.diverged_at - 1) // 10


def test_train_steps_records_the_models_divergence_stop_as_data():
    model = tiny_model("vae")  # safety checks on: the model raises TrainingDivergedError
    model.compile(encoder_optimizer=keras.optimizers.SGD(1e12), decoder_optimizer=keras.optimizers.SGD(1e12))
    run = _runner.train_steps(model, _runner.shuffled_batches(tiny_images(8), 4, seed=0), 50)
    assert run.status == "diverged" and 1 <= run.diverged_at < 50
    assert len(run.losses) == run.diverged_at - 1  # the diverging step returned no loss
    assert all(math.isfinite(v) for v in run.losses) and run.term and not run.term.startswith("the ")
    # Its step is the model's own (optimizer iterations + 1), and the model kept its last finite weights.
    assert int(model.encoder_optimizer.iterations) == run.diverged_at - 1
    assert all(np.all(np.isfinite(v.numpy())) for v in model.weights)
    assert run.divergence_columns() == {"diverged_at_step": run.diverged_at, "diverged_term": run.term}
    assert run.describe_divergence() == f"DIVERGED at step {run.diverged_at} ({run.term})"


def test_fit_still_raises_the_divergence_stop():
    model = tiny_model("vae")
    model.compile(encoder_optimizer=keras.optimizers.SGD(1e12), decoder_optimizer=keras.optimizers.SGD(1e12))
    with pytest.raises(TrainingDivergedError, match=r"Training diverged at step \d+: the ") as caught:
        model.fit(tiny_images(8), batch_size=4, epochs=20, verbose=0)
    assert isinstance(caught.value, FloatingPointError) and caught.value.step >= 1
    assert caught.value.term in str(caught.value) and not math.isfinite(caught.value.value)


@pytest.mark.integration  # a sweep of the paper experiment
def test_a_diverging_run_is_a_row_and_the_sweep_goes_on():
    # γ = 1e6 diverges within 3 steps; the run after it (γ = 0.01) completes and is scored.
    rows = paper.run_sweep("paper", (1e6, 0.01), seeds=[0], steps=3, models=("ava1",))
    diverged, after = rows
    assert diverged["status"] == "diverged" and diverged["rmse"] == ""
    assert 1 <= diverged["diverged_at_step"] <= 3 and diverged["diverged_term"]
    assert after["status"] == "ok" and 0.0 <= after["rmse"] <= 1.0
    assert after["diverged_at_step"] == "" and after["diverged_term"] == ""


def test_shuffled_batches_cover_every_image_once_per_pass():
    images = np.arange(10)
    batches = _runner.shuffled_batches(images, 5, seed=3)
    first_pass = np.concatenate([next(batches), next(batches)])
    assert sorted(first_pass) == list(range(10))
    again = _runner.shuffled_batches(images, 5, seed=3)
    np.testing.assert_array_equal(next(again), first_pass[:5])
