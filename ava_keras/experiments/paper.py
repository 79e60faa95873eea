"""The paper's experiment (Section 3, Tables 1-3, Figure 5) as one command.

Trains VAE and AVA1-AVA5 with plain SGD at each of the paper's 19 learning
rates on ten_images(shrink=3), repeats over seeds, scores every trained model
by eq. 17 and writes, per routing: <label>_runs.csv (every run, diverged ones
included), <label>_tables.md (Tables 1-3 beside the paper's values),
<label>_summary.json (configuration, budget, machine, Table 3) and
<label>_figure5.png. <label> is the routing, plus _clip<c> with --clipnorm c.
"""

# TensorFlow is imported only inside functions, so `--help` answers at once.

import argparse
import itertools
import json
import math
import os
import time
import warnings

from ..constants import ROUTINGS as _ALL_ROUTINGS
from ..errors import MissingDependencyError, import_optional
from ._common import BLOCKS as _BLOCKS
from ._common import machine as _machine
from ._common import make_out_dir
from ._common import positive_float as _positive_float
from ._common import positive_int as _positive_int
from ._runner import capture_state, eta_minutes, restore_state, train_steps, write_csv
from .paper_tables import MODELS, PAPER_TABLE_3, PAPER_TABLES_1_2, format_tables, read_runs, summarize  # noqa: F401

LEARNING_RATES = tuple(round(0.1 * k, 2) for k in range(10, 0, -1)) + tuple(
    round(0.01 * k, 2) for k in range(9, 0, -1)
)
QUICK_LEARNING_RATES = (1.0, 0.1, 0.01)
ROUTINGS = tuple(reversed(_ALL_ROUTINGS))  # the paper's update rules first
DEFAULT_STEPS = 20
DEFAULT_SEEDS = 3
SHRINK = 3
# Small networks, so the full 342-run sweep fits the time budget on 2 CPU cores.
NETWORK = {
    "latent_dim": 8,
    "encoder_filters": (8, 16),
    "decoder_filters": (16, 8),
    "discriminator_filters": (8, 16),
    "latent_discriminator_units": (16, 16),
    "hidden_units": 32,
}


# === Command line ===


def _learning_rates(text):
    try:
        return tuple(_positive_float(v) for v in text.split(","))
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(
            f"must be comma-separated positive numbers such as 1,0.1,0.01, got {text!r}"
        ) from None


def add_arguments(parser):
    """Adds the options of `ava-keras experiment paper` to an argparse parser."""
    parser.add_argument(
        "--quick", action="store_true",
        help=f"CI subset: learning rates {QUICK_LEARNING_RATES} and one seed.",
    )
    parser.add_argument(
        "--seeds", type=_positive_int, default=None,
        help=f"Number of seeds (0, 1, ...) per run (default {DEFAULT_SEEDS}; 1 with --quick).",
    )
    parser.add_argument(
        "--routing", choices=ROUTINGS + ("both",), default="paper",
        help="Gradient routing (docs/design_choices.md): the paper's update rules, joint, or both (default paper).",
    )
    parser.add_argument(
        "--steps", type=_positive_int, default=DEFAULT_STEPS,
        help=f"Full-batch SGD steps per run, the training budget (default {DEFAULT_STEPS}).",
    )
    parser.add_argument(
        "--learning-rates", type=_learning_rates, default=None,
        help="Comma-separated learning rates (default: the paper's 19, or 3 with --quick).",
    )
    parser.add_argument(
        "--clipnorm", type=_positive_float, default=None,
        help="Mitigation, off by default: clip each block's global gradient norm to this "
        "value. Outputs are labelled <routing>_clip<value>.",
    )
    parser.add_argument(
        "--out", default="paper_results", help="Output folder (default ./paper_results)."
    )
    return parser


