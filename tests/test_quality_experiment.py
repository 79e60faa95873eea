"""The quality experiment: argument parsing, summary arithmetic, and a tiny-budget run."""

import argparse
import csv
import json
import math

import numpy as np
import pytest

from ava_keras import cli
from ava_keras.experiments import quality, quality_tables
from ava_keras.experiments._runner import train_steps
from tests._quality import shared_classifier
from tests._imports import top_level_import_roots

pytestmark = pytest.mark.integration  # the full tier (README: Tests)


def _parse(argv):
    return quality.add_arguments(argparse.ArgumentParser()).parse_args(argv)


def test_arguments_defaults_quick_and_errors():
    settings = quality.resolve(_parse([]))
    assert settings["presets"] == quality.PRESETS and settings["seeds"] == [0, 1, 2]
    assert settings["dataset"] == "digits" and settings["baseline"] and not settings["paper_settings"]
    assert (settings["steps"], settings["batch_size"]) == (quality.DEFAULT_STEPS, quality.DEFAULT_BATCH_SIZE)
    assert settings["model_options"] == {} and settings["learning_rates"] == {}
    assert (settings["networks"], settings["discriminator"], settings["image_size"]) == ("small", "global", None)
    assert settings["decoder_ema"] is None and quality.resolve(_parse(["--decoder-ema", "0.99"]))["decoder_ema"] == 0.99
    quick = quality.resolve(_parse(["--quick", "--presets", "AVA3, vae", "--kl-weight", "0.5", "--discriminator-lr",
                                    "1e-4", "--likelihood", "bernoulli", "--dataset", "photos", "--no-baseline"]))
    assert quick["presets"] == ("ava3", "vae") and quick["seeds"] == [0] and quick["steps"] == quality.QUICK_STEPS
    assert quick["model_options"] == {"likelihood": "bernoulli", "kl_weight": 0.5}
    assert quick["learning_rates"] == {"discriminator": 1e-4}
    assert quick["dataset"] == "photos" and not quick["baseline"] and quick["image_size"] == 32
    adversaries = quality.resolve(_parse(["--discriminator-prior-samples", "--adaptive-adversarial-weight",
                                          "--discriminator-start-step", "200",
                                          "--no-decoder-adversarial-reaches-encoder"]))
    assert adversaries["model_options"] == {
        "discriminator_prior_samples": True, "adaptive_adversarial_weight": True, "discriminator_start_step": 200,
        "decoder_adversarial_reaches_encoder": False,
    }
    for bad in (["--presets", "ava9"], ["--presets", ","], ["--steps", "0"], ["--seeds", "-1"],
                ["--adversarial-weight", "-1"], ["--generator-loss", "hinge"], ["--encoder-lr", "0"],
                ["--likelihood", "laplace"], ["--dataset", "mnist"], ["--image-size", "48"], ["--networks", "big"],
                ["--discriminator", "local"], ["--discriminator-start-step", "-5"], ["--decoder-ema", "1"],
                ["--decoder-ema", "0"], ["--decoder-ema", "nan"]):
        with pytest.raises(SystemExit):
            _parse(bad)


