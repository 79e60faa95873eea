"""Where in-memory mode's memory grows during an epoch: glibc's malloc, not copies of the data.

    python benchmarks/epoch_memory_probe.py --out docs/performance/epoch_memory_probe.json

Holds 10,000 random 128×128×3 uint8 images in one array, builds the same
pipeline as `image_folder(cache=True)` (shuffled indices, batches gathered
from the array by `tf.numpy_function`, cast to float32, prefetch), reads two
batches, then one full epoch, and records the resident memory before the
epoch and the peak after it. Each variant runs in its own process:
`default`, and `mmap_threshold` with `MALLOC_MMAP_THRESHOLD_=131072`, which
stops glibc from raising its mmap threshold, so that freed batch buffers go
back to the system instead of staying in per-thread arenas.
"""

import argparse
import json
import os
import resource
import subprocess
import sys

from _report import write_result

VARIANTS = {"default": {}, "mmap_threshold": {"MALLOC_MMAP_THRESHOLD_": "131072"}}


def _rss_mib():
    with open("/proc/self/status") as file:
        for line in file:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(images=10_000, side=128, batch_size=64):
    import numpy as np
    import tensorflow as tf

    from ava_keras.data.image_folder import _gather_batch_tensor, _plain_python

    data = np.random.default_rng(0).integers(0, 256, (images, side, side, 3), dtype=np.uint8)
    dataset = (tf.data.Dataset.from_tensor_slices(np.arange(images)).shuffle(images).batch(batch_size)
               .map(_plain_python(lambda rows: _gather_batch_tensor(data, rows)), num_parallel_calls=tf.data.AUTOTUNE)
               .map(lambda x: tf.cast(x, tf.float32) / 255.0, num_parallel_calls=tf.data.AUTOTUNE)
               .prefetch(tf.data.AUTOTUNE))
    for _ in dataset.take(2):
        pass
    before = _rss_mib()
    for _ in dataset:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"data_mib": data.nbytes / 2**20, "rss_before_epoch_mib": before, "peak_after_epoch_mib": peak,
            "growth_during_epoch_mib": peak - before,
            "float32_batch_mib": batch_size * side * side * 3 * 4 / 2**20}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure()))
        return 0
    results = {}
    for name, extra in VARIANTS.items():
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **extra)
        output = subprocess.run([sys.executable, __file__, "--worker"], env=env, capture_output=True, text=True,
                                check=True).stdout
        results[name] = {"environment": extra, **json.loads(output.strip().splitlines()[-1])}
    result = {"command": "python benchmarks/epoch_memory_probe.py" + (f" --out {args.out}" if args.out else ""),
              "variants": results}
    return write_result(result, args.out)


if __name__ == "__main__":
    sys.exit(main())
