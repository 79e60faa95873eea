"""The `ava-keras` command line: train on a folder or a bundled dataset, then sample,
reconstruct, export and inspect the trained model.

Arguments are parsed and checked before TensorFlow is imported, so `--help`
and mistakes are answered at once. A user error (a bad argument, bad input
found by ava_keras's checks, a missing file or optional dependency) prints one
line, `ava-keras: error: ...`, and exits with status 2. Any other exception is
a bug: it prints one line and exits with status 1. Set `AVA_KERAS_DEBUG=1` to
see the traceback of either. A `train` run whose loss goes non-finite (usually a
learning rate too high for the data) saves the model as it was before that
step, as Ctrl-C does, and also exits with status 2.
"""

import argparse
import contextlib
import csv
import importlib
import importlib.util
import json
import math
import os
import sys
import warnings
import zipfile

import numpy as np

from ava_keras.constants import BLOCKS, GENERATOR_LOSSES, LIKELIHOODS, PRECISIONS, RESIZE_MODES, ROUTINGS, STRATEGIES
from ava_keras.constants import DISCRIMINATORS, NETWORKS
from ava_keras.constants import PRESET_NAMES as PRESETS
from ava_keras.errors import InputError, MissingDependencyError

# Defaults per data source. Digits: the quality benchmark's setting (28x28,
# latent 16; docs/quality.md), 20 epochs of ~28 steps, about the benchmark's
# 600 steps, so `ava-keras train --dataset digits` ends in minutes on two CPU cores.
DATASETS = {
    "digits": {"image_size": 28, "channels": 1, "batch_size": 64, "latent_dim": 16, "epochs": 20},
    "photos": {"image_size": 64, "channels": 3, "batch_size": 32, "latent_dim": 32, "epochs": 10},
}
FOLDER_DEFAULTS = {"image_size": 64, "channels": 3, "batch_size": 32, "latent_dim": 32, "epochs": 10}
# The default networks halve the image twice (stride-2 convolutions); above
# MAX_SIDE the encoder's dense layer alone has over 33 million weights.
MIN_SIDE, MAX_SIDE = 4, 256
EXPERIMENTS = ("anomaly", "paper", "quality")
EXIT_INTERNAL, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
MODEL_FILE, EXPORT_DIR, GRID_DIR = "model.keras", "saved_model", "grids"
HISTORY_FILE, LOSS_PLOT = "history.json", "loss.png"


class UsageError(Exception):
    """A mistake in the command line: reported in one line, exit status 2."""


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends "(default: X)" to help texts that do not already state a default."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


# === Argument types (each raises a one-line message) ===


def _int_at_least(lowest):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < lowest:
            raise argparse.ArgumentTypeError(f"must be at least {lowest}, got {value}")
        return value

    return parse


def _float_in(low, high, inclusive_low):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        above = value >= low if inclusive_low else value > low
        if not (above and value < high and math.isfinite(value)):
            bracket = "[" if inclusive_low else "("
            raise argparse.ArgumentTypeError(f"must be in {bracket}{low}, {high}), got {text}")
        return value

    return parse


def _image_size(text):
    parts = text.lower().split("x")
    try:
        sides = tuple(int(p) for p in parts)
    except ValueError:
        sides = ()
    if len(sides) == 1:
        sides = sides * 2
    if len(sides) != 2:
        raise argparse.ArgumentTypeError(f"expected SIZE or HEIGHTxWIDTH such as 64 or 48x64, got {text!r}")
    if not all(MIN_SIDE <= s <= MAX_SIDE for s in sides):
        raise argparse.ArgumentTypeError(
            f"{text!r}: each side must be between {MIN_SIDE} (the networks halve the image "
            f"twice) and {MAX_SIDE} (larger images make the dense layers too big); resize your images"
        )
    return sides


# === Parser ===


