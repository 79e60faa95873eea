"""The benchmarks behind `ava-keras bench` and `ava-keras bench data-scale`.

`train_throughput` runs the jobs of `ava-keras bench`, `measure` measures
them (step time less the host's pauses, FLOPs, memory) and `report` writes
the tables and checks them against a targets file; `data_scale` is
`ava-keras bench data-scale`. Run them through the command line; they have
no Python API. The modules import TensorFlow only when they measure, so
`ava-keras bench --help` answers at once.
"""

__all__ = []
