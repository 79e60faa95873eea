"""docs/anomaly.md quotes tables that regenerate from the committed run files, and the default follows them."""

import os

import pytest

from ava_keras.experiments import anomaly
from ava_keras.layers.anomaly_scorer import DEFAULT_ANOMALY_TERMS

pytestmark = pytest.mark.integration  # the full tier (README: Tests)

ROOT = os.path.join(os.path.dirname(__file__), os.pardir)
STEM = os.path.join(ROOT, "docs", "anomaly_results", "anomaly")


@pytest.mark.parametrize("label", ["anomaly", "anomaly_ava2_ava4_one_class", "anomaly_ava2_ava4_ood"])
def test_table_regenerates_from_the_committed_runs_and_the_doc_quotes_it(label):
    stem = os.path.join(ROOT, "docs", "anomaly_results", label)
    table = anomaly.table_from_files(stem + "_runs.csv", stem + "_summary.json")
    with open(stem + "_table.md", encoding="utf-8") as file:
        assert file.read() == table, f"{label}_table.md does not regenerate from {label}_runs.csv"
    with open(os.path.join(ROOT, "docs", "anomaly.md"), encoding="utf-8") as file:
        doc = file.read()
    missing = [line for line in table.splitlines() if line.startswith(("| ", "Best score")) and line not in doc]
    assert not missing, f"docs/anomaly.md does not quote these lines of {label}_table.md: {missing}"


def test_the_default_combination_is_the_benchmarks_best_score():
    summary = anomaly.summarize(anomaly.read_runs(STEM + "_runs.csv"))
    assert "+".join(DEFAULT_ANOMALY_TERMS) == anomaly.best_score(summary)
