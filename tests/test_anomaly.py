"""Anomaly scores: the Python method, the combined score, the saved statistics, the export and the CLI."""

import csv
import math
import os

import numpy as np
import pytest
import tensorflow as tf
from keras import ops
from keras.src import testing
from PIL import Image

import ava_keras as ak
from ava_keras import cli, losses
from ava_keras.datasets import load_photos, write_image_folder
from ava_keras.evaluation import auroc
from ava_keras.layers.anomaly_scorer import ANOMALY_DIRECTIONS, DEFAULT_ANOMALY_TERMS, AnomalyScorer
from tests._tiny import IMAGE_SHAPE, tiny_images, tiny_model

# (preset, the realism terms it has)
PRESET_TERMS = [("vae", ()), ("ava1", ("realism",)), ("ava3", ("realism", "latent_realism"))]


@pytest.mark.parametrize("preset, extra", PRESET_TERMS)
def test_keys_and_shapes_per_preset_and_terms_match_the_model(preset, extra):
    model = tiny_model(preset)
    images = tiny_images(7)
    scores = model.anomaly_scores(images, batch_size=3)  # three batches, the last one short
    assert set(scores) == {"reconstruction", "kl", "anomaly", *extra}
    for name, values in scores.items():
        assert values.shape == (7,) and values.dtype == np.float32 and np.all(np.isfinite(values)), name
    # Unfitted: the combined score is the reconstruction error.
    np.testing.assert_array_equal(scores["anomaly"], scores["reconstruction"])
    mean, log_var = model.encode(images)
    expected_kl = 0.5 * np.sum(np.exp(log_var) + mean**2 - 1 - log_var, axis=1)
    np.testing.assert_allclose(scores["kl"], expected_kl, rtol=1e-5, atol=1e-6)
    if "realism" in extra:  # the logit of d(x): sigmoid gives `discriminate`
        np.testing.assert_allclose(1 / (1 + np.exp(-scores["realism"])), model.discriminate(images)[:, 0], atol=1e-6)
    if "latent_realism" in extra:
        logits = ops.convert_to_numpy(model.latent_discriminator(mean))[:, 0]
        np.testing.assert_allclose(scores["latent_realism"], logits, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("likelihood", ["paper", "bernoulli", "gaussian"])
def test_reconstruction_error_follows_the_likelihood(likelihood):
    model = tiny_model("vae", likelihood=likelihood)
    train, images = tiny_images(20, seed=1), tiny_images(5, seed=2)
    reconstructions = model.reconstruct(images)
    squared = np.sum((images - reconstructions).reshape(5, -1).astype("float64") ** 2, axis=1)
    pixels = np.prod(IMAGE_SHAPE)
    if likelihood == "paper":
        expected = 0.5 * squared
    elif likelihood == "bernoulli":
        p = np.clip(reconstructions, losses.EPSILON, 1 - losses.EPSILON).reshape(5, -1)
        x = images.reshape(5, -1)
        expected = -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=1)
    else:  # unfitted: each image's own sigma-hat^2, i.e. D/2 (log(2 pi mse) + 1)
        expected = 0.5 * pixels * (np.log(2 * np.pi * squared / pixels) + 1)
    np.testing.assert_allclose(model.anomaly_scores(images)["reconstruction"], expected, rtol=1e-4)
    model.fit_anomaly_scores(train)
    if likelihood == "gaussian":  # fitted: the training images' sigma-hat^2, stored with the model
        variance = np.mean((model.reconstruct(train) - train).astype("float64") ** 2)
        assert float(model.anomaly_scorer.variance) == pytest.approx(variance, rel=1e-5)
        expected = 0.5 * pixels * np.log(2 * np.pi * variance) + squared / (2 * variance)
        np.testing.assert_allclose(model.anomaly_scores(images)["reconstruction"], expected, rtol=1e-4)


