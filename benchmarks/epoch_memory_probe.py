"""Where in-memory mode's memory grows during an epoch: glibc's malloc, not copies of the data.

    python benchmarks/epoch_memory_probe.py --repeats 3 --out docs/performance/epoch_memory_probe.json

Holds 10,000 random 128×128×3 uint8 images in one array, builds the
pipeline of `image_folder(cache=True)` (shuffled indices, batches gathered
from the array by `tf.numpy_function`, prefetch), reads two batches, then
one full epoch, and records the resident memory before the epoch, the peak
after it and the images per second of the epoch. Each variant runs in its
own process, the variants alternating, `--repeats` times:
- `library`: the library's pipeline (`in_memory_batches`: the same
  functions on one private tf.data thread);
- `uint8_gather_tf_cast`: the pipeline before that change (TensorFlow's
  shared thread pool);
- `uint8_gather_tf_cast_mmap_threshold`: the same with
  `MALLOC_MMAP_THRESHOLD_=131072`, which stops glibc from raising its mmap
  threshold, so that freed batch buffers go back to the system instead of
  staying in per-thread arenas.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys

from _report import write_result

# name: (pipeline, extra environment)
VARIANTS = {
    "library": ("library", {}),
    "uint8_gather_tf_cast": ("uint8_gather_tf_cast", {}),
    "uint8_gather_tf_cast_mmap_threshold": ("uint8_gather_tf_cast", {"MALLOC_MMAP_THRESHOLD_": "131072"}),
}


def _rss_mib():
    with open("/proc/self/status") as file:
        for line in file:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(pipeline, images=10_000, side=128, batch_size=64):
    import time

    import numpy as np
    import tensorflow as tf

    from ava_keras.data.image_folder import _gather_batch_tensor, _plain_python, _to_unit_float, in_memory_batches

    data = np.random.default_rng(0).integers(0, 256, (images, side, side, 3), dtype=np.uint8)
    if pipeline == "library":
        dataset = in_memory_batches(data, np.arange(images), batch_size, reshuffle=True)
    else:  # before: the same functions on TensorFlow's shared thread pool
        dataset = (tf.data.Dataset.from_tensor_slices(np.arange(images)).shuffle(images).batch(batch_size)
                   .map(_plain_python(lambda rows: _gather_batch_tensor(data, rows)),
                        num_parallel_calls=tf.data.AUTOTUNE)
                   .map(_to_unit_float, num_parallel_calls=tf.data.AUTOTUNE))
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    for _ in dataset.take(2):
        pass
    before = _rss_mib()
    start = time.perf_counter()
    count = sum(int(batch.shape[0]) for batch in dataset)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"data_mib": data.nbytes / 2**20, "rss_before_epoch_mib": before, "peak_after_epoch_mib": peak,
            "growth_during_epoch_mib": peak - before, "epoch_images_per_second": count / seconds,
            "float32_batch_mib": batch_size * side * side * 3 * 4 / 2**20}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="runs of each variant, alternating")
    parser.add_argument("--out", default=None)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.worker)))
        return 0
    runs = {name: [] for name in VARIANTS}
    for _ in range(args.repeats):
        for name, (pipeline, extra) in VARIANTS.items():
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **extra)
            output = subprocess.run([sys.executable, __file__, "--worker", pipeline], env=env, capture_output=True,
                                    text=True, check=True).stdout
            runs[name].append(json.loads(output.strip().splitlines()[-1]))
    results = {
        name: {"pipeline": VARIANTS[name][0], "environment": VARIANTS[name][1],
               "median_growth_during_epoch_mib": statistics.median(r["growth_during_epoch_mib"] for r in values),
               "median_epoch_images_per_second": statistics.median(r["epoch_images_per_second"] for r in values),
               "runs": values}
        for name, values in runs.items()
    }
    command = "python benchmarks/epoch_memory_probe.py" + f" --repeats {args.repeats}" + (
        f" --out {args.out}" if args.out else "")
    return write_result({"command": command, "variants": results}, args.out)


if __name__ == "__main__":
    sys.exit(main())