def build_parser():
    """Returns the `ava-keras` argument parser (no TensorFlow import)."""
    parser = _Parser(
        prog="ava-keras",
        description="Adversarial Variational Autoencoders (AVA1-AVA5, Nguyen 2023) with Keras 3.",
        epilog="Run 'ava-keras COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    defaults = _Formatter

    train = commands.add_parser(
        "train",
        formatter_class=defaults,
        help="train a model on a folder of images or a bundled dataset",
        description="Train an AVA model on every image under DIR (searched recursively) or on a "
        "bundled dataset, showing a progress bar per epoch. Writes OUT/model.keras, "
        "OUT/saved_model/ (SavedModel), OUT/grids/epoch_NNN.png (reconstructions and "
        "samples after every epoch), OUT/grids/final.png (samples from the latent mixture "
        "fitted after training), OUT/loss.png and OUT/history.json. Ctrl-C stops "
        "training and saves the model trained so far.",
    )
    train.add_argument("directory", nargs="?", metavar="DIR", help="folder of images (PNG, JPEG, BMP, GIF, WebP, TIFF)")
    train.add_argument("--dataset", choices=tuple(DATASETS), help="train on a bundled dataset instead of DIR")
    train.add_argument("--preset", choices=PRESETS, default="ava5", help="model variant")
    train.add_argument("--routing", choices=ROUTINGS, default="joint",
                       help="gradient routing: 'joint' (each block minimises eq. 3/12 through every path) "
                       "or 'paper' (the paper's update rules)")
    train.add_argument("--likelihood", choices=LIKELIHOODS, default="gaussian",
                       help="reconstruction likelihood: 'gaussian' (optimal sigma, sigma-VAE), 'bernoulli' "
                       "(binary cross-entropy) or 'paper' (eq. 1, sigma = 1)")
    train.add_argument("--generator-loss", choices=GENERATOR_LOSSES, default="non_saturating",
                       help="adversarial terms of the encoder and decoder: -log d (bounded) or the paper's "
                       "log(1 - d)")
    train.add_argument("--paper-settings", action="store_true",
                       help="the paper's exact settings (routing, likelihood and generator loss 'paper', "
                       "'paper', 'minimax'); overrides those three flags")
    train.add_argument("--networks", choices=NETWORKS, default="small",
                       help="'small' (the 28x28 networks at every size) or 'scaled' (depth, widths and latent "
                       "size follow the image size; ava_keras.build_networks) (default: small)")
    train.add_argument("--discriminator", choices=DISCRIMINATORS, default="global",
                       help="decoder discriminator: one logit per image ('global') or per patch ('patch') "
                       "(default: global)")
    train.add_argument("--image-size", type=_image_size, metavar="SIZE",
                       help="SIZE or HEIGHTxWIDTH (default: 64 for folders, 28 for digits, 64 for photos)")
    train.add_argument("--channels", type=int, choices=(1, 3),
                       help="1 (grayscale) or 3 (RGB) (default: 3 for folders, 1 for digits, 3 for photos)")
    train.add_argument("--resize", choices=RESIZE_MODES, default="crop",
                       help="fit images to the size: central crop, stretch, or pad with black")
    train.add_argument("--latent-dim", type=_int_at_least(1),
                       help="size of the latent vector z (default: 32, 16 for digits; with --networks "
                       "scaled, from the image size)")
    train.add_argument("--epochs", type=_int_at_least(1), help="passes over the data (default: 10, 20 for digits)")
    train.add_argument("--batch-size", type=_int_at_least(1),
                       help="images per step (default: 32, 64 for digits; for a bundled dataset smaller "
                       "than this, the whole dataset)")
    train.add_argument("--optimizer", choices=("adam", "sgd"), default="adam", help="optimizer of every block")
    train.add_argument("--learning-rate", type=_float_in(0, math.inf, False), default=1e-3,
                       help="learning rate of the encoder and decoder")
    train.add_argument("--discriminator-learning-rate", type=_float_in(0, math.inf, False), default=2e-4,
                       help="learning rate of both discriminators")
    train.add_argument("--validation-split", type=_float_in(0, 1, True), default=0.0,
                       help="fraction of the images held out for validation (0: none)")
    train.add_argument("--seed", type=int, default=0, help="seed of weights, noise, shuffling and the split")
    train.add_argument("--samples", type=_int_at_least(0), default=16,
                       help="sampled images in each per-epoch grid")
    train.add_argument("--out", metavar="DIR", help="output folder (default: saved_models/<data>-<preset>)")
    train.add_argument("--overwrite", action="store_true", help="replace the outputs of an earlier run in OUT")
    train.add_argument("--log-dir", metavar="DIR", help="also write TensorBoard scalars and sample images here")
    train.add_argument("--strict", action="store_true", help="stop on an unreadable image instead of skipping it")
    train.add_argument("--cache", choices=("auto", "memory", "stream"), default="auto",
                       help="DIR's decoded images: held in memory, or decoded again every epoch (stream); auto "
                       "streams when they would take more than half the available memory")
    train.add_argument("--cache-file", metavar="FILE",
                       help="decode DIR once into this on-disk cache instead (overrides --cache)")
    train.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                       help="0: silent, 1: progress bar, 2: one line per epoch")
    train.add_argument("--precision", choices=PRECISIONS, default="float32",
                       help="dtype policy: mixed_float16 for NVIDIA GPUs with tensor cores (loss-scaled), "
                       "mixed_bfloat16 for TPUs, recent GPUs and CPUs with AMX or AVX512-BF16; weights and "
                       "losses stay float32")
    train.add_argument("--strategy", choices=STRATEGIES, default="none",
                       help="tf.distribute strategy: mirrored = every local GPU, multiworker = the cluster in "
                            "TF_CONFIG (docs/distributed.md); --batch-size is the global batch")
    train.add_argument("--strategy-timeout", type=_float_in(0, math.inf, False), default=300, metavar="SECONDS",
                       help="multiworker: how long to wait for the other workers at start and in each all-reduce")

    sample = commands.add_parser("sample", formatter_class=defaults, help="draw new images from a trained model",
                                 description="Decode N latent draws and save them as one PNG grid. The draws come from the "
                                 "latent mixture fitted after training (N(0, I) for a model without one).")
    sample.add_argument("model", metavar="MODEL", help="a .keras file written by 'ava-keras train'")
    sample.add_argument("-n", "--num", type=_int_at_least(1), default=64, help="number of images")
    sample.add_argument("--out", default="samples.png", help="output PNG file")
    sample.add_argument("--seed", type=int, default=0, help="the same seed gives the same images")
    sample.add_argument("--columns", type=_int_at_least(1), help="images per row (default: about sqrt(N))")

    reconstruct = commands.add_parser(
        "reconstruct", formatter_class=defaults, help="reconstruct every image of a folder",
        description="Encode and decode every image under DIR, resized to the model's image size, and "
        "write g(mu(x)) as PNG files with the same relative names under OUT.",
    )
    reconstruct.add_argument("model", metavar="MODEL", help="a .keras file written by 'ava-keras train'")
    reconstruct.add_argument("directory", metavar="DIR", help="folder of images to reconstruct")
    reconstruct.add_argument("--out", required=True, metavar="DIR2", help="output folder")
    reconstruct.add_argument("--resize", choices=RESIZE_MODES, default="crop", help="how to fit images to the size")

    _add_score_parser(commands)

    export = commands.add_parser("export", formatter_class=defaults, help="export a TensorFlow SavedModel",
                                 description="Write a SavedModel with endpoints serve, encode, decode, "
                                 "reconstruct, generate and discriminate (see ava_keras.export_saved_model).")
    export.add_argument("model", metavar="MODEL", help="a .keras file written by 'ava-keras train'")
    export.add_argument("outdir", metavar="OUTDIR", help="output folder")
    export.add_argument("--overwrite", action="store_true", help="replace a non-empty OUTDIR")
    export.add_argument("--tflite", action="store_true",
                        help="write TensorFlow Lite files instead: OUTDIR/<endpoint>.tflite, one per endpoint, "
                        "builtin ops only (see ava_keras.export_tflite)")

    info = commands.add_parser("info", formatter_class=defaults, help="describe a trained model",
                               description="Print the variant, shapes, parameter counts and optimizers of MODEL.")
    info.add_argument("model", metavar="MODEL", help="a .keras file")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")

    experiment = commands.add_parser(
        "experiment", help="reproduce an experiment of the paper",
        description="Run a published experiment; 'ava-keras experiment paper --help' lists its options.",
    )
    experiment.add_argument("name", choices=EXPERIMENTS, help="experiment to run")
    experiment.add_argument("arguments", nargs=argparse.REMAINDER, help="options of the experiment")

    bench = commands.add_parser(
        "bench", help="measure training throughput, FLOP/s, memory and the input pipeline",
        description="Benchmark VAE and AVA1-AVA5 steps ('ava-keras bench --help' lists the options), or the "
        "input pipeline on 10k-200k files ('ava-keras bench data-scale --help').",
        add_help=False,
    )
    bench.add_argument("arguments", nargs=argparse.REMAINDER, help="options of the benchmark")
    return parser