def test_fit_standardises_on_the_training_images_and_survives_saving(tmp_path):
    model = tiny_model("ava5")
    train = tiny_images(30, seed=3)
    assert not model.anomaly_scorer.is_fitted
    assert model.fit_anomaly_scores(train) == DEFAULT_ANOMALY_TERMS
    every = model.anomaly_scorer.terms
    assert model.fit_anomaly_scores(train, terms=every) == ("reconstruction", "kl", "realism", "latent_realism")
    assert model.anomaly_scorer.is_fitted
    scores = model.anomaly_scores(train)
    # Each term standardised on these images: the combined score has mean 0 on them.
    assert abs(float(np.mean(scores["anomaly"]))) < 1e-4
    expected = np.mean([ANOMALY_DIRECTIONS[t] * (scores[t] - scores[t].mean()) / scores[t].std()
                        for t in every], axis=0)
    np.testing.assert_allclose(scores["anomaly"], expected, rtol=1e-4, atol=1e-4)
    assert model.fit_anomaly_scores(train, terms=["realism"]) == ("realism",)
    only_realism = model.anomaly_scores(train)["anomaly"]
    np.testing.assert_allclose(only_realism, -(scores["realism"] - scores["realism"].mean()) / scores["realism"].std(),
                               rtol=1e-4, atol=1e-4)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = ak.saving.load_model(path)
    assert loaded.anomaly_scorer.combined_terms == ("realism",)
    np.testing.assert_allclose(loaded.anomaly_scores(train)["anomaly"], only_realism, atol=1e-6)
    # A model saved before it had a scorer loads with the unfitted statistics.
    fresh = AnomalyScorer(("reconstruction", "kl"))
    fresh.load_own_variables({})
    assert not fresh.is_fitted


def test_fit_takes_a_dataset_and_checks_terms():
    model = tiny_model("vae")
    assert model.fit_anomaly_scores(tiny_images(5)) == ("reconstruction",)  # the default, of a VAE's terms
    train = tiny_images(12, seed=4)
    model.fit_anomaly_scores(tf.data.Dataset.from_tensor_slices(train).batch(5))
    from_dataset = model.anomaly_scorer.means.numpy().copy()
    model.fit_anomaly_scores(train)
    np.testing.assert_allclose(from_dataset, model.anomaly_scorer.means.numpy(), rtol=1e-5)
    with pytest.raises(ValueError, match="subset of this model's terms"):
        model.fit_anomaly_scores(train, terms=["realism"])  # a VAE has no d
    with pytest.raises(ValueError, match="at least two finite values"):
        model.fit_anomaly_scores(train[:1])


def test_bad_input_gets_the_usual_errors():
    model = tiny_model("ava1")
    images = tiny_images(3)
    with pytest.raises(ValueError, match="divide 0-255 pixels by 255"):
        model.anomaly_scores(images * 255)
    nan = images.copy()
    nan[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"1 non-finite value\(s\)"):
        model.anomaly_scores(nan)
    with pytest.raises(ValueError, match="Expected images of shape"):
        model.anomaly_scores(np.zeros((2, 9, 9, 1), "float32"))
    with pytest.raises(ValueError, match="got no images"):
        model.anomaly_scores(np.zeros((0,) + IMAGE_SHAPE, "float32"))
    with pytest.raises(ValueError, match="divide 0-255"):
        model.fit_anomaly_scores(images * 255)
    uint8 = (images * 255).astype("uint8")
    np.testing.assert_array_equal(model.anomaly_scores(uint8)["anomaly"], model.anomaly_scores(uint8 / 255)["anomaly"])


def test_combined_score_is_monotone_in_each_term():
    terms = ("reconstruction", "kl", "realism", "latent_realism")
    rng = np.random.default_rng(0)
    train = {t: rng.normal(loc=i, scale=i + 1, size=50) for i, t in enumerate(terms)}
    base = {t: rng.normal(size=20).astype("float32") for t in terms}
    for chosen in (terms, ("reconstruction",), ("kl", "realism"), ("latent_realism",)):
        scorer = AnomalyScorer(terms)
        scorer.fit(train, terms=chosen)
        before = ops.convert_to_numpy(scorer(scorer.stack(base)))
        for term in terms:
            for delta in (0.1, 3.0):
                moved = dict(base, **{term: base[term] + delta})
                change = (ops.convert_to_numpy(scorer(scorer.stack(moved))) - before) * ANOMALY_DIRECTIONS[term]
                if term in chosen:
                    assert np.all(change > 0), (chosen, term)
                else:
                    np.testing.assert_array_equal(change, 0.0)
    unfitted = AnomalyScorer(terms)  # the documented fallback: the reconstruction error itself
    np.testing.assert_array_equal(ops.convert_to_numpy(unfitted(unfitted.stack(base))), base["reconstruction"])
    for bad in (("kl",), ("reconstruction", "reconstruction"), ("reconstruction", "noise")):
        with pytest.raises(ValueError, match="`terms` must be distinct names"):
            AnomalyScorer(bad)


class AnomalyScorerLayerTest(testing.TestCase):
    def test_layer(self):
        self.run_layer_test(
            AnomalyScorer,
            init_kwargs={"terms": ["reconstruction", "kl"]},
            input_shape=(4, 2),
            expected_output_shape=(4,),
            expected_num_trainable_weights=0,
            expected_num_non_trainable_weights=5,
            supports_masking=False,
            run_training_check=False,
        )


