"""Sample and reconstruction quality of VAE and AVA1-AVA5 on the bundled digits.

Trains each preset with routing="joint" on the 1,400 training digits of
ava_keras.evaluation.digits_split() at 28x28x1 under one budget (same
networks, steps, batch size, optimizers and seeds for all), then scores it on
the 397 held-out digits: classifier FID and KID of 397 samples, k-NN
precision/recall (k=3), and reconstruction MSE, PSNR and SSIM. "Classifier
FID/KID" use the features of ava_keras's own digit classifier (trained once
and cached), so they rank models here but are not comparable with Inception
FID/KID. Writes <label>_runs.csv (every run), <label>_summary.json,
<label>_table.md (mean ± SD over seeds) and <label>_samples.png.
"""

# TensorFlow is imported only inside functions, so `--help` answers at once.

import argparse
import csv
import json
import math
import os
import time

from ._common import BLOCKS, PRESETS, machine, make_out_dir, positive_float, positive_int, preset_list, sample_sd

QUICK_PRESETS = ("vae", "ava5")
GENERATOR_LOSSES = ("minimax", "non_saturating")  # ava_keras.losses.GENERATOR_LOSSES
LOSS_WEIGHTS = ("reconstruction_weight", "kl_weight", "adversarial_weight", "leaning_weight")
DEFAULT_STEPS, QUICK_STEPS = 1500, 20
DEFAULT_SEEDS = 3
DEFAULT_BATCH_SIZE = 64
IMAGE_SIZE = 28
GRID_IMAGES = 64
# One set of networks for every preset (the discriminators only where a preset uses them).
NETWORK = {
    "latent_dim": 16,
    "encoder_filters": (16, 32),
    "decoder_filters": (32, 16),
    "discriminator_filters": (16, 32),
    "latent_discriminator_units": (32, 32),
    "hidden_units": 64,
}
# Columns of the table: (key, heading, format); arrows say which way is better.
METRICS = (
    ("classifier_fid", "classifier FID ↓", "{:.2f}"),
    ("classifier_kid", "classifier KID ↓", "{:.4g}"),
    ("precision", "precision ↑", "{:.3f}"),
    ("recall", "recall ↑", "{:.3f}"),
    ("mse", "rec. MSE ↓", "{:.4f}"),
    ("psnr", "rec. PSNR dB ↑", "{:.2f}"),
    ("ssim", "rec. SSIM ↑", "{:.3f}"),
    ("train_seconds", "train s", "{:.0f}"),
)


# === Command line ===


def _non_negative_float(text):
    value = float(text)
    if not value >= 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a non-negative number, got {text!r}")
    return value


def add_arguments(parser):
    """Adds the options of `ava-keras experiment quality` to an argparse parser."""
    parser.add_argument(
        "--presets", type=preset_list, default=None,
        help=f"Comma-separated presets (default all six; {','.join(QUICK_PRESETS)} with --quick).",
    )
    parser.add_argument(
        "--seeds", type=positive_int, default=None,
        help=f"Number of seeds (0, 1, ...) per preset (default {DEFAULT_SEEDS}; 1 with --quick).",
    )
    parser.add_argument(
        "--steps", type=positive_int, default=None,
        help=f"Training steps per run, the budget (default {DEFAULT_STEPS}; {QUICK_STEPS} with --quick).",
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE,
        help=f"Images per step (default {DEFAULT_BATCH_SIZE}).",
    )
    parser.add_argument(
        "--generator-loss", choices=GENERATOR_LOSSES, default=None,
        help="Generator form of the adversarial terms (default: the AVA default).",
    )
    for name in LOSS_WEIGHTS:
        parser.add_argument(
            "--" + name.replace("_", "-"), type=_non_negative_float, default=None,
            help=f"AVA `{name}` (default: the AVA default).",
        )
    for block in BLOCKS:
        parser.add_argument(
            f"--{block.replace('_', '-')}-lr", type=positive_float, default=None,
            help=f"Learning rate of the {block.replace('_', ' ')} optimizer (default: AVA.compile's).",
        )
    parser.add_argument(
        "--quick", action="store_true",
        help=f"CI budget: presets {','.join(QUICK_PRESETS)}, one seed, {QUICK_STEPS} steps.",
    )
    parser.add_argument(
        "--classifier-cache", default=None,
        help="Folder of the cached digit classifier (default $AVA_KERAS_CACHE or ~/.cache/ava_keras).",
    )
    parser.add_argument("--label", default="quality", help="Prefix of the output files (default quality).")
    parser.add_argument("--out", default="quality_results", help="Output folder (default ./quality_results).")
    return parser


