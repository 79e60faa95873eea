"""Sample and reconstruction quality of VAE, AVA1-AVA5 and the keras.io VAE on held-out real images.

Trains every preset (and, as the baseline users would pick instead, the
keras.io VAE) under one budget: the same networks, steps, batch size, seeds
and batches. Then scores each on held-out images it never saw:

- `digits`: scikit-learn's digits at 28x28x1 (ava_keras.evaluation.digits_split:
  1,400 training, 397 held-out). Sample quality: classifier FID and KID of
  the samples, k-NN precision/recall (k=3, of as many samples as held-out
  images), all in the features of
  ava_keras's own digit classifier (trained once and cached; NOT comparable
  with Inception FID), and the classifier's mean confidence on the samples.
- `photos`: RGB crops of scikit-image's photographs, 32x32 (`--image-size`
  64 or 128 for larger), the photographs shrunk so that each crop covers
  128x128 pixels of one (4x for 32, 2x for 64, not at all for 128;
  ava_keras.datasets.photo_crops: 2,000 training crops, seed 0; 500 held-out
  crops, seed 1). Sample quality: Fréchet distance, KID and precision/recall
  in the features of a fixed random CNN (ava_keras.evaluation.RandomFeatures).

`--networks small` (default) trains every AVA model on the same small
networks (`NETWORK`); `--networks scaled` on the networks that follow the
image size (ava_keras.build_networks), with `--discriminator global` or
`patch`.

Each model is scored on `--samples` samples, by default as many as there are
training images (1,400 digits, 2,000 crops): the "real training images"
reference row scores all of them, the floor a perfect generator would reach
at that sample size. Fewer samples make FID noisier (with 397 samples, the
FID of random real training digits has an SD of 1.7; see docs/quality.md).

Every model also gets reconstruction MSE, PSNR and SSIM on the held-out
images, and sharpness (ava_keras.evaluation.spectrum): the high-frequency
energy ratio of its samples and of its reconstructions to the held-out
images (above half the Nyquist frequency; 1 is as sharp as real images) and
the blur effect of its samples. The summary JSON keeps the radially
averaged power spectra of the held-out images and of each model's first
seed's samples, which benchmarks/spectra_plot.py draws. An AVA model's samples are scored twice: drawn from the prior
N(0, I) ("FID prior") and from the Gaussian mixture fitted to its training
means by `fit_latent_sampler` (the main columns; what `model.sample` draws
once fitted). Writes <label>_runs.csv (every run), <label>_summary.json,
<label>_table.md (mean ± SD over seeds) and <label>_samples.png.
"""

# TensorFlow is imported only inside functions, so `--help` answers at once.

import argparse
import math
import time

from .._determinism import run_deterministically
from ..cli_parser import (
    add_decoder_adversarial_reaches_encoder_argument,
    add_decoder_ema_argument,
    add_deterministic_argument,
    add_discriminator_start_step_argument,
)
from ..constants import DISCRIMINATORS, GENERATOR_LOSSES, LIKELIHOODS, NETWORKS, PRECISIONS, SMALL_NETWORKS
from ..errors import InputError
from ._common import BLOCKS, PRESETS, add_budget_arguments, machine, make_out_dir, positive_float, positive_int
from ._runner import eta_minutes, shuffled_batches, train_steps
from .quality_tables import BASELINE, METRICS, write_outputs

DATASETS = ("digits", "photos")
QUICK_PRESETS = ("ava5",)
LOSS_WEIGHTS = (
    "reconstruction_weight", "kl_weight", "adversarial_weight", "leaning_weight", "r1_weight",
    "feature_reconstruction_weight", "frequency_reconstruction_weight",
)
STABILISER_FLAGS = ("augment_discriminator", "spectral_normalization")
ADVERSARIAL_FLAGS = ("discriminator_prior_samples", "adaptive_adversarial_weight")
DEFAULT_STEPS, QUICK_STEPS = 600, 20
DEFAULT_SEEDS = 3
DEFAULT_BATCH_SIZE = 64
TRAIN_CROPS, HELD_OUT_CROPS = 2000, 500
# Photo crops: CROP_SIZES pixels square, each covering CROP_COVERAGE pixels of a photograph.
CROP_SIZES, DEFAULT_CROP_SIZE, CROP_COVERAGE = (32, 64, 128), 32, 128
GRID_IMAGES = 64
# One set of networks for every model under `--networks small`: the small networks (the keras.io VAE's
# Conv32-Conv64-Dense, Dense-ConvT64-ConvT32-output, with a 128-unit dense layer) at latent size 16.
NETWORK = dict(SMALL_NETWORKS, latent_dim=16)


