"""Export of a class-conditional AVA: each endpoint takes `label`, checked in the graph; class names in assets.extra."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

import ava_keras as ak
from ava_keras._validation import (
    generate_labels_message,
    label_count_message,
    label_range_message,
    label_shape_message,
)
from ava_keras.export import METADATA_FILE
from tests._export_calls import call_export
from tests._tiny import IMAGE_SHAPE, LATENT_DIM, tiny_images, tiny_model

pytestmark = pytest.mark.integration  # the full tier (README: Tests)

CLASSES = ("cat", "dog", "owl")
ENDPOINTS = ("serve", "encode", "decode", "reconstruct", "score", "generate", "discriminate", "discriminate_latent")
IMAGE_ENDPOINTS = ("serve", "encode", "reconstruct", "score", "discriminate")
LATENT_ENDPOINTS = ("decode", "discriminate_latent")
ROUTES = ("load", "tfsm", "rest")
LABELS = np.array([0, 2, 1], "int32")
MAX_GENERATE, SEED = 4, 3


@pytest.fixture(scope="module")
def model():
    """A tiny conditional AVA5 with a latent mixture per class and fitted anomaly statistics."""
    model = tiny_model(num_classes=len(CLASSES), class_names=CLASSES, latent_sampler_components=2)
    images, labels = tiny_images(24, seed=3), np.arange(24) % len(CLASSES)
    model.fit_latent_sampler(images, labels)
    model.fit_anomaly_scores(images, labels)
    return model


def _model_outputs(model, images, latents, labels):
    """What each endpoint must give, from the model's own methods."""
    mean, log_var = model.encode(images, labels)
    return {
        "serve": {"reconstructions": model.reconstruct(images, labels)},
        "reconstruct": {"reconstructions": model.reconstruct(images, labels)},
        "encode": {"mean": mean, "log_var": log_var},
        "decode": {"images": model.decode(latents, labels)},
        "score": model.anomaly_scores(images, labels),
        "discriminate": {"probability": model.discriminate(images, labels)},
        "discriminate_latent": {
            "probability": ops.convert_to_numpy(ops.sigmoid(model.latent_discriminator_logits(latents, labels)))
        },
    }


@pytest.fixture(scope="module")
def served(model, tmp_path_factory):
    """Calls of the SavedModel by tests/_export_client.py, in a fresh process without ava_keras: through
    `tf.saved_model.load`, `keras.layers.TFSMLayer` and TF Serving's REST route."""
    folder = tmp_path_factory.mktemp("labels")
    export = ak.export_saved_model(model, str(folder / "conditional"), max_generate=MAX_GENERATE)
    images = tiny_images(3)
    latents = np.random.default_rng(1).normal(size=(3, LATENT_DIM)).astype("float32")
    arrays = {"images": images, "latents": latents, "labels": LABELS, "out_of_range": np.array([0, 3, 1], "int32"),
              "negative": np.array([-1, 0, 1], "int32"), "two": LABELS[:2], "none": LABELS[:0],
              "five": np.zeros(5, "int32"), "column": LABELS[:, None]}
    calls, expected = [], {}

    def add(name, route, endpoint, inputs, message=None):
        calls.append({"name": name, "route": route, "endpoint": endpoint, "inputs": inputs})
        expected[name] = message

    column = label_shape_message("(3, 1)", exported=True)  # [[0], [2], [1]], as a JSON client may send it
    for route in ROUTES:
        for endpoint, values in [(e, "images") for e in IMAGE_ENDPOINTS] + [(e, "latents") for e in LATENT_ENDPOINTS]:
            add(f"{route}/{endpoint}/good", route, endpoint, {values: values, "label": "labels"})
            add(f"{route}/{endpoint}/out_of_range", route, endpoint, {values: values, "label": "out_of_range"},
                label_range_message(0, 3, len(CLASSES)))
            add(f"{route}/{endpoint}/negative", route, endpoint, {values: values, "label": "negative"},
                label_range_message(-1, 1, len(CLASSES)))
            add(f"{route}/{endpoint}/count", route, endpoint, {values: values, "label": "two"},
                label_count_message(2, 3))
            add(f"{route}/{endpoint}/column", route, endpoint, {values: values, "label": "column"}, column)
        add(f"{route}/generate/good", route, "generate", {"label": "labels", "seed": SEED})
        add(f"{route}/generate/none", route, "generate", {"label": "none", "seed": SEED},
            generate_labels_message(0, MAX_GENERATE))
        add(f"{route}/generate/five", route, "generate", {"label": "five", "seed": SEED},
            generate_labels_message(5, MAX_GENERATE))
        add(f"{route}/generate/out_of_range", route, "generate", {"label": "out_of_range", "seed": SEED},
            label_range_message(0, 3, len(CLASSES)))
        add(f"{route}/generate/column", route, "generate", {"label": "column", "seed": SEED}, column)
    report, outputs = call_export(export, str(folder), calls, arrays)
    model_outputs = _model_outputs(model, images, latents, LABELS)
    model_outputs["generate"] = {"images": model.sample(len(LABELS), seed=SEED, labels=LABELS)}
    return export, report, outputs, expected, model_outputs


