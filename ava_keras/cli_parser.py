"""The `ava-keras` argument parser and its checks: everything the command line
decides before TensorFlow is imported (`ava_keras.cli` runs the commands).

A mistake raises `UsageError`, which `ava_keras.cli.main` prints in one line.
"""

import argparse
import importlib.util
import math
import os
import zipfile

from ava_keras.constants import GENERATOR_LOSSES, LIKELIHOODS, PRECISIONS, RESIZE_MODES, ROUTINGS, STRATEGIES
from ava_keras.constants import DISCRIMINATORS, NETWORKS
from ava_keras.constants import PRESET_NAMES as PRESETS
from ava_keras.data.class_folders import LABEL_MODES
from ava_keras.models.network_sizes import resolve_networks

# Defaults per data source. Digits: the quality benchmark's setting (28x28,
# latent 16; docs/quality.md), 20 epochs of ~28 steps, about the benchmark's
# 600 steps, so `ava-keras train --dataset digits` ends in minutes on two CPU cores.
# Folders: 30 epochs, ~1,400 steps of 32 on 1,500 images at 64x64 with the scaled
# networks (the README's own-folder recipe gives its time and grid).
DATASETS = {
    "digits": {"image_size": 28, "channels": 1, "batch_size": 64, "latent_dim": 16, "epochs": 20},
    "photos": {"image_size": 64, "channels": 3, "batch_size": 32, "latent_dim": 32, "epochs": 10},
}
FOLDER_DEFAULTS = {"image_size": 64, "channels": 3, "batch_size": 32, "latent_dim": 32, "epochs": 30}
# The default networks halve the image twice (stride-2 convolutions); above
# MAX_SIDE the encoder's dense layer alone has over 33 million weights.
MIN_SIDE, MAX_SIDE = 4, 256
EXPERIMENTS = ("anomaly", "paper", "quality")
MODEL_FILE = "model.keras"
HISTORY_FILE, LOSS_PLOT = "history.json", "loss.png"


class UsageError(Exception):
    """A mistake in the command line: reported in one line, exit status 2."""


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends "(default: X)" to help texts that do not already state a default."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class CommandParser(argparse.ArgumentParser):
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


def add_decoder_ema_argument(parser):
    """Adds `--decoder-ema MOMENTUM` (`ava-keras train` and `experiment quality`): None unless given."""
    parser.add_argument(
        "--decoder-ema", type=_float_in(0, 1, False), metavar="MOMENTUM",
        help="keep an exponential moving average of the decoder's weights at this momentum (the decoder "
             "optimizer's use_ema=True, ema_momentum=MOMENTUM); the decoder becomes it at the end of training. "
             "No bias correction: 0.99 suits hundreds of steps, 0.999 thousands (default: off)",
    )


def add_decoder_adversarial_reaches_encoder_argument(parser):
    """Adds `--[no-]decoder-adversarial-reaches-encoder` (`train` and `experiment quality`): None unless given."""
    parser.add_argument(
        "--decoder-adversarial-reaches-encoder", action=argparse.BooleanOptionalAction, default=None,
        help="in joint routing, the encoder also minimises the decoder's adversarial term A_d; --no-... keeps A_d "
             "off the encoder, as Larsen et al. (2016) do (default: on)",
    )


def add_discriminator_start_step_argument(parser):
    """Adds `--discriminator-start-step N` (`ava-keras train` and `experiment quality`): None unless given."""
    parser.add_argument(
        "--discriminator-start-step", type=_int_at_least(0), metavar="N", default=None,
        help="train as a VAE for the decoder's first N steps, then add the adversarial and leaning terms and "
             "start updating the discriminators (AVA `discriminator_start_step`; default: 0)",
    )