def test_auroc_hand_computed_and_against_scikit_learn():
    assert auroc([0.0, 1.0], [2.0, 3.0]) == 1.0
    assert auroc([2.0, 3.0], [0.0, 1.0]) == 0.0
    assert auroc([1.0, 1.0], [1.0]) == 0.5  # ties count one half
    assert auroc([0.0, 2.0], [1.0, 3.0]) == 0.75  # pairs (0<1, 0<3, 2>1, 2<3): 3 of 4
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    normal, anomalous = rng.integers(0, 6, 70).astype(float), rng.integers(2, 9, 45).astype(float)
    expected = metrics.roc_auc_score(np.r_[np.zeros(70), np.ones(45)], np.r_[normal, anomalous])
    assert auroc(normal, anomalous) == pytest.approx(expected, abs=1e-12)
    with pytest.raises(ValueError, match="at least one normal and one anomalous"):
        auroc([], [1.0])
    with pytest.raises(ValueError, match="finite"):
        auroc([np.nan], [1.0])


@pytest.mark.integration
@pytest.mark.parametrize("preset", ["vae", "ava5"])
def test_score_endpoint_equals_the_python_method(preset, tmp_path):
    model = tiny_model(preset)
    images = tiny_images(6, seed=5)
    model.fit_anomaly_scores(tiny_images(20, seed=6))
    path = ak.export_saved_model(model, str(tmp_path / "export"))
    loaded = tf.saved_model.load(path)  # kept referenced: its variables live as long as it does
    served = loaded.score(images)
    expected = model.anomaly_scores(images)
    assert set(served) == set(expected)
    for name, values in expected.items():
        np.testing.assert_allclose(served[name].numpy(), values, rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.fixture(scope="module")
def scored_folder(tmp_path_factory):
    """A tiny ava1 model file and a folder of nine photographs (some nested) plus one broken file."""
    root = tmp_path_factory.mktemp("score")
    folder = root / "pictures"
    names = [f"{'nested/' if i % 3 == 0 else ''}photo_{i}" for i in range(9)]
    write_image_folder(load_photos(image_size=(12, 10))[:9], folder, names=names)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    model = tiny_model("ava1")
    model.fit_anomaly_scores(tiny_images(20, seed=7))
    model.save(str(root / "model.keras"))
    return root, folder


def test_cli_scores_a_folder_with_a_broken_file(scored_folder, capsys):
    root, folder = scored_folder
    out, grid = root / "scores.csv", root / "extremes.png"
    code = cli.main(["score", str(root / "model.keras"), str(folder), "--out", str(out), "--grid", str(grid)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    with pytest.warns(UserWarning) as record:  # `train`'s folder reader names the same file in the same words
        ak.data.image_folder(folder, 8, batch_size=2, channels=1)
    train_warning = str(record[0].message)
    assert f"ava-keras: warning: {train_warning}" in captured.err and "broken.jpg" in train_warning
    with open(out, newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["file", "anomaly", "reconstruction", "kl", "realism"]
    assert sorted(r["file"] for r in rows) == sorted(
        os.path.relpath(os.path.join(r, f), folder) for r, _, fs in os.walk(folder) for f in fs if f != "broken.jpg")
    anomaly = [float(r["anomaly"]) for r in rows]
    assert anomaly == sorted(anomaly, reverse=True) and all(math.isfinite(a) for a in anomaly)
    assert rows[0]["file"] in captured.out
    with Image.open(grid) as picture:  # 4 most and 4 least anomalous images, 8x8 enlarged to 64x64 tiles
        assert picture.size == (4 * 66 + 2, 2 * 66 + 2)


def test_cli_score_warns_about_an_unfitted_model_and_rejects_bad_paths(scored_folder, tmp_path, capsys):
    root, folder = scored_folder
    path = str(tmp_path / "unfitted.keras")
    tiny_model("vae").save(path)
    assert cli.main(["score", path, str(folder), "--out", str(tmp_path / "s.csv")]) == 0
    assert "fit_anomaly_scores was not run" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    for argv, fragment in (
        (["score", path, str(tmp_path / "empty")], "no image files"),
        (["score", path, str(folder), "--out", str(tmp_path)], "--out"),
        (["score", str(tmp_path / "missing.keras"), str(folder)], "model file not found"),
    ):
        assert cli.main(argv) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ava-keras: error:") and fragment in lines[0], lines