def test_every_endpoint_takes_the_label_and_gives_the_models_outputs(served):
    export, report, outputs, expected, model_outputs = served
    assert not report["importable"] and not report["imported"]
    good = [name for name, message in expected.items() if message is None]
    assert len(good) == len(ROUTES) * len(ENDPOINTS)
    for name in good:
        endpoint = name.split("/")[1]
        assert report["calls"][name] == {"outputs": sorted(model_outputs[endpoint])}, name
        for key, want in model_outputs[endpoint].items():
            np.testing.assert_allclose(outputs[f"{name}/{key}"], want, atol=1e-5, rtol=0, err_msg=name)


def test_bad_labels_are_refused_in_the_graph_with_their_message(served):
    _, report, _, expected, _ = served
    refused = {name: message for name, message in expected.items() if message is not None}
    assert len(refused) == len(ROUTES) * (4 * (len(ENDPOINTS) - 1) + 4)
    for name, message in refused.items():
        call = report["calls"][name]
        if name.endswith("/column") and not name.startswith("rest/"):
            # tf.saved_model.load and TFSMLayer bind inputs to the signature in Python, before the graph.
            assert call.get("error") == "TypeError", (name, call)
            assert "Can not cast TensorSpec(shape=(3, 1), dtype=tf.int32, name='label')" in call["text"], (name, call)
            continue
        assert call.get("error") == "InvalidArgumentError", (name, call)
        assert call["message_line"] and message in call["message_line"], (name, call["message_line"], message)


def test_the_class_names_are_in_assets_extra(served):
    export = served[0]
    with open(os.path.join(export, METADATA_FILE), encoding="utf-8") as file:
        metadata = json.load(file)
    assert metadata["num_classes"] == 3 and metadata["class_names"] == list(CLASSES)
    assert metadata["latent_sampler"] == "gaussian_mixture"
    loaded = tf.saved_model.load(export)
    inputs = loaded.signatures["generate"].structured_input_signature[1]
    assert {name: (spec.shape.as_list(), spec.dtype) for name, spec in inputs.items()} == {
        "label": ([None], tf.int32), "seed": ([], tf.int32)}


def test_unconditional_exports_take_no_label(tmp_path):
    path = ak.export_saved_model(tiny_model("vae"), str(tmp_path / "vae"))
    loaded = tf.saved_model.load(path)
    for name in ("serve", "encode", "decode", "reconstruct", "score", "generate"):
        assert "label" not in loaded.signatures[name].structured_input_signature[1], name
    with open(os.path.join(path, METADATA_FILE), encoding="utf-8") as file:
        metadata = json.load(file)
    assert metadata["num_classes"] is None and metadata["class_names"] is None


def test_every_endpoint_runs_in_litert_with_labels_and_refuses_bad_ones(model, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    files = ak.export_tflite(model, tmp_path / "tflite", max_generate=MAX_GENERATE)
    assert sorted(files) == sorted(ENDPOINTS)
    images = tiny_images(3)
    latents = np.random.default_rng(1).normal(size=(3, LATENT_DIM)).astype("float32")
    inputs = {"images": images, "latents": latents, "label": LABELS}

    def runner(endpoint):
        return Interpreter(model_path=files[endpoint]).get_signature_runner(endpoint)

    for name, want in _model_outputs(model, images, latents, LABELS).items():
        run = runner(name)
        got = run(**{key: inputs[key] for key in run.get_input_details()})
        assert sorted(got) == sorted(want), name
        for key in want:
            np.testing.assert_allclose(got[key], want[key], atol=1e-5, rtol=0, err_msg=f"{name}/{key}")
        for bad in (np.array([0, 3, 1], "int32"), np.array([-1, 0, 1], "int32"), LABELS[:2]):
            with pytest.raises(RuntimeError, match="gather index out of bounds"):
                run(**{**{key: inputs[key] for key in run.get_input_details()}, "label": bad})

    generate = runner("generate")
    got = generate(label=LABELS, seed=np.int32(SEED))["images"]
    # The same draws in TensorFlow, through each label's mixture and the decoder.
    noise = ak.tflite.builtin_noise(tf.constant(len(LABELS)), LATENT_DIM, tf.constant(SEED))
    want = model.decode(ops.convert_to_numpy(model.latents_from_noise(noise, LABELS)), LABELS)
    assert got.shape == (len(LABELS),) + IMAGE_SHAPE
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    for bad in (LABELS[:0], np.zeros(MAX_GENERATE + 1, "int32"), np.array([0, 3], "int32")):
        with pytest.raises(RuntimeError, match="gather index out of bounds"):
            generate(label=bad, seed=np.int32(SEED))