def run(args):
    """Runs the sweep(s) described by parsed `args`; returns an exit code."""
    if args.quick and args.learning_rates is None:
        learning_rates = QUICK_LEARNING_RATES
    else:
        learning_rates = args.learning_rates or LEARNING_RATES
    seeds = args.seeds or (1 if args.quick else DEFAULT_SEEDS)
    routings = ROUTINGS if args.routing == "both" else (args.routing,)
    make_out_dir(args.out)
    for routing in routings:
        label = routing if args.clipnorm is None else f"{routing}_clip{args.clipnorm:g}"
        start = time.time()
        rows = run_sweep(
            routing, learning_rates, range(seeds), args.steps, clipnorm=args.clipnorm, progress=print
        )
        config = {
            "label": label,
            "routing": routing,
            "optimizer": "SGD(learning_rate=γ) for every block"
            + ("" if args.clipnorm is None else f", global_clipnorm={args.clipnorm:g}"),
            "clipnorm": args.clipnorm,
            "steps": args.steps,
            "batch_size": 10,
            "learning_rates": list(learning_rates),
            "seeds": list(range(seeds)),
            "data": f"ava_keras.datasets.ten_images(shrink={SHRINK}): 10 x 83 x 60 x 3",
            "network": {k: list(v) if isinstance(v, tuple) else v for k, v in NETWORK.items()},
            "seconds": round(time.time() - start, 1),
            "machine": _machine(),
        }
        paths = write_outputs(args.out, label, rows, config)
        print(f"{label}: {len(rows)} runs in {config['seconds']:.0f} s; wrote {', '.join(paths)}")
    return 0


# === The sweep ===


def run_sweep(routing, learning_rates, seeds, steps, clipnorm=None, models=MODELS, progress=None):
    """Trains every (model, γ, seed) and scores it with eq. 17.

    One Keras model per preset is built, compiled with one SGD optimizer per
    block and traced once; before each run its weights and noise state are
    reset to those of a fresh model built with `keras.utils.set_random_seed(seed)`
    and its optimizers restart (step 0, empty slots) at learning rate γ. A run stops early, marked
    `"diverged"`, at the first step whose loss terms or gradients are not
    finite (the model's divergence stop; that step changes nothing, so
    `final_loss` is the last finite loss); its score is then left empty, the
    step and the term are recorded, and the sweep goes on.

    Returns:
        A list of dicts, one per run: `routing, model, learning_rate, seed,
        steps, clipnorm, status, rmse, final_loss, diverged_at_step,
        diverged_term, seconds`.
    """
    import keras

    from ava_keras.datasets import ten_images
    from ava_keras.evaluation import best_generated_image
    from ava_keras.models.ava import AVA
    from ava_keras.models.presets import PAPER_SETTINGS

    images = ten_images(shrink=SHRINK)
    batch = keras.ops.convert_to_tensor(images)
    seeds = list(seeds)
    total = len(models) * len(seeds) * len(learning_rates)
    rows, start = [], time.time()

    def build(preset, seed):
        keras.utils.set_random_seed(seed)
        # The paper's exact settings (eq. 1's loss, minimax, unit weights) whatever the package defaults.
        settings = dict(PAPER_SETTINGS, routing=routing)
        return AVA.from_preset(preset, image_shape=images.shape[1:], seed=seed, **NETWORK, **settings)

    for preset in models:
        model = build(preset, seeds[0])
        model.compile(
            **{
                f"{block}_optimizer": keras.optimizers.SGD(1.0, global_clipnorm=clipnorm)
                for block in _BLOCKS
            }
        )
        for seed in seeds:
            initial = capture_state(build(preset, seed))
            for gamma in learning_rates:
                run_start = time.time()
                restore_state(model, initial, learning_rate=gamma)
                run = train_steps(model, itertools.repeat(batch), steps)
                loss = run.losses[-1] if run.losses else float("nan")
                rmse = float("nan")
                if run.diverged_at is None:
                    _, rmse = best_generated_image(model, images, return_score=True)
                    if not math.isfinite(rmse):
                        run.diverged(steps, "eq. 17 score")
                rows.append(
                    {
                        "routing": routing,
                        "model": preset,
                        "learning_rate": gamma,
                        "seed": seed,
                        "steps": steps,
                        "clipnorm": "" if clipnorm is None else clipnorm,
                        "status": run.status,
                        "rmse": rmse if run.status == "ok" else "",
                        "final_loss": loss,
                        **run.divergence_columns(),
                        "seconds": round(time.time() - run_start, 2),
                    }
                )
                if progress is not None:
                    eta = eta_minutes(start, len(rows), total)
                    result = f"{rmse:.4f}" if run.status == "ok" else run.describe_divergence()
                    progress(
                        f"[{routing} {len(rows)}/{total}] {preset} γ={gamma:g} seed={seed}: "
                        f"{result} ({rows[-1]['seconds']:.1f} s, ETA {eta:.1f} min)",
                        flush=True,
                    )
    return rows


