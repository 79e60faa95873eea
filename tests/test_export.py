"""SavedModel export: named endpoints that match the Keras model, loaded without ava_keras."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

import ava_keras as ak
from ava_keras.export import METADATA_FILE
from tests._tiny import IMAGE_SHAPE, LATENT_DIM, tiny_images, tiny_model

pytestmark = pytest.mark.integration  # the full tier (README: Tests)

N_GENERATED, SEED = 5, 7
ENDPOINTS = ("serve", "encode", "decode", "reconstruct", "score", "generate", "discriminate", "discriminate_latent")

# Runs in a fresh interpreter whose sys.path cannot reach ava_keras.
_FRESH_PROCESS = """
import json, os, sys
sys.path = [p for p in sys.path if not os.path.isdir(os.path.join(p or os.getcwd(), "ava_keras"))]
# Newer pip installs editable packages through a meta-path finder, not a path entry.
sys.meta_path = [f for f in sys.meta_path if "ava_keras" not in getattr(f, "__module__", "")]
try:
    import ava_keras
    importable = True
except ImportError:
    importable = False
import numpy as np
import tensorflow as tf
import keras

export, inputs_path, outputs_path = sys.argv[1:]
inputs = np.load(inputs_path)
images, latents = tf.constant(inputs["images"]), tf.constant(inputs["latents"])
n, seed = tf.constant({n}), tf.constant({seed})
arguments = {{
    "serve": (images,), "encode": (images,), "decode": (latents,), "reconstruct": (images,), "score": (images,),
    "discriminate": (images,), "discriminate_latent": (latents,),
}}
outputs = {{}}
loaded = tf.saved_model.load(export)
for name, args in arguments.items():
    for key, value in getattr(loaded, name)(*args).items():
        outputs[f"load/{{name}}/{{key}}"] = value.numpy()
    for key, value in keras.layers.TFSMLayer(export, call_endpoint=name)(*args).items():
        outputs[f"tfsm/{{name}}/{{key}}"] = value.numpy()
