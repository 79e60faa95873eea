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
import json
import math
import os
import re
import sys
import tempfile
import warnings

import numpy as np

from ava_keras.cli_parser import (
    HISTORY_FILE,
    LOSS_PLOT,
    MODEL_FILE,
    UsageError,
    check_arguments,
    DefaultsFormatter,
    CommandParser,
    build_parser,
)
from ava_keras._determinism import run_deterministically
from ava_keras.constants import BLOCKS, LATENT_SAMPLER_COMPONENTS
from ava_keras.data.class_folders import infer_labels
from ava_keras.errors import InputError, MissingDependencyError

EXIT_INTERNAL, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
EXPORT_DIR, GRID_DIR = "saved_model", "grids"


# === Commands (TensorFlow is imported from here on) ===


# What TensorFlow's libraries print while they load, before absl's logging starts (so whatever
# TF_CPP_MIN_LOG_LEVEL says): "I0000 00:00:1796268901.409254 3786 port.cc:153] oneDNN ..." and the like.
_TENSORFLOW_LOAD_LINE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"
    r"|[IWE]0000 \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] "
)


def _import_tensorflow_quietly():
    """Imports TensorFlow with its C++ log lines off, unless the user set `TF_CPP_MIN_LOG_LEVEL`.

    Level 3 keeps TensorFlow's C++ logging (e.g. "failed call to cuInit" on a
    machine without a GPU, or grappler's remapper declining a fusion;
    docs/design_choices.md, choice 17) off the console. The lines printed while its libraries load
    ignore that level, so they are dropped from stderr during the import;
    anything else printed then is passed on.
    """
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ or "tensorflow" in sys.modules:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    sys.stderr.flush()
    saved_stderr = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved_stderr, 2)
            os.close(saved_stderr)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not _TENSORFLOW_LOAD_LINE.match(line)))
            sys.stderr.flush()


def _load_tensorflow():
    _import_tensorflow_quietly()
    import ava_keras

    ava_keras.load_all()
    return ava_keras


def _bundled_images(args):
    """The bundled dataset's images, and their labels and class names (None, None unless --labels)."""
    ak = _load_tensorflow()
    if args.dataset == "digits":
        images, labels = ak.datasets.load_digits(image_size=args.image_size, return_labels=True)
        images = images if args.channels == 1 else images.repeat(3, axis=-1)
        return (images, labels, [str(digit) for digit in range(10)]) if args.labels else (images, None, None)
    return ak.datasets.load_photos(image_size=args.image_size, channels=args.channels, resize=args.resize), None, None


REFERENCE_IMAGES = 8  # the real images each training grid reconstructs
# `ava-keras train` flags that are `AVA` arguments of the same name, None unless given.
TRAIN_MODEL_OPTIONS = ("adversarial_weight", "decoder_adversarial_reaches_encoder", "discriminator_start_step")


def _training_data(args):
    """Returns `(train, validation or None, reference images, their labels, class names, fit kwargs)`.

    Labels and class names are None unless `--labels inferred`; then the
    datasets hold `(images, labels)` and the arrays are `(images, labels)`.
    """
    ak = _load_tensorflow()
    split = args.validation_split or None
    if args.directory is not None:
        cache = args.cache_file or {"auto": "auto", "memory": True, "stream": False}[args.cache]
        data = ak.data.image_folder(
            args.directory, args.image_size, batch_size=args.batch_size, channels=args.channels,
            validation_split=split, seed=args.seed, resize=args.resize, strict=args.strict, cache=cache,
            verbose=args.verbose, shard=ak.distribute.worker_shard() if args.strategy == "multiworker" else None,
            labels=args.labels,
        )
        train, validation = data if split else (data, None)
        if args.strategy == "multiworker":  # a shard's length is unknown: Keras warns at its end, as expected
            warnings.filterwarnings("ignore", message="Your input ran out of data")
        reference, reference_labels = _reference_images(ak, train, args)
        print(f"Found {len(train.file_paths) + (len(validation.file_paths) if validation else 0)} images "
              f"in {args.directory!r}" + (f" ({len(train.skipped_files)} skipped)" if train.skipped_files else "")
              + (f" in {len(train.class_names)} classes: {', '.join(train.class_names)}" if args.labels else ""))
        # The dataset reshuffles itself every epoch.
        return train, validation, reference, reference_labels, train.class_names, {"shuffle": False}
    images, labels, class_names = _bundled_images(args)
    order = np.random.default_rng(args.seed).permutation(len(images))
    n_val = max(1, round(split * len(images))) if split else 0
    train, validation = images[order[n_val:]], (images[order[:n_val]] if n_val else None)
    batch_size = min(args.batch_size, len(train))
    print(f"Dataset {args.dataset!r}: {len(train)} training images"
          + (f", {n_val} validation images" if n_val else "") + f", batch size {batch_size}"
          + (f", {len(class_names)} classes" if class_names else ""))
    fit_kwargs = {"batch_size": batch_size, "shuffle": True}
    if labels is None:
        return train, validation, train[:REFERENCE_IMAGES], None, None, fit_kwargs
    train_labels = labels[order[n_val:]]
    validation = (validation, labels[order[:n_val]]) if n_val else None
    return ((train, train_labels), validation, train[:REFERENCE_IMAGES], train_labels[:REFERENCE_IMAGES],
            class_names, fit_kwargs)


