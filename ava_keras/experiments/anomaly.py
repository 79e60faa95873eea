"""Anomaly detection with VAE and AVA scores on bundled data: AUROC of every score, over seeds.

Two settings, both on scikit-learn's digits at 28x28x1
(ava_keras.evaluation.digits_split: 1,400 training, 397 held-out digits):

- `one_class`: train on the training digits of classes 0-4; normal = the
  held-out digits 0-4, anomalous = the held-out digits 5-9.
- `ood` (out of distribution): train on every training digit; normal = the
  397 held-out digits, anomalous = 397 crops of scikit-image's photographs
  (ava_keras.datasets.photo_crops, seed 1, shrunk 4x) in grayscale at 28x28.

Each (setting, preset, seed) trains a fresh model (the quality benchmark's
networks and batches, ava_keras.experiments.quality.build_model), fits
`model.fit_anomaly_scores` on its training images and scores the test
images with `model.anomaly_scores`. The AUROC (anomalous = positive) is
reported for every term alone and for every combination of two or more
terms (each standardised on the training images, `AnomalyScorer`), so the
benchmark can choose the default combination. Writes <label>_runs.csv
(every run), <label>_summary.json and <label>_table.md (mean ± SD over seeds).
"""

# TensorFlow is imported only inside functions, so `--help` answers at once.

import csv
import itertools
import json
import math
import os
import time

from ..constants import ANOMALY_TERMS as TERMS
from ._common import add_budget_arguments, finite_or_none, machine, make_out_dir, sample_sd
from ._runner import eta_minutes, shuffled_batches, train_steps

SETTINGS = ("one_class", "ood")
DEFAULT_PRESETS = ("vae", "ava1", "ava5")
QUICK_PRESETS = ("vae", "ava5")
DEFAULT_STEPS, QUICK_STEPS = 400, 3
DEFAULT_SEEDS = 3
DEFAULT_BATCH_SIZE = 64
NORMAL_CLASSES = (0, 1, 2, 3, 4)
CROP_DOWNSCALE, CROP_SEED = 4, 1
COMBINATION_SEPARATOR = "+"


# === Command line ===


def _setting_list(text):
    import argparse

    names = tuple(name.strip().lower() for name in text.split(",") if name.strip())
    if not names or any(name not in SETTINGS for name in names):
        raise argparse.ArgumentTypeError(f"must be comma-separated settings from {', '.join(SETTINGS)}, got {text!r}")
    return names


def add_arguments(parser):
    """Adds the options of `ava-keras experiment anomaly` to an argparse parser."""
    parser.add_argument(
        "--settings", type=_setting_list, default=SETTINGS,
        help="Comma-separated settings: one_class (digits 0-4 vs 5-9), ood (digits vs photo crops).",
    )
    add_budget_arguments(parser, DEFAULT_PRESETS, QUICK_PRESETS, DEFAULT_SEEDS, DEFAULT_STEPS, QUICK_STEPS,
                         DEFAULT_BATCH_SIZE)
    parser.add_argument(
        "--quick", action="store_true",
        help=f"CI budget: presets {','.join(QUICK_PRESETS)}, one seed, {QUICK_STEPS} steps.",
    )
    parser.add_argument("--label", default="anomaly", help="Prefix of the output files (default anomaly).")
    parser.add_argument("--out", default="anomaly_results", help="Output folder (default ./anomaly_results).")
    return parser


def resolve(args):
    """The run settings from parsed `args` (the --quick budget where an option is not given)."""
    return {
        "settings": tuple(args.settings),
        "presets": args.presets or (QUICK_PRESETS if args.quick else DEFAULT_PRESETS),
        "seeds": list(range(args.seeds or (1 if args.quick else DEFAULT_SEEDS))),
        "steps": args.steps or (QUICK_STEPS if args.quick else DEFAULT_STEPS),
        "batch_size": args.batch_size,
    }


