"""ava_keras: Adversarial Variational Autoencoders (Nguyen, 2023) for Keras 3."""

import os as _os

_backend = _os.environ.get("KERAS_BACKEND", "tensorflow")
if _backend != "tensorflow":
    raise ImportError(
        f"ava_keras needs the TensorFlow backend of Keras, but KERAS_BACKEND={_backend!r}. "
        "Set KERAS_BACKEND=tensorflow (or unset it) before importing ava_keras."
    )

import keras as _keras  # noqa: E402

if _keras.backend.backend() != "tensorflow":
    raise ImportError(
        f"ava_keras needs the TensorFlow backend of Keras, but Keras uses "
        f"{_keras.backend.backend()!r} (from ~/.keras/keras.json). Set "
        "KERAS_BACKEND=tensorflow before importing ava_keras."
    )

from ava_keras import callbacks, data, datasets, evaluation, layers, losses  # noqa: E402
from ava_keras import saving  # noqa: E402
from ava_keras.export import export_saved_model  # noqa: E402
from ava_keras.models.ava import AVA  # noqa: E402
from ava_keras.models.presets import PRESETS  # noqa: E402
from ava_keras.version import __version__  # noqa: E402

__all__ = [
    "AVA",
    "PRESETS",
    "callbacks",
    "data",
    "datasets",
    "evaluation",
    "export_saved_model",
    "layers",
    "losses",
    "saving",
    "__version__",
]