def _add_score_parser(commands):
    score = commands.add_parser(
        "score", formatter_class=_Formatter, help="rank the images of a folder by how anomalous they are",
        description="Score every readable image under DIR, resized to the model's image size: reconstruction "
        "error, KL term, realism d(x) and latent realism D(mu(x)) (where the model has them) and the combined "
        "anomaly score (model.anomaly_scores; docs/anomaly.md). Writes a CSV with one row per image, most "
        "anomalous first, and optionally a grid of the most and least anomalous images.",
    )
    score.add_argument("model", metavar="MODEL", help="a .keras file written by 'ava-keras train'")
    score.add_argument("directory", metavar="DIR", help="folder of images to score (searched recursively)")
    score.add_argument("--out", default="scores.csv", help="output CSV file")
    score.add_argument("--grid", metavar="PNG", help="also write the most anomalous images (top rows) and the "
                       "least anomalous (bottom rows) to this PNG")
    score.add_argument("--resize", choices=RESIZE_MODES, default="crop", help="how to fit images to the size")


def _check_score(args):
    _check_image_dir(args.directory)
    for flag, path in (("--out", args.out), ("--grid", args.grid)):
        if path and os.path.isdir(path):
            raise UsageError(f"{flag} {path!r} is a folder; pass a file name")


