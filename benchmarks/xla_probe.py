"""Times `jit_compile=True` steps two ways, because `fit` is far slower than `train_on_batch` under XLA.

    python benchmarks/xla_probe.py --out docs/performance/xla_probe.json

`ava-keras bench` times steps inside `fit`; under XLA its jobs did not finish
within 480 s. This probe builds one model per mode, at 64x64x3 and batch 64,
and times (wall time less the host's pauses, `HostStallMonitor`):

- `train_on_batch(x)`: the first call (trace and XLA compilation), then
  `--steps` calls;
- `model.train_function(iterator)`, what `fit` calls once per step, on an
  iterator over a `tf.data.Dataset`: the first call, then `--steps` calls.

Graph mode (`jit_compile=False`) is timed the same way for comparison.
"""

import argparse
import json
import statistics
import time

import numpy as np
import tensorflow as tf

import ava_keras as ak
from ava_keras.benchmarks import HostStallMonitor


def _time_calls(call, count):
    """`(start, end)` of `count + 1` calls of `call`, the first one included."""
    spans = []
    for _ in range(count + 1):
        start = time.perf_counter()
        tf.nest.map_structure(lambda x: np.asarray(x), call())
        spans.append((start, time.perf_counter()))
    return spans


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="vae")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    shape = (64, 64, 3)
    images = np.random.default_rng(0).random((256,) + shape).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(64, drop_remainder=True).repeat()
    rows, spans = [], {}
    with HostStallMonitor() as monitor:
        for jit in (False, True):
            for path in ("train_on_batch", "train_function(iterator)"):
                model = ak.AVA.from_preset(args.preset, image_shape=shape, seed=0)
                model.compile(jit_compile=jit)
                if path == "train_on_batch":
                    call = lambda: model.train_on_batch(images[:64])  # noqa: E731
                else:
                    model.make_train_function()
                    iterator = iter(dataset)
                    call = lambda: model.train_function(iterator)  # noqa: E731
                spans[(jit, path)] = _time_calls(call, args.steps)
                print(f"jit_compile={jit} {path}: done", flush=True)
    for (jit, path), timed in spans.items():
        busy = [monitor.busy_seconds(start, end) for start, end in timed]
        row = {"jit_compile": jit, "path": path, "first_call_seconds": busy[0],
               "step_seconds_median": statistics.median(busy[1:]), "steps": len(busy) - 1}
        rows.append(row)
        print(f"jit_compile={jit!s:5} {path:>24}: first call {row['first_call_seconds']:.2f} s, "
              f"then {row['step_seconds_median'] * 1e3:.0f} ms/step (median of {row['steps']})")
    if args.out:
        with open(args.out, "w") as file:
            json.dump({"command": f"python benchmarks/xla_probe.py --preset {args.preset} --steps {args.steps}",
                       "preset": args.preset, "shape": list(shape), "batch_size": 64, "results": rows}, file, indent=2)


if __name__ == "__main__":
    main()