def run(args):
    """Runs the benchmark described by parsed `args`; writes the outputs and returns 0."""
    settings = resolve(args)
    make_out_dir(args.out)
    start = time.time()
    result = run_benchmark(**settings, progress=print)
    config = dict(settings, seconds=round(time.time() - start, 1), machine=machine(), **result["config"])
    paths = write_outputs(args.out, args.label, result["rows"], config)
    print(f"{len(result['rows'])} runs in {config['seconds']:.0f} s; wrote {', '.join(paths)}")
    return 0


# === The benchmark ===


def load_setting(setting):
    """`(train, normal, anomalous)` float32 images `(n, 28, 28, 1)` in [0, 1] of `setting`."""
    import numpy as np

    from ava_keras.evaluation.digit_classifier import digits_split

    train, train_labels, held_out, held_out_labels = digits_split()
    if setting == "one_class":
        normal = np.isin(held_out_labels, NORMAL_CLASSES)
        return train[np.isin(train_labels, NORMAL_CLASSES)], held_out[normal], held_out[~normal]
    from ava_keras.datasets import photo_crops

    crops = photo_crops(len(held_out), image_size=held_out.shape[1], downscale=CROP_DOWNSCALE, seed=CROP_SEED)
    return train, held_out, crops.mean(axis=-1, keepdims=True).astype("float32")


def score_names(terms):
    """Every term of `terms`, then every combination of two or more of them, joined by "+"."""
    names = list(terms)
    for size in range(2, len(terms) + 1):
        names += [COMBINATION_SEPARATOR.join(c) for c in itertools.combinations(terms, size)]
    return names


def evaluate_scores(model, train, normal, anomalous):
    """AUROC of every term and every combination (`score_names`) of `model`'s anomaly terms.

    Each combination is `model.anomaly_scorer` fitted with those terms on the
    training images, so it is exactly what `anomaly_scores()["anomaly"]` would
    give with `fit_anomaly_scores(train, terms=...)`.
    """
    import numpy as np

    from ava_keras.evaluation.auroc import auroc

    model.fit_anomaly_scores(train)
    scorer = model.anomaly_scorer
    fitted = model.anomaly_scores(train)
    test = model.anomaly_scores(np.concatenate([normal, anomalous]))
    results = {}
    for name in score_names(scorer.terms):
        scorer.fit(fitted, terms=name.split(COMBINATION_SEPARATOR))
        combined = np.asarray(scorer(scorer.stack(test)))
        results[name] = auroc(combined[: len(normal)], combined[len(normal):])
    model.fit_anomaly_scores(train)  # leave the default combination in place
    return results


def run_benchmark(settings, presets, seeds, steps, batch_size, progress=None):
    """Trains and scores every (setting, preset, seed); returns `{"rows": [...], "config": {...}}`.

    A run whose training diverges is marked `"diverged"` with its step and
    term and no AUROC; the runs after it go on.
    """
    from ava_keras.experiments.quality import NETWORK, build_model

    say = progress or (lambda *a, **k: None)
    rows, start, total = [], time.time(), len(settings) * len(presets) * len(seeds)
    sizes = {}
    for setting in settings:
        train, normal, anomalous = load_setting(setting)
        sizes[setting] = {"train": len(train), "normal": len(normal), "anomalous": len(anomalous)}
        for name in presets:
            for seed in seeds:
                model = build_model(name, seed, train.shape[1:])
                model.compile()
                batches = shuffled_batches(train, batch_size, seed)
                run = train_steps(model, batches, steps, say, label=f"{name} seed={seed}")
                row = {"setting": setting, "model": name, "seed": seed, "steps": steps, "batch_size": batch_size,
                       "status": run.status, **run.divergence_columns(), "train_seconds": round(run.seconds, 2)}
                if run.diverged_at is None:
                    row.update({f"auroc[{k}]": v for k, v in evaluate_scores(model, train, normal, anomalous).items()})
                rows.append(row)
                best = max((k for k in row if k.startswith("auroc[")), key=row.get, default=None)
                say(f"[{len(rows)}/{total}] {setting} {name} seed={seed}: "
                    + (f"AUROC reconstruction {row['auroc[reconstruction]']:.3f}, best {best} {row[best]:.3f}"
                       if run.diverged_at is None else run.describe_divergence())
                    + f" ({run.seconds:.0f} s training; ETA {eta_minutes(start, len(rows), total):.1f} min)",
                    flush=True)
    config = {
        "data": "ava_keras.evaluation.digits_split() (28x28x1); one_class: train on digits "
        f"{','.join(map(str, NORMAL_CLASSES))}, held-out digits of those classes (normal) vs the other classes; "
        f"ood: train on every digit, held-out digits vs photo_crops(seed={CROP_SEED}, downscale={CROP_DOWNSCALE}) "
        "in grayscale",
        "sizes": sizes,
        "network": {k: list(v) if isinstance(v, tuple) else v for k, v in NETWORK.items()},
    }
    return {"rows": rows, "config": config}