def add_deterministic_argument(parser):
    """Adds `--deterministic` (`ava-keras train` and `experiment quality`): off unless given."""
    parser.add_argument(
        "--deterministic", action="store_true",
        help="repeat a run bit for bit on the same machine and library versions: TensorFlow's op determinism "
             "and every op on one thread (slower where the cores are free)",
    )


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
    parser = CommandParser(
        prog="ava-keras",
        description="Adversarial Variational Autoencoders (AVA1-AVA5, Nguyen 2023) with Keras 3.",
        epilog="Run 'ava-keras COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
    defaults = DefaultsFormatter

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
    train.add_argument("--labels", choices=[mode for mode in LABEL_MODES if mode], help="train a class-conditional model: 'inferred' makes "
                       "each sub-folder of DIR a class, named after it (the bundled digits: their digit, 0-9); "
                       "'sample --label' then asks for a class")
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
    train.add_argument("--networks", choices=NETWORKS, default="auto",
                       help="'small' (the 28x28 networks at every size), 'scaled' (depth, widths and latent "
                       "size follow the image size; ava_keras.build_networks) or 'auto', small up to 32 pixels a "
                       "side and scaled above (default: auto)")
    train.add_argument("--discriminator", choices=DISCRIMINATORS, default="global",
                       help="decoder discriminator: one logit per image ('global') or per patch ('patch') "
                       "(default: global)")
    train.add_argument("--adaptive-adversarial-weight", action="store_true",
                       help="scale the decoder's adversarial term by the ratio of the reconstruction and "
                       "adversarial gradient norms at the decoder's last layer (Esser et al. 2021); with "
                       "--discriminator patch, the sharpest 64x64 setting in docs/quality.md")
    train.add_argument("--adversarial-weight", type=_float_in(0, math.inf, True),
                       help="weight of the adversarial terms A_d and A_D (eqs. 3, 12); with "
                       "--adaptive-adversarial-weight it multiplies the adaptive weight (default: 1; "
                       "--paper-settings fixes it at 1)")
    train.add_argument("--image-size", type=_image_size, metavar="SIZE",
                       help="SIZE or HEIGHTxWIDTH (default: 64 for folders, 28 for digits, 64 for photos)")
    train.add_argument("--channels", type=int, choices=(1, 3),
                       help="1 (grayscale) or 3 (RGB) (default: 3 for folders, 1 for digits, 3 for photos)")
    train.add_argument("--resize", choices=RESIZE_MODES, default="crop",
                       help="fit images to the size: central crop, stretch, or pad with black")
    train.add_argument("--latent-dim", type=_int_at_least(1),
                       help="size of the latent vector z (default: 32, 16 for digits; with scaled networks, "
                       "the default above 32 pixels, from the image size)")
    train.add_argument("--epochs", type=_int_at_least(1),
                       help="passes over the data (default: 30 for folders, 20 for digits, 10 for photos)")
    train.add_argument("--batch-size", type=_int_at_least(1),
                       help="images per step (default: 32, 64 for digits; for a bundled dataset smaller "
                       "than this, the whole dataset)")
    train.add_argument("--optimizer", choices=("adam", "sgd"), default="adam", help="optimizer of every block")
    train.add_argument("--learning-rate", type=_float_in(0, math.inf, False), default=1e-3,
                       help="learning rate of the encoder and decoder")
    train.add_argument("--discriminator-learning-rate", type=_float_in(0, math.inf, False), default=2e-4,
                       help="learning rate of both discriminators")
    add_decoder_ema_argument(train)
    add_decoder_adversarial_reaches_encoder_argument(train)
    add_discriminator_start_step_argument(train)
    add_deterministic_argument(train)
    train.add_argument("--validation-split", type=_float_in(0, 1, True), default=0.0,
                       help="fraction of the images held out for validation (0: none)")
    train.add_argument("--seed", type=int, default=0, help="seed of weights, noise, shuffling and the split")
    train.add_argument("--samples", type=_int_at_least(0), default=16,
                       help="sampled images in each per-epoch grid (for a model trained on labels: one row "
                       "per class instead; 0: none)")
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
    sample.add_argument("-n", "--num", type=_int_at_least(1),
                        help="number of images (default: 64; per class for the one-row-per-class grid: 8)")
    sample.add_argument("--out", default="samples.png", help="output PNG file")
    sample.add_argument("--seed", type=int, default=0, help="the same seed gives the same images")
    sample.add_argument("--columns", type=_int_at_least(1), help="images per row (default: about sqrt(N))")
    sample.add_argument("--label", metavar="CLASS",
                        help="class-conditional model: draw this class (a class name, or an index if no class "
                        "has that name); without it, one row of N images per class (N default 8)")

    reconstruct = commands.add_parser(
        "reconstruct", formatter_class=defaults, help="reconstruct every image of a folder",
        description="Encode and decode every image under DIR, resized to the model's image size, and "
        "write g(mu(x)) as PNG files with the same relative names under OUT.",
    )
    reconstruct.add_argument("model", metavar="MODEL", help="a .keras file written by 'ava-keras train'")
    reconstruct.add_argument("directory", metavar="DIR", help="folder of images to reconstruct")
    reconstruct.add_argument("--out", required=True, metavar="DIR2", help="output folder")
    reconstruct.add_argument("--resize", choices=RESIZE_MODES, default="crop", help="how to fit images to the size")
    _add_label_arguments(reconstruct, "reconstruct")

    _add_score_parser(commands)

    export = commands.add_parser("export", formatter_class=defaults, help="export a TensorFlow SavedModel",
                                 description="Write a SavedModel with endpoints serve, encode, decode, "
                                 "reconstruct, generate and discriminate (see ava_keras.export_saved_model); "
                                 "a class-conditional model's endpoints also take a label input.")
    export.add_argument("model", metavar="MODEL", help="a .keras file written by 'ava-keras train'")
    export.add_argument("outdir", metavar="OUTDIR", help="output folder")
    export.add_argument("--overwrite", action="store_true", help="replace a non-empty OUTDIR")
    export.add_argument("--max-generate", type=int, metavar="N",
                        help="the largest n the generate endpoint accepts (default: as many images as the "
                        "decoder's tensors for them fit in 1 GiB; see ava_keras.export_saved_model)")
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
        "score", formatter_class=DefaultsFormatter, help="rank the images of a folder by how anomalous they are",
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
    _add_label_arguments(score, "score")


def _add_label_arguments(command, verb):
    """The labels of DIR's images for a class-conditional model: --labels inferred or --label CLASS."""
    labels = command.add_mutually_exclusive_group()
    labels.add_argument("--labels", choices=[mode for mode in LABEL_MODES if mode],
                        help=f"class-conditional model: {verb} each image as a member of its sub-folder's class "
                        "(the sub-folders are named as the model's classes)")
    labels.add_argument("--label", metavar="CLASS",
                        help=f"class-conditional model: {verb} every image as a member of this class (a class "
                        "name, or an index if no class has that name)")


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
    args.networks = resolve_networks(args.networks, *args.image_size)
    args.latent_dim = args.latent_dim or (defaults["latent_dim"] if args.networks == "small" else None)
    args.epochs = args.epochs or defaults["epochs"]
    if args.directory is not None:
        _check_image_dir(args.directory)
    if args.labels and args.dataset == "photos":
        raise UsageError("--labels inferred needs labelled images: a DIR with one sub-folder per class, or "
                         "--dataset digits; the bundled photos have no classes")
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


def check_arguments(args):
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