def _latent_sampler_components(args, train, class_names):
    """The latent mixture's components: the default, or at most the fewest training images of a class."""
    if not class_names:
        return LATENT_SAMPLER_COMPONENTS
    labels = train[1] if isinstance(train, tuple) else train.file_labels
    counts = np.bincount(labels, minlength=len(class_names))
    if counts.min() == 0:
        missing = ", ".join(name for name, count in zip(class_names, counts) if count == 0)
        raise UsageError(f"class(es) {missing} have no training images after --validation-split "
                         f"{args.validation_split}; add images to them or lower the split")
    return int(min(LATENT_SAMPLER_COMPONENTS, counts.min()))


def _reference_images(ak, train, args):
    """The first readable images of the folder `train` reads, in [0, 1], and their labels (None without)."""
    if args.labels:  # a shuffled batch: images of several classes, with their labels
        images, labels = next(iter(train.unbatch().batch(REFERENCE_IMAGES)))
        return images.numpy(), labels.numpy()
    reference, _, _ = ak.data.read_images(train.file_paths[:REFERENCE_IMAGES], args.image_size, args.channels,
                                          args.resize)
    if reference is None:  # the first files broke after the check: any readable ones will do
        return next(iter(train.unbatch().batch(REFERENCE_IMAGES))).numpy(), None
    return reference.astype("float32") / 255.0, None