# === Checks before TensorFlow ===


def _check_output_path(path, flag):
    if path and os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"{flag} {path!r} is a file; pass a folder")


def _check_model_file(path):
    if not os.path.exists(path):
        raise UsageError(f"model file not found: {path!r}")
    if os.path.isdir(path):
        hint = " (that is a SavedModel export; pass the .keras file)" if os.path.exists(
            os.path.join(path, "saved_model.pb")) else ""
        raise UsageError(f"{path!r} is a folder, not a .keras model file{hint}")
    if not zipfile.is_zipfile(path):
        raise UsageError(f"{path!r} is not a .keras model file (not a zip archive); pass the model.keras "
                         "written by 'ava-keras train'")


def _check_image_dir(path):
    from ava_keras.data.image_folder import find_image_files  # Pillow and numpy only

    if not find_image_files(path):  # raises FileNotFoundError / NotADirectoryError naming the path
        raise UsageError(f"no image files found in {path!r} (looked recursively for PNG, JPEG, BMP, GIF, "
                         "WebP and TIFF)")


def _check_train(args):
    if (args.directory is None) == (args.dataset is None):
        raise UsageError("give a folder of images (ava-keras train DIR) or a bundled dataset "
                         f"(--dataset {'|'.join(DATASETS)}), not both or neither")
    defaults = DATASETS[args.dataset] if args.dataset else FOLDER_DEFAULTS
    args.image_size = args.image_size or (defaults["image_size"],) * 2
    args.channels = args.channels or defaults["channels"]
    args.batch_size = args.batch_size or defaults["batch_size"]
    args.latent_dim = args.latent_dim or (defaults["latent_dim"] if args.networks == "small" else None)
    args.epochs = args.epochs or defaults["epochs"]
    if args.directory is not None:
        _check_image_dir(args.directory)
    name = args.dataset or os.path.basename(os.path.normpath(os.path.abspath(args.directory)))
    args.out = args.out or os.path.join("saved_models", f"{name}-{args.preset}")
    _check_output_path(args.out, "--out")
    _check_output_path(args.log_dir, "--log-dir")
    if args.log_dir and importlib.util.find_spec("tensorboard") is None:
        raise UsageError("--log-dir needs TensorBoard, which is not installed: pip install tensorboard")
    if args.strategy == "multiworker":
        from ava_keras.distribute import read_tf_config  # pure Python

        read_tf_config()  # a ValueError naming what is wrong with TF_CONFIG
    if os.path.exists(os.path.join(args.out, MODEL_FILE)) and not args.overwrite:
        raise UsageError(f"{os.path.join(args.out, MODEL_FILE)!r} exists; pass --overwrite to replace it "
                         "or --out to write elsewhere")


