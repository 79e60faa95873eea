"""`--deterministic`: a seeded run repeats bit for bit (each case in a fresh process: thread settings are global)."""

import json
import subprocess
import sys

import numpy as np
import pytest

import ava_keras as ak

pytestmark = pytest.mark.integration  # fresh processes that train


def _python(code, *args):
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _cli(*argv):
    return _python("import sys; from ava_keras.cli import main; sys.exit(main(sys.argv[1:]))", *argv)


# Two seeded runs of the 64x64 scaled AVA5 with a patch discriminator, batch 64, in one process: with
# TensorFlow's default threads (two cores) they part within 20 steps, with op determinism or without.
TWO_RUNS = """
import numpy as np
from ava_keras._determinism import run_deterministically
from ava_keras.experiments.quality import build_model

run_deterministically()
data = np.random.default_rng(0).random((64, 64, 64, 3)).astype("float32")
weights = []
for _ in range(2):
    model = build_model("ava5", 0, data.shape[1:], model_options={"adaptive_adversarial_weight": True},
                        networks="scaled", discriminator="patch")
    model.compile()
    for _ in range(20):
        model.train_on_batch(data)
    weights.append([v.numpy() for v in model.weights])
print(all(np.array_equal(a, b) for a, b in zip(*weights)))
"""


def test_two_seeded_runs_of_the_scaled_networks_are_bit_identical():
    assert _python(TWO_RUNS).split()[-1] == "True"


def test_run_deterministically_enables_op_determinism_on_one_thread():
    settings = _python(
        "import tensorflow as tf; from tensorflow.python.framework import config; "
        "from ava_keras._determinism import run_deterministically; "
        "run_deterministically(); print(config.is_op_determinism_enabled(), "
        "tf.config.threading.get_intra_op_parallelism_threads(), tf.config.threading.get_inter_op_parallelism_threads())"
    )
    assert settings.split() == ["True", "1", "1"]


def test_train_twice_with_the_flag_saves_the_same_model(tmp_path):
    folder = tmp_path / "images"
    ak.datasets.write_image_folder(ak.datasets.load_photos(image_size=16), folder)
    weights = []
    for run in ("a", "b"):
        _cli("train", str(folder), "--epochs", "1", "--out", str(tmp_path / run), "--preset", "ava5", "--verbose", "0",
             "--image-size", "16", "--latent-dim", "4", "--batch-size", "4", "--samples", "4", "--deterministic")
        weights.append([v.numpy() for v in ak.saving.load_model(tmp_path / run / "model.keras").weights])
    assert len(weights[0]) > 0
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_quality_experiment_with_the_flag_records_it(tmp_path):
    _cli("experiment", "quality", "--dataset", "photos", "--steps", "2", "--seeds", "1", "--presets", "ava5",
         "--no-baseline", "--samples", "100", "--deterministic", "--label", "photos", "--out", str(tmp_path))
    config = json.loads((tmp_path / "photos_summary.json").read_text())["config"]
    assert config["deterministic"] is True