# === Command line ===


def _non_negative_float(text):
    value = float(text)
    if not value >= 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a non-negative number, got {text!r}")
    return value


def add_arguments(parser):
    """Adds the options of `ava-keras experiment quality` to an argparse parser."""
    parser.add_argument(
        "--dataset", choices=DATASETS, default="digits",
        help="Held-out real images to score on: digits (28x28x1, labelled) or photos (RGB crops, --image-size).",
    )
    parser.add_argument(
        "--image-size", type=int, choices=CROP_SIZES, default=None,
        help=f"Side of the photo crops (default {DEFAULT_CROP_SIZE}); --dataset photos only.",
    )
    parser.add_argument(
        "--networks", choices=NETWORKS, default="small",
        help="Networks of the AVA models: small (the same NETWORK for every size, default) or scaled "
             "(ava_keras.build_networks sizes them to the images).",
    )
    parser.add_argument(
        "--discriminator", choices=DISCRIMINATORS, default="global",
        help="Decoder discriminator of the AVA models: one logit per image (global, default) or per patch.",
    )
    add_budget_arguments(parser, PRESETS, QUICK_PRESETS, DEFAULT_SEEDS, DEFAULT_STEPS, QUICK_STEPS, DEFAULT_BATCH_SIZE)
    parser.add_argument(
        "--conditional", action="store_true",
        help="Class-conditional AVA models (num_classes=10, --dataset digits): trained on the split's labels, "
             "sampled class by class; adds the classifier's accuracy on the samples against the requested digit "
             "and the intra-FID (per-class FID, averaged). The keras.io VAE row stays unconditional.",
    )
    parser.add_argument(
        "--no-baseline", dest="baseline", action="store_false",
        help=f"Skip the keras.io VAE row ({BASELINE}).",
    )
    parser.add_argument(
        "--likelihood", choices=LIKELIHOODS, default=None,
        help="Reconstruction likelihood of the AVA models (default: the AVA default).",
    )
    parser.add_argument(
        "--generator-loss", choices=GENERATOR_LOSSES, default=None,
        help="Generator form of the adversarial terms (default: the AVA default).",
    )
    for name in STABILISER_FLAGS:
        parser.add_argument(
            "--" + name.replace("_", "-"), action="store_true", default=None,
            help=f"AVA models with `{name}=True` (a discriminator stabiliser; default off).",
        )
    for name in ADVERSARIAL_FLAGS:
        parser.add_argument(
            "--" + name.replace("_", "-"), action="store_true", default=None,
            help=f"AVA models with `{name}=True` (see ava_keras.AVA; default off).",
        )
    add_decoder_adversarial_reaches_encoder_argument(parser)
    add_discriminator_start_step_argument(parser)
    parser.add_argument(
        "--samples", type=positive_int, default=None,
        help="Samples scored per model (default: as many as there are training images, 1,400 digits or 2,000 "
             "crops, so the real-training-images reference row scores all of them at the same sample size).",
    )
    parser.add_argument(
        "--precision", choices=PRECISIONS, default="float32",
        help="dtype policy of the AVA models (default float32); the keras.io VAE row stays float32.",
    )
    parser.add_argument(
        "--paper-settings", action="store_true",
        help="Train the AVA models with the paper's exact settings (ava_keras.PAPER_SETTINGS) instead of the defaults.",
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
    add_decoder_ema_argument(parser)
    add_deterministic_argument(parser)
    parser.add_argument(
        "--quick", action="store_true",
        help=f"CI budget: presets {','.join(QUICK_PRESETS)} and the baseline, one seed, {QUICK_STEPS} steps.",
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
    options = {name: getattr(args, name) for name in ("likelihood", "generator_loss") + LOSS_WEIGHTS
               + STABILISER_FLAGS + ADVERSARIAL_FLAGS
               + ("decoder_adversarial_reaches_encoder", "discriminator_start_step",)
               if getattr(args, name) is not None}
    if args.conditional and args.dataset != "digits":
        raise InputError("--conditional trains on the digits' labels; the photo crops have none (--dataset digits).")
    if args.image_size is not None and args.dataset != "photos":
        raise InputError(f"--image-size {args.image_size} sizes the photo crops; pass it with --dataset photos "
                         f"(the {args.dataset} are 28x28).")
    return {
        "dataset": args.dataset,
        "image_size": (args.image_size or DEFAULT_CROP_SIZE) if args.dataset == "photos" else None,
        "networks": args.networks,
        "discriminator": args.discriminator,
        "conditional": args.conditional,
        "presets": args.presets or (QUICK_PRESETS if args.quick else PRESETS),
        "baseline": args.baseline,
        "seeds": list(range(args.seeds or (1 if args.quick else DEFAULT_SEEDS))),
        "steps": args.steps or (QUICK_STEPS if args.quick else DEFAULT_STEPS),
        "batch_size": args.batch_size,
        "samples": args.samples,
        "paper_settings": args.paper_settings,
        "precision": args.precision,
        "model_options": options,
        "learning_rates": {
            block: getattr(args, f"{block}_lr") for block in BLOCKS if getattr(args, f"{block}_lr") is not None
        },
        "decoder_ema": args.decoder_ema,
    }


def run(args):
    """Runs the benchmark described by parsed `args`; writes the outputs and returns 0."""
    settings = resolve(args)
    make_out_dir(args.out)
    run_deterministically(args.deterministic)
    start = time.time()
    result = run_benchmark(**settings, classifier_cache=args.classifier_cache, progress=print)
    config = dict(settings, deterministic=args.deterministic, seconds=round(time.time() - start, 1), machine=machine(),
                  **result["config"])
    paths = write_outputs(args.out, args.label, result, config)
    print(f"{len(result['rows'])} runs in {config['seconds']:.0f} s; wrote {', '.join(paths)}")
    return 0


# === The benchmark ===


def load_data(dataset, image_size=DEFAULT_CROP_SIZE, labels=False):
    """`(train, held_out)` float32 images in [0, 1] of `dataset`, one of `DATASETS` (`image_size`: the crops').

    With `labels` (digits only), `(train, train_labels, held_out, held_out_labels)`.
    """
    if dataset == "digits":
        from ava_keras.evaluation.digit_classifier import digits_split

        train, train_labels, held_out, held_out_labels = digits_split()
        return (train, train_labels, held_out, held_out_labels) if labels else (train, held_out)
    from ava_keras.datasets import photo_crops

    return tuple(
        photo_crops(n, image_size=image_size, downscale=CROP_COVERAGE // image_size, seed=seed)
        for n, seed in ((TRAIN_CROPS, 0), (HELD_OUT_CROPS, 1))
    )


class Scorer:
    """Every metric of one set of samples and reconstructions against the held-out images.

    On digits the features are the digit classifier's penultimate layer and
    `confidence` is its mean top-class probability on the samples; on photos
    they are `RandomFeatures` and there is no confidence.
    """

    def __init__(self, dataset, held_out, classifier_cache=None, say=None):
        from ava_keras import evaluation

        self.held_out = held_out
        if dataset == "digits":
            self.classifier = evaluation.digit_classifier.get_classifier(cache_dir=classifier_cache)
            (say or print)(f"digit classifier: held-out accuracy {self.classifier.held_out_accuracy:.3f} "
                           f"({self.classifier.path})", flush=True)
            self.features = self.classifier.features
        else:
            self.classifier = None
            self.features = evaluation.RandomFeatures(channels=held_out.shape[-1]).features
        self.real_features = self.features(held_out)

    def fid(self, samples):
        from ava_keras import evaluation

        return evaluation.frechet_distance(self.real_features, self.features(samples))

    def class_scores(self, samples, requested, train, train_labels):
        """`label_accuracy`: the classifier's accuracy on `samples` against the `requested` digits; `intra_fid`:
        the mean over digits of the FID of that digit's samples against that digit's training images
        (intra-FID, Miyato & Koyama 2018; ~140 images a digit, so not comparable with the overall FID)."""
        from ava_keras import evaluation

        digits = sorted(set(requested.tolist()))
        return {
            "label_accuracy": self.classifier.accuracy(samples, requested),
            "intra_fid": sum(
                evaluation.frechet_distance(self.features(train[train_labels == k]),
                                            self.features(samples[requested == k]))
                for k in digits
            ) / len(digits),
        }

    def __call__(self, samples, reconstructions):
        from ava_keras import evaluation

        features = self.features(samples)
        # k-NN recall depends on the number of samples: as many as the held-out images, as in Kynkäänniemi et al.
        precision, recall = evaluation.precision_recall(self.real_features, features[: len(self.real_features)], k=3)
        scores = {
            "fid": evaluation.frechet_distance(self.real_features, features),
            "kid": evaluation.kernel_distance(self.real_features, features),
            "precision": precision,
            "recall": recall,
            "confidence": self.classifier.confidence(samples) if self.classifier is not None else None,
        }
        scores.update(
            hf_ratio=evaluation.high_frequency_ratio(samples, self.held_out),
            blur=evaluation.blur_effect(samples),
        )
        if reconstructions is not None:
            scores.update(
                mse=evaluation.mse(self.held_out, reconstructions),
                psnr=evaluation.psnr(self.held_out, reconstructions),
                ssim=evaluation.ssim(self.held_out, reconstructions),
                hf_ratio_rec=evaluation.high_frequency_ratio(reconstructions, self.held_out),
            )
        return scores


def reference_scores(scorer, train, samples):
    """Scores without a generative model, for scale.

    `training_images`: the first `samples` training images (all of them if
    there are fewer) as the "samples": the floor a perfect generator could
    reach at this sample size; no reconstruction scores. `mean_image`: the
    mean training image as every sample and every reconstruction (what a
    collapsed model gives).
    """
    import numpy as np

    mean = train.mean(axis=0)
    return {
        "training_images": scorer(train[:samples], None),
        "mean_image": scorer(np.broadcast_to(mean, (samples,) + mean.shape),
                             np.broadcast_to(mean, scorer.held_out.shape)),
    }


def build_model(
    name, seed, image_shape, paper_settings=False, model_options=None, precision="float32", networks="small",
    discriminator="global", num_classes=None,
):
    """A fresh model for `name` (a preset or `BASELINE`), built after `keras.utils.set_random_seed(seed)`.

    The keras.io VAE keeps its own networks; the AVA models get `NETWORK` (`networks="small"`) or the
    networks `ava_keras.build_networks` sizes to `image_shape` (`"scaled"`), with the `discriminator` given,
    conditioned on `num_classes` digit classes if given.
    """
    import keras

    keras.utils.set_random_seed(seed)
    if name == BASELINE:
        from ava_keras.experiments.keras_io_vae import KerasIOVAE

        model = KerasIOVAE(image_shape, latent_dim=NETWORK["latent_dim"], hidden_units=NETWORK["hidden_units"],
                           seed=seed)
        model.compile(optimizer=keras.optimizers.Adam())
        return model
    from ava_keras.models.ava import AVA
    from ava_keras.models.presets import PAPER_SETTINGS, get_switches

    options = dict(PAPER_SETTINGS if paper_settings else {}, **(model_options or {}))
    switches = get_switches(name)
    if not (switches["decoder_discriminator"] or switches["decoder_leaning"]):
        # Like r1_weight and the other stabilisers of d, a no-op for a preset without d.
        options.pop("feature_reconstruction_weight", None)
    sizes = NETWORK if networks == "small" else {}
    if num_classes is not None:
        options.update(num_classes=num_classes, class_names=[str(k) for k in range(num_classes)])
    return AVA.from_preset(name, image_shape=image_shape, seed=seed, dtype=precision, networks=networks,
                           discriminator=discriminator, **sizes, **options)


def run_benchmark(
    dataset, presets, seeds, steps, batch_size, samples=None, baseline=True, paper_settings=False,
    precision="float32", model_options=None, learning_rates=None, classifier_cache=None, progress=None,
    image_size=None, networks="small", discriminator="global", conditional=False, decoder_ema=None,
):
    """Trains and scores every (model, seed).

    `conditional`: the AVA models are class-conditional on the digits' labels
    (see `_train_and_score`); the keras.io VAE stays unconditional.

    Each run builds a fresh model after `keras.utils.set_random_seed(seed)`,
    compiles it (`AVA.compile`'s default optimizers, learning rates
    overridden by `learning_rates`, the decoder's with `use_ema=True,
    ema_momentum=decoder_ema` if given; Adam for the keras.io VAE) and trains it
    for `steps` batches drawn by a permutation seeded by `seed`, so every
    model sees the same batches. `train_seconds` times the steps after the
    first (which traces the step). A run whose losses or outputs become
    non-finite is marked `"diverged"` with its step and term, its scores left
    empty, and counted; the runs after it go on.

    Returns:
        A dict: `rows` (one dict per run), `references` (see
        `reference_scores`), `grids` ({name: images} for the PNG: held-out
        images and the first seed's samples of each model), `spectra`
        (`frequencies` and {name: radially averaged power} of the held-out
        images and the first seed's samples) and `config`.
    """
    from ava_keras.evaluation import radial_power_spectrum
    from ava_keras.models.training import DEFAULT_OPTIMIZERS, ema_options

    labels = None
    if conditional:
        train, train_labels, held_out, held_out_labels = load_data(dataset, labels=True)
        labels = {"train": train_labels, "held_out": held_out_labels}
    else:
        train, held_out = load_data(dataset, image_size or DEFAULT_CROP_SIZE)
    say = progress or (lambda *a, **k: None)
    scorer = Scorer(dataset, held_out, classifier_cache, say)
    samples = samples or len(train)
    references = reference_scores(scorer, train, samples)
    models = ((BASELINE,) if baseline else ()) + tuple(presets)
    grids = {"held-out images": held_out[:GRID_IMAGES]}
    frequencies, held_out_power = radial_power_spectrum(held_out)
    spectra = {"frequencies": frequencies.tolist(), "power": {"held-out images": held_out_power.tolist()}}
    rows, optimizers, start, total = [], {}, time.time(), len(models) * len(seeds)
    network = {k: list(v) if isinstance(v, tuple) else v for k, v in NETWORK.items()}
    for name in models:
        for seed in seeds:
            model = build_model(name, seed, train.shape[1:], paper_settings, model_options, precision,
                                networks, discriminator, 10 if conditional and name != BASELINE else None)
            if name != BASELINE:
                model.compile(decoder_optimizer=DEFAULT_OPTIMIZERS["decoder"](**ema_options(decoder_ema)))
                for block, rate in learning_rates.items():
                    if getattr(model, f"{block}_optimizer") is not None:
                        getattr(model, f"{block}_optimizer").learning_rate = rate
                optimizers.update({b: _describe_optimizer(getattr(model, f"{b}_optimizer")) for b in BLOCKS
                                   if getattr(model, f"{b}_optimizer") is not None})
                if networks == "scaled":
                    network = _describe_networks(model)
            row, generated = _train_and_score(model, name, seed, steps, batch_size, samples, train, scorer, say,
                                              labels if name != BASELINE else None)
            rows.append(row)
            if seed == seeds[0] and generated is not None:
                grids[name] = generated[:GRID_IMAGES]
                spectra["power"][name] = radial_power_spectrum(generated)[1].tolist()
            say(
                f"[{len(rows)}/{total}] {name} seed={seed}: "
                + (
                    f"FID {row['fid']:.2f} (prior {row['fid_prior']:.2f}), KID {row['kid']:.4f}, "
                    f"P/R {row['precision']:.2f}/{row['recall']:.2f}, MSE {row['mse']:.4f}, SSIM {row['ssim']:.3f}, "
                    f"HF ratio {row['hf_ratio']:.3f} (rec. {row['hf_ratio_rec']:.3f}), blur {row['blur']:.3f}"
                    + (f", label acc. {row['label_accuracy']:.3f}, intra-FID {row['intra_fid']:.2f}"
                       if row["label_accuracy"] != "" else "")
                    if row["status"] == "ok"
                    else f"DIVERGED at step {row['diverged_at_step']} ({row['diverged_term']})"
                )
                + f" ({row['train_seconds']:.0f} s training; "
                f"ETA {eta_minutes(start, len(rows), total):.1f} min)",
                flush=True,
            )
    config = {
        "image_shape": list(train.shape[1:]),
        "data": (
            f"ava_keras.evaluation.digits_split(): {len(train)} training and {len(held_out)} held-out digits, "
            "28x28x1 (bicubic from 8x8), split seed 0"
            if dataset == "digits"
            else f"ava_keras.datasets.photo_crops(): {len(train)} training crops (seed 0) and {len(held_out)} "
            f"held-out crops (seed 1), {train.shape[1]}x{train.shape[2]}x3 from scikit-image's photographs shrunk "
            f"{CROP_COVERAGE // train.shape[1]}x"
        ),
        "features": "digit classifier" if dataset == "digits" else "RandomFeatures(seed=0)",
        "network": network,
        "optimizers": optimizers,
        "samples_per_model": samples,
    }
    if scorer.classifier is not None:
        config["classifier"] = {"path": scorer.classifier.path,
                                "held_out_accuracy": scorer.classifier.held_out_accuracy}
    return {"rows": rows, "references": references, "grids": grids, "spectra": spectra, "config": config}


def _describe_networks(model):
    """The sizes of `model`'s networks, for the record of a run with scaled networks."""
    described = {"latent_dim": int(model.latent_dim)}
    for block in BLOCKS:
        network = getattr(model, block)
        if network is not None:
            config = network.get_config()
            described[block] = {"class": type(network).__name__, **{
                k: config[k] for k in ("filters", "units", "hidden_units", "normalization", "upsampling") if k in config
            }}
    return described


def _describe_optimizer(optimizer):
    config = optimizer.get_config()
    keys = ("learning_rate", "beta_1") + (("ema_momentum",) if config.get("use_ema") else ())
    return {"class": type(optimizer).__name__, **{k: config[k] for k in keys if k in config}}


def _train_and_score(model, name, seed, steps, batch_size, n, train, scorer, say, labels=None):
    """Trains `model` for `steps` batches and scores `n` samples; returns `(row, samples or None)`.

    With `labels` (`{"train": ..., "held_out": ...}`, a class-conditional
    model) the model trains on `(images, labels)` batches, reconstructs each
    held-out digit given its label, fits one latent mixture per digit and
    draws the samples for the digits 0, 1, ..., 9, 0, 1, ... in turn.
    """
    import numpy as np

    batches = shuffled_batches(train, batch_size, seed, None if labels is None else labels["train"])
    run = train_steps(model, batches, steps, say, label=f"{name} seed={seed}")
    if run.diverged_at is None and name != BASELINE:
        model.finalize_variable_values()  # as `fit` ends: a decoder with `use_ema=True` takes its average
    scores, samples = {key: "" for key, _, _ in METRICS}, None
    requested = None if labels is None else np.arange(n) % 10
    held_out_labels, train_labels = (None, None) if labels is None else (labels["held_out"], labels["train"])
    if run.diverged_at is None:
        # float32 for the scorer whatever the model's dtype policy.
        reconstructions = np.asarray(model.reconstruct(scorer.held_out, held_out_labels), dtype="float32")
        sample_labels = {} if labels is None else {"labels": requested}
        prior_samples = np.asarray(model.sample(n, seed=seed, **sample_labels), dtype="float32")
        if name != BASELINE:
            model.fit_latent_sampler(train, train_labels, seed=seed)
            samples = np.asarray(model.sample(n, seed=seed, **sample_labels), dtype="float32")
        else:
            samples = prior_samples
        if all(np.all(np.isfinite(a)) for a in (reconstructions, prior_samples, samples)):
            scores.update(scorer(samples, reconstructions))
            if labels is not None:
                scores.update(scorer.class_scores(samples, requested, train, train_labels))
            # The keras.io VAE's samples are its prior samples: their FID is already scored.
            scores["fid_prior"] = scores["fid"] if samples is prior_samples else scorer.fid(prior_samples)
        else:
            run.diverged(steps, "samples or reconstructions")
            samples = None
    scores["train_seconds"] = round(run.seconds, 2)
    row = {"model": name, "seed": seed, "steps": steps, "batch_size": batch_size,
           "status": run.status, **run.divergence_columns()}
    if run.diverged_at is not None:
        scores.update({key: "" for key, _, _ in METRICS if key != "train_seconds"})
    tail = run.losses[-max(1, steps // 10):]
    row.update(scores, final_loss=float(np.mean(tail)) if tail else "")
    return row, samples