def _compile(model, args):
    import keras

    from ava_keras.models.training import DISCRIMINATOR_BETA_1, ema_options

    def optimizer(rate, beta_1=0.9, **options):
        if args.optimizer == "sgd":
            return keras.optimizers.SGD(rate, **options)
        return keras.optimizers.Adam(rate, beta_1=beta_1, **options)

    model.compile(
        encoder_optimizer=optimizer(args.learning_rate),
        decoder_optimizer=optimizer(args.learning_rate, **ema_options(args.decoder_ema)),
        discriminator_optimizer=optimizer(args.discriminator_learning_rate, beta_1=DISCRIMINATOR_BETA_1),
        latent_discriminator_optimizer=optimizer(args.discriminator_learning_rate, beta_1=DISCRIMINATOR_BETA_1),
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

    if args.paper_settings and args.adversarial_weight not in (None, 1.0):
        raise UsageError(f"--adversarial-weight {args.adversarial_weight:g} conflicts with --paper-settings, "
                         "whose weights are 1; drop one of the two flags.")
    run_deterministically(args.deterministic)  # before any TensorFlow op
    strategy = _start_strategy(ak, args)  # before any TensorFlow op
    train, validation, reference, reference_labels, class_names, fit_kwargs = _training_data(args)
    keras.utils.set_random_seed(args.seed)
    with strategy.scope():  # variables and the optimizers (built by compile) live on every replica
        settings = dict(ak.PAPER_SETTINGS if args.paper_settings else {
            "routing": args.routing, "likelihood": args.likelihood, "generator_loss": args.generator_loss})
        # The options left unset keep the AVA defaults (--adversarial-weight: checked against the paper's above).
        settings.update({name: getattr(args, name) for name in TRAIN_MODEL_OPTIONS if getattr(args, name) is not None})
        model = ak.AVA.from_preset(args.preset, image_shape=tuple(args.image_size) + (args.channels,),
                                   networks=args.networks, discriminator=args.discriminator,
                                   adaptive_adversarial_weight=args.adaptive_adversarial_weight,
                                   latent_dim=args.latent_dim, seed=args.seed, dtype=args.precision,
                                   class_names=class_names,
                                   latent_sampler_components=_latent_sampler_components(args, train, class_names),
                                   **settings)
        _compile(model, args)
    os.makedirs(args.out, exist_ok=True)
    model_path = os.path.join(args.out, MODEL_FILE)
    arguments = {k: v for k, v in vars(args).items() if k != "func"}
    recorder = ak.callbacks.HistoryFile(os.path.join(args.out, HISTORY_FILE), os.path.join(args.out, LOSS_PLOT),
                                        arguments)
    grids = ak.callbacks.SampleGrid(os.path.join(args.out, GRID_DIR), images=reference, labels=reference_labels,
                                    num_samples=args.samples, seed=args.seed, log_dir=args.log_dir)
    callbacks = [recorder, grids]
    if args.log_dir:
        callbacks.append(keras.callbacks.TensorBoard(args.log_dir, write_graph=False))
    print(f"Training {args.preset} ({model.routing} routing, {model.likelihood} likelihood, {model.generator_loss} "
          f"generator loss, {args.precision}) on {args.image_size[0]}x{args.image_size[1]}x"
          f"{args.channels} images" + (f" of {model.num_classes} classes" if model.conditional else "")
          + f" for {args.epochs} epoch(s); outputs in {args.out}")
    fit_inputs = dict(zip(("x", "y"), train)) if isinstance(train, tuple) else {"x": train}
    try:
        model.fit(**fit_inputs, validation_data=validation, epochs=args.epochs, callbacks=callbacks,
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
    images, labels = train if isinstance(train, tuple) else (train, None)
    log_likelihood = model.fit_latent_sampler(images, labels, seed=args.seed)
    model.fit_anomaly_scores(images, labels)  # `ava-keras score` and the `score` endpoint standardise on these
    final_grid = grids.write("final", step=args.epochs + 1)
    print(f"Fitted a {model.latent_sampler_components}-component Gaussian mixture to the training means"
          + (" of each class" if model.conditional else "")
          + f" (mean log-likelihood {log_likelihood:.1f}); samples now come from it: {final_grid}")
    model.save(model_path)
    export_path = ak.export_saved_model(model, os.path.join(args.out, EXPORT_DIR), overwrite=True)
    print(f"Saved {model_path}, SavedModel {export_path}, grids in {os.path.join(args.out, GRID_DIR)}, "
          f"{os.path.join(args.out, LOSS_PLOT)} and {os.path.join(args.out, HISTORY_FILE)}")
    return 0


def _load_model(path, compile=False):
    ak = _load_tensorflow()
    return ak.saving.load_model(path, compile=compile)


SAMPLES, SAMPLES_PER_CLASS = 64, 8  # the defaults of `sample -n`


def _class_names(model):
    """The model's classes as text: its class names, or the indices 0..K-1 of a model without names."""
    return list(model.class_names or map(str, range(model.num_classes)))


def _require_conditional(model, where):
    if not model.conditional:
        raise UsageError(f"{where} needs a class-conditional model, and this one is not (train one with "
                         "'ava-keras train DIR --labels inferred')")


def _class_index(model, text, where):
    """The class index of `text` (`model.class_index`), `where` naming the flag or folder it came from."""
    _require_conditional(model, where)
    try:
        return model.class_index(text)
    except InputError as error:
        raise UsageError(f"{where}: {error}") from None


def _sample(args):
    ak = _load_tensorflow()
    model = _load_model(args.model)
    save_grid = ak.callbacks.sample_grid.save_image_grid
    if model.conditional and args.label is None:  # one row per class, the same latent draws in every row
        if args.columns:
            raise UsageError("--columns does not apply to the one-row-per-class grid of a class-conditional "
                             "model (-n sets the images per row); pass --label CLASS for a grid of one class")
        per_class = args.num or SAMPLES_PER_CLASS
        images = np.concatenate([model.sample(per_class, seed=args.seed, labels=k) for k in range(model.num_classes)])
        path = save_grid(images, args.out, columns=per_class, min_tile=64)
        print(f"Wrote {per_class} samples of each of the {model.num_classes} classes to {path}, one row per "
              f"class: {', '.join(_class_names(model))}")
        return 0
    label = None if args.label is None else _class_index(model, args.label, f"--label {args.label}")
    num = args.num or SAMPLES
    path = save_grid(model.sample(num, seed=args.seed, labels=label), args.out, columns=args.columns, min_tile=64)
    print(f"Wrote {num} samples" + ("" if label is None else f" of class {_class_names(model)[label]!r}")
          + f" to {path}")
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


def _folder_labels(args, model, paths):
    """The labels of the images `paths` under `args.directory` for `model` (None for an unconditional model).

    `--label CLASS` gives every image that class; `--labels inferred`, each
    image its top-level sub-folder's class, the sub-folders named as the
    model's classes. A class-conditional model needs one of them.
    """
    if args.label is not None:
        return np.full(len(paths), _class_index(model, args.label, f"--label {args.label}"), "int32")
    if args.labels is None:
        if model.conditional:
            raise UsageError(
                f"{args.model!r} is class-conditional ({', '.join(_class_names(model))}): pass --label CLASS to "
                f"{args.command} every image as that class, or --labels inferred with DIR holding one sub-folder "
                "per class, named as the model's classes")
        return None
    _require_conditional(model, "--labels inferred")
    kept, labels, folders = infer_labels(args.directory, paths)
    if len(kept) < len(paths):
        raise UsageError(f"--labels inferred: {len(paths) - len(kept)} image(s) lie directly in "
                         f"{args.directory!r}, in no class; move them into a class sub-folder")
    indices = [_class_index(model, folder, f"--labels inferred: sub-folder {folder!r} of {args.directory!r}")
               for folder in folders]
    return np.asarray(indices, "int32")[labels]


def _reconstruct(args):
    ak = _load_tensorflow()
    model = _load_model(args.model)
    images, good = _read_folder(ak, args.directory, model, args.resize)
    labels = _folder_labels(args, model, good)
    reconstructions = model.reconstruct(images.astype("float32") / 255.0, labels)
    names = [os.path.splitext(os.path.relpath(p, args.directory))[0] + ".png" for p in good]
    ak.datasets.write_image_folder(reconstructions, args.out, names=names)
    print(f"Wrote {len(good)} reconstructions to {args.out}")
    return 0


GRID_EXTREMES = 8  # images per end of the `score --grid` picture


def _score(args):
    ak = _load_tensorflow()
    model = _load_model(args.model)
    images, good = _read_folder(ak, args.directory, model, args.resize)
    labels = _folder_labels(args, model, good)
    if not model.anomaly_scorer.is_fitted:
        warnings.warn(f"{args.model} has no anomaly statistics (model.fit_anomaly_scores was not run): the "
                      "anomaly column is the reconstruction error alone")
    scores = model.anomaly_scores(images, labels)
    order = np.argsort(-scores["anomaly"], kind="stable")
    names = ["anomaly"] + [name for name in scores if name != "anomaly"]
    classes = None if labels is None else np.asarray(_class_names(model))[labels]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["file"] + ["class"] * (classes is not None) + names)
        for i in order:
            writer.writerow([os.path.relpath(good[i], args.directory)] + ([classes[i]] if classes is not None else [])
                            + [f"{scores[n][i]:.6g}" for n in names])
    print(f"Scored {len(good)} image(s)" + ("" if labels is None else ", each under its class")
          + f"; wrote {args.out} (most anomalous first: "
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
        files = ak.export_tflite(
            _load_model(args.model), args.outdir, overwrite=args.overwrite, max_generate=args.max_generate
        )
        print(f"Exported {len(files)} TFLite files to {args.outdir}: {', '.join(map(os.path.basename, files.values()))}")
        return 0
    path = ak.export_saved_model(
        _load_model(args.model), args.outdir, overwrite=args.overwrite, max_generate=args.max_generate
    )
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
        "num_classes": model.num_classes,
        "class_names": None if model.class_names is None else list(model.class_names),
        "blocks": blocks,
    }


def _info(args):
    _load_tensorflow()
    model = _load_model(args.model, compile=True)
    description = {"file": args.model, **describe_model(model)}
    if args.json:
        print(json.dumps(description, indent=2))
        return 0
    print(f"{description['file']}: {description['class']} preset={description['preset']} "
          f"routing={description['routing']} generator_loss={description['generator_loss']}")
    print(f"  image shape {tuple(description['image_shape'])}, latent dim {description['latent_dim']}")
    if description["num_classes"]:
        print(f"  class-conditional, {description['num_classes']} classes: {', '.join(_class_names(model))}")
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
    parser = CommandParser(prog=prog, description=module.__doc__, formatter_class=DefaultsFormatter)
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
        check_arguments(args)
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


if __name__ == "__main__":
    sys.exit(main())