def _check(args):
    if args.command == "train":
        _check_train(args)
    elif args.command in ("sample", "reconstruct", "export", "info", "score"):
        _check_model_file(args.model)
    if args.command == "score":
        _check_score(args)
    if args.command == "sample" and os.path.isdir(args.out):
        raise UsageError(f"--out {args.out!r} is a folder; pass a PNG file name such as grid.png")
    if args.command == "reconstruct":
        _check_image_dir(args.directory)
        _check_output_path(args.out, "--out")
    if args.command == "export":
        _check_output_path(args.outdir, "OUTDIR")


# === Commands (TensorFlow is imported from here on) ===


def _load_tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import ava_keras

    ava_keras.load_all()
    return ava_keras


def _bundled_images(args):
    ak = _load_tensorflow()
    if args.dataset == "digits":
        images = ak.datasets.load_digits(image_size=args.image_size)
        return images if args.channels == 1 else images.repeat(3, axis=-1)
    return ak.datasets.load_photos(image_size=args.image_size, channels=args.channels, resize=args.resize)


def _training_data(args):
    """Returns `(train, validation or None, reference images, fit kwargs)`."""
    ak = _load_tensorflow()
    split = args.validation_split or None
    if args.directory is not None:
        cache = args.cache_file or {"auto": "auto", "memory": True, "stream": False}[args.cache]
        data = ak.data.image_folder(
            args.directory, args.image_size, batch_size=args.batch_size, channels=args.channels,
            validation_split=split, seed=args.seed, resize=args.resize, strict=args.strict, cache=cache,
            verbose=args.verbose, shard=ak.distribute.worker_shard() if args.strategy == "multiworker" else None,
        )
        train, validation = data if split else (data, None)
        if args.strategy == "multiworker":  # a shard's length is unknown: Keras warns at its end, as expected
            warnings.filterwarnings("ignore", message="Your input ran out of data")
        reference, _, _ = ak.data.read_images(train.file_paths[:8], args.image_size, args.channels, args.resize)
        if reference is None:  # the first files broke after the check: any readable ones will do
            reference = next(iter(train.unbatch().batch(8))).numpy() * 255.0
        print(f"Found {len(train.file_paths) + (len(validation.file_paths) if validation else 0)} images "
              f"in {args.directory!r}" + (f" ({len(train.skipped_files)} skipped)" if train.skipped_files else ""))
        # The dataset reshuffles itself every epoch.
        return train, validation, reference.astype("float32") / 255.0, {"shuffle": False}
    images = _bundled_images(args)
    order = np.random.default_rng(args.seed).permutation(len(images))
    n_val = max(1, round(split * len(images))) if split else 0
    train, validation = images[order[n_val:]], (images[order[:n_val]] if n_val else None)
    batch_size = min(args.batch_size, len(train))
    print(f"Dataset {args.dataset!r}: {len(train)} training images"
          + (f", {n_val} validation images" if n_val else "") + f", batch size {batch_size}")
    return train, validation, train[:8], {"batch_size": batch_size, "shuffle": True}


def _compile(model, args):
    import keras

    def optimizer(rate, beta_1=0.9):
        # Adam's beta_1 = 0.5 for the discriminators, as in AVA.compile's defaults.
        if args.optimizer == "sgd":
            return keras.optimizers.SGD(rate)
        return keras.optimizers.Adam(rate, beta_1=beta_1)

    model.compile(
        encoder_optimizer=optimizer(args.learning_rate),
        decoder_optimizer=optimizer(args.learning_rate),
        discriminator_optimizer=optimizer(args.discriminator_learning_rate, beta_1=0.5),
        latent_discriminator_optimizer=optimizer(args.discriminator_learning_rate, beta_1=0.5),
    )


