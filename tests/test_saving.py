"""Saving and resuming: `.keras` round trips, killed-and-resumed training, checked loading."""

import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import ops

import ava_keras as ak
from tests._tiny import IMAGE_SHAPE, tiny_images, tiny_model

ROOT = pathlib.Path(__file__).resolve().parents[1]
IMAGES = tiny_images(4)
BATCH_SIZE = 2
EPOCHS = 3
STEPS_PER_EPOCH = len(IMAGES) // BATCH_SIZE
OPTIMIZERS = ("encoder", "decoder", "discriminator", "latent_discriminator")


def make_model(**optimizers):
    """The same seeded, compiled tiny AVA every time (also in a subprocess)."""
    keras.utils.set_random_seed(1234)
    model = tiny_model()  # built with all four blocks
    model.set_variant({"decoder_leaning": False})  # a non-default variant: AVA4
    model.compile(**optimizers)  # by default Adam everywhere: the moments make optimizer state matter
    return model


def other_optimizers():
    """A different optimizer per block, none of them a default, each with slot variables."""
    return {
        "encoder_optimizer": keras.optimizers.RMSprop(5e-4, rho=0.8, momentum=0.3),
        "decoder_optimizer": keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
        "discriminator_optimizer": keras.optimizers.Adam(3e-4, beta_1=0.9),
        "latent_discriminator_optimizer": keras.optimizers.Adagrad(0.02, initial_accumulator_value=0.2),
    }


def fit(model, epochs, callbacks=(), initial_epoch=0):
    return model.fit(
        IMAGES,
        epochs=epochs,
        initial_epoch=initial_epoch,
        batch_size=BATCH_SIZE,
        shuffle=False,
        verbose=0,
        callbacks=list(callbacks),
    )


def state(model):
    """Every number training depends on: weights, switches, optimizers, noise state."""
    numbers = {f"weight/{i}/{v.name}": ops.convert_to_numpy(v) for i, v in enumerate(model.weights)}
    for block in OPTIMIZERS:
        for i, v in enumerate(getattr(model, f"{block}_optimizer").variables):
            numbers[f"{block}_optimizer/{i}"] = ops.convert_to_numpy(v)
    numbers["noise_state"] = ops.convert_to_numpy(model.sampling.seed_generator.state)
    return numbers


def assert_same_state(got, want, atol=0.0):
    assert sorted(got) == sorted(want)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], atol=atol, rtol=0, err_msg=key)


class _Probe(keras.callbacks.Callback):
    """Records the state at the start of training and after each epoch."""

    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_train_begin(self, logs=None):
        self.at_start = state(self.model)

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(epoch)
        setattr(self, f"after_epoch_{epoch + 1}", state(self.model))


@pytest.fixture(scope="module")
def never_stopped(tmp_path_factory):
    """An uninterrupted run of EPOCHS epochs; ModelCheckpoint saves each epoch."""
    checkpoint = str(tmp_path_factory.mktemp("run") / "epoch_{epoch}.keras")
    probe = _Probe()
    fit(make_model(), epochs=EPOCHS, callbacks=[keras.callbacks.ModelCheckpoint(checkpoint), probe])
    probe.checkpoint = checkpoint
    return probe


# === .keras round trip ===


@pytest.mark.integration  # the fast tier's round trip is tests/test_model.py's, and the load checks below
def test_reload_then_continue_matches_never_stopping(never_stopped):
    restored = keras.models.load_model(never_stopped.checkpoint.format(epoch=1))  # no custom_objects
    assert isinstance(restored, ak.AVA)
    assert restored.preset == "ava4" and not restored.decoder_leaning
    assert [int(getattr(restored, f"{b}_optimizer").iterations.numpy()) for b in OPTIMIZERS] == [
        STEPS_PER_EPOCH
    ] * len(OPTIMIZERS)
    assert_same_state(state(restored), never_stopped.after_epoch_1)

    fit(restored, epochs=EPOCHS, initial_epoch=1)
    resumed = state(restored)
    assert not np.allclose(resumed["noise_state"], never_stopped.after_epoch_1["noise_state"])
    assert_same_state(resumed, getattr(never_stopped, f"after_epoch_{EPOCHS}"), atol=1e-6)


@pytest.mark.integration
def test_keras_file_restores_a_different_optimizer_per_block(tmp_path):
    # The compile config must carry each block's optimizer: with the defaults
    # compiled instead, neither the configs nor the slot variables would match.
    model = make_model(**other_optimizers())
    fit(model, epochs=1)
    model.save(tmp_path / "other_optimizers.keras")
    restored = keras.models.load_model(tmp_path / "other_optimizers.keras")
    for block in OPTIMIZERS:
        want, got = getattr(model, f"{block}_optimizer"), getattr(restored, f"{block}_optimizer")
        assert type(got) is type(want), block
        assert got.get_config() == want.get_config(), block
        assert len(got.variables) > 2, block  # the step count, the learning rate and slot variables
    assert_same_state(state(restored), state(model))  # weights, every optimizer's slots, noise state

    fit(model, epochs=EPOCHS, initial_epoch=1)  # the run never stopped
    fit(restored, epochs=EPOCHS, initial_epoch=1)
    assert_same_state(state(restored), state(model), atol=1e-6)


