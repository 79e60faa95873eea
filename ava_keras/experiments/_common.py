"""Helpers shared by the experiments: argument types, statistics, machine facts, output folder.

Imports no TensorFlow, so experiment modules can answer `--help` at once.
"""

import argparse
import math
import os
import platform

from ..constants import BLOCKS  # noqa: F401 (the experiments import it from here)
from ..constants import PRESET_NAMES as PRESETS
from ..errors import InputError


def positive_int(text):
    """argparse type: an integer ≥ 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def positive_float(text):
    """argparse type: a finite number > 0."""
    value = float(text)
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def preset_list(text):
    """argparse type: comma-separated preset names, e.g. vae,ava5."""
    names = tuple(name.strip().lower() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in PRESETS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"must be comma-separated presets from {', '.join(PRESETS)}, got {text!r}")
    return names


def add_budget_arguments(parser, presets, quick_presets, seeds, steps, quick_steps, batch_size):
    """Adds `--presets`, `--seeds`, `--steps` (None: the default, or the `--quick` value) and `--batch-size`."""
    parser.add_argument(
        "--presets", type=preset_list, default=None,
        help=f"Comma-separated presets (default {','.join(presets)}; {','.join(quick_presets)} with --quick).",
    )
    parser.add_argument(
        "--seeds", type=positive_int, default=None,
        help=f"Number of seeds (0, 1, ...) per model (default {seeds}; 1 with --quick).",
    )
    parser.add_argument(
        "--steps", type=positive_int, default=None,
        help=f"Training steps per run, the budget (default {steps}; {quick_steps} with --quick).",
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=batch_size, help=f"Images per step (default {batch_size})."
    )


def machine():
    """Platform, processor, CPU count and Python version, for the record of a run."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }


def sample_sd(values):
    """Sample standard deviation (ddof 1); NaN for fewer than two values."""
    n = len(values)
    if n < 2:
        return float("nan")
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def make_out_dir(out):
    """Creates the output folder `out`; raises a ValueError if it is an existing file."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise InputError(f"`--out` must be a folder. Received: out={out!r}, an existing file")
    os.makedirs(out, exist_ok=True)
    return out


def finite_or_none(value):
    """JSON-safe copy: tuples become lists, NaN and infinities become null."""
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
