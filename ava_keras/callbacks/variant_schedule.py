"""Callback that moves an AVA model between variants during `fit`."""

import keras

from ava_keras.constants import SWITCHES
from ava_keras.errors import InputError
from ava_keras.models.presets import get_switches


class VariantSchedule(keras.callbacks.Callback):
    """Switches an `AVA` model's variant on a schedule of epochs or batches.

    The switches are non-trainable variables read by the traced
    `train_step`, so a change takes effect at the next batch without
    retracing (compare `keras.callbacks.LearningRateScheduler`).

    Args:
        schedule: Dict mapping a step (epoch index, or global batch index when
            `unit="batch"`) to a preset name (`"vae"`, `"ava1"` ... `"ava5"`)
            or a dict of switches. Step 0 sets the variant the run starts with.
        unit: `"epoch"` (default) or `"batch"`.
        verbose: 1 prints a line at each switch.

    Example:

    >>> model = ava_keras.AVA.from_preset("ava5", image_shape=(28, 28, 1))
    >>> model.compile()
    >>> model.fit(images, epochs=10, callbacks=[VariantSchedule({0: "vae", 5: "ava5"})])
    """

    def __init__(self, schedule, unit="epoch", verbose=0):
        super().__init__()
        if unit not in ("epoch", "batch"):
            raise InputError(f"`unit` must be 'epoch' or 'batch'. Received: unit={unit!r}")
        if not isinstance(schedule, dict) or not schedule:
            raise InputError(f"`schedule` must be a non-empty dict. Received: schedule={schedule!r}")
        for step, variant in schedule.items():
            if isinstance(step, bool) or not isinstance(step, int) or step < 0:
                raise InputError(f"Schedule keys must be non-negative integers. Received: {step!r}")
            if isinstance(variant, str):
                get_switches(variant)
            elif not isinstance(variant, dict) or set(variant) - set(SWITCHES):
                raise InputError(
                    f"Schedule values must be preset names or dicts of switches {SWITCHES}. "
                    f"Received: {variant!r}"
                )
        self.schedule = dict(schedule)
        self.unit = unit
        self.verbose = verbose
        self._batches_seen = 0

    def _apply(self, step):
        if step in self.schedule:
            self.model.set_variant(self.schedule[step])
            if self.verbose:
                print(f"\nVariantSchedule: {self.unit} {step}: variant -> {self.schedule[step]}")

    def on_train_begin(self, logs=None):
        # Fail before the first batch if a scheduled variant needs a missing block.
        for step, variant in self.schedule.items():
            try:
                self.model.check_variant(variant)
            except ValueError as error:
                raise InputError(f"VariantSchedule step {step}: {error}") from None

    def on_epoch_begin(self, epoch, logs=None):
        if self.unit == "epoch":
            self._apply(epoch)

    def on_train_batch_begin(self, batch, logs=None):
        if self.unit == "batch":
            self._apply(self._batches_seen)
            self._batches_seen += 1
