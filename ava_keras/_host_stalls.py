"""Detects the host pausing this machine, so step times can be corrected for it.

On a shared virtual machine the host can stop all virtual CPUs at once for
tens to hundreds of milliseconds. The guest does not see this as idle or
steal time: the clock simply jumps, and a step that spanned the pause looks
slower. `HostStallMonitor` runs a separate process that sleeps 1 ms at a
time and records every wake-up that comes more than `threshold` seconds
late; a late wake-up of a sleeping process that needs almost no CPU means
the machine was not running. `stalled_seconds(start, end)` then gives the
paused time inside any interval measured with `time.perf_counter()`
(CLOCK_MONOTONIC on Linux, shared by all processes).
"""

import json
import subprocess
import sys

# The watcher runs as `python -c`, so it imports nothing of ava_keras or
# TensorFlow: it starts in milliseconds and holds no locks of this process.
_WATCHER = """
import json, select, sys, time
threshold, period = float(sys.argv[1]), float(sys.argv[2])
stalls = []
print("ready", flush=True)
last = time.perf_counter()
while not select.select([sys.stdin], [], [], 0)[0]:
    time.sleep(period)
    now = time.perf_counter()
    if now - last > threshold:
        stalls.append((last, now))
    last = now
print(json.dumps(stalls), flush=True)
"""


class HostStallMonitor:
    """Records the intervals in which this machine was paused.

    Use it as a context manager around the timed code; afterwards
    `stalled_seconds(start, end)` returns the paused time within
    `[start, end]` (both from `time.perf_counter()`), and `stalls` lists
    the `(start, end)` pauses.

    Args:
        threshold: A wake-up this many seconds late counts as a pause
            (default 0.02, well above scheduling delays of a few ms).
        period: Sleep between wake-ups, in seconds (default 0.001).

    Example:

    >>> with HostStallMonitor() as monitor:
    ...     start = time.perf_counter(); work(); end = time.perf_counter()
    >>> busy = monitor.busy_seconds(start, end)
    """

    def __init__(self, threshold=0.02, period=0.001):
        self.threshold = float(threshold)
        self.period = float(period)
        self.stalls = []
        self._process = None

    def __enter__(self):
        self._process = subprocess.Popen(
            [sys.executable, "-c", _WATCHER, str(self.threshold), str(self.period)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self._process.stdout.readline()  # "ready": no pause from here on goes unseen
        return self

    def __exit__(self, *exc_info):
        self.stop()
        return False

    def stop(self):
        """Stops the watcher and collects the pauses it saw."""
        if self._process is not None:
            output, _ = self._process.communicate("stop\n", timeout=60)
            self.stalls = [tuple(stall) for stall in json.loads(output)]
            self._process = None
        return self.stalls

    def busy_seconds(self, start, end):
        """Length of `[start, end]` less the pauses within it."""
        return end - start - self.stalled_seconds(start, end)

    def stalled_fraction(self, start, end):
        """The fraction of `[start, end]` the machine was paused."""
        return self.stalled_seconds(start, end) / (end - start) if end > start else 0.0

    def stalled_seconds(self, start, end):
        """Paused seconds within `[start, end]`."""
        return sum(max(0.0, min(stop, end) - max(begin, start)) for begin, stop in self.stalls)