def _start_strategy(ak, args):
    """The strategy of --strategy; a start failure (e.g. an unreachable worker) is a one-line error."""
    import tensorflow as tf

    try:
        strategy = ak.distribute.make_strategy(args.strategy, timeout=args.strategy_timeout)
    except (RuntimeError, tf.errors.OpError) as error:
        raise UsageError(f"--strategy {args.strategy} could not start: {error}") from None
    if args.strategy == "multiworker":  # every worker saves; only the chief's files are kept
        args.out = ak.distribute.output_dir(args.out)
        args.log_dir = args.log_dir and ak.distribute.output_dir(args.log_dir)
    return strategy


def _train(args):
    ak = _load_tensorflow()
    import keras

    strategy = _start_strategy(ak, args)  # before any TensorFlow op
    train, validation, reference, fit_kwargs = _training_data(args)
    keras.utils.set_random_seed(args.seed)
    with strategy.scope():  # variables and the optimizers (built by compile) live on every replica
        settings = ak.PAPER_SETTINGS if args.paper_settings else {
            "routing": args.routing, "likelihood": args.likelihood, "generator_loss": args.generator_loss}
        model = ak.AVA.from_preset(args.preset, image_shape=tuple(args.image_size) + (args.channels,),
                                   networks=args.networks, discriminator=args.discriminator,
                                   latent_dim=args.latent_dim, seed=args.seed, dtype=args.precision, **settings)
        _compile(model, args)
    os.makedirs(args.out, exist_ok=True)
    model_path = os.path.join(args.out, MODEL_FILE)
    arguments = {k: v for k, v in vars(args).items() if k != "func"}
    recorder = ak.callbacks.HistoryFile(os.path.join(args.out, HISTORY_FILE), os.path.join(args.out, LOSS_PLOT),
                                        arguments)
    grids = ak.callbacks.SampleGrid(os.path.join(args.out, GRID_DIR), images=reference, num_samples=args.samples,
                                    seed=args.seed, log_dir=args.log_dir)
    callbacks = [recorder, grids]
    if args.log_dir:
        callbacks.append(keras.callbacks.TensorBoard(args.log_dir, write_graph=False))
    print(f"Training {args.preset} ({model.routing} routing, {model.likelihood} likelihood, {model.generator_loss} "
          f"generator loss, {args.precision}) on {args.image_size[0]}x{args.image_size[1]}x"
          f"{args.channels} images for {args.epochs} epoch(s); outputs in {args.out}")
    try:
        model.fit(train, validation_data=validation, epochs=args.epochs, callbacks=callbacks,
                  verbose=args.verbose, **fit_kwargs)
    except KeyboardInterrupt:
        model.save(model_path)
        recorder.write(interrupted=True)
        done = len(recorder.history.get("loss", []))
        print(f"\nInterrupted after {done} complete epoch(s). Saved the model trained so far to {model_path} "
              f"(history in {os.path.join(args.out, HISTORY_FILE)}); export it with "
              f"'ava-keras export {model_path} OUTDIR'.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except FloatingPointError as error:  # diverged; the model kept its last finite weights
        model.save(model_path)
        recorder.write(interrupted=True)
        print(f"ava-keras: error: {error} Saved the model as it was before that step to {model_path}.",
              file=sys.stderr)
        return EXIT_USAGE  # usually a learning rate too high for the data: a user error
    log_likelihood = model.fit_latent_sampler(train, seed=args.seed)
    model.fit_anomaly_scores(train)  # `ava-keras score` and the `score` endpoint standardise on these images
    final_grid = grids.write("final", step=args.epochs + 1)
    print(f"Fitted a {model.latent_sampler_components}-component Gaussian mixture to the training means "
          f"(mean log-likelihood {log_likelihood:.1f}); samples now come from it: {final_grid}")
    model.save(model_path)
    export_path = ak.export_saved_model(model, os.path.join(args.out, EXPORT_DIR), overwrite=True)
    print(f"Saved {model_path}, SavedModel {export_path}, grids in {os.path.join(args.out, GRID_DIR)}, "
          f"{os.path.join(args.out, LOSS_PLOT)} and {os.path.join(args.out, HISTORY_FILE)}")
    return 0


def _load_model(path, compile=False):
    ak = _load_tensorflow()
    return ak.saving.load_model(path, compile=compile)


def _sample(args):
    ak = _load_tensorflow()
    model = _load_model(args.model)
    images = model.sample(args.num, seed=args.seed)
    path = ak.callbacks.sample_grid.save_image_grid(images, args.out, columns=args.columns, min_tile=64)
    print(f"Wrote {args.num} samples to {path}")
    return 0


def _read_folder(ak, directory, model, resize):
    """`(uint8 images, their paths)`: every readable image under `directory` at the model's image shape.

    Unreadable files are skipped with the warning `train` gives (`ak.data.warn_unreadable`).
    """
    height, width, channels = model.image_shape
    paths = ak.data.find_image_files(directory)
    images, good, bad = ak.data.read_images(paths, (height, width), channels, resize)
    if bad:
        ak.data.warn_unreadable(directory, bad)
    if not good:
        raise InputError(f"None of the {len(paths)} image files in {directory!r} could be read.")
    return images, good


def _reconstruct(args):
    ak = _load_tensorflow()
    model = _load_model(args.model)
    images, good = _read_folder(ak, args.directory, model, args.resize)
    reconstructions = model.reconstruct(images.astype("float32") / 255.0)
    names = [os.path.splitext(os.path.relpath(p, args.directory))[0] + ".png" for p in good]
    ak.datasets.write_image_folder(reconstructions, args.out, names=names)
    print(f"Wrote {len(good)} reconstructions to {args.out}")
    return 0


GRID_EXTREMES = 8  # images per end of the `score --grid` picture


def _score(args):
    ak = _load_tensorflow()
    model = _load_model(args.model)
    images, good = _read_folder(ak, args.directory, model, args.resize)
    if not model.anomaly_scorer.is_fitted:
        warnings.warn(f"{args.model} has no anomaly statistics (model.fit_anomaly_scores was not run): the "
                      "anomaly column is the reconstruction error alone")
    scores = model.anomaly_scores(images)
    order = np.argsort(-scores["anomaly"], kind="stable")
    names = ["anomaly"] + [name for name in scores if name != "anomaly"]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["file"] + names)
        for i in order:
            writer.writerow([os.path.relpath(good[i], args.directory)] + [f"{scores[n][i]:.6g}" for n in names])
    print(f"Scored {len(good)} image(s); wrote {args.out} (most anomalous first: "
          f"{os.path.relpath(good[order[0]], args.directory)}, anomaly {scores['anomaly'][order[0]]:.3g})")
    if args.grid:
        count = min(GRID_EXTREMES, max(1, len(good) // 2))
        extremes = np.concatenate([images[order[:count]], images[order[::-1][:count]]])
        path = ak.callbacks.sample_grid.save_image_grid(extremes, args.grid, columns=count, min_tile=64)
        print(f"Wrote the {count} most anomalous (top) and {count} least anomalous (bottom) images to {path}")
    return 0


def _export(args):
    ak = _load_tensorflow()
    if args.tflite:
        files = ak.export_tflite(_load_model(args.model), args.outdir, overwrite=args.overwrite)
        print(f"Exported {len(files)} TFLite files to {args.outdir}: {', '.join(map(os.path.basename, files.values()))}")
        return 0
    path = ak.export_saved_model(_load_model(args.model), args.outdir, overwrite=args.overwrite)
    print(f"Exported SavedModel to {path}")
    return 0


def describe_model(model):
    """Returns a JSON-ready dict describing an AVA model."""
    blocks = {}
    for block in BLOCKS:
        network = getattr(model, block)
        if network is None:
            continue
        optimizer = getattr(model, f"{block}_optimizer", None)
        blocks[block] = {
            "parameters": int(sum(math.prod(v.shape) for v in network.trainable_variables)),
            "optimizer": None if optimizer is None else {
                "class": type(optimizer).__name__,
                "learning_rate": float(optimizer.learning_rate),
                "iterations": int(optimizer.iterations),
            },
        }
    return {
        "class": type(model).__name__,
        "preset": model.preset,
        "variant": model.variant,
        "routing": model.routing,
        "generator_loss": model.generator_loss,
        "image_shape": list(model.image_shape),
        "latent_dim": int(model.latent_dim),
        "loss_weights": dict(model.loss_weights_config),
        "blocks": blocks,
    }


def _info(args):
    _load_tensorflow()
    description = {"file": args.model, **describe_model(_load_model(args.model, compile=True))}
    if args.json:
        print(json.dumps(description, indent=2))
        return 0
    print(f"{description['file']}: {description['class']} preset={description['preset']} "
          f"routing={description['routing']} generator_loss={description['generator_loss']}")
    print(f"  image shape {tuple(description['image_shape'])}, latent dim {description['latent_dim']}")
    print("  switches: " + ", ".join(f"{k}={'on' if v else 'off'}" for k, v in description["variant"].items()))
    for block, facts in description["blocks"].items():
        opt = facts["optimizer"]
        trained = f", {opt['class']} lr={opt['learning_rate']:g} after {opt['iterations']} steps" if opt else ""
        print(f"  {block}: {facts['parameters']:,} parameters{trained}")
    return 0


def _run_module(module_name, prog, arguments):
    """Parses `arguments` with the module's `add_arguments`, then calls its `run`."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:  # a module it imports is missing: a bug, not a usage error
            raise
        raise UsageError(f"{prog!r} is not available in this installation ({error})") from None
    parser = _Parser(prog=prog, description=module.__doc__, formatter_class=_Formatter)
    module.add_arguments(parser)
    options = parser.parse_args(arguments)
    _load_tensorflow()
    return module.run(options)


def _experiment(args):
    return _run_module(f"ava_keras.experiments.{args.name}", f"ava-keras experiment {args.name}", args.arguments)


def _bench(args):
    if args.arguments[:1] == ["data-scale"]:
        return _run_module("ava_keras.benchmarks.data_scale", "ava-keras bench data-scale", args.arguments[1:])
    return _run_module("ava_keras.benchmarks.train_throughput", "ava-keras bench", args.arguments)


COMMANDS = {"train": _train, "sample": _sample, "reconstruct": _reconstruct, "score": _score, "export": _export,
            "info": _info, "experiment": _experiment, "bench": _bench}
# What the checks raise, and files the user named that are missing or not writable.
_USER_ERRORS = (UsageError, InputError, MissingDependencyError, FileNotFoundError, NotADirectoryError,
                IsADirectoryError, FileExistsError, PermissionError)


@contextlib.contextmanager
def _one_line_warnings():
    """Shows warnings as one `ava-keras: warning: ...` line each."""
    with warnings.catch_warnings():
        warnings.showwarning = lambda message, category, *rest, **kw: print(
            f"ava-keras: warning: {message}", file=sys.stderr)
        yield


def main(argv=None):
    """Runs the `ava-keras` command line; returns the exit status."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if argv[:1] == ["bench"]:  # all of bench's options, --help included, belong to the benchmark
            args = argparse.Namespace(command="bench", arguments=argv[1:], version=False)
        else:
            args = parser.parse_args(argv)
        if args.version:
            from ava_keras.version import __version__

            print(f"ava-keras {__version__}")
            return 0
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        _check(args)
        with _one_line_warnings():
            return COMMANDS[args.command](args)
    except SystemExit as stop:  # --help
        return stop.code if isinstance(stop.code, int) else 0
    except KeyboardInterrupt:  # outside training (which saves the model itself)
        print("\nava-keras: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        if os.environ.get("AVA_KERAS_DEBUG"):
            raise
        message = " ".join(str(error).split())
        if isinstance(error, _USER_ERRORS):
            print(f"ava-keras: error: {message or type(error).__name__}", file=sys.stderr)
            return EXIT_USAGE
        print(f"ava-keras: internal error: {type(error).__name__}: {message} (a bug in ava_keras; set "
              "AVA_KERAS_DEBUG=1 to see the traceback)", file=sys.stderr)
        return EXIT_INTERNAL


def __getattr__(name):
    """Names that moved out of this module, kept for one release (PEP 562)."""
    if name == "plot_history":
        warnings.warn("ava_keras.cli.plot_history moved to ava_keras.callbacks.history_file.plot_history; "
                      "the old name will be removed in the next release", DeprecationWarning, stacklevel=2)
        from ava_keras.callbacks.history_file import plot_history

        return plot_history
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    sys.exit(main())
