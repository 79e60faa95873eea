"""The anomaly experiment: argument parsing, summary arithmetic, the data settings and a quick run."""

import argparse
import csv
import json
import math

import numpy as np
import pytest

from ava_keras import cli
from ava_keras.experiments import anomaly
from ava_keras.layers.anomaly_scorer import ANOMALY_TERMS
from tests._imports import top_level_import_roots
from tests._readme import shared_run_group

pytestmark = pytest.mark.integration  # the full tier (README: Tests)


def _parse(argv):
    return anomaly.add_arguments(argparse.ArgumentParser()).parse_args(argv)


def test_arguments_defaults_quick_and_errors():
    settings = anomaly.resolve(_parse([]))
    assert settings == {"settings": anomaly.SETTINGS, "presets": anomaly.DEFAULT_PRESETS, "seeds": [0, 1, 2],
                        "steps": anomaly.DEFAULT_STEPS, "batch_size": anomaly.DEFAULT_BATCH_SIZE}
    quick = anomaly.resolve(_parse(["--quick", "--settings", "ood", "--presets", "AVA3"]))
    assert quick["settings"] == ("ood",) and quick["presets"] == ("ava3",) and quick["seeds"] == [0]
    assert quick["steps"] == anomaly.QUICK_STEPS
    for bad in (["--settings", "mnist"], ["--presets", "ava9"], ["--steps", "0"], ["--seeds", "0"]):
        with pytest.raises(SystemExit):
            _parse(bad)
    assert anomaly.TERMS == ANOMALY_TERMS


def test_cli_reports_a_bad_option_in_one_line(capsys):
    assert cli.main(["experiment", "anomaly", "--settings", "mnist"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("ava-keras: error:") and "mnist" in error and "\n" not in error


def test_module_imports_no_tensorflow_at_top_level():
    assert not [root for root in top_level_import_roots(anomaly) if root in ("tensorflow", "keras", "numpy")]


def test_settings_split_the_digits_as_documented():
    train, normal, anomalous = anomaly.load_setting("one_class")
    from ava_keras.evaluation.digit_classifier import digits_split

    _, train_labels, _, held_out_labels = digits_split()
    assert len(train) == np.isin(train_labels, anomaly.NORMAL_CLASSES).sum()
    assert len(normal) + len(anomalous) == len(held_out_labels)
    assert len(normal) == np.isin(held_out_labels, anomaly.NORMAL_CLASSES).sum()
    train, normal, anomalous = anomaly.load_setting("ood")
    assert train.shape[1:] == normal.shape[1:] == anomalous.shape[1:] == (28, 28, 1)
    assert len(anomalous) == len(normal) and anomalous.min() >= 0 and anomalous.max() <= 1


def test_score_names_and_summary_hand_computed():
    assert anomaly.score_names(("reconstruction", "kl")) == ["reconstruction", "kl", "reconstruction+kl"]
    assert len(anomaly.score_names(ANOMALY_TERMS)) == 15  # 4 terms and 11 combinations
    rows = [
        {"setting": "ood", "model": "vae", "seed": 0, "status": "ok", "auroc[reconstruction]": 0.6},
        {"setting": "ood", "model": "vae", "seed": 1, "status": "ok", "auroc[reconstruction]": 0.8},
        {"setting": "ood", "model": "vae", "seed": 2, "status": "diverged"},
    ]
    summary = anomaly.summarize(rows)
    entry = summary["ood"]["vae"]
    assert (entry["ok"], entry["runs"]) == (2, 3)
    assert entry["reconstruction"]["mean"] == pytest.approx(0.7)
    assert entry["reconstruction"]["sd"] == pytest.approx(math.sqrt(0.02))
    table = anomaly.format_table(summary, {"steps": 5, "batch_size": 2})
    assert "| reconstruction | 0.700 ± 0.141 |" in table and "| ok runs | 2/3 |" in table


@pytest.mark.xdist_group(shared_run_group("experiment anomaly"))
def test_quick_run_writes_aurocs_and_its_table_rebuilds(readme_run):
    # README.md's `ava-keras experiment anomaly --quick`.
    out = readme_run("experiment anomaly") / "anomaly_results"
    with open(out / "anomaly_runs.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(r["setting"], r["model"], r["status"]) for r in rows] == [
        (s, m, "ok") for s in anomaly.SETTINGS for m in anomaly.QUICK_PRESETS
    ]
    for row in rows:
        terms = ANOMALY_TERMS if row["model"] == "ava5" else ("reconstruction", "kl")
        for name in anomaly.score_names(terms):
            assert 0.0 <= float(row[f"auroc[{name}]"]) <= 1.0, (row["model"], name)
        if row["model"] == "vae":
            assert row["auroc[realism]"] == ""
    summary = json.loads((out / "anomaly_summary.json").read_text())
    assert summary["runs"] == 4 and summary["config"]["sizes"]["ood"]["normal"] == 397
    assert summary["config"]["steps"] == anomaly.QUICK_STEPS
    table = (out / "anomaly_table.md").read_text()
    assert anomaly.table_from_files(out / "anomaly_runs.csv", out / "anomaly_summary.json") == table
    assert "**one_class**" in table and "**ood**" in table
