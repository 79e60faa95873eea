"""Callback that records when every training batch starts and ends."""

import time

import keras


class StepTimer(keras.callbacks.Callback):
    """`(start, end)` of every training batch, from `time.perf_counter()`, in `intervals`.

    Pass the intervals to `HostStallMonitor.busy_seconds` to leave out the
    time the host paused the machine.
    """

    def __init__(self):
        super().__init__()
        self.intervals = []

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.intervals.append((self._start, time.perf_counter()))