# === Outputs ===


def _score_columns(rows):
    """The `auroc[...]` columns in the order of `score_names` over every term seen."""
    seen = {k for r in rows for k in r if k.startswith("auroc[")}
    return [f"auroc[{n}]" for n in score_names(TERMS) if f"auroc[{n}]" in seen]


def summarize(rows):
    """{setting: {model: {score: {"mean", "sd"}, "ok": n, "runs": n}}} over the non-diverged seeds."""
    summary = {}
    for row in rows:
        summary.setdefault(row["setting"], {}).setdefault(row["model"], None)
    for setting, models in summary.items():
        for name in models:
            mine = [r for r in rows if r["setting"] == setting and r["model"] == name]
            ok = [r for r in mine if r["status"] == "ok"]
            entry = {"ok": len(ok), "runs": len(mine)}
            for column in _score_columns(ok):
                values = [float(r[column]) for r in ok if r.get(column) not in ("", None)]
                if values:
                    entry[column[len("auroc["):-1]] = {"mean": sum(values) / len(values), "sd": sample_sd(values)}
            models[name] = entry
    return summary


def _cell(entry):
    if entry is None:
        return "—"
    sd = "" if math.isnan(entry["sd"]) else f" ± {entry['sd']:.3f}"
    return f"{entry['mean']:.3f}{sd}"


def target_rows(summary, baseline="vae"):
    """The issue's target per setting and AVA preset: does the combination of all the preset's terms
    beat the baseline's reconstruction AUROC by more than the larger of their seed SDs?

    Returns a list of dicts: setting, model, score, auroc, baseline_auroc, margin (the larger SD) and
    beats (None when no SD is known, i.e. one seed).
    """
    rows = []
    for setting, models in summary.items():
        reference = models.get(baseline, {}).get("reconstruction")
        for name, entry in models.items():
            if name == baseline or reference is None:
                continue
            combined = COMBINATION_SEPARATOR.join(t for t in TERMS if t in entry)
            if combined not in entry:
                continue
            sds = [e["sd"] for e in (entry[combined], reference) if not math.isnan(e["sd"])]
            margin = max(sds) if sds else None  # unknown from one seed
            difference = entry[combined]["mean"] - reference["mean"]
            rows.append({"setting": setting, "model": name, "score": combined, "auroc": entry[combined]["mean"],
                         "baseline_auroc": reference["mean"], "margin": margin,
                         "beats": None if margin is None else difference > margin})
    return rows


