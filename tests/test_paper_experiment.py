"""The paper's experiment: argument parsing, table arithmetic, and a --quick run."""

import argparse
import csv
import json
import math
import os
import sys

import pytest

from ava_keras.experiments import paper
from tests._imports import top_level_import_roots
from tests._readme import shared_run_group

pytestmark = pytest.mark.integration  # the full tier (README: Tests)


def _parse(argv):
    return paper.add_arguments(argparse.ArgumentParser()).parse_args(argv)


def test_learning_rates_are_the_papers_nineteen():
    assert len(paper.LEARNING_RATES) == 19
    assert paper.LEARNING_RATES[:3] == (1.0, 0.9, 0.8) and paper.LEARNING_RATES[-2:] == (0.02, 0.01)
    assert set(paper.LEARNING_RATES) == set(paper.PAPER_TABLES_1_2)


def test_arguments_defaults_and_errors():
    args = _parse([])
    assert (args.routing, args.steps, args.seeds, args.clipnorm) == ("paper", paper.DEFAULT_STEPS, None, None)
    assert _parse(["--learning-rates", "0.5,0.05"]).learning_rates == (0.5, 0.05)
    for bad in (["--learning-rates", "0.5,x"], ["--steps", "0"], ["--routing", "other"], ["--clipnorm", "-1"]):
        with pytest.raises(SystemExit):
            _parse(bad)


def test_module_imports_no_tensorflow_at_top_level():
    assert not [root for root in top_level_import_roots(paper) if root in ("tensorflow", "keras", "ava_keras", "numpy")]


def _row(model, gamma, seed, rmse):
    return {
        "model": model,
        "learning_rate": gamma,
        "seed": seed,
        "status": "ok" if rmse is not None else "diverged",
        "rmse": "" if rmse is None else rmse,
    }


def test_summarize_hand_computed():
    rows = [
        _row("ava1", 1.0, 0, 0.2), _row("ava1", 1.0, 1, 0.4),
        _row("ava1", 0.1, 0, 0.1), _row("ava1", 0.1, 1, None),
        _row("vae", 1.0, 0, None), _row("vae", 1.0, 1, None),
        _row("vae", 0.1, 0, 0.5), _row("vae", 0.1, 1, 0.3),
    ]
    summary = paper.summarize(rows)
    assert summary["models"] == ["ava1", "vae"] and summary["learning_rates"] == [1.0, 0.1]
    assert summary["cells"][("ava1", 1.0)] == {"mean": pytest.approx(0.3), "ok": 2, "diverged": 0}
    assert summary["cells"][("ava1", 0.1)] == {"mean": pytest.approx(0.1), "ok": 1, "diverged": 1}
    assert summary["cells"][("vae", 1.0)] == {"mean": None, "ok": 0, "diverged": 2}
    ava1 = summary["table3"]["ava1"]
    # Per-γ cells 0.3 and 0.1: mean 0.2, min 0.1, sample SD √0.02. Seeds: seed 0 mean(0.2, 0.1) = 0.15,
    # seed 1 mean(0.4) = 0.4, SD √(0.03125).
    assert ava1["mean"] == pytest.approx(0.2) and ava1["minimum"] == pytest.approx(0.1)
    assert ava1["sd"] == pytest.approx(math.sqrt(0.02))
    assert ava1["seed_sd"] == pytest.approx(math.sqrt(0.03125))
    assert (ava1["diverged"], ava1["runs"]) == (1, 4)
    assert summary["table3"]["vae"]["mean"] == pytest.approx(0.4) and summary["table3"]["vae"]["diverged"] == 2
    tables = paper.format_tables(summary, "test")
    assert "| 1 | 0.3000 | 0.1776 | diverged ×2 | 0.2366 |" in tables
    assert "0.1000 (div ×1)" in tables
    assert "| Diverged runs | 1/4 | 2/4 |" in tables


@pytest.mark.xdist_group(shared_run_group("experiment paper"))
def test_quick_run_writes_finite_tables(readme_run):
    # README.md's `ava-keras experiment paper --quick`: 3 learning rates x 1 seed x 6 models.
    out = readme_run("experiment paper") / "paper_results"
    with open(out / "paper_runs.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 6 * 3
    assert {(r["model"], float(r["learning_rate"])) for r in rows} == {
        (m, g) for m in paper.MODELS for g in paper.QUICK_LEARNING_RATES
    }
    assert {r["status"] for r in rows} <= {"ok", "diverged"}
    for row in rows:
        if row["status"] == "ok":
            assert 0.0 <= float(row["rmse"]) <= 1.0, row
        else:  # a diverged run has no score and says when it diverged
            assert row["rmse"] == "" and int(row["diverged_at_step"]) >= 1, row
    summary = json.loads((out / "paper_summary.json").read_text())
    assert summary["config"]["steps"] == paper.DEFAULT_STEPS and summary["runs"] == 18
    assert summary["diverged"] == sum(r["status"] == "diverged" for r in rows)
    for model in paper.MODELS:
        entry = summary["table3"][model]
        assert entry["runs"] == 3
        if entry["diverged"] < 3:
            assert 0.0 <= entry["mean"] <= 1.0 and 0.0 <= entry["minimum"] <= entry["mean"]
    tables = (out / "paper_tables.md").read_text()
    table_rows = [line for line in tables.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [line.split(" | ")[0] for line in table_rows] == ["| 1", "| 0.1", "| 0.01"]
    assert all(line.count("|") == 2 + 2 * 6 for line in table_rows)
    assert (out / "paper_figure5.png").stat().st_size > 1000


def test_without_matplotlib_everything_but_the_figure_is_written(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` raises ImportError
    rows = [{"routing": "paper", "model": model, "learning_rate": 0.1, "seed": 0, "steps": 1, "clipnorm": "",
             "status": "ok", "rmse": 0.25, "final_loss": 1.0, "diverged_at_step": "", "seconds": 0.1}
            for model in paper.MODELS]
    with pytest.warns(UserWarning, match=r"paper_figure5.png: The Figure 5 plot needs matplotlib.*ava_keras\[plots\]"):
        paths = paper.write_outputs(str(tmp_path), "paper", rows, {"steps": 1})
    assert sorted(os.path.basename(p) for p in paths) == ["paper_runs.csv", "paper_summary.json", "paper_tables.md"]
    assert all(os.path.getsize(p) > 0 for p in paths) and not (tmp_path / "paper_figure5.png").exists()
