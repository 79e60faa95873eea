"""Benchmarks: step FLOPs from the traced graph and training throughput (`ava-keras bench`)."""

from ava_keras.benchmarks.flops import step_flops

__all__ = ["step_flops"]
