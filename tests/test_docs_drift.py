"""The docs' generated tables are what their generators make from the committed inputs, so they cannot drift."""

import importlib.util
import json

import pytest

from ava_keras import cli
from ava_keras.experiments import paper
from tests._drift import ROOT, assert_doc_quotes, assert_matches_committed

pytestmark = pytest.mark.integration  # the full tier (README: Tests)

PAPER_RESULTS = ROOT / "docs" / "paper_results"
PAPER_LABELS = sorted(path.name[: -len("_runs.csv")] for path in PAPER_RESULTS.glob("*_runs.csv"))
PERFORMANCE = "docs/performance"
TARGETS = "benchmarks/targets.json"  # the project's benchmark targets


def _as_json(value):
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@pytest.fixture(scope="module")
def references():
    return paper.reference_scores()


@pytest.mark.parametrize("label", PAPER_LABELS)
def test_paper_tables_and_summary_regenerate_from_their_csv(label, references):
    rows = paper.read_runs(PAPER_RESULTS / f"{label}_runs.csv")
    summary = paper.summarize(rows)
    assert_matches_committed(
        paper.format_tables(summary, label, references),
        f"docs/paper_results/{label}_tables.md",
        f"ava-keras experiment paper (tables rebuilt from {label}_runs.csv)",
    )
    committed = json.loads((PAPER_RESULTS / f"{label}_summary.json").read_text())
    assert _as_json(summary["table3"]) == _as_json(committed["table3"]), f"{label}_summary.json table3"
    assert committed["reference_scores"] == pytest.approx(references, rel=1e-12)
    assert committed["runs"] == len(rows)
    assert committed["diverged"] == sum(row["status"] == "diverged" for row in rows)


def test_paper_report_is_the_filled_template():
    assert PAPER_LABELS, "no <label>_runs.csv in docs/paper_results"
    spec = importlib.util.spec_from_file_location("fill_report", PAPER_RESULTS / "fill_report.py")
    fill_report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fill_report)
    assert_matches_committed(fill_report.render(), "docs/paper_reproduction.md",
                             "python docs/paper_results/fill_report.py")


def test_performance_tables_regenerate_from_the_committed_run(tmp_path, capsys):
    command = (f"ava-keras bench --report-from {PERFORMANCE}/train_throughput.jsonl --targets {TARGETS} "
               f"--out {PERFORMANCE}")
    out = tmp_path / "performance"
    assert cli.main(["bench", "--report-from", str(ROOT / PERFORMANCE / "train_throughput.jsonl"),
                     "--targets", str(ROOT / TARGETS), "--out", str(out)]) == 0
    capsys.readouterr()
    report = (out / "train_throughput.md").read_text()
    assert_matches_committed(report, f"{PERFORMANCE}/train_throughput.md", command)
    generated, committed = (json.loads(p.read_text()) for p in (out / "train_throughput.json",
                                                                ROOT / PERFORMANCE / "train_throughput.json"))
    for key in ("checks", "results", "timed_out", "targets"):
        assert _as_json(generated[key]) == _as_json(committed[key]), f"train_throughput.json: {key}"
    # docs/performance.md quotes the report's tables and checks unchanged (its
    # own words replace the closing "Not measured" lines).
    assert_doc_quotes(report.split("\nNot measured:")[0], "docs/performance.md",
                      f"{PERFORMANCE}/train_throughput.md", command)


def test_precision_run_regenerates_and_the_doc_quotes_its_step_times(tmp_path, capsys):
    precision = f"{PERFORMANCE}/precision"
    command = f"ava-keras bench --report-from {precision}/train_throughput.jsonl --targets {TARGETS} --out {precision}"
    out = tmp_path / "precision"
    assert cli.main(["bench", "--report-from", str(ROOT / precision / "train_throughput.jsonl"),
                     "--targets", str(ROOT / TARGETS), "--out", str(out)]) == 0
    capsys.readouterr()
    assert_matches_committed((out / "train_throughput.md").read_text(), f"{precision}/train_throughput.md", command)
    rows = [json.loads(line) for line in (ROOT / precision / "train_throughput.jsonl").read_text().splitlines()]
    step_ms = {(r["preset"], r["precision"]): r["step_seconds"] * 1000 for r in rows if r.get("kind") == "train"}
    doc = (ROOT / "docs" / "performance.md").read_text()
    for preset, name in (("vae", "VAE"), ("ava1", "AVA1"), ("ava5", "AVA5")):
        float32, bfloat16 = step_ms[(preset, "float32")], step_ms[(preset, "mixed_bfloat16")]
        row = f"| {name} | {float32:,.0f} | {bfloat16:,.0f} | {float32 / bfloat16:.2f} |"
        assert row in doc, f"docs/performance.md does not quote {row} from {precision}/train_throughput.jsonl"


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_precision_quality_tables_regenerate_and_the_doc_quotes_them(precision):
    """The mixed-precision quality check: `ava-keras experiment quality --precision ...` runs quoted in the doc."""
    from ava_keras.experiments import quality_tables

    stem = f"{PERFORMANCE}/precision/digits_precision_{precision}"
    command = f"ava-keras experiment quality (table rebuilt from {stem}_runs.csv)"
    table = quality_tables.table_from_files(ROOT / f"{stem}_runs.csv", ROOT / f"{stem}_summary.json")
    assert_matches_committed(table, f"{stem}_table.md", command)
    assert_doc_quotes("\n".join(line for line in table.splitlines() if line.startswith("| AVA5 |")),
                      "docs/performance.md", f"{stem}_table.md", command)
