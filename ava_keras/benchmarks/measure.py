"""The measurements of `ava-keras bench`, each run in a worker process (see train_throughput.py).

    python -m ava_keras.benchmarks.measure --worker JOB_JSON   # prints the result as one JSON line

TensorFlow is imported inside the functions, after `_set_threads`, so that a
job's thread settings take effect.
"""

import json
import os
import statistics
import sys
import tempfile
import time

MATMUL_SIZE = 2048
WORKER_FLAG = "--worker"
# The bench times the small networks at every shape (docs/performance.md), not what `networks="auto"` picks.
BENCH_NETWORKS = "small"


def _set_threads(intra, inter):
    import tensorflow as tf

    if intra is not None:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
    if inter is not None:
        tf.config.threading.set_inter_op_parallelism_threads(inter)


def _peak_memory_mib():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def matmul_flops_per_second(size=MATMUL_SIZE, trials=9, dtype="float32"):
    """Median FLOP/s of a `size`×`size` matmul in `dtype` (2·size³ FLOPs per call).

    Each call's time excludes the host's pauses inside it
    (`HostStallMonitor`), as the training step times do.
    """
    import tensorflow as tf

    from ava_keras._host_stalls import HostStallMonitor

    a = tf.cast(tf.random.stateless_normal((size, size), seed=(1, 2)), dtype)
    matmul = tf.function(lambda x: tf.matmul(x, x))
    matmul(a).numpy()
    intervals = []
    with HostStallMonitor() as monitor:
        for _ in range(trials):
            start = time.perf_counter()
            matmul(a).numpy()
            intervals.append((start, time.perf_counter()))
    return 2 * size**3 / statistics.median(monitor.busy_seconds(*interval) for interval in intervals)


def _count_traces(model):
    """Wraps `model.train_step` so every trace (Python execution) is counted."""
    counter = {"traces": 0}
    train_step = model.train_step

    def counted(data):
        counter["traces"] += 1
        return train_step(data)

    model.train_step = counted
    return counter


