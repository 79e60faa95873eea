"""Helpers shared by the experiments: argument types, statistics, machine facts, output folder.

Imports no TensorFlow, so experiment modules can answer `--help` at once.
"""

import argparse
import math
import os
import platform

BLOCKS = ("encoder", "decoder", "discriminator", "latent_discriminator")


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


PRESETS = ("vae", "ava1", "ava2", "ava3", "ava4", "ava5")  # ava_keras.models.presets.PRESETS


def preset_list(text):
    """argparse type: comma-separated preset names, e.g. vae,ava5."""
    names = tuple(name.strip().lower() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in PRESETS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"must be comma-separated presets from {', '.join(PRESETS)}, got {text!r}")
    return names


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
        raise ValueError(f"`--out` must be a folder. Received: out={out!r}, an existing file")
    os.makedirs(out, exist_ok=True)
    return out


def train_for_steps(model, train, steps, batch_size, seed, say, name):
    """Trains `model` on `steps` batches of `train` drawn by a permutation seeded by `seed`.

    Every model given the same `seed` sees the same batches. Reports the mean
    loss five times through `say`; stops at the first non-finite logged value.

    Returns:
        `(losses, diverged_at, seconds)`: the loss of every step run, the
        1-based step at which training diverged (None if it did not), and the
        training time of the steps after the first (which traces the step).
    """
    import time

    import numpy as np

    rng = np.random.default_rng(seed)
    order, losses, diverged_at = np.empty(0, dtype=int), [], None
    report_every = max(1, steps // 5)
    seconds = 0.0
    for step in range(steps):
        if len(order) < batch_size:
            order = np.concatenate([order, rng.permutation(len(train))])
        batch, order = train[order[:batch_size]], order[batch_size:]
        step_start = time.time()
        logs = model.train_on_batch(batch, return_dict=True)
        values = {k: float(v) for k, v in logs.items()}
        seconds += (time.time() - step_start) if step else 0.0
        losses.append(values["loss"])
        if not all(math.isfinite(v) for v in values.values()):
            diverged_at = step + 1
            break
        if (step + 1) % report_every == 0 and step + 1 < steps:
            say(f"    {name} seed={seed} step {step + 1}/{steps}: loss {np.mean(losses[-report_every:]):.2f}",
                flush=True)
    return losses, diverged_at, seconds