def resolve(args):
    """The run settings from parsed `args` (the --quick budget where an option is not given)."""
    return {
        "presets": args.presets or (QUICK_PRESETS if args.quick else PRESETS),
        "seeds": list(range(args.seeds or (1 if args.quick else DEFAULT_SEEDS))),
        "steps": args.steps or (QUICK_STEPS if args.quick else DEFAULT_STEPS),
        "batch_size": args.batch_size,
        "model_options": {
            name: getattr(args, name)
            for name in ("generator_loss",) + LOSS_WEIGHTS
            if getattr(args, name) is not None
        },
        "learning_rates": {
            block: getattr(args, f"{block}_lr") for block in BLOCKS if getattr(args, f"{block}_lr") is not None
        },
    }


def run(args):
    """Runs the benchmark described by parsed `args`; writes the outputs and returns 0."""
    settings = resolve(args)
    make_out_dir(args.out)
    start = time.time()
    result = run_benchmark(**settings, classifier_cache=args.classifier_cache, progress=print)
    config = dict(settings, seconds=round(time.time() - start, 1), machine=machine(), **result["config"])
    paths = write_outputs(args.out, args.label, result, config)
    print(f"{len(result['rows'])} runs in {config['seconds']:.0f} s; wrote {', '.join(paths)}")
    return 0


# === The benchmark ===


def _scores(classifier, real_features, images, held_out, reconstructions):
    """Every metric of one model (or reference): sample-set metrics, then reconstruction metrics."""
    from ava_keras import evaluation

    features = classifier.features(images)
    precision, recall = evaluation.precision_recall(real_features, features, k=3)
    return {
        "classifier_fid": evaluation.frechet_distance(real_features, features),
        "classifier_kid": evaluation.kernel_distance(real_features, features),
        "precision": precision,
        "recall": recall,
        "mse": evaluation.mse(held_out, reconstructions),
        "psnr": evaluation.psnr(held_out, reconstructions),
        "ssim": evaluation.ssim(held_out, reconstructions),
    }


def reference_scores(classifier, train, held_out):
    """Scores without a generative model, for scale.

    `training_digits`: the first 397 training digits as the "samples" (the
    floor a perfect generator could reach at this sample size), with the
    held-out digits as their own perfect reconstructions skipped (MSE 0).
    `mean_image`: the mean training digit as every sample and every
    reconstruction (what a collapsed model gives).
    """
    import numpy as np

    real_features = classifier.features(held_out)
    mean = np.repeat(train.mean(axis=0, keepdims=True), len(held_out), axis=0)
    floor = _scores(classifier, real_features, train[: len(held_out)], held_out, held_out)
    for key in ("mse", "psnr", "ssim"):
        floor[key] = None
    return {
        "training_digits": floor,
        "mean_image": _scores(classifier, real_features, mean, held_out, mean),
    }


def _snapshot(model):
    return {
        "weights": [v.numpy() for v in model.weights],
        "noise": model.sampling.seed_generator.state.numpy(),
    }


def _restore(model, state, optimizer_state):
    for variable, value in zip(model.weights, state["weights"]):
        variable.assign(value)
    model.sampling.seed_generator.state.assign(state["noise"])
    for variable, value in optimizer_state:
        variable.assign(value)


