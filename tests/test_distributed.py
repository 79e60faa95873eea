"""tf.distribute: MirroredStrategy over two logical CPUs (set up in conftest.py),
MultiWorkerMirroredStrategy with two worker processes on 127.0.0.1, TF_CONFIG checks."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

import ava_keras as ak
from ava_keras import cli, cli_parser
from ava_keras.constants import ROUTINGS
from tests._tiny import block_weights, sgd_compile, tiny_images, tiny_model

pytestmark = pytest.mark.integration  # the full tier (README: Tests)

ROOT = pathlib.Path(__file__).resolve().parent.parent
PRESETS = ("vae", "ava1", "ava5")


def _two_devices():
    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
    assert len(devices) == 2, "conftest.py splits the CPU into two logical devices"
    return devices


# === One MirroredStrategy step equals one single-device step ===


class _FixedNoiseSampling(keras.layers.Layer):
    """z = μ + σ·sin(1000·μ): the noise is a fixed function of each example,
    so it does not depend on how the batch is split across replicas."""

    def call(self, inputs):
        mean, log_var = inputs
        return mean + ops.exp(0.5 * log_var) * ops.sin(1000.0 * ops.stop_gradient(mean))


class _OneStepPerPreset(keras.callbacks.Callback):
    """Batch i starts from `weights` with variant PRESETS[i]; records each step's weight change and logs."""

    def __init__(self, weights):
        super().__init__()
        self.weights, self.deltas, self.logs = weights, [], []

    def on_train_batch_begin(self, batch, logs=None):
        self.model.set_weights(self.weights)  # also resets the switches, so set the variant after
        self.model.set_variant(PRESETS[batch])
        self.before = block_weights(self.model)

    def on_train_batch_end(self, batch, logs=None):
        after = block_weights(self.model)
        self.deltas.append({b: [a - w for a, w in zip(after[b], self.before[b])] for b in after})
        self.logs.append({k: float(np.squeeze(v)) for k, v in logs.items()})


def _one_step_per_preset(strategy, routing, weights, images, labels=None):
    """One SGD(1.0) step on `images` (class-conditional given `labels`) for each preset, from the same weights,
    on one traced model."""
    with strategy.scope():
        model = sgd_compile(tiny_model("ava5", routing=routing, num_classes=None if labels is None else 3))
        model.sampling = _FixedNoiseSampling(name="fixed_noise_sampling")
        model.sampling.build(None)  # built, so that fit needs no symbolic call of the model
    recorder = _OneStepPerPreset(weights if weights is not None else model.get_weights())
    data = np.concatenate([images] * len(PRESETS))
    targets = None if labels is None else np.concatenate([labels] * len(PRESETS))
    history = model.fit(data, targets, batch_size=len(images), epochs=1, shuffle=False, callbacks=[recorder],
                        verbose=0)
    return recorder, history.history


