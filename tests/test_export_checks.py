"""The export refuses bad input in the graph, with the Python API's messages, where ava_keras is not installed."""

import json
import os

import numpy as np
import pytest

import ava_keras as ak
from ava_keras._validation import (
    bad_images_message,
    empty_input_message,
    image_shape_message,
    latent_shape_message,
    nonfinite_latents_message,
    positive_int_message,
)
from ava_keras.export import METADATA_FILE, decoder_bytes_per_image, default_max_generate
from tests._export_calls import call_export
from tests._tiny import IMAGE_SHAPE, LATENT_DIM, tiny_images, tiny_model

pytestmark = pytest.mark.integration  # the full tier (README: Tests)

IMAGE_ENDPOINTS = ("serve", "encode", "reconstruct", "score", "discriminate")
LATENT_ENDPOINTS = ("decode", "discriminate_latent")
ROUTES = ("load", "tfsm", "rest")
MAX_GENERATE, SEED = 4, 3
FIRST_LINES = {
    "load": "Graph execution error:",
    "tfsm": "Exception encountered when calling TFSMLayer.call().",
    "rest": "Graph execution error:",
}


def _bad_inputs():
    """`{case: (array, expected message)}` for the image and latent endpoints."""
    images = tiny_images(3)
    half_nan = np.where(images > 0.5, np.nan, images).astype("float32")
    finite = half_nan[np.isfinite(half_nan)]
    latents = np.random.default_rng(1).normal(size=(3, LATENT_DIM)).astype("float32")
    latents_nan, latents_inf = latents.copy(), latents.copy()
    latents_nan[0, 0], latents_inf[1, :] = np.nan, np.inf
    images_255 = (images * 255).astype("float32")
    signed = images * 2 - 1
    uint8 = (images * 255).round().astype("uint8")
    uint8[0, 0, :2, 0] = 0, 255  # the full 0-255 range
    bad_images = {
        "pixels_0_255": (images_255, bad_images_message(0, images_255.min(), images_255.max(), exported=True)),
        "uint8": (uint8, bad_images_message(0, uint8.min(), uint8.max(), exported=True)),
        "minus_1_to_1": (signed, bad_images_message(0, signed.min(), signed.max(), exported=True)),
        "half_nan": (
            half_nan,
            bad_images_message(int(np.isnan(half_nan).sum()), finite.min(), finite.max(), exported=True),
        ),
        "inf": (np.full_like(images, np.inf), bad_images_message(images.size, np.inf, -np.inf, exported=True)),
    }
    bad_latents = {
        "nan": (latents_nan, nonfinite_latents_message(1)),
        "inf": (latents_inf, nonfinite_latents_message(LATENT_DIM)),
        "wrong_shape": (latents[:, :2], latent_shape_message(LATENT_DIM, "(3, 2)")),
    }
    wrong_shapes = {
        "wrong_shape": (np.zeros((2, 4, 4, 1), "float32"), image_shape_message(IMAGE_SHAPE, "(2, 4, 4, 1)")),
        # The signature declares rank 4; TF Serving feeds a rank-5 batch as it comes.
        "wrong_rank": (images[..., None], image_shape_message(IMAGE_SHAPE, str(images[..., None].shape))),
    }
    return images, latents, bad_images, bad_latents, wrong_shapes


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Every call of the test, made by tests/_export_client.py in a fresh process, and what the model gives."""
    model = tiny_model()
    model.fit_latent_sampler(tiny_images(40, seed=3))  # generate goes through the fitted mixture
    model.fit_anomaly_scores(tiny_images(20, seed=4))  # score goes through the fitted statistics
    folder = tmp_path_factory.mktemp("checks")
    export = ak.export_saved_model(model, str(folder / "ava5"), max_generate=MAX_GENERATE)
    images, latents, bad_images, bad_latents, wrong_shapes = _bad_inputs()
    arrays = {"images": images, "latents": latents, "empty_images": images[:0], "empty_latents": latents[:0],
              **{case: array for case, (array, _) in wrong_shapes.items()}}
    calls, expected = [], {}

    def add(name, route, endpoint, inputs, message=None):
        calls.append({"name": name, "route": route, "endpoint": endpoint, "inputs": inputs})
        expected[name] = message

    for route in ROUTES:
        for endpoint in IMAGE_ENDPOINTS:
            add(f"{route}/{endpoint}/good", route, endpoint, {"images": "images"})
            add(f"{route}/{endpoint}/empty", route, endpoint, {"images": "empty_images"},
                empty_input_message(f"`{endpoint}`"))
            for case, (array, message) in bad_images.items():
                arrays[case] = array
                add(f"{route}/{endpoint}/{case}", route, endpoint, {"images": case}, message)
        for endpoint in LATENT_ENDPOINTS:
            add(f"{route}/{endpoint}/good", route, endpoint, {"latents": "latents"})
            add(f"{route}/{endpoint}/empty", route, endpoint, {"latents": "empty_latents"},
                empty_input_message(f"`{endpoint}`"))
            for case, (array, message) in bad_latents.items():
                arrays[f"latents_{case}"] = array
                add(f"{route}/{endpoint}/{case}", route, endpoint, {"latents": f"latents_{case}"}, message)
        # Only TF Serving's route reaches the graph with a wrong shape; Python binds to the signature first.
        for case, (_, message) in wrong_shapes.items():
            add(f"{route}/serve/{case}", route, "serve", {"images": case}, message)
        for n in (1, 2, MAX_GENERATE, 0, -1, MAX_GENERATE + 1):
            message = None if 1 <= n <= MAX_GENERATE else positive_int_message("n", str(n), maximum=MAX_GENERATE)
            add(f"{route}/generate/{n}", route, "generate", {"n": n, "seed": SEED}, message)

    report, outputs = call_export(export, str(folder), calls, arrays)
    mean, log_var = model.encode(images)
    model_outputs = {
        "serve": {"reconstructions": model.reconstruct(images)},
        "reconstruct": {"reconstructions": model.reconstruct(images)},
        "encode": {"mean": mean, "log_var": log_var},
        "score": model.anomaly_scores(images),
        "discriminate": {"probability": model.discriminate(images)},
        "decode": {"images": model.decode(latents)},
        "discriminate_latent": {"probability": 1 / (1 + np.exp(-model.latent_discriminator(latents).numpy()))},
        **{f"generate/{n}": {"images": model.sample(n, seed=SEED)} for n in (1, 2, MAX_GENERATE)},
    }
    return model, export, report, outputs, expected, model_outputs


def test_the_client_runs_without_ava_keras(served):
    _, _, report, _, _, _ = served
    assert report["importable"] is False and report["imported"] is False


@pytest.mark.parametrize("route", ROUTES)
def test_every_bad_input_to_every_endpoint_is_refused_with_its_message(served, route):
    _, _, report, _, expected, _ = served
    refused = {name: message for name, message in expected.items() if message and name.startswith(route + "/")}
    assert len(refused) > 40
    for name, message in refused.items():
        got = report["calls"][name]
        if name.endswith(("/wrong_shape", "/wrong_rank")) and route != "rest":
            # tf.saved_model.load and TFSMLayer bind inputs to the signature in Python, before the graph.
            assert got["error"] == "TypeError" and "Can not cast TensorSpec" in got["text"], (name, got)
            continue
        if name.endswith("/uint8") and route == "tfsm":
            # TFSMLayer makes a uint8 tensor, which does not bind to the float32 signature.
            assert got["error"] == "TypeError" and "dtype=tf.uint8" in got["text"], (name, got)
            continue
        assert got.get("error") == "InvalidArgumentError", (name, got)
        # TensorFlow's function runtime puts "Graph execution error:" first, and TFSMLayer its own line
        # before that; the message follows.
        assert got["first_line"] == FIRST_LINES[route], (name, got)
        assert got["message_line"] == f"assertion failed: [{message}]", (name, got)


def test_the_messages_say_what_to_do(served):
    _, _, report, _, _, _ = served
    assert "values from 0 to 255" in report["calls"]["load/reconstruct/uint8"]["message_line"]
    assert "divide 0-255 pixels by 255" in report["calls"]["tfsm/score/pixels_0_255"]["message_line"]
    assert "non-finite value(s) (NaN or inf)" in report["calls"]["rest/serve/half_nan"]["message_line"]
    assert "no larger than 4. Received: n=0" in report["calls"]["rest/generate/0"]["message_line"]


@pytest.mark.parametrize("route", ROUTES)
def test_good_input_gives_the_model_outputs(served, route):
    _, _, report, outputs, expected, model_outputs = served
    for case, want in model_outputs.items():
        name = f"{route}/{case}" if case.startswith("generate/") else f"{route}/{case}/good"
        assert report["calls"][name] == {"outputs": sorted(want)}, name
        for key, values in want.items():
            np.testing.assert_allclose(outputs[f"{name}/{key}"], values, atol=1e-5, rtol=0, err_msg=f"{name}/{key}")


def test_generate_gives_n_images_of_the_image_shape(served):
    _, _, _, outputs, _, _ = served
    for route in ROUTES:
        for n in (1, 2, MAX_GENERATE):
            assert outputs[f"{route}/generate/{n}/images"].shape == (n,) + IMAGE_SHAPE


def test_max_generate_is_stored_and_defaults_to_a_gibibyte_of_decoder_tensors(served, tmp_path):
    model, export, _, _, _, _ = served
    with open(os.path.join(export, METADATA_FILE), encoding="utf-8") as file:
        assert json.load(file)["max_generate"] == MAX_GENERATE
    per_image = decoder_bytes_per_image(model)
    # The decoder's output alone is a lower bound on its tensors.
    assert per_image > 4 * int(np.prod(IMAGE_SHAPE))
    assert default_max_generate(model) == 2**30 // per_image
    path = ak.export_saved_model(model, str(tmp_path / "default"))
    with open(os.path.join(path, METADATA_FILE), encoding="utf-8") as file:
        assert json.load(file)["max_generate"] == default_max_generate(model)
    with pytest.raises(ValueError, match="`max_generate` must be a positive integer"):
        ak.export_saved_model(model, str(tmp_path / "zero"), max_generate=0)


def test_tflite_refuses_bad_input_with_an_out_of_bounds_gather(tflite_ava5):
    from ai_edge_litert.interpreter import Interpreter

    files, max_generate = tflite_ava5.files, tflite_ava5.max_generate
    images, latents, bad_images, bad_latents, _ = _bad_inputs()

    def runner(endpoint):
        return Interpreter(model_path=files[endpoint]).get_signature_runner(endpoint)

    for endpoint in IMAGE_ENDPOINTS:
        assert all(np.isfinite(values).all() for values in runner(endpoint)(images=images[:1]).values())
        for case in ("pixels_0_255", "minus_1_to_1", "half_nan", "inf"):
            with pytest.raises(RuntimeError, match="gather index out of bounds"):
                runner(endpoint)(images=bad_images[case][0][:1].astype("float32"))
    for endpoint in LATENT_ENDPOINTS:
        assert all(np.isfinite(values).all() for values in runner(endpoint)(latents=latents[:2]).values())
        for case in ("nan", "inf"):
            with pytest.raises(RuntimeError, match="gather index out of bounds"):
                runner(endpoint)(latents=bad_latents[case][0][:2])
    generate = runner("generate")
    for n in (1, 2, max_generate):
        assert generate(n=np.int32(n), seed=np.int32(SEED))["images"].shape == (n,) + IMAGE_SHAPE
    for n in (0, -1, max_generate + 1):
        with pytest.raises(RuntimeError, match="gather index out of bounds"):
            generate(n=np.int32(n), seed=np.int32(SEED))


def test_cli_export_max_generate(tmp_path, capsys):
    from ava_keras import cli

    model = tiny_model("vae")
    model.save(tmp_path / "model.keras")
    command = ["export", str(tmp_path / "model.keras"), str(tmp_path / "export"), "--max-generate", "7"]
    assert cli.main(command) == 0
    with open(tmp_path / "export" / METADATA_FILE, encoding="utf-8") as file:
        assert json.load(file)["max_generate"] == 7
    capsys.readouterr()
    assert cli.main(command[:3] + ["--overwrite", "--max-generate", "0"]) == 2
    last_line = capsys.readouterr().err.strip().splitlines()[-1]
    assert last_line == "ava-keras: error: `max_generate` must be a positive integer. Received: max_generate=0"


def test_the_cost_table_is_the_committed_benchmark_result():
    root = os.path.dirname(os.path.dirname(__file__))
    with open(os.path.join(root, "docs", "performance", "export_checks.json"), encoding="utf-8") as file:
        result = json.load(file)
    with open(os.path.join(root, "saved_models", "README.md"), encoding="utf-8") as file:
        readme = file.read()
    assert result["command"] in readme
    for row in result["results"]:
        cells = [row["ms_without_checks"], row["ms_with_checks"], row["ms_fastest_round_without_checks"],
                 row["ms_fastest_round_with_checks"]]
        line = f"| `{row['endpoint']}` | {row['batch']} | " + " | ".join(f"{value:.2f}" for value in cells) + " |"
        assert line in readme, line
