"""The tables of `ava-keras experiment quality`: its columns, the summary over seeds and the output files.

Pure Python apart from the sample-grid PNG (matplotlib): summarises the rows
of a run (or its <label>_runs.csv) into mean ± SD per model and writes
<label>_runs.csv, <label>_summary.json, <label>_table.md and <label>_samples.png.
"""

import csv
import json
import math
import os

from ._common import PRESETS, finite_or_none, sample_sd
from ._runner import write_csv

# The row of the keras.io VAE, the baseline users would pick instead of AVA.
BASELINE = "keras_io_vae"
# Columns of the table: (key, heading, format); arrows say which way is better.
METRICS = (
    ("fid", "FID ↓", "{:.2f}"),
    ("fid_prior", "FID prior ↓", "{:.2f}"),
    ("kid", "KID ↓", "{:.4g}"),
    ("precision", "precision ↑", "{:.3f}"),
    ("recall", "recall ↑", "{:.3f}"),
    ("confidence", "confidence ↑", "{:.3f}"),
    ("label_accuracy", "label acc. ↑", "{:.3f}"),
    ("intra_fid", "intra-FID ↓", "{:.2f}"),
    ("mse", "rec. MSE ↓", "{:.4f}"),
    ("psnr", "rec. PSNR dB ↑", "{:.2f}"),
    ("ssim", "rec. SSIM ↑", "{:.3f}"),
    ("hf_ratio", "HF ratio →1", "{:.3f}"),
    ("hf_ratio_rec", "rec. HF ratio →1", "{:.3f}"),
    ("blur", "blur ↓", "{:.3f}"),
    ("train_seconds", "train s", "{:.0f}"),
)
# Columns that some runs lack (runs before the sharpness metrics; unconditional runs); a table shows them
# only when some row has them.
OPTIONAL_METRICS = ("hf_ratio", "hf_ratio_rec", "blur", "label_accuracy", "intra_fid")
ROW_ORDER = (BASELINE,) + PRESETS


def summarize(rows):
    """Mean and sample SD over the non-diverged seeds of each model, for every metric.

    Returns:
        {model: {metric: {"mean", "sd"} (None when no run succeeded), "ok": n, "runs": n}},
        models in the order of `ROW_ORDER` (the keras.io VAE, then the presets).
    """
    summary = {}
    for name in [m for m in ROW_ORDER if any(r["model"] == m for r in rows)]:
        mine = [r for r in rows if r["model"] == name]
        ok = [r for r in mine if r["status"] == "ok"]
        entry = {"ok": len(ok), "runs": len(mine)}
        for key, _, _ in METRICS:
            values = [float(r[key]) for r in (mine if key == "train_seconds" else ok) if r.get(key) not in ("", None)]
            entry[key] = {"mean": sum(values) / len(values), "sd": sample_sd(values)} if values else None
        summary[name] = entry
    return summary


def _mean_sd(cell, fmt):
    if cell is None:
        return "—"
    text = fmt.format(cell["mean"])
    return text if math.isnan(cell["sd"]) else f"{text} ± {fmt.format(cell['sd'])}"


def _row_name(name):
    return "keras.io VAE" if name == BASELINE else name.upper()


