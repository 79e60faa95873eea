"""The run skeleton the experiments share: seeded model state, a training loop that records a diverging run
as data (so a sweep goes on), progress and the CSV of runs.

Imports no TensorFlow at the top, so experiment modules answer `--help` at once.
"""

import csv
import dataclasses
import math
import time

from ..constants import BLOCKS
from ..errors import TrainingDivergedError


def capture_state(model):
    """Numpy copies of an AVA's weights and noise-generator state, for `restore_state`."""
    return {"weights": [v.numpy() for v in model.weights], "noise": model.sampling.seed_generator.state.numpy()}


def restore_state(model, state, learning_rate=None):
    """Puts `state` (from `capture_state` of a model built alike) into `model` and resets its optimizers.

    Every built optimizer restarts from scratch: step counter 0 and every
    slot (momentum, Adam's moments, ...) 0, the state these optimizers start
    from; with `learning_rate`, each block's learning rate is set to it.
    """
    for variable, value in zip(model.weights, state["weights"]):
        variable.assign(value)
    model.sampling.seed_generator.state.assign(state["noise"])
    for block in BLOCKS:
        optimizer = getattr(model, f"{block}_optimizer")
        if optimizer is None:
            continue
        if learning_rate is not None:
            optimizer.learning_rate = learning_rate
        for variable in optimizer.variables:
            if variable.name != "learning_rate":  # the step counter and the slots
                variable.assign(variable.numpy() * 0)


def shuffled_batches(images, batch_size, seed, labels=None):
    """Yields batches of `images` forever: consecutive slices of permutations drawn with `seed`.

    With `labels`, yields `(images, labels)` pairs of the same slices.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    order = np.empty(0, dtype=int)
    while True:
        if len(order) < batch_size:
            order = np.concatenate([order, rng.permutation(len(images))])
        rows, order = order[:batch_size], order[batch_size:]
        yield images[rows] if labels is None else (images[rows], labels[rows])


@dataclasses.dataclass
class TrainingRun:
    """What `train_steps` ran: the loss of every finished step and, if a step diverged, which and where.

    Attributes:
        losses: the loss of every step that finished.
        seconds: wall time of the steps after the first (which traces the step function).
        diverged_at: the 1-based step that diverged, or None.
        term: what became non-finite at that step (e.g. `"kl term"`), or `""`.
    """

    losses: list
    seconds: float
    diverged_at: int | None = None
    term: str = ""

    @property
    def status(self):
        return "ok" if self.diverged_at is None else "diverged"

    def diverged(self, step, term):
        """Marks the run diverged at `step` on `term`; returns the run."""
        self.diverged_at, self.term = step, term
        return self

    def describe_divergence(self):
        return f"DIVERGED at step {self.diverged_at} ({self.term})"

    def divergence_columns(self):
        """The `diverged_at_step` and `diverged_term` columns of a run's CSV row."""
        return {"diverged_at_step": "" if self.diverged_at is None else self.diverged_at,
                "diverged_term": self.term}


def train_steps(model, batches, steps, progress=None, label=""):
    """Runs `model.train_on_batch` on `steps` batches (images, or `(images, labels)` pairs) from the iterator
    `batches`; stops at divergence.

    A step diverges when the model's divergence stop raises a
    `TrainingDivergedError` (the model then keeps its weights from before
    that step), or, with `safety_checks=False`, when a logged value is NaN or
    infinite. Either way the run is returned as data, marked diverged, so a
    sweep goes on with its next run. With `progress` (e.g. `print`), the
    mean loss is reported five times during the run.

    Returns:
        A `TrainingRun`.
    """
    run = TrainingRun(losses=[], seconds=0.0)
    report_every = max(1, steps // 5)
    for step in range(steps):
        batch = next(batches)
        step_start = time.time()
        try:
            logs = model.train_on_batch(*(batch if isinstance(batch, tuple) else (batch,)), return_dict=True)
        except TrainingDivergedError as error:
            return run.diverged(step + 1, error.term)
        values = {k: float(v) for k, v in logs.items()}
        run.seconds += (time.time() - step_start) if step else 0.0
        run.losses.append(values["loss"])
        non_finite = [k for k, v in values.items() if not math.isfinite(v)]
        if non_finite:
            return run.diverged(step + 1, f"{non_finite[0]} term")
        if progress is not None and (step + 1) % report_every == 0 and step + 1 < steps:
            recent = run.losses[-report_every:]
            progress(f"    {label} step {step + 1}/{steps}: loss {sum(recent) / len(recent):.2f}", flush=True)
    return run


def eta_minutes(start, done, total):
    """Minutes left for `total - done` runs at the average pace since `start` (a `time.time()`)."""
    return (time.time() - start) / done * (total - done) / 60


def write_csv(path, rows):
    """Writes `rows` (dicts with the same keys) as a CSV with a header; returns `path`."""
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path
