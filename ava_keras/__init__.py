"""ava_keras: Adversarial Variational Autoencoders (Nguyen, 2023) for Keras 3."""

import os as _os

_backend = _os.environ.get("KERAS_BACKEND", "tensorflow")
if _backend != "tensorflow":
    raise ImportError(
        f"ava_keras needs the TensorFlow backend of Keras, but KERAS_BACKEND={_backend!r}. "
        "Set KERAS_BACKEND=tensorflow (or unset it) before importing ava_keras."
    )

import sys as _sys  # noqa: E402


def _load_all():
    """Imports Keras and every submodule (registering the serializable classes)."""
    global AVA, PAPER_SETTINGS, PRESETS, callbacks, data, datasets, distribute, evaluation, export_saved_model
    global export_tflite, layers, losses, saving
    import keras as _keras

    if _keras.backend.backend() != "tensorflow":
        raise ImportError(
            f"ava_keras needs the TensorFlow backend of Keras, but Keras uses "
            f"{_keras.backend.backend()!r} (from ~/.keras/keras.json). Set "
            "KERAS_BACKEND=tensorflow before importing ava_keras."
        )

    from ava_keras import callbacks, data, datasets, distribute, evaluation, layers, losses
    from ava_keras import saving
    from ava_keras.export import export_saved_model
    from ava_keras.tflite import export_tflite
    from ava_keras.models.ava import AVA
    from ava_keras.models.presets import PAPER_SETTINGS, PRESETS

    global benchmarks
    from ava_keras import benchmarks


# The `ava-keras` console script answers `--help` and argument errors before
# paying for the TensorFlow import; it calls `_load_all()` once its arguments
# are valid. Every other import of ava_keras loads everything at once.
if not (_sys.argv and _os.path.basename(_sys.argv[0]).startswith("ava-keras")):
    _load_all()

from ava_keras.version import __version__  # noqa: E402

__all__ = [
    "AVA",
    "PAPER_SETTINGS",
    "PRESETS",
    "benchmarks",
    "callbacks",
    "data",
    "datasets",
    "distribute",
    "evaluation",
    "export_saved_model",
    "export_tflite",
    "layers",
    "losses",
    "saving",
    "__version__",
]
