"""ava_keras: Adversarial Variational Autoencoders (Nguyen, 2023) for Keras 3.

`import ava_keras` imports no TensorFlow unless Keras is already imported:
the public names below are loaded on first use (PEP 562), all at once, which
also registers every serializable class with Keras. So `ava-keras --help`
answers at once, and `from ava_keras import *`, `ava_keras.AVA` or
`ava_keras.saving.load_model` give the full package whatever the program's
name. When Keras is already imported, everything is loaded at once (it costs
little then), so `keras.models.load_model` finds the classes; a script that
imports ava_keras first and then only calls `keras.models.load_model` calls
`ava_keras.load_all()` (or touches any public name) before it.
"""

import importlib as _importlib
import os as _os
import sys as _sys

from ava_keras.version import __version__

_backend = _os.environ.get("KERAS_BACKEND", "tensorflow")
if _backend != "tensorflow":
    raise ImportError(
        f"ava_keras needs the TensorFlow backend of Keras, but KERAS_BACKEND={_backend!r}. "
        "Set KERAS_BACKEND=tensorflow (or unset it) before importing ava_keras."
    )

# Public name -> the module that defines it (a subpackage is its own module).
_PUBLIC = {
    "AVA": "ava_keras.models.ava",
    "InputError": "ava_keras.errors",
    "TrainingDivergedError": "ava_keras.errors",
    "PAPER_SETTINGS": "ava_keras.models.presets",
    "PRESETS": "ava_keras.models.presets",
    "build_networks": "ava_keras.models.networks",
    "callbacks": "ava_keras.callbacks",
    "data": "ava_keras.data",
    "datasets": "ava_keras.datasets",
    "distribute": "ava_keras.distribute",
    "evaluation": "ava_keras.evaluation",
    "export_saved_model": "ava_keras.export",
    "export_tflite": "ava_keras.tflite",
    "layers": "ava_keras.layers",
    "losses": "ava_keras.losses",
    "saving": "ava_keras.saving",
}


_loading = False  # True while load_all runs: the submodules' own `from ava_keras import x` then import x


def load_all():
    """Imports Keras and every public name (registering the serializable classes)."""
    global _loading
    import keras

    if keras.backend.backend() != "tensorflow":
        raise ImportError(
            f"ava_keras needs the TensorFlow backend of Keras, but Keras uses "
            f"{keras.backend.backend()!r} (from ~/.keras/keras.json). Set "
            "KERAS_BACKEND=tensorflow before importing ava_keras."
        )
    _loading = True
    try:
        for name, module_name in _PUBLIC.items():
            module = _importlib.import_module(module_name)
            globals()[name] = module if module_name.endswith("." + name) else getattr(module, name)
    finally:
        _loading = False


def __getattr__(name):
    if _PUBLIC.get(name) == f"{__name__}.{name}":
        # A submodule (`from ava_keras import losses`) is imported alone, so a
        # module that the public names import can itself import it.
        return _importlib.import_module(_PUBLIC[name])
    if name in _PUBLIC and not _loading:
        load_all()
        return globals()[name]
    raise AttributeError(f"module 'ava_keras' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))


__all__ = [*_PUBLIC, "__version__"]

if _sys.modules.get("keras") is not None:  # Keras is loaded already
    load_all()