def test_cli_reports_a_bad_option_in_one_line(capsys):
    assert cli.main(["experiment", "quality", "--presets", "ava9"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("ava-keras: error:") and "ava9" in error and "\n" not in error


def test_image_size_is_for_photos_only(capsys):
    assert cli.main(["experiment", "quality", "--image-size", "64"]) == 2
    error = capsys.readouterr().err.strip()
    assert "--image-size 64" in error and "--dataset photos" in error and "\n" not in error


@pytest.mark.parametrize("module", [quality, quality_tables])
def test_module_imports_no_tensorflow_at_top_level(module):
    assert not [root for root in top_level_import_roots(module) if root in ("tensorflow", "keras", "numpy")]


def _row(model, seed, fid, seconds, status="ok"):
    scores = {key: "" for key, _, _ in quality_tables.METRICS}
    if status == "ok":
        scores.update({key: fid for key, _, _ in quality_tables.METRICS})
    return {"model": model, "seed": seed, "status": status, **scores, "train_seconds": seconds}


def test_summarize_and_table_hand_computed():
    rows = [_row("ava1", 0, 2.0, 10), _row("ava1", 1, 4.0, 20), _row("ava1", 2, None, 30, "diverged"),
            _row("vae", 0, 1.0, 5), _row(quality_tables.BASELINE, 0, 9.0, 4)]
    summary = quality_tables.summarize(rows)
    # The keras.io VAE, then the order of PRESETS.
    assert list(summary) == [quality_tables.BASELINE, "vae", "ava1"]
    ava1 = summary["ava1"]
    assert (ava1["ok"], ava1["runs"]) == (2, 3)
    # FID over the two successful seeds: mean 3, sample SD √2; training time counts all three runs.
    assert ava1["fid"]["mean"] == pytest.approx(3.0)
    assert ava1["fid"]["sd"] == pytest.approx(math.sqrt(2.0))
    assert ava1["train_seconds"]["mean"] == pytest.approx(20.0)
    assert summary["vae"]["mse"]["mean"] == 1.0 and math.isnan(summary["vae"]["mse"]["sd"])
    references = {"training_images": {key: 0.5 for key, _, _ in quality_tables.METRICS}}
    table = quality_tables.format_table(summary, references, {"steps": 7, "batch_size": 3})
    assert "| AVA1 | 3.00 ± 1.41 |" in table and "| 2/3 |" in table and "| keras.io VAE | 9.00 |" in table
    assert "| VAE | 1.00 |" in table and "*real training images*" in table and "7 steps of batch 3" in table


def _check_rows(path, expected):
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(r["model"], r["seed"], r["status"], r["steps"]) for r in rows] == expected
    for row in rows:
        for key, _, _ in quality_tables.METRICS:
            if key not in ("confidence", "label_accuracy", "intra_fid"):  # the last two: conditional runs only
                assert math.isfinite(float(row[key])), (row["model"], key, row[key])
        assert 0 <= float(row["precision"]) <= 1 and 0 <= float(row["recall"]) <= 1
        assert 0 < float(row["mse"]) < 1 and -1 <= float(row["ssim"]) <= 1 and float(row["fid"]) > 0
    return rows


def test_tiny_run_writes_finite_outputs_and_its_table_rebuilds_from_them(tmp_path, tmp_path_factory):
    _, cache_dir = shared_classifier(tmp_path_factory)
    args = _parse([
        "--quick", "--steps", "3", "--presets", "ava1", "--generator-loss", "minimax",
        "--adversarial-weight", "0.5", "--decoder-lr", "5e-4", "--classifier-cache", cache_dir,
        "--label", "tiny", "--out", str(tmp_path),
    ])
    assert quality.run(args) == 0
    # The keras.io VAE, then one preset with a discriminator (each model costs a train_step trace).
    expected = [(quality_tables.BASELINE, "0", "ok", "3"), ("ava1", "0", "ok", "3")]
    rows = _check_rows(tmp_path / "tiny_runs.csv", expected)
    assert all(0 < float(r["confidence"]) <= 1 for r in rows)
    assert rows[0]["fid"] == rows[0]["fid_prior"]  # the keras.io VAE samples its prior
    summary = json.loads((tmp_path / "tiny_summary.json").read_text())
    assert set(summary["summary"]) == {quality_tables.BASELINE, "ava1"} and summary["runs"] == 2
    config = summary["config"]
    assert config["model_options"] == {"generator_loss": "minimax", "adversarial_weight": 0.5}
    assert config["optimizers"]["decoder"]["learning_rate"] == pytest.approx(5e-4)
    assert config["optimizers"]["encoder"]["learning_rate"] == pytest.approx(1e-3)  # AVA.compile's default
    # By default as many samples as training images, so the real-images row scores all of them.
    assert config["samples_per_model"] == 1400 and config["classifier"]["held_out_accuracy"] > 0.95
    reference = summary["references"]["training_images"]
    assert reference["fid"] < summary["summary"]["ava1"]["fid"]["mean"]
    table = (tmp_path / "tiny_table.md").read_text()
    assert table.count("\n| AVA1 |") == 1 and table.count("| reference |") == 2
    assert quality_tables.table_from_files(tmp_path / "tiny_runs.csv", tmp_path / "tiny_summary.json") == table
    assert (tmp_path / "tiny_samples.png").stat().st_size > 1000


def test_tiny_photos_run_scores_in_random_features(tmp_path, monkeypatch):
    trained = []  # the models, to check that the decoder ends as its average (--decoder-ema)
    monkeypatch.setattr(quality, "train_steps", lambda model, *a, **k: trained.append(model) or train_steps(model, *a, **k))
    args = _parse(["--dataset", "photos", "--steps", "2", "--seeds", "1", "--presets", "vae", "--no-baseline",
                   "--samples", "100", "--precision", "mixed_bfloat16", "--decoder-ema", "0.9", "--label", "photos",
                   "--out", str(tmp_path)])
    assert quality.run(args) == 0
    (model,) = trained
    for weight, average in zip(model.decoder.trainable_variables,
                               model.decoder_optimizer._model_variables_moving_average):
        np.testing.assert_array_equal(weight.numpy(), average.numpy())
    rows = _check_rows(tmp_path / "photos_runs.csv", [("vae", "0", "ok", "2")])
    assert rows[0]["confidence"] == ""  # no classifier for photographs
    config = json.loads((tmp_path / "photos_summary.json").read_text())["config"]
    assert config["image_shape"] == [32, 32, 3] and config["features"] == "RandomFeatures(seed=0)"
    assert config["samples_per_model"] == 100 and config["precision"] == "mixed_bfloat16"
    assert config["decoder_ema"] == 0.9 and config["optimizers"]["decoder"]["ema_momentum"] == 0.9
    table = (tmp_path / "photos_table.md").read_text()
    assert "trained under the `mixed_bfloat16` dtype policy" in table and "(`--decoder-ema 0.9`)" in table


def test_photos_at_64_with_scaled_networks_and_a_patch_discriminator(tmp_path):
    args = _parse(["--dataset", "photos", "--image-size", "64", "--networks", "scaled", "--discriminator", "patch",
                   "--steps", "2", "--seeds", "1", "--presets", "ava1", "--no-baseline", "--samples", "100",
                   "--label", "scaled", "--out", str(tmp_path)])
    assert quality.run(args) == 0
    row = _check_rows(tmp_path / "scaled_runs.csv", [("ava1", "0", "ok", "2")])[0]
    assert float(row["hf_ratio"]) > 0 and float(row["hf_ratio_rec"]) > 0 and 0 <= float(row["blur"]) <= 1
    saved = json.loads((tmp_path / "scaled_summary.json").read_text())
    config = saved["config"]
    assert config["image_shape"] == [64, 64, 3] and "shrunk 2x" in config["data"]
    assert config["network"]["encoder"]["filters"] == [16, 32, 64, 128] and config["network"]["latent_dim"] == 64
    assert config["network"]["discriminator"]["class"] == "PatchDiscriminator"
    spectra = saved["spectra"]
    assert len(spectra["frequencies"]) == 32 and set(spectra["power"]) == {"held-out images", "ava1"}
    assert saved["references"]["training_images"]["hf_ratio"] == pytest.approx(1.0, abs=0.2)
    table = (tmp_path / "scaled_table.md").read_text()
    assert "HF ratio" in table and "scaled networks with a patch discriminator" in table
    assert quality_tables.table_from_files(tmp_path / "scaled_runs.csv", tmp_path / "scaled_summary.json") == table


def test_quick_conditional_run_scores_samples_against_the_requested_digit(tmp_path, tmp_path_factory):
    _, cache_dir = shared_classifier(tmp_path_factory)
    args = _parse(["--quick", "--conditional", "--classifier-cache", cache_dir, "--label", "conditional",
                   "--out", str(tmp_path)])
    assert quality.resolve(args)["conditional"]
    assert quality.run(args) == 0
    rows = _check_rows(tmp_path / "conditional_runs.csv",
                       [(quality_tables.BASELINE, "0", "ok", str(quality.QUICK_STEPS)),
                        ("ava5", "0", "ok", str(quality.QUICK_STEPS))])
    assert rows[0]["label_accuracy"] == rows[0]["intra_fid"] == ""  # the keras.io VAE stays unconditional
    assert 0 <= float(rows[1]["label_accuracy"]) <= 1 and float(rows[1]["intra_fid"]) > 0
    table = (tmp_path / "conditional_table.md").read_text()
    assert "label acc. ↑" in table and "intra-FID ↓" in table and "class-conditional on the digits' labels" in table
    assert quality_tables.table_from_files(tmp_path / "conditional_runs.csv",
                                           tmp_path / "conditional_summary.json") == table


def test_conditional_is_for_digits_only(capsys):
    assert cli.main(["experiment", "quality", "--conditional", "--dataset", "photos"]) == 2
    error = capsys.readouterr().err.strip()
    assert "--conditional" in error and "--dataset digits" in error and "\n" not in error