def best_score(summary, models=None):
    """The score name with the highest AUROC averaged over every setting and model of `models`
    (default: every model except "vae") that has it in every setting; ties go to the fewer terms."""
    settings = list(summary)
    models = models or sorted({m for s in settings for m in summary[s] if m != "vae"})
    candidates = {}
    for name in score_names(TERMS):
        values = [summary[s][m][name]["mean"] for s in settings for m in models if name in summary[s].get(m, {})]
        if values and len(values) == len(settings) * len(models):
            candidates[name] = sum(values) / len(values)
    return max(candidates, key=lambda n: (candidates[n], -n.count(COMBINATION_SEPARATOR)), default=None)


def format_table(summary, config):
    """Markdown: per setting, one row per score, one column per model (AUROC mean ± SD over seeds),
    then the target check (`target_rows`) and the best score (`best_score`)."""
    lines = [
        f"Data: {config.get('data', '?')}. Budget: {config.get('steps')} steps of batch {config.get('batch_size')}; "
        "AUROC (anomalous = positive), mean ± SD over seeds; — : the model has no such term.",
    ]
    for setting, models in summary.items():
        names = list(models)
        scores = [s for s in score_names(TERMS) if any(s in models[m] for m in names)]
        lines += ["", f"**{setting}**", "", "| score | " + " | ".join(n.upper() for n in names) + " |",
                  "|---" * (len(names) + 1) + "|"]
        for score in scores:
            lines.append(f"| {score} | " + " | ".join(_cell(models[m].get(score)) for m in names) + " |")
        lines.append("| ok runs | " + " | ".join(f"{models[m]['ok']}/{models[m]['runs']}" for m in names) + " |")
    target = target_rows(summary)
    if target:
        lines += ["", "**Target**: the combination of all of an AVA preset's terms vs the VAE's reconstruction "
                  "error; it must win by more than the larger seed SD.", "",
                  "| setting | model | combined score | AUROC | VAE reconstruction | difference | larger SD | beats |",
                  "|---" * 8 + "|"]
        for row in target:
            lines.append(f"| {row['setting']} | {row['model'].upper()} | {row['score']} | {row['auroc']:.3f} | "
                         f"{row['baseline_auroc']:.3f} | {row['auroc'] - row['baseline_auroc']:+.3f} | "
                         + ("— | n/a (one seed) |" if row["margin"] is None
                            else f"{row['margin']:.3f} | {'yes' if row['beats'] else 'no'} |"))
    best = best_score(summary)
    if best:
        lines += ["", f"Best score of the AVA presets, averaged over the settings and presets: `{best}`."]
    return "\n".join(lines) + "\n"


def read_runs(path):
    """The rows of a `<label>_runs.csv` (AUROC cells as floats, empty cells dropped)."""
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    for row in rows:
        for key in [k for k in row if k.startswith("auroc[")]:
            if row[key] in ("", None):
                del row[key]
            else:
                row[key] = float(row[key])
    return rows


def table_from_files(runs_csv, summary_json):
    """Rebuilds `<label>_table.md` from a run's committed CSV and JSON (for checking docs)."""
    with open(summary_json, encoding="utf-8") as file:
        saved = json.load(file)
    return format_table(summarize(read_runs(runs_csv)), saved["config"])


def write_outputs(out_dir, label, rows, config):
    """Writes the runs CSV, the JSON summary and the markdown table; returns their paths."""

    paths = {kind: os.path.join(out_dir, f"{label}_{kind}") for kind in ("runs.csv", "summary.json", "table.md")}
    fields = list(dict.fromkeys(k for r in rows for k in r if not k.startswith("auroc[")))
    with open(paths["runs.csv"], "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=fields + _score_columns(rows), restval="")
        writer.writeheader()
        writer.writerows(rows)
    summary = summarize(read_runs(paths["runs.csv"]))
    with open(paths["table.md"], "w") as file:
        file.write(format_table(summary, config))
    with open(paths["summary.json"], "w") as file:
        json.dump(
            finite_or_none({"config": config, "summary": summary, "runs": len(rows),
                             "diverged": sum(r["status"] == "diverged" for r in rows)}),
            file, indent=2, ensure_ascii=False,
        )
    return list(paths.values())