def format_table(summary, references, config):
    """Markdown: one row per model (mean ± SD over seeds) and the two reference rows."""
    features = config.get("features", "digit classifier")
    metrics = [
        (key, heading, fmt) for key, heading, fmt in METRICS
        if key not in OPTIONAL_METRICS
        or any(entry.get(key) is not None for entry in summary.values())
        or any(scores.get(key) is not None for scores in references.values())
    ]
    header = "| model | " + " | ".join(h for _, h, _ in metrics) + " | ok runs |"
    sizes = (
        f"FID/KID: {config['samples_per_model']} samples, precision/recall: the first as many as held-out images,"
        if "samples" in config  # runs before `--samples` scored as many samples as held-out images
        else f"FID/KID/precision/recall: {config.get('samples_per_model', '?')} samples"
    )
    lines = [
        f"Data: {config.get('data', '?')}. {sizes} "
        f"vs the held-out images in the features of the {features} (not comparable with Inception FID); "
        "AVA samples from the fitted latent mixture, `FID prior` from N(0, I); the keras.io VAE samples N(0, I). "
        f"Budget: {config.get('steps')} steps of batch {config.get('batch_size')}; mean ± SD over seeds."
        + (f" AVA models trained under the `{config['precision']}` dtype policy."
           if config.get("precision", "float32") != "float32" else "")
        + (f" AVA models on the scaled networks with a {config.get('discriminator', 'global')} discriminator."
           if config.get("networks", "small") != "small" else "")
        + (f" AVA decoders end training as the moving average of their weights (`--decoder-ema "
           f"{config['decoder_ema']}`)." if config.get("decoder_ema") is not None else "")
        + (" AVA models class-conditional on the digits' labels (the keras.io VAE is not), sampled for the digits "
           "0-9 in turn; `label acc.`: the classifier's accuracy on those samples against the requested digit; "
           "`intra-FID`: the mean over digits of the FID of a digit's samples against its ~140 training images."
           if config.get("conditional") else ""),
        "",
        header,
        "|---" * (len(metrics) + 2) + "|",
    ]
    for name, entry in summary.items():
        cells = [_mean_sd(entry[key], fmt) for key, _, fmt in metrics]
        lines.append(f"| {_row_name(name)} | " + " | ".join(cells) + f" | {entry['ok']}/{entry['runs']} |")
    names = {"training_images": "real training images", "mean_image": "mean training image"}
    for name, scores in references.items():
        cells = ["—" if scores.get(key) is None else fmt.format(scores[key]) for key, _, fmt in metrics]
        lines.append(f"| *{names.get(name, name)}* | " + " | ".join(cells) + " | reference |")
    return "\n".join(lines) + "\n"


def read_runs(path):
    """The rows of a `<label>_runs.csv`, numbers as floats (empty cells stay "")."""
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    for row in rows:
        for key, _, _ in METRICS:
            if row.get(key) not in ("", None):
                row[key] = float(row[key])
    return rows


def table_from_files(runs_csv, summary_json):
    """Rebuilds `<label>_table.md` from a run's committed CSV and JSON (for checking docs)."""
    with open(summary_json, encoding="utf-8") as file:
        saved = json.load(file)
    return format_table(summarize(read_runs(runs_csv)), saved["references"], saved["config"])


def plot_grids(grids, path):
    """One PNG: an 8x8 grid of images per panel (held-out images, then each model's samples)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ava_keras.callbacks.sample_grid import image_grid

    columns = min(4, len(grids))
    rows = math.ceil(len(grids) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.5 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, (name, images) in zip(axes.flat, grids.items()):
        grid = image_grid(images, columns=8)
        axis.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=255)
        axis.set_title(name if name not in ROW_ORDER else f"{_row_name(name)} samples", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_outputs(out_dir, label, result, config):
    """Writes the CSV, JSON summary, markdown table and sample-grid PNG; returns their paths."""
    paths = {kind: os.path.join(out_dir, f"{label}_{kind}") for kind in ("runs.csv", "summary.json", "table.md")}
    rows = result["rows"]
    write_csv(paths["runs.csv"], rows)
    summary = summarize(rows)
    with open(paths["table.md"], "w") as file:
        file.write(format_table(summary, result["references"], config))
    with open(paths["summary.json"], "w") as file:
        json.dump(
            finite_or_none(
                {"config": config, "summary": summary, "references": result["references"], "runs": len(rows),
                 "diverged": sum(r["status"] == "diverged" for r in rows), "spectra": result.get("spectra")}
            ),
            file, indent=2, ensure_ascii=False,
        )
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("matplotlib is not installed: skipped the sample-grid PNG (pip install 'ava_keras[plots]')")
    else:
        paths["samples.png"] = os.path.join(out_dir, f"{label}_samples.png")
        plot_grids(result["grids"], paths["samples.png"])
    return list(paths.values())
