"""docs/quality.md quotes tables that regenerate from the committed run files."""

import glob
import os

import pytest

from ava_keras.experiments import quality

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
    table = quality.table_from_files(stem + "_runs.csv", stem + "_summary.json")
    with open(stem + "_table.md", encoding="utf-8") as file:
        assert file.read() == table, f"{label}_table.md does not regenerate from {label}_runs.csv"
    with open(os.path.join(ROOT, "docs", "quality.md"), encoding="utf-8") as file:
        doc = file.read()
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    missing = [row for row in rows if row not in doc]
    assert not missing, f"docs/quality.md does not quote these rows of {label}_table.md: {missing}"
