"""The errors ava_keras raises for bad input, missing optional dependencies and diverged training.

Imports no TensorFlow. The command line reports these (and missing or
unwritable files) in one line with exit status 2; any other exception is a
bug and exits with status 1 (see ava_keras.cli).
"""

import importlib

# Optional dependency (top-level module) -> (its pip name, the ava_keras extra that installs it).
OPTIONAL_DEPENDENCIES = {
    "sklearn": ("scikit-learn", "datasets"),
    "skimage": ("scikit-image", "datasets"),
    "matplotlib": ("matplotlib", "plots"),
    "tensorboard": ("tensorboard", "tensorboard"),
}


class InputError(ValueError):
    """Bad input found by ava_keras's checks; the message names the culprit and the fix.

    A `ValueError`, so code catching `ValueError` keeps working.
    """


class MissingDependencyError(ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class TrainingDivergedError(FloatingPointError):
    """A training step's loss terms or gradients became non-finite; the model kept its last finite weights.

    A `FloatingPointError`, so code catching that keeps working.

    Attributes:
        step: the 1-based step (optimizer iteration) that diverged.
        term: what became non-finite, e.g. `"kl term"` or
            `"squared norm of the discriminator's gradients"`.
        value: its value (`inf` or `nan`).
    """

    def __init__(self, message, step, term, value):
        super().__init__(message)
        self.step, self.term, self.value = step, term, value


def import_optional(module, needed_by):
    """Imports `module` of an optional dependency, or raises a `MissingDependencyError` naming its extra.

    Args:
        module: a module name, e.g. `"matplotlib.pyplot"` or `"sklearn.datasets"`.
        needed_by: what needs it, for the message, e.g. `"load_digits()"`.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        package, extra = OPTIONAL_DEPENDENCIES[module.split(".")[0]]
        raise MissingDependencyError(
            f"{needed_by} needs {package}, which is not installed: pip install 'ava_keras[{extra}]'"
        ) from error
