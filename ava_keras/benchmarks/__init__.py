"""Measuring tools: step FLOPs from the traced graph, host-pause correction, input-pipeline speed.

`ava-keras bench` (train_throughput.py: jobs; measure.py: measurements;
report.py: tables and the project's targets) is built on them. The tools are
loaded on first use (PEP 562), so `ava-keras bench --help` imports no TensorFlow.
"""

import importlib as _importlib

_PUBLIC = {
    "HostStallMonitor": "ava_keras.benchmarks.host_stalls",
    "StepTimer": "ava_keras.benchmarks.step_timer",
    "images_per_second": "ava_keras.data.throughput",
    "step_flops": "ava_keras.benchmarks.flops",
}


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(_importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))


__all__ = sorted(_PUBLIC)
