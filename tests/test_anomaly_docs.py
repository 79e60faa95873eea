"""docs/anomaly.md quotes tables that regenerate from the committed run files, and the default follows them."""

import os

from ava_keras.experiments import anomaly
from ava_keras.layers.anomaly_scorer import DEFAULT_ANOMALY_TERMS

ROOT = os.path.join(os.path.dirname(__file__), os.pardir)
STEM = os.path.join(ROOT, "docs", "anomaly_results", "anomaly")


def test_table_regenerates_from_the_committed_runs_and_the_doc_quotes_it():
    table = anomaly.table_from_files(STEM + "_runs.csv", STEM + "_summary.json")
    with open(STEM + "_table.md", encoding="utf-8") as file:
        assert file.read() == table, "anomaly_table.md does not regenerate from anomaly_runs.csv"
    with open(os.path.join(ROOT, "docs", "anomaly.md"), encoding="utf-8") as file:
        doc = file.read()
    missing = [line for line in table.splitlines() if line.startswith(("| ", "Best score")) and line not in doc]
    assert not missing, f"docs/anomaly.md does not quote these lines of anomaly_table.md: {missing}"


def test_the_default_combination_is_the_benchmarks_best_score():
    summary = anomaly.summarize(anomaly.read_runs(STEM + "_runs.csv"))
    assert "+".join(DEFAULT_ANOMALY_TERMS) == anomaly.best_score(summary)
