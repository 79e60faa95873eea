"""Benchmarks: step FLOPs from the traced graph, host-pause correction and training throughput (`ava-keras bench`)."""

from ava_keras.benchmarks.flops import step_flops
from ava_keras.benchmarks.host_stalls import HostStallMonitor

__all__ = ["HostStallMonitor", "step_flops"]