@pytest.mark.parametrize("routing,labels", [(r, None) for r in ROUTINGS] + [("joint", np.arange(8) % 3)])
def test_mirrored_step_matches_single_device_step(routing, labels):
    images = tiny_images(8)
    single, single_history = _one_step_per_preset(tf.distribute.get_strategy(), routing, None, images, labels)
    strategy = tf.distribute.MirroredStrategy(_two_devices())
    mirrored, mirrored_history = _one_step_per_preset(strategy, routing, single.weights, images, labels)
    assert strategy.num_replicas_in_sync == 2
    for preset, expected, got in zip(PRESETS, single.deltas, mirrored.deltas):
        assert sorted(got) == ["decoder", "discriminator", "encoder", "latent_discriminator"]
        for block in expected:
            moved = any(np.abs(d).max() > 1e-4 for d in expected[block])
            assert moved == (block in ("encoder", "decoder") or preset != "vae" and block == "discriminator"
                             or preset == "ava5"), (preset, block)
            for a, b in zip(expected[block], got[block]):
                np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5, err_msg=f"{preset} {block}")
    # Metrics are aggregated over both replicas: every logged mean equals the single-device one.
    for expected, got in zip(single.logs, mirrored.logs):
        assert expected.keys() == got.keys()
        for key in expected:
            np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=1e-6, err_msg=key)
    for key in single_history:
        np.testing.assert_allclose(mirrored_history[key], single_history[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_one_replica_mirrored_step_matches_single_device_step():
    """`--strategy mirrored` on a machine with one device: one replica, but still a strategy."""
    images = tiny_images(8)
    single, _ = _one_step_per_preset(tf.distribute.get_strategy(), "joint", None, images)
    strategy = tf.distribute.MirroredStrategy(_two_devices()[:1])
    mirrored, _ = _one_step_per_preset(strategy, "joint", single.weights, images)
    assert strategy.num_replicas_in_sync == 1
    for preset, expected, got in zip(PRESETS, single.deltas, mirrored.deltas):
        for block in expected:
            for a, b in zip(expected[block], got[block]):
                np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5, err_msg=f"{preset} {block}")


def test_sampling_noise_differs_per_replica():
    strategy = tf.distribute.MirroredStrategy(_two_devices())
    with strategy.scope():
        sampling = ak.layers.Sampling(seed=0)
    zeros = tf.zeros((3, 4))
    single = ak.layers.Sampling(seed=0)([zeros, zeros]).numpy()
    per_replica = strategy.experimental_local_results(strategy.run(lambda: sampling([zeros, zeros])))
    np.testing.assert_allclose(per_replica[0].numpy(), single)  # replica 0 draws what one device would
    assert np.abs(per_replica[1].numpy() - single).min() > 1e-6  # replica 1 draws its own noise
    np.testing.assert_array_equal(sampling.seed_generator.state.numpy(), [0, 1])  # one draw per step


# === TF_CONFIG ===

_WORKERS = {"worker": ["127.0.0.1:2222", "127.0.0.1:2223"]}


@pytest.mark.parametrize(
    "config, fragment",
    [
        ("", "TF_CONFIG is not set"),
        ("{cluster: 1}", "not valid JSON"),
        (json.dumps({"task": {"type": "worker", "index": 0}}), 'needs a "cluster"'),
        (json.dumps({"cluster": {"ps": ["h:1"], **_WORKERS}, "task": {"type": "worker", "index": 0}}), "['ps']"),
        (json.dumps({"cluster": {"worker": ["127.0.0.1"]}, "task": {"type": "worker", "index": 0}}),
         "'127.0.0.1'; expected \"host:port\""),
        (json.dumps({"cluster": {"worker": ["a:1", "a:1"]}, "task": {"type": "worker", "index": 0}}), "twice"),
        (json.dumps({"cluster": _WORKERS}), 'needs a "task"'),
        (json.dumps({"cluster": _WORKERS, "task": {"type": "chief", "index": 0}}), "'chief' is not a job"),
        (json.dumps({"cluster": _WORKERS, "task": {"type": "worker", "index": 2}}), "index 2 is not in 0..1"),
    ],
)
def test_bad_tf_config_gives_one_line_cli_error(config, fragment, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TF_CONFIG", config)
    with pytest.raises(ValueError, match="TF_CONFIG") as error:
        ak.distribute.read_tf_config()
    assert fragment in str(error.value)
    code = cli.main(["train", "--dataset", "digits", "--strategy", "multiworker", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("ava-keras: error: TF_CONFIG") and fragment in err


def test_chief_and_strategy_names(monkeypatch):
    assert cli_parser.STRATEGIES == ak.distribute.STRATEGIES
    workers = {"cluster": _WORKERS, "task": {"type": "worker", "index": 0}}
    assert ak.distribute.is_chief(workers)
    assert not ak.distribute.is_chief({**workers, "task": {"type": "worker", "index": 1}})
    with_chief = {"cluster": {"chief": ["h:1"], **_WORKERS}, "task": {"type": "worker", "index": 0}}
    assert not ak.distribute.is_chief(with_chief)
    assert ak.distribute.is_chief({**with_chief, "task": {"type": "chief", "index": 0}})
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert ak.distribute.is_chief()  # a single process writes its outputs
    with pytest.raises(ValueError, match="`name` must be one of .*'mirrored'.*Received: name='gpu'"):
        ak.distribute.make_strategy("gpu")
    with pytest.raises(ValueError, match="`timeout` must be a positive number.*Received: timeout=0"):
        ak.distribute.make_strategy("multiworker", timeout=0)


# === Two worker processes on 127.0.0.1 ===

EPOCHS, STEPS_PER_EPOCH, KILL_AFTER_STEP = 3, 2, 3  # the kill falls in epoch 2, after epoch 1 is backed up
WORKER_TIMEOUT = 60  # seconds a worker waits for the other (ak.distribute.make_strategy)
RUN_TIMEOUT = 600  # seconds before the test gives up on a worker process
MISSING_PEER_TIMEOUT = 5  # seconds the CLI waits for a worker that never starts


def _start_workers(root, run, victim_flags=()):
    """Starts two workers of one cluster on free loopback ports (worker 1 gets `victim_flags`)."""
    cluster = ak.distribute.local_cluster(2)
    processes = []
    for index in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow",
                   TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        argv = [sys.executable, "-m", "tests._worker", "--out", str(root / "out"), "--backup", str(root / "backup"),
                "--report", str(root / run), f"--epochs={EPOCHS}", f"--timeout={WORKER_TIMEOUT}", *(victim_flags if index else ())]
        (root / run).mkdir(exist_ok=True)
        log = open(root / run / f"worker-{index}.log", "w")
        processes.append(subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
    return processes


def _start_cli_with_a_missing_peer(root):
    """`ava-keras train --strategy multiworker` as worker 0 of a cluster whose worker 1 never starts."""
    cluster = ak.distribute.local_cluster(2)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow",
               TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}}))
    argv = [sys.executable, "-m", "ava_keras.cli", "train", "--dataset", "digits", "--strategy", "multiworker",
            f"--strategy-timeout={MISSING_PEER_TIMEOUT}", "--out", str(root / "unreachable")]
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(root / "unreachable.log", "w"))


