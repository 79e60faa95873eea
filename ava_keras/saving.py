"""Loading `.keras` files of AVA models, with checks and clear error messages.

`model.save("x.keras")` and `keras.models.load_model("x.keras")` already
round-trip an `AVA` (architecture, weights, every block's optimizer state,
the variant switches and the sampling noise state) without `custom_objects`.
`load_model` adds what a command line or a server needs: it refuses, with a
`ValueError` naming the file, anything that is not an intact ava_keras model
or that was built for other images, and it always loads in `safe_mode`.

The same state goes through `keras.callbacks.ModelCheckpoint` (its `.keras`
files load with `load_model`) and `keras.callbacks.BackupAndRestore`: a run
killed mid-epoch restarts at the last finished epoch with every optimizer
and the noise state restored, and with `shuffle=False` (or a seeded order)
ends with the same weights as a run never stopped. With an integer
`save_freq`, Keras restores the mid-epoch state but reruns that epoch from
its first batch, so those batches are seen twice.
"""

import json
import os
import zipfile

import keras

from ava_keras._validation import check_image_shape
from ava_keras.errors import InputError
from ava_keras.models.ava import AVA

_AVA_REGISTERED_NAME = "ava_keras>AVA"


def read_keras_config(path):
    """Returns the model config stored in the `.keras` file at `path`.

    Checks that `path` is a complete, uncorrupted `.keras` archive (every
    member's CRC is verified, which catches truncated and damaged files)
    without building the model.

    Args:
        path: Path of a `.keras` file.

    Returns:
        The dict saved as `config.json` (keys `class_name`, `config`,
        `registered_name`, `compile_config`, ...).

    Raises:
        ValueError: if `path` does not exist, is not a `.keras` file, or is
            truncated or corrupt.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        hint = (
            " It looks like a TensorFlow SavedModel export: load it with "
            "tf.saved_model.load(path)."
            if os.path.exists(os.path.join(path, "saved_model.pb"))
            else ""
        )
        raise InputError(f"Expected a .keras file, but {path!r} is a directory.{hint}")
    if not os.path.exists(path):
        raise InputError(f"No such file: {path!r}")
    if not zipfile.is_zipfile(path):
        raise InputError(
            f"{path!r} is not a .keras file (a .keras file is a zip archive written by "
            "model.save('name.keras')). It may be truncated or of another format."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
            if damaged is not None:
                raise InputError(f"{path!r} is corrupt: member {damaged!r} fails its CRC check.")
            config = json.loads(archive.read("config.json"))
    except KeyError:
        raise InputError(f"{path!r} is a zip archive but not a .keras file: it has no config.json.") from None
    except (zipfile.BadZipFile, EOFError, OSError, json.JSONDecodeError) as error:
        raise InputError(f"{path!r} is truncated or corrupt: {error}") from error
    if not isinstance(config, dict):
        raise InputError(f"{path!r} has a malformed config.json (not a JSON object).")
    return config


def load_model(path, image_shape=None, compile=True):
    """Loads an `AVA` saved with `model.save(path)`, refusing anything else.

    Unlike `keras.models.load_model`, it checks the file before building
    anything: it must be an intact `.keras` archive holding an ava_keras
    `AVA` model and, when `image_shape` is given, that model must have been
    built for images of that shape. Deserialization always runs in Keras
    `safe_mode` (no arbitrary code from the file is run).

    Args:
        path: Path of a `.keras` file.
        image_shape: Optional `(height, width, channels)` the model must
            accept; a model saved for another shape is refused.
        compile: Whether to restore the optimizers and their state (needed
            to continue training). Defaults to `True`.

    Returns:
        The `AVA` model.

    Raises:
        ValueError: with a message naming `path`, if the file is missing,
            not a `.keras` file, truncated or corrupt, not an ava_keras
            `AVA` model, or saved with an incompatible `image_shape`.

    Example:

    >>> model.save("ava5.keras")
    >>> model = ava_keras.saving.load_model("ava5.keras", image_shape=(28, 28, 1))
    >>> model.fit(images, epochs=1)  # continues where it stopped
    """
    path = os.fspath(path)
    config = read_keras_config(path)
    registered = config.get("registered_name") or config.get("class_name")
    if registered != _AVA_REGISTERED_NAME:
        raise InputError(
            f"{path!r} holds a {registered!r} model, not an ava_keras AVA model "
            f"(registered name {_AVA_REGISTERED_NAME!r}). Load it with keras.models.load_model."
        )
    saved_shape = tuple((config.get("config") or {}).get("image_shape") or ())
    if image_shape is not None:
        image_shape = check_image_shape(image_shape)
        if saved_shape != image_shape:
            raise InputError(
                f"{path!r} holds a model built for images of shape {saved_shape}, "
                f"which is incompatible with the requested image_shape={image_shape}. "
                "Resize the data or train a model for this shape."
            )
    try:
        model = keras.saving.load_model(path, compile=compile, safe_mode=True)
    except ValueError as error:
        raise InputError(f"Could not load the AVA model in {path!r}: {error}") from error
    if not isinstance(model, AVA):  # e.g. a class registered under the same name
        raise InputError(f"{path!r} did not load as an ava_keras AVA model (got {type(model).__name__}).")
    return model