# === Killed mid-epoch, resumed from BackupAndRestore; ModelCheckpoint files ===

_KILLED_RUN = """
import os, signal, sys
sys.path.insert(0, {root!r})
import keras
from tests.test_saving import fit, make_model

class KillAfterStep(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.encoder_optimizer.iterations.numpy()) == {kill_after}:
            os.kill(os.getpid(), signal.SIGKILL)

fit(make_model(), epochs={epochs}, callbacks=[
    keras.callbacks.BackupAndRestore({backup!r}),
    keras.callbacks.ModelCheckpoint({checkpoint!r}),
    KillAfterStep(),
])
"""


@pytest.mark.integration
def test_killed_run_resumes_from_backup_and_finishes(never_stopped, tmp_path):
    backup = str(tmp_path / "backup")
    checkpoint = str(tmp_path / "epoch_{epoch}.keras")
    kill_after = STEPS_PER_EPOCH + 1  # in the middle of the second epoch
    script = _KILLED_RUN.format(
        root=str(ROOT), backup=backup, checkpoint=checkpoint, kill_after=kill_after, epochs=EPOCHS
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == -9, result.stderr[-3000:]  # SIGKILL, not a clean exit
    assert os.path.isdir(backup)
    assert os.path.exists(checkpoint.format(epoch=1)) and not os.path.exists(checkpoint.format(epoch=2))
    # The killed process's checkpoint equals this process's uninterrupted run at epoch 1.
    assert_same_state(state(ak.saving.load_model(checkpoint.format(epoch=1))), never_stopped.after_epoch_1)

    resumed = make_model()
    probe = _Probe()
    fit(resumed, epochs=EPOCHS, callbacks=[keras.callbacks.BackupAndRestore(backup), probe])
    # The backup held the end of epoch 1: weights, all four optimizers, noise state.
    assert_same_state(probe.at_start, never_stopped.after_epoch_1)
    assert probe.epochs == list(range(1, EPOCHS))  # the killed epoch is rerun, the finished one is not
    assert not os.path.exists(backup)  # a finished run deletes its backup
    assert_same_state(state(resumed), getattr(never_stopped, f"after_epoch_{EPOCHS}"), atol=1e-6)


# === Checked loading ===


@pytest.fixture(scope="module")
def saved_path(tmp_path_factory):
    """A compiled AVA4 in a .keras file (the checkpoints of a run load in the tests above)."""
    path = tmp_path_factory.mktemp("saved") / "ava4.keras"
    make_model().save(path)
    return path


def test_load_model_checks_image_shape(saved_path):
    model = ak.saving.load_model(saved_path, image_shape=IMAGE_SHAPE)
    assert isinstance(model, ak.AVA) and model.image_shape == IMAGE_SHAPE
    assert model.latent_discriminator_optimizer is not None
    with pytest.raises(ValueError, match=r"built for images of shape \(8, 8, 1\).*incompatible.*\(28, 28, 1\)"):
        ak.saving.load_model(saved_path, image_shape=(28, 28, 1))


def test_load_model_refuses_truncated_and_corrupt_files(saved_path, tmp_path):
    data = saved_path.read_bytes()
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated.keras.*not a .keras file.*truncated"):
        ak.saving.load_model(truncated)
    corrupt = tmp_path / "corrupt.keras"
    middle = len(data) // 2
    corrupt.write_bytes(data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64 :])
    with pytest.raises(ValueError, match="corrupt.keras.*(corrupt|truncated)"):
        ak.saving.load_model(corrupt)


def test_load_model_refuses_other_files(tmp_path):
    text = tmp_path / "notes.keras"
    text.write_text("not a model")
    with pytest.raises(ValueError, match="notes.keras.*not a .keras file"):
        ak.saving.load_model(text)
    with pytest.raises(ValueError, match="No such file.*missing.keras"):
        ak.saving.load_model(tmp_path / "missing.keras")
    export = tmp_path / "export"
    export.mkdir()
    (export / "saved_model.pb").write_bytes(b"")
    with pytest.raises(ValueError, match="is a directory.*tf.saved_model.load"):
        ak.saving.load_model(export)
    other = tmp_path / "dense.keras"
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(other)
    with pytest.raises(ValueError, match="dense.keras.*'Sequential'.*not an ava_keras AVA"):
        ak.saving.load_model(other)


def test_load_model_keeps_safe_mode_on(tmp_path):
    # An encoder holding Python bytecode (a Lambda) must not be deserialized.
    encoder = keras.layers.Lambda(lambda x: (ops.mean(x, axis=(1, 2)), ops.zeros_like(ops.mean(x, axis=(1, 2)))))
    decoder = keras.Sequential([keras.layers.Dense(8 * 8, activation="sigmoid"), keras.layers.Reshape(IMAGE_SHAPE)])
    path = tmp_path / "lambda.keras"
    ak.AVA(encoder, decoder, image_shape=IMAGE_SHAPE).save(path)
    with pytest.raises(ValueError, match="lambda.keras.*safe_mode"):
        ak.saving.load_model(path)