def run_benchmark(
    presets, seeds, steps, batch_size, model_options=None, learning_rates=None, classifier_cache=None, progress=None
):
    """Trains and scores every (preset, seed).

    One model per preset is built, compiled (default optimizers of
    `AVA.compile`, learning rates overridden by `learning_rates`) and traced
    with one warm-up step; before each run its weights, sampling noise and
    optimizer state are reset to those of a fresh model built after
    `keras.utils.set_random_seed(seed)`, so the warm-up leaves no trace and
    `train_seconds` times the steps only. Batches are drawn by a permutation
    seeded by `seed`. A run whose losses or outputs become non-finite is
    marked `"diverged"`, its scores left empty, and counted.

    Returns:
        A dict: `rows` (one dict per run), `references` (see
        `reference_scores`), `grids` ({name: images} for the PNG: held-out
        digits and the first seed's samples of each preset) and `config`.
    """
    import keras
    import numpy as np

    from ava_keras.evaluation.digit_classifier import digits_split, get_classifier
    from ava_keras.models.ava import AVA

    model_options, learning_rates = dict(model_options or {}), dict(learning_rates or {})
    train, _, held_out, _ = digits_split(IMAGE_SIZE)
    classifier = get_classifier(cache_dir=classifier_cache)
    say = progress or (lambda *a, **k: None)
    say(f"digit classifier: held-out accuracy {classifier.held_out_accuracy:.3f} ({classifier.path})", flush=True)
    real_features = classifier.features(held_out)
    references = reference_scores(classifier, train, held_out)
    grids = {"held-out digits": held_out[:GRID_IMAGES]}
    rows, optimizers, start, total = [], {}, time.time(), len(presets) * len(seeds)

    def build(preset, seed):
        keras.utils.set_random_seed(seed)
        return AVA.from_preset(
            preset, image_shape=train.shape[1:], routing="joint", seed=seed, **NETWORK, **model_options
        )

    for preset in presets:
        model = build(preset, seeds[0])
        first_state = _snapshot(model)
        model.compile()
        for block, rate in learning_rates.items():
            if getattr(model, f"{block}_optimizer") is not None:
                getattr(model, f"{block}_optimizer").learning_rate = rate
        optimizer_vars = [
            v for b in BLOCKS if getattr(model, f"{b}_optimizer") is not None
            for v in getattr(model, f"{b}_optimizer").variables
        ]
        optimizer_state = [(v, v.numpy()) for v in optimizer_vars]
        optimizers.update({b: _describe_optimizer(getattr(model, f"{b}_optimizer")) for b in BLOCKS
                           if getattr(model, f"{b}_optimizer") is not None})
        model.train_on_batch(train[:batch_size])  # trace once; undone by the reset below
        for seed in seeds:
            state = first_state if seed == seeds[0] else _snapshot(build(preset, seed))
            _restore(model, state, optimizer_state)
            row = _train_and_score(model, preset, seed, steps, batch_size, train, held_out, classifier,
                                   real_features, say)
            rows.append(row.pop("row"))
            if seed == seeds[0] and row["samples"] is not None:
                grids[preset] = row["samples"][:GRID_IMAGES]
            elapsed = time.time() - start
            say(
                f"[{len(rows)}/{total}] {preset} seed={seed}: "
                + (
                    f"FID {rows[-1]['classifier_fid']:.2f}, KID {rows[-1]['classifier_kid']:.4f}, "
                    f"P/R {rows[-1]['precision']:.2f}/{rows[-1]['recall']:.2f}, MSE {rows[-1]['mse']:.4f}, "
                    f"SSIM {rows[-1]['ssim']:.3f}"
                    if rows[-1]["status"] == "ok"
                    else f"DIVERGED at step {rows[-1]['diverged_at_step']}"
                )
                + f" ({rows[-1]['train_seconds']:.0f} s training; "
                f"ETA {elapsed / len(rows) * (total - len(rows)) / 60:.1f} min)",
                flush=True,
            )
    config = {
        "routing": "joint",
        "image_shape": list(train.shape[1:]),
        "data": f"ava_keras.evaluation.digits_split(): {len(train)} training and {len(held_out)} held-out "
        "digits, 28x28x1 (bicubic from 8x8), split seed 0",
        "network": {k: list(v) if isinstance(v, tuple) else v for k, v in NETWORK.items()},
        "optimizers": optimizers,
        "samples_per_model": len(held_out),
        "classifier": {"path": classifier.path, "held_out_accuracy": classifier.held_out_accuracy},
    }
    return {"rows": rows, "references": references, "grids": grids, "config": config}


def _describe_optimizer(optimizer):
    config = optimizer.get_config()
    return {"class": type(optimizer).__name__, **{k: config[k] for k in ("learning_rate", "beta_1") if k in config}}


