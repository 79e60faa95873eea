"""docs/quality.md quotes tables that regenerate from the committed run files."""

import glob
import json
import os

import pytest

from ava_keras.experiments import quality_tables

pytestmark = pytest.mark.integration  # the full tier (README: Tests)

ROOT = os.path.join(os.path.dirname(__file__), os.pardir)
RESULTS = os.path.join(ROOT, "docs", "quality_results")
LABELS = sorted(
    os.path.basename(path)[: -len("_runs.csv")] for path in glob.glob(os.path.join(RESULTS, "*_runs.csv"))
)


def test_there_are_committed_results():
    assert LABELS, f"no <label>_runs.csv under {RESULTS}"


@pytest.mark.parametrize("label", LABELS)
def test_table_regenerates_from_the_committed_runs_and_the_doc_quotes_it(label):
    stem = os.path.join(RESULTS, label)
    table = quality_tables.table_from_files(stem + "_runs.csv", stem + "_summary.json")
    with open(stem + "_table.md", encoding="utf-8") as file:
        assert file.read() == table, f"{label}_table.md does not regenerate from {label}_runs.csv"
    with open(os.path.join(ROOT, "docs", "quality.md"), encoding="utf-8") as file:
        doc = file.read()
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    missing = [row for row in rows if row not in doc]
    assert not missing, f"docs/quality.md does not quote these rows of {label}_table.md: {missing}"


def test_readme_quotes_the_committed_main_command_run():
    """The README's numbers about the main command come from its committed check and history."""
    images = os.path.join(ROOT, "docs", "images")
    with open(os.path.join(images, "digits_ava5_check.json"), encoding="utf-8") as file:
        check = json.load(file)
    with open(os.path.join(images, "digits_ava5_history.json"), encoding="utf-8") as file:
        history = json.load(file)["history"]
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as file:
        readme = " ".join(file.read().split())
    quoted = {
        "mixture confidence": f"{check['classifier_confidence_mixture_samples']:.3f} sure",
        "real confidence": f"{check['classifier_confidence_real_held_out_digits']:.3f} on real",
        "prior confidence": f"{check['classifier_confidence_prior_samples']:.3f} on the same",
        "final KL": f"{history['kl'][-1]:.1f} nats",
    }
    missing = {name: text for name, text in quoted.items() if text not in readme}
    assert not missing, f"README.md does not quote the committed main-command run: {missing}"
    assert all(count > 0 for count in check["predicted_digit_counts_mixture_samples"])


def test_doc_quotes_the_committed_real_data_floor():
    """docs/quality.md's spread of the real-images FID comes from benchmarks/real_data_floor.py's committed run."""
    with open(os.path.join(RESULTS, "real_data_floor.json"), encoding="utf-8") as file:
        floor = json.load(file)
    with open(os.path.join(ROOT, "docs", "quality.md"), encoding="utf-8") as file:
        doc = " ".join(file.read().split())
    for dataset in ("digits", "photos"):
        spread = floor[dataset]["fid_random_n"]
        assert len(spread["draws"]) > 1
        quoted = f"{spread['mean']:.2f} ± {spread['sd']:.2f}"
        assert quoted in doc, f"docs/quality.md does not quote the {dataset} floor {quoted}"