outputs["load/generate/images"] = loaded.generate(n=n, seed=seed)["images"].numpy()
outputs["load/generate_again/images"] = loaded.generate(n=n, seed=seed)["images"].numpy()
outputs["load/generate_other_seed/images"] = loaded.generate(n=n, seed=seed + 1)["images"].numpy()
outputs["load/generate_random_seed/images"] = loaded.generate(n=n)["images"].numpy()
outputs["signature/generate/images"] = loaded.signatures["generate"](n=n, seed=seed)["images"].numpy()
outputs["signature/serving_default/reconstructions"] = (
    loaded.signatures["serving_default"](images=images)["reconstructions"].numpy()
)
generate = keras.layers.TFSMLayer(export, call_endpoint="generate")
outputs["tfsm/generate/images"] = generate(n, seed=seed)["images"].numpy()
np.savez(outputs_path, **outputs)
print(json.dumps({{
    "importable": importable,
    "imported": any(m.split(".")[0] == "ava_keras" for m in sys.modules),
    "signatures": sorted(loaded.signatures),
}}))
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny AVA5 (every endpoint), its export, inputs and the Keras outputs."""
    model = tiny_model()
    model.fit_anomaly_scores(tiny_images(20, seed=4))  # `score` goes through the fitted statistics
    path = ak.export_saved_model(model, str(tmp_path_factory.mktemp("export") / "ava5"))
    images = tiny_images(3)
    latents = np.random.default_rng(1).normal(size=(3, LATENT_DIM)).astype("float32")
    mean, log_var = model.encode(images)
    expected = {
        "serve/reconstructions": model.reconstruct(images),
        "encode/mean": mean,
        "encode/log_var": log_var,
        "decode/images": model.decode(latents),
        "reconstruct/reconstructions": model.reconstruct(images),
        "generate/images": model.sample(N_GENERATED, seed=SEED),
        "discriminate/probability": model.discriminate(images),
        "discriminate_latent/probability": ops.convert_to_numpy(
            ops.sigmoid(model.latent_discriminator(latents))
        ),
        **{f"score/{name}": values for name, values in model.anomaly_scores(images).items()},
    }
    return path, images, latents, expected


def test_endpoints_in_fresh_process_without_ava_keras(exported, tmp_path):
    path, images, latents, expected = exported
    np.savez(tmp_path / "inputs.npz", images=images, latents=latents)
    script = _FRESH_PROCESS.format(n=N_GENERATED, seed=SEED)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [sys.executable, "-c", script, path, str(tmp_path / "inputs.npz"), str(tmp_path / "outputs.npz")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {
        "importable": False,
        "imported": False,
        "signatures": sorted(ENDPOINTS + ("serving_default",)),
    }
    outputs = dict(np.load(tmp_path / "outputs.npz"))
    for key, want in expected.items():
        for route in ("load", "tfsm"):
            got = outputs[f"{route}/{key}"]
            assert got.shape == want.shape, (route, key)
            np.testing.assert_allclose(got, want, atol=1e-5, rtol=0, err_msg=f"{route}/{key}")
    assert expected["discriminate/probability"].shape == (3, 1)
    assert expected["generate/images"].shape == (N_GENERATED,) + IMAGE_SHAPE
    for key in ("signature/generate/images", "load/generate_again/images"):
        np.testing.assert_allclose(outputs[key], expected["generate/images"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(
        outputs["signature/serving_default/reconstructions"], expected["reconstruct/reconstructions"], atol=1e-5
    )
    for key in ("load/generate_other_seed/images", "load/generate_random_seed/images"):
        assert outputs[key].shape == expected["generate/images"].shape
        assert np.abs(outputs[key] - expected["generate/images"]).max() > 1e-3, key


def test_vae_export_goes_to_saved_models_without_discriminator_endpoints(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = tiny_model("vae")
    path = ak.export_saved_model(model)
    assert path == os.path.join("saved_models", "vae")
    loaded = tf.saved_model.load(path)
    assert sorted(loaded.signatures) == sorted(
        ["serve", "serving_default", "encode", "decode", "reconstruct", "score", "generate"]
    )
    with open(os.path.join(path, METADATA_FILE), encoding="utf-8") as file:
        metadata = json.load(file)
    assert metadata["image_shape"] == list(IMAGE_SHAPE) and metadata["latent_dim"] == LATENT_DIM
    assert metadata["preset"] == "vae" and metadata["ava_keras_version"] == ak.__version__
    images = tiny_images(2)
    np.testing.assert_allclose(loaded.serve(images)["reconstructions"], model.reconstruct(images), atol=1e-5)


def test_export_refuses_bad_targets(tmp_path):
    model = tiny_model("vae")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file.txt").write_text("keep me")
    with pytest.raises(ValueError, match="taken.*not empty.*overwrite=True"):
        ak.export_saved_model(model, tmp_path / "taken")
    with pytest.raises(ValueError, match="file.txt.*is a file"):
        ak.export_saved_model(model, tmp_path / "taken" / "file.txt")
    with pytest.raises(ValueError, match="must be an ava_keras AVA model.*Sequential"):
        ak.export_saved_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), tmp_path / "x")
    assert (tmp_path / "taken" / "file.txt").read_text() == "keep me"


def litert_interpreter(path):
    """LiteRT's interpreter (the runtime for .tflite files) on the file `path`."""
    module = pytest.importorskip("ai_edge_litert.interpreter", reason="LiteRT: pip install 'ava_keras[litert]'")
    return module.Interpreter(model_path=str(path))


