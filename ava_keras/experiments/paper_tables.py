"""The paper's tables: its published values (Tables 1-3) and the arithmetic that turns runs into ours.

Pure Python: summarises the rows of `ava-keras experiment paper` (or its
<label>_runs.csv) and formats Tables 1-3 beside the paper's values.
"""

import csv
import math

from ._common import sample_sd as _sd

MODELS = ("ava1", "ava2", "ava3", "ava4", "ava5", "vae")  # the paper's column order

# Nguyen (2023), Tables 1 and 2 (rows γ, columns AVA1-AVA5, VAE) and Table 3.
_PAPER_ROWS = """
1.0  0.1776 0.1772 0.1772 0.1771 0.1777 0.2366
0.9  0.1775 0.1808 0.1773 0.1783 0.1806 0.2513
0.8  0.1887 0.1778 0.1777 0.1795 0.1778 0.2458
0.7  0.1793 0.1771 0.1834 0.1777 0.1797 0.2527
0.6  0.1774 0.1782 0.1770 0.1786 0.1774 0.2413
0.5  0.1774 0.1779 0.1775 0.1782 0.1811 0.2439
0.4  0.1772 0.1775 0.1776 0.1796 0.1778 0.2455
0.3  0.1769 0.1780 0.1796 0.1783 0.1775 0.2434
0.2  0.1777 0.1772 0.1769 0.1779 0.1776 0.2434
0.1  0.1778 0.1814 0.1765 0.1775 0.1775 0.2544
0.09 0.1773 0.1778 0.1784 0.1770 0.1774 0.2465
0.08 0.1783 0.1801 0.1835 0.1817 0.1777 0.2407
0.07 0.1831 0.1770 0.1775 0.1776 0.1802 0.2554
0.06 0.1782 0.1794 0.1784 0.1775 0.1786 0.2458
0.05 0.1786 0.1782 0.1789 0.1780 0.1774 0.2449
0.04 0.1774 0.1777 0.1775 0.1785 0.1768 0.2458
0.03 0.1799 0.1833 0.1774 0.1791 0.1776 0.2385
0.02 0.1777 0.1781 0.1775 0.1772 0.1792 0.2377
0.01 0.1776 0.1789 0.1784 0.1780 0.1787 0.2491
"""

PAPER_TABLES_1_2 = {
    float(row.split()[0]): dict(zip(MODELS, map(float, row.split()[1:])))
    for row in _PAPER_ROWS.strip().splitlines()
}

PAPER_TABLE_3 = {
    "mean": dict(zip(MODELS, (0.1787, 0.1786, 0.1783, 0.1783, 0.1783, 0.2454))),
    "minimum": dict(zip(MODELS, (0.1769, 0.1770, 0.1765, 0.1770, 0.1768, 0.2366))),
    "sd": dict(zip(MODELS, (0.0028, 0.0017, 0.0019, 0.0011, 0.0012, 0.0054))),
}


def summarize(rows):
    """Per-γ cells (Tables 1-2) and Table 3 from run rows (dicts or CSV rows).

    A cell is the mean eq.-17 score over the seeds whose run did not diverge.
    Table 3 per model: `mean` and `sd` (sample SD) over the per-γ cells,
    `minimum` the lowest per-γ cell, `seed_sd` the SD across seeds of each
    seed's mean score over γ, and `diverged` / `runs` the counts.
    """
    models = [m for m in MODELS if any(r["model"] == m for r in rows)]
    gammas = sorted({float(r["learning_rate"]) for r in rows}, reverse=True)
    cells, table3 = {}, {}
    for model in models:
        mine = [r for r in rows if r["model"] == model]
        ok = [r for r in mine if r["status"] == "ok"]
        for gamma in gammas:
            at = [r for r in mine if float(r["learning_rate"]) == gamma]
            scores = [float(r["rmse"]) for r in at if r["status"] == "ok"]
            cells[(model, gamma)] = {
                "mean": sum(scores) / len(scores) if scores else None,
                "ok": len(scores),
                "diverged": len(at) - len(scores),
            }
        per_gamma = [cells[(model, g)]["mean"] for g in gammas if cells[(model, g)]["mean"] is not None]
        per_seed = []
        for seed in sorted({r["seed"] for r in mine}):
            scores = [float(r["rmse"]) for r in ok if r["seed"] == seed]
            if scores:
                per_seed.append(sum(scores) / len(scores))
        table3[model] = {
            "mean": sum(per_gamma) / len(per_gamma) if per_gamma else None,
            "minimum": min(per_gamma) if per_gamma else None,
            "sd": _sd(per_gamma) if per_gamma else None,
            "seed_sd": _sd(per_seed) if per_seed else None,
            "diverged": len(mine) - len(ok),
            "runs": len(mine),
        }
    return {"models": models, "learning_rates": gammas, "cells": cells, "table3": table3}


def _number(value):
    return "—" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _cell(cell):
    if cell["mean"] is None:
        return f"diverged ×{cell['diverged']}"
    return _number(cell["mean"]) + (f" (div ×{cell['diverged']})" if cell["diverged"] else "")


def format_tables(summary, label, references=None):
    """Markdown Tables 1-3 for `summary`, each measured value beside the paper's."""
    models = summary["models"]
    header = "| γ | " + " | ".join(f"{m.upper()} | paper" for m in models) + " |"
    rule = "|---" * (1 + 2 * len(models)) + "|"
    lines = []
    for title, keep in (
        ("Table 1 (γ = 1 … 0.1)", lambda g: g >= 0.1 - 1e-9),
        ("Table 2 (γ = 0.09 … 0.01)", lambda g: g < 0.1 - 1e-9),
    ):
        gammas = [g for g in summary["learning_rates"] if keep(g)]
        if not gammas:
            continue
        lines += [f"**{title}, {label}.** Mean eq.-17 score over seeds.", "", header, rule]
        for gamma in gammas:
            paper = PAPER_TABLES_1_2.get(gamma, {})
            lines.append(
                f"| {gamma:g} | "
                + " | ".join(
                    f"{_cell(summary['cells'][(m, gamma)])} | {_number(paper.get(m))}" for m in models
                )
                + " |"
            )
        lines.append("")
    lines += [
        f"**Table 3, {label}.** Mean, minimum and SD over the per-γ values; paper values in brackets.",
        "",
        "| | " + " | ".join(m.upper() for m in models) + " |",
        "|---" * (1 + len(models)) + "|",
    ]
    table3 = summary["table3"]
    for key, name in (("mean", "Mean"), ("minimum", "Minimum"), ("sd", "SD")):
        lines.append(
            f"| {name} | "
            + " | ".join(
                f"{_number(table3[m][key])} ({_number(PAPER_TABLE_3[key].get(m))})" for m in models
            )
            + " |"
        )
    lines.append("| SD across seeds | " + " | ".join(_number(table3[m]["seed_sd"]) for m in models) + " |")
    lines.append(
        "| Diverged runs | " + " | ".join(f"{table3[m]['diverged']}/{table3[m]['runs']}" for m in models) + " |"
    )
    if references:
        lines += [
            "",
            "Reference scores without any model: mean of the ten images "
            f"{_number(references['mean_image'])}; best of the ten images themselves "
            f"(a perfect autoencoder) {_number(references['best_training_image'])}.",
        ]
    return "\n".join(lines) + "\n"


def read_runs(path):
    """Reads a `<label>_runs.csv` back into rows for `summarize`."""
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    for row in rows:
        row["seed"] = int(row["seed"])
    return rows