def measure_training(preset, image_shape, batch_size, warmup, steps, trials, jit_compile=False,
                     precision="float32"):
    """Times `fit` steps of one preset with the small networks (`BENCH_NETWORKS`) and default optimizers.

    The model is built with the dtype policy `precision`; the matmul it is
    compared with runs in that policy's compute dtype.

    Every timed step's wall time is reduced by the host's pauses inside it
    (`HostStallMonitor`). Returns a dict: the median step time over all
    timed steps (`step_seconds`; `step_seconds_raw` without the correction),
    the lowest and highest per-trial median, the paused fraction of the
    timed steps, images per second, FLOPs of one step, achieved FLOP/s and
    its fraction of matmul FLOP/s (also corrected), traces, peak memory.
    """
    import numpy as np
    import tensorflow as tf

    import ava_keras as ak
    from ava_keras._host_stalls import HostStallMonitor
    from ava_keras.benchmarks._flops import step_flops
    from ava_keras.benchmarks._step_timer import StepTimer

    import_memory = _peak_memory_mib()
    images = np.random.default_rng(0).random((batch_size * 4,) + tuple(image_shape)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(batch_size, drop_remainder=True).repeat()
    model = ak.AVA.from_preset(preset, image_shape=image_shape, networks=BENCH_NETWORKS, seed=0, dtype=precision)
    model.compile(jit_compile=jit_compile)
    counter = _count_traces(model)
    model.fit(dataset, steps_per_epoch=warmup, epochs=1, verbose=0)
    trial_intervals = []
    with HostStallMonitor() as monitor:
        for _ in range(trials):
            timer = StepTimer()
            # One more step than timed: each `fit` call's first batch also starts
            # the data iterator, which would dominate small steps.
            model.fit(dataset, steps_per_epoch=steps + 1, epochs=1, verbose=0, callbacks=[timer])
            trial_intervals.append(timer.intervals[1:])
    matmul = matmul_flops_per_second(dtype=model.compute_dtype)
    traces = counter["traces"]
    intervals = [interval for trial in trial_intervals for interval in trial]
    step = statistics.median(monitor.busy_seconds(*interval) for interval in intervals)
    trial_steps = [statistics.median(monitor.busy_seconds(*interval) for interval in trial)
                   for trial in trial_intervals]
    raw = [end - start for start, end in intervals]
    flops, _ = step_flops(model.train_step, tf.TensorSpec((batch_size,) + tuple(image_shape), tf.float32))
    return {
        "step_seconds": step,
        "step_seconds_min": min(trial_steps),
        "step_seconds_max": max(trial_steps),
        "step_seconds_raw": statistics.median(raw),
        "host_paused_fraction": sum(monitor.stalled_seconds(a, b) for a, b in intervals) / sum(raw),
        "timed_steps": len(intervals),
        "images_per_second": batch_size / step,
        "step_gflop": flops / 1e9,
        "achieved_gflops": flops / step / 1e9,
        "matmul_gflops": matmul / 1e9,
        "flops_fraction": flops / step / matmul,
        "traces": traces,
        "peak_memory_mib": _peak_memory_mib(),
        "memory_after_import_mib": import_memory,
    }


def _random_batches(image_shape, batch_size, num_classes=None):
    """A repeating dataset of 4 random batches; `(images, labels)` batches with `num_classes`."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    images = rng.random((batch_size * 4,) + tuple(image_shape)).astype("float32")
    data = images if num_classes is None else (images, rng.integers(0, num_classes, batch_size * 4))
    return tf.data.Dataset.from_tensor_slices(data).batch(batch_size, drop_remainder=True).repeat()


def interleaved_step_seconds(models, datasets, warmup, rounds):
    """Step times of two models taking turns: `{key: [busy seconds of each step]}` for `models` `{key: model}`.

    Each round runs one training step of each (the function `fit` runs per
    batch; the order alternates), so a slow spell of a shared machine hits
    both alike. Every step's time excludes the host's pauses (`HostStallMonitor`).
    """
    from ava_keras._host_stalls import HostStallMonitor

    functions = {key: model.make_train_function() for key, model in models.items()}
    iterators = {key: iter(datasets[key]) for key in models}

    def step(key):
        start = time.perf_counter()
        float(functions[key](iterators[key])["loss"])  # the same host read for both
        return start, time.perf_counter()

    first, second = models
    for _ in range(warmup):
        step(first), step(second)
    intervals = {first: [], second: []}
    with HostStallMonitor() as monitor:
        for i in range(rounds):
            for key in (first, second) if i % 2 == 0 else (second, first):
                intervals[key].append(step(key))
    return {key: [monitor.busy_seconds(*interval) for interval in intervals[key]] for key in intervals}


def paired_overhead(steps, reference_steps):
    """`(overhead, quartiles, overhead of the medians)` of `steps` over `reference_steps`, taken in pairs.

    On a shared machine the step time drifts by more than small costs, so
    the overhead is the median over rounds of the paired difference divided
    by the median reference step; the quartiles are those of the differences.
    """
    reference = statistics.median(reference_steps)
    quartiles = statistics.quantiles([(a - b) / reference for a, b in zip(steps, reference_steps)], n=4)
    return quartiles[1], [quartiles[0], quartiles[2]], statistics.median(steps) / reference - 1


def measure_checks(preset, image_shape, batch_size, warmup, steps, trials):
    """Step time of one preset with `safety_checks` on and off, interleaved step by step in one process.

    Two models with the same weights take turns (`interleaved_step_seconds`),
    `steps * trials` rounds in all; the overhead is `paired_overhead`.
    """
    import ava_keras as ak

    models = {}
    for checked in (True, False):
        models[checked] = ak.AVA.from_preset(preset, image_shape=image_shape, networks=BENCH_NETWORKS, seed=0,
                                                   safety_checks=checked)
        models[checked].compile()
    models[False].set_weights(models[True].get_weights())
    dataset = _random_batches(image_shape, batch_size)
    busy = interleaved_step_seconds(models, {True: dataset, False: dataset}, warmup, steps * trials)
    overhead, quartiles, of_medians = paired_overhead(busy[True], busy[False])
    return {
        "step_seconds_checked": statistics.median(busy[True]),
        "step_seconds_unchecked": statistics.median(busy[False]),
        "checks_overhead": overhead,
        "checks_overhead_quartiles": quartiles,
        "checks_overhead_of_medians": of_medians,
        "timed_steps": steps * trials,
    }


def measure_conditional(preset, image_shape, batch_size, warmup, steps, trials, num_classes):
    """Step time of one preset class-conditional (`num_classes`) and unconditional, interleaved in one process.

    The two models take turns (`interleaved_step_seconds`), `steps * trials`
    rounds in all, the conditional one on `(images, labels)` batches; the
    conditional step's cost is 1 + `paired_overhead`.
    """
    import ava_keras as ak

    models = {}
    for conditional in (True, False):
        models[conditional] = ak.AVA.from_preset(preset, image_shape=image_shape, networks=BENCH_NETWORKS, seed=0,
                                                 num_classes=num_classes if conditional else None)
        models[conditional].compile()
    datasets = {True: _random_batches(image_shape, batch_size, num_classes),
                False: _random_batches(image_shape, batch_size)}
    busy = interleaved_step_seconds(models, datasets, warmup, steps * trials)
    overhead, quartiles, of_medians = paired_overhead(busy[True], busy[False])
    return {
        "step_seconds_conditional": statistics.median(busy[True]),
        "step_seconds_unconditional": statistics.median(busy[False]),
        "conditional_ratio": 1 + overhead,
        "conditional_ratio_quartiles": [1 + q for q in quartiles],
        "conditional_ratio_of_medians": 1 + of_medians,
        "timed_steps": steps * trials,
    }


def measure_traces(image_shape=(16, 16, 1), batch_size=8):
    """Traces of `train_step` over 3 epochs while a VariantSchedule moves AVA1 -> AVA3 -> AVA5."""
    import numpy as np

    import ava_keras as ak

    images = np.random.default_rng(0).random((batch_size * 2,) + tuple(image_shape)).astype("float32")
    model = ak.AVA.from_preset("ava5", image_shape=image_shape, latent_dim=4, encoder_filters=(4,),
                               decoder_filters=(4,), discriminator_filters=(4,), hidden_units=8, seed=0)
    model.compile()
    counter = _count_traces(model)
    schedule = ak.callbacks.VariantSchedule({0: "ava1", 1: "ava3", 2: "ava5"})
    model.fit(images, batch_size=batch_size, epochs=3, verbose=0, callbacks=[schedule])
    return {"traces": counter["traces"], "epochs": 3, "schedule": "ava1 -> ava3 -> ava5", "final": model.preset}


def profile_op_types(preset, image_shape, batch_size, steps=5, top=12, precision="float32"):
    """Self time per op type over `steps` training steps, from `tf.profiler`.

    Runs the TensorFlow profiler around `fit` (after a warm-up), converts its
    trace with the profiler's own "framework_op_stats" tool and sums the
    self time of each op type. Returns the `top` types with their share of
    the profiled host time, idle time included, and of the busy (non-idle)
    time. The host's pauses land in op and idle time alike, so the fraction
    of the profiled window the host was paused is returned too.
    """
    import collections
    import glob

    import numpy as np
    import tensorflow as tf
    from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as profiler_plugin

    import ava_keras as ak
    from ava_keras._host_stalls import HostStallMonitor

    images = np.random.default_rng(0).random((batch_size * 4,) + tuple(image_shape)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(batch_size, drop_remainder=True).repeat()
    model = ak.AVA.from_preset(preset, image_shape=image_shape, networks=BENCH_NETWORKS, seed=0, dtype=precision)
    model.compile()
    model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)
    with tempfile.TemporaryDirectory() as log_dir:
        with HostStallMonitor() as monitor:
            tf.profiler.experimental.start(log_dir)
            start = time.perf_counter()
            model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
            end = time.perf_counter()
            tf.profiler.experimental.stop()
        trace = sorted(glob.glob(os.path.join(log_dir, "**", "*.xplane.pb"), recursive=True))[-1]
        data, _ = profiler_plugin.xspace_to_tools_data([trace], "framework_op_stats", {})
    table = json.loads(data)[0]
    columns = [column["id"] for column in table["cols"]]
    self_time = collections.Counter()
    for row in table["rows"]:
        values = dict(zip(columns, (cell.get("v") for cell in row["c"])))
        self_time[values["type"]] += values["total_self_time"]
    total = sum(self_time.values())
    busy = total - self_time.get("IDLE", 0.0)
    return {"profile_steps": steps, "host_paused_fraction": monitor.stalled_fraction(start, end), "op_types": [
        {"type": name, "milliseconds_per_step": time_us / 1e3 / steps, "share": time_us / total,
         "busy_share": None if name == "IDLE" else time_us / busy}
        for name, time_us in self_time.most_common(top)
    ]}


def write_jpegs(directory, count, size=96):
    """`count` JPEG crops of the bundled photographs (scikit-image's samples)."""
    import numpy as np
    from PIL import Image

    from ava_keras.datasets import load_photos

    photos = load_photos(image_size=256, channels=3)
    rng = np.random.default_rng(0)
    for i in range(count):
        photo = photos[i % len(photos)]
        top, left = rng.integers(0, photo.shape[0] - size), rng.integers(0, photo.shape[1] - size)
        crop = (photo[top : top + size, left : left + size] * 255).round().astype("uint8")
        Image.fromarray(crop).save(os.path.join(directory, f"{i:05d}.jpg"), quality=90)


def measure_pipeline(count, image_size, batch_size):
    """Images per second `ak.data.image_folder` delivers from `count` JPEGs (96×96, resized)."""
    import ava_keras as ak

    with tempfile.TemporaryDirectory() as directory:
        write_jpegs(directory, count)
        results = {}
        for cache in (False, True):
            dataset = ak.data.image_folder(directory, image_size=image_size, batch_size=batch_size,
                                           cache=cache, seed=0)
            # With cache=True the warm-up pass fills the cache; the timed pass reads it.
            warmup = count // batch_size if cache else 1
            dataset = dataset.repeat(2)
            results["cached" if cache else "decoding"] = ak.data.images_per_second(
                dataset, warmup_batches=warmup, exclude_host_pauses=True)
    return {"jpegs": count, "images_per_second": results["decoding"],
            "cached_images_per_second": results["cached"]}


def measure(job):
    _set_threads(job.get("intra"), job.get("inter"))
    if job["kind"] == "train":
        return measure_training(job["preset"], job["shape"], job["batch_size"], job["warmup"], job["steps"],
                                job["trials"], job["jit"], job["precision"])
    if job["kind"] == "traces":
        return measure_traces()
    if job["kind"] == "checks":
        return measure_checks(job["preset"], job["shape"], job["batch_size"], job["warmup"], job["steps"],
                              job["trials"])
    if job["kind"] == "conditional":
        return measure_conditional(job["preset"], job["shape"], job["batch_size"], job["warmup"], job["steps"],
                                   job["trials"], job["num_classes"])
    if job["kind"] == "profile":
        return profile_op_types(job["preset"], job["shape"], job["batch_size"], precision=job["precision"])
    return measure_pipeline(job["count"], job["shape"][0], job["batch_size"])


def worker_main(job_json):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    result = measure(json.loads(job_json))
    print(json.dumps(result))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == WORKER_FLAG:
        worker_main(sys.argv[2])
    else:
        sys.exit(f"usage: python -m ava_keras.benchmarks.measure {WORKER_FLAG} JOB_JSON")