def _wait(process, deadline):
    try:
        return process.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


def _wait_or_dump(process, seconds):
    """The exit code, or None after `seconds` (then the process's stacks go to its log and it is killed)."""
    try:
        return process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGUSR1)
        time.sleep(2)
        process.kill()
        process.wait()
        return None


def _log(root, run, index):
    return (root / run / f"worker-{index}.log").read_text()[-3000:]


@pytest.fixture(scope="module")
def killed_then_restarted(tmp_path_factory):
    """Run 1: worker 1 is SIGKILLed in epoch 2; run 2: both workers restart from BackupAndRestore."""
    root = tmp_path_factory.mktemp("cluster")
    deadline = time.monotonic() + RUN_TIMEOUT
    first = _start_workers(root, "killed", victim_flags=[f"--pause-after-step={KILL_AFTER_STEP}"])
    unreachable = _start_cli_with_a_missing_peer(root)
    try:
        paused = root / "killed" / "worker-1.paused"
        while not paused.exists():
            assert first[1].poll() is None, _log(root, "killed", 1)
            assert time.monotonic() < deadline, "worker 1 never reached its pause"
            time.sleep(0.2)
        first[1].send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        codes = [_wait_or_dump(first[0], WORKER_TIMEOUT + 30), _wait(first[1], deadline)]
        survivor_seconds = time.monotonic() - killed_at
    finally:
        for process in first:
            if process.poll() is None:
                process.kill()
        unreachable_code = _wait(unreachable, deadline)
    second = _start_workers(root, "restarted")
    restarted_codes = [_wait(p, deadline) for p in second]
    return {"root": root, "codes": codes, "unreachable_code": unreachable_code, "survivor_seconds": survivor_seconds, "restarted_codes": restarted_codes,
            "reports": [dict(np.load(root / "restarted" / f"worker-{i}.npz")) for i in range(2)
                        if restarted_codes[i] == 0]}


def test_killed_worker_then_restart_loses_no_completed_epoch(killed_then_restarted):
    run = killed_then_restarted
    root = run["root"]
    assert run["codes"][1] == -signal.SIGKILL
    # The survivor does not hang: its next all-reduce fails and it exits with an error.
    assert run["codes"][0] not in (None, 0, -signal.SIGKILL), _log(root, "killed", 0)
    assert run["restarted_codes"] == [0, 0], _log(root, "restarted", 0) + _log(root, "restarted", 1)
    for report in run["reports"]:
        # Epoch 0 finished before the kill and is not rerun; epoch 1 (killed) is rerun from its start.
        assert report["epochs"].tolist() == [1, 2]
        # Every optimizer step of the 3 epochs happened exactly once across the two runs.
        assert int(report["iterations"]) == EPOCHS * STEPS_PER_EPOCH
    assert not any((root / "backup").iterdir())  # each finished worker deleted its backup


def test_cli_gives_one_line_error_for_an_unreachable_worker(killed_then_restarted):
    run = killed_then_restarted
    err = (run["root"] / "unreachable.log").read_text()
    lines = [line for line in err.splitlines() if line.startswith("ava-keras:")]
    assert run["unreachable_code"] == 2 and "Traceback" not in err, err[-3000:]
    assert len(lines) == 1 and lines[0].startswith("ava-keras: error: --strategy multiworker could not start"), err
    assert f"did not come up within {MISSING_PEER_TIMEOUT} s" in lines[0]


def test_two_workers_agree_and_only_the_chief_writes(killed_then_restarted):
    run = killed_then_restarted
    assert run["restarted_codes"] == [0, 0]
    chief, other = run["reports"]
    assert int(chief["replicas"]) == 2
    weights = [k for k in chief if "/" in k]
    assert {k.split("/")[0] for k in weights} == {"encoder", "decoder", "discriminator", "latent_discriminator"}
    for key in weights + ["noise_state"]:
        np.testing.assert_array_equal(other[key], chief[key], err_msg=key)
    # Only the chief writes to --out; the other worker saved to a temporary folder, deleted at its exit.
    assert str(chief["saved_to"]) == str(run["root"] / "out")
    assert str(other["saved_to"]) != str(run["root"] / "out") and not os.path.exists(str(other["saved_to"]))
    assert sorted(p.name for p in (run["root"] / "out").iterdir()) == ["model.keras"]
    saved = ak.saving.load_model(run["root"] / "out" / "model.keras")
    for block, values in block_weights(saved).items():
        for i, value in enumerate(values):
            np.testing.assert_array_equal(value, chief[f"{block}/{i}"], err_msg=f"{block}/{i}")