# === Reference scores and Figure 5 ===


def reference_scores():
    """Eq.-17 scores of two images that need no model, for context.

    `mean_image` is the pixel-wise mean of the ten images; `best_training_image`
    is the lowest score of any one of the ten images themselves, i.e. what a
    perfect autoencoder (x′ = x) would score.
    """
    from ava_keras.datasets import ten_images
    from ava_keras.evaluation import paper_rmse

    images = ten_images(shrink=SHRINK)
    return {
        "mean_image": paper_rmse(images.mean(axis=0), images),
        "best_training_image": min(paper_rmse(image, images) for image in images),
    }


def plot_figure5(summary, path, label):
    """Figure-5-style bars: mean (± SD across seeds), minimum and SD per model, with the paper's."""
    import_optional("matplotlib", "The Figure 5 plot").use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    models = summary["models"]
    table3 = summary["table3"]
    x = np.arange(len(models))

    def values(key, source):
        return [np.nan if source(m, key) is None else source(m, key) for m in models]

    def measured(m, key):
        return table3[m][key]

    def paper(m, key):
        return PAPER_TABLE_3[key].get(m)

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.6))
    width = 0.2
    seed_sd = values("seed_sd", measured)
    left.bar(x - 1.5 * width, values("mean", measured), width, yerr=seed_sd, capsize=3, label="mean (± seed SD)")
    left.bar(x - 0.5 * width, values("minimum", measured), width, label="minimum")
    left.bar(x + 0.5 * width, values("mean", paper), width, hatch="//", alpha=0.6, label="paper mean")
    left.bar(x + 1.5 * width, values("minimum", paper), width, hatch="..", alpha=0.6, label="paper minimum")
    left.set_ylabel("eq. 17 score (lower is better)")
    right.bar(x - 0.2, values("sd", measured), 0.4, label="SD over γ")
    right.bar(x + 0.2, values("sd", paper), 0.4, hatch="//", alpha=0.6, label="paper SD")
    for axis, title in ((left, "Mean and minimum"), (right, "Standard deviation")):
        axis.set_xticks(x, [m.upper() for m in models])
        axis.set_title(f"{title} ({label})")
        axis.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=4)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_outputs(out_dir, label, rows, config):
    """Writes the CSV, tables, JSON summary and figure of one sweep; returns their paths."""
    paths = {kind: os.path.join(out_dir, f"{label}_{kind}") for kind in ("runs.csv", "tables.md", "summary.json", "figure5.png")}
    write_csv(paths["runs.csv"], rows)
    summary = summarize(read_runs(paths["runs.csv"]))
    references = reference_scores()
    with open(paths["tables.md"], "w") as file:
        file.write(format_tables(summary, label, references))
    with open(paths["summary.json"], "w") as file:
        json.dump(
            {
                "config": config,
                "reference_scores": references,
                "table3": summary["table3"],
                "paper_table3": PAPER_TABLE_3,
                "runs": len(rows),
                "diverged": sum(r["status"] == "diverged" for r in rows),
            },
            file,
            indent=2,
            ensure_ascii=False,
        )
    try:
        plot_figure5(summary, paths["figure5.png"], label)
    except MissingDependencyError as error:  # everything but the figure is written
        warnings.warn(f"skipped {paths.pop('figure5.png')}: {error}")
    return list(paths.values())