def _train_and_score(model, preset, seed, steps, batch_size, train, held_out, classifier, real_features, say):
    import numpy as np

    rng = np.random.default_rng(seed)
    order, losses, diverged_at = np.empty(0, dtype=int), [], None
    report_every = max(1, steps // 5)
    run_start = time.time()
    for step in range(steps):
        if len(order) < batch_size:
            order = np.concatenate([order, rng.permutation(len(train))])
        batch, order = train[order[:batch_size]], order[batch_size:]
        logs = model.train_on_batch(batch, return_dict=True)
        values = {k: float(v) for k, v in logs.items()}
        losses.append(values["loss"])
        if not all(math.isfinite(v) for v in values.values()):
            diverged_at = step + 1
            break
        if (step + 1) % report_every == 0 and step + 1 < steps:
            say(f"    {preset} seed={seed} step {step + 1}/{steps}: loss {np.mean(losses[-report_every:]):.2f}",
                flush=True)
    seconds = time.time() - run_start
    samples = reconstructions = None
    if diverged_at is None:
        samples = model.sample(len(held_out), seed=seed)
        reconstructions = model.reconstruct(held_out)
        if not (np.all(np.isfinite(samples)) and np.all(np.isfinite(reconstructions))):
            diverged_at, samples = steps, None
    row = {"preset": preset, "seed": seed, "steps": steps, "batch_size": batch_size,
           "status": "ok" if diverged_at is None else "diverged",
           "diverged_at_step": "" if diverged_at is None else diverged_at}
    scores = {key: "" for key, _, _ in METRICS}
    if diverged_at is None:
        scores.update(_scores(classifier, real_features, samples, held_out, reconstructions))
    scores["train_seconds"] = round(seconds, 2)
    tail = losses[-max(1, steps // 10):]
    row.update(scores, final_loss=float(np.mean(tail)) if tail else "")
    return {"row": row, "samples": samples}


# === Outputs ===


def summarize(rows):
    """Mean and sample SD over the non-diverged seeds of each preset, for every metric.

    Returns:
        {preset: {metric: {"mean", "sd"} (None when no run succeeded), "ok": n, "runs": n}},
        presets in the order of `PRESETS`.
    """
    summary = {}
    for preset in [p for p in PRESETS if any(r["preset"] == p for r in rows)]:
        mine = [r for r in rows if r["preset"] == preset]
        ok = [r for r in mine if r["status"] == "ok"]
        entry = {"ok": len(ok), "runs": len(mine)}
        for key, _, _ in METRICS:
            values = [float(r[key]) for r in (mine if key == "train_seconds" else ok) if r[key] not in ("", None)]
            entry[key] = (
                {"mean": sum(values) / len(values), "sd": sample_sd(values)} if values else None
            )
        summary[preset] = entry
    return summary


def _mean_sd(cell, fmt):
    if cell is None:
        return "—"
    text = fmt.format(cell["mean"])
    return text if math.isnan(cell["sd"]) else f"{text} ± {fmt.format(cell['sd'])}"


def format_table(summary, references, config):
    """Markdown: one row per preset (mean ± SD over seeds) and the two reference rows."""
    header = "| preset | " + " | ".join(h for _, h, _ in METRICS) + " | ok runs |"
    lines = [
        f"Classifier FID/KID: {config.get('samples_per_model', '?')} samples vs the held-out digits, in the "
        "feature space of ava_keras's digit classifier (not comparable with Inception FID). "
        f"Budget: {config.get('steps')} steps of batch {config.get('batch_size')}, routing joint; "
        "mean ± SD over seeds.",
        "",
        header,
        "|---" * (len(METRICS) + 2) + "|",
    ]
    for preset, entry in summary.items():
        cells = [_mean_sd(entry[key], fmt) for key, _, fmt in METRICS]
        lines.append(f"| {preset.upper()} | " + " | ".join(cells) + f" | {entry['ok']}/{entry['runs']} |")
    names = {"training_digits": "real training digits", "mean_image": "mean training digit"}
    for name, scores in references.items():
        cells = [
            "—" if scores.get(key) is None else fmt.format(scores[key]) for key, _, fmt in METRICS
        ]
        lines.append(f"| *{names.get(name, name)}* | " + " | ".join(cells) + " | reference |")
    return "\n".join(lines) + "\n"


def plot_grids(grids, path):
    """One PNG: an 8x8 grid of images per panel (held-out digits, then each preset's samples)."""
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
        axis.imshow(image_grid(images, columns=8)[..., 0], cmap="gray", vmin=0, vmax=255)
        axis.set_title(name if name not in PRESETS else f"{name.upper()} samples", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _finite_or_none(value):
    """JSON-safe copy: tuples become lists, NaN and infinities become null."""
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_outputs(out_dir, label, result, config):
    """Writes the CSV, JSON summary, markdown table and sample-grid PNG; returns their paths."""
    paths = {kind: os.path.join(out_dir, f"{label}_{kind}") for kind in ("runs.csv", "summary.json", "table.md")}
    rows = result["rows"]
    with open(paths["runs.csv"], "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary = summarize(rows)
    with open(paths["table.md"], "w") as file:
        file.write(format_table(summary, result["references"], config))
    with open(paths["summary.json"], "w") as file:
        json.dump(
            _finite_or_none(
                {"config": config, "summary": summary, "references": result["references"], "runs": len(rows),
                 "diverged": sum(r["status"] == "diverged" for r in rows)}
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