def test_every_endpoint_runs_in_litert_and_matches_the_keras_model(tflite_ava5):
    model, files = tflite_ava5.model, tflite_ava5.files  # generate goes through the fitted mixture
    assert sorted(files) == sorted(ENDPOINTS)
    images = tiny_images(3)
    latents = np.random.default_rng(1).normal(size=(3, LATENT_DIM)).astype("float32")
    mean, log_var = model.encode(images)
    expected = {
        "serve": {"reconstructions": model.reconstruct(images)},
        "reconstruct": {"reconstructions": model.reconstruct(images)},
        "encode": {"mean": mean, "log_var": log_var},
        "decode": {"images": model.decode(latents)},
        "discriminate": {"probability": model.discriminate(images)},
        "discriminate_latent": {"probability": ops.convert_to_numpy(ops.sigmoid(model.latent_discriminator(latents)))},
        "score": model.anomaly_scores(images),
    }
    inputs = {"images": images, "latents": latents}
    for name, want in expected.items():
        runner = litert_interpreter(files[name]).get_signature_runner(name)
        got = runner(**{key: inputs[key] for key in runner.get_input_details()})
        assert sorted(got) == sorted(want), name
        for key in want:
            np.testing.assert_allclose(got[key], want[key], atol=1e-5, rtol=0, err_msg=f"{name}/{key}")

    generate = litert_interpreter(files["generate"]).get_signature_runner("generate")
    n, seed = np.int32(tflite_ava5.max_generate), np.int32(SEED)
    got = generate(n=n, seed=seed)["images"]
    # The same draws in TensorFlow, through the fitted mixture and the decoder.
    noise = ak.tflite.builtin_noise(tf.constant(n), LATENT_DIM, tf.constant(seed))
    want = model.decode(ops.convert_to_numpy(model.latent_sampler(noise)))
    assert got.shape == (n,) + IMAGE_SHAPE
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(generate(n=n, seed=seed)["images"], got)
    for other in (generate(n=n, seed=seed + 1)["images"], generate(n=n, seed=np.int32(-1))["images"]):
        assert other.shape == got.shape and np.abs(other - got).max() > 1e-3


def test_builtin_noise_is_standard_normal_and_uniform():
    uniform, normal = (t.numpy() for t in ak.tflite.builtin_noise(tf.constant(20000), 4, tf.constant(5)))
    assert uniform.shape == (20000,) and normal.shape == (20000, 4)
    assert 0 < uniform.min() and uniform.max() < 1 and abs(uniform.mean() - 0.5) < 0.01
    np.testing.assert_allclose(normal.mean(axis=0), 0, atol=0.03)
    np.testing.assert_allclose(normal.std(axis=0), 1, atol=0.03)
    assert np.abs(np.corrcoef(normal.T) - np.eye(4)).max() < 0.03  # independent columns
    again = ak.tflite.builtin_noise(tf.constant(20000), 4, tf.constant(5))[1].numpy()
    other = ak.tflite.builtin_noise(tf.constant(20000), 4, tf.constant(6))[1].numpy()
    np.testing.assert_array_equal(again, normal)
    assert abs(np.corrcoef(other.ravel(), normal.ravel())[0, 1]) < 0.03


def test_export_tflite_refuses_bad_targets(tmp_path):
    model = tiny_model("vae")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ValueError, match="file.txt.*is a file"):
        ak.export_tflite(model, tmp_path / "file.txt")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "generate.tflite").write_bytes(b"keep me")
    with pytest.raises(ValueError, match="generate.tflite.*exists.*overwrite=True"):
        ak.export_tflite(model, tmp_path / "out")
    assert (tmp_path / "out" / "generate.tflite").read_bytes() == b"keep me"


def test_cli_export_tflite(tmp_path, capsys):
    from ava_keras import cli

    model = tiny_model("vae")
    model.save(tmp_path / "model.keras")
    assert cli.main(["export", str(tmp_path / "model.keras"), str(tmp_path / "lite"), "--tflite"]) == 0
    assert "Exported 6 TFLite files" in capsys.readouterr().out  # serve, encode, decode, reconstruct, score, generate
    images = tiny_images(2)
    runner = litert_interpreter(tmp_path / "lite" / "reconstruct.tflite").get_signature_runner(
        "reconstruct"
    )
    np.testing.assert_allclose(runner(images=images)["reconstructions"], model.reconstruct(images), atol=1e-5)


def test_the_shipped_export_scores_digits_above_noise():
    """saved_models/ava5_digits answers `score`: real digits are less anomalous than uniform noise."""
    from ava_keras.evaluation import digits_split

    served = tf.saved_model.load(os.path.join(os.path.dirname(__file__), os.pardir, "saved_models", "ava5_digits"))
    held_out = digits_split()[2][:32]
    digits = tf.image.resize(held_out, (16, 16), method="bicubic", antialias=True).numpy().clip(0, 1)
    noise = np.random.default_rng(0).random(digits.shape).astype("float32")
    scores = {name: served.score(images) for name, images in (("digits", digits), ("noise", noise))}
    assert set(scores["digits"]) == {"reconstruction", "kl", "realism", "latent_realism", "anomaly"}
    assert np.isfinite(scores["digits"]["anomaly"].numpy()).all()
    assert scores["digits"]["anomaly"].numpy().max() < scores["noise"]["anomaly"].numpy().min()
