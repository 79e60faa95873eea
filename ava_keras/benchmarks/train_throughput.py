"""Training throughput of VAE and AVA1-AVA5 (`ava-keras bench`).

Measures, per preset, image shape and mode, after warm-up and over repeated
trials: training images per second and step time (median and spread), the
ratio of each preset's step time to the VAE's, the FLOPs of one step counted
from the traced graph and the achieved FLOP/s as a fraction of a dense
matmul's FLOP/s measured in the same process and compute dtype, float32
against mixed precision (`--precisions`), graph mode against
`jit_compile=True`, thread settings, peak resident memory, and the number of
`train_step` traces over 3 epochs with a `VariantSchedule` switch. It also
times the input pipeline on a folder of JPEGs against what training consumes,
and the overhead of the model's safety checks (`AVA(safety_checks=...)`: every
batch checked, the divergence stop) with the checks on and off, interleaved in
one process.

Every step, matmul and pipeline time excludes the time the host paused this
virtual machine (`HostStallMonitor`): on a shared host such pauses took
more than half the wall time in the committed run, and would otherwise set
every figure. Each measurement runs in its own Python process (unless
`--in-process`), so that thread settings take effect and peak memory belongs
to one model.
Steps are timed by a callback, not by whole `fit` calls, and the first
batch of every trial (which also starts the data iterator) is not timed. Writes
train_throughput.json and train_throughput.md to `--out` and prints the table.
"""

# TensorFlow is imported only inside functions, so `--help` answers at once.

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from ava_keras.constants import PRECISIONS
from ava_keras.experiments._common import PRESETS, machine, make_out_dir, positive_int, preset_list

DEFAULT_SHAPES = ((64, 64, 3), (28, 28, 1))
MATMUL_SIZE = 2048
# The targets (docs/performance.md): step-time ratios to the VAE,
# achieved FLOP/s as a fraction of matmul FLOP/s, pipeline speed-up, memory.
TARGETS = {"ava1_ratio": 2.0, "ava5_ratio": 2.6, "flops_fraction": 0.40, "pipeline_factor": 5.0,
           "peak_memory_gib": 2.0, "traces": 1, "checks_overhead": 0.03}
_WORKER_FLAG = "--worker"


def _shape(text):
    try:
        shape = tuple(int(part) for part in text.lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1 or shape[2] not in (1, 3):
        raise argparse.ArgumentTypeError(f"must look like 64x64x3 (height x width x 1 or 3), got {text!r}")
    return shape


def add_arguments(parser):
    """Adds the options of `ava-keras bench` to an argparse parser."""
    parser.add_argument("--presets", type=preset_list, default=PRESETS, help="Comma-separated presets (default: all six).")
    parser.add_argument("--shapes", type=_shape, nargs="+", default=DEFAULT_SHAPES,
                        help="Image shapes HxWxC (default 64x64x3 28x28x1).")
    parser.add_argument("--batch-size", type=positive_int, default=64, help="Images per step (default 64).")
    parser.add_argument("--precisions", choices=PRECISIONS, nargs="+", default=("float32",),
                        help="Dtype policies to time each preset and shape under, and to profile (default "
                        "float32); the thread and XLA runs stay float32.")
    parser.add_argument("--warmup", type=positive_int, default=3, help="Untimed steps first (tracing included).")
    parser.add_argument("--steps", type=positive_int, default=5, help="Timed steps per trial (default 5).")
    parser.add_argument("--trials", type=positive_int, default=5, help="Trials; the median is reported (default 5).")
    parser.add_argument("--no-jit", action="store_true", help="Skip the jit_compile=True runs.")
    parser.add_argument("--no-threads", action="store_true", help="Skip the thread-setting runs.")
    parser.add_argument("--pipeline-images", type=positive_int, default=1024,
                        help="JPEGs written for the input-pipeline measurement (default 1024).")
    parser.add_argument("--profile", choices=PRESETS, default=None, metavar="PRESET",
                        help="Also profile this preset's step with tf.profiler (self time per op type).")
    parser.add_argument("--job-timeout", type=positive_int, default=900,
                        help="Seconds one isolated measurement may take before it is recorded as timed out.")
    parser.add_argument("--in-process", action="store_true",
                        help="Run every measurement in this process (faster; no thread runs, shared memory peak).")
    parser.add_argument("--quick", action="store_true",
                        help="A smoke run: vae and ava5 at 16x16x1, batch 8, 2 steps x 2 trials, no jit/thread runs.")
    parser.add_argument("--report-from", default=None, metavar="JSONL",
                        help="Measure nothing: rebuild the tables and checks from a run's train_throughput.jsonl.")
    parser.add_argument("--out", default="benchmark_results", help="Output folder (default ./benchmark_results).")
    return parser


# === Measurements (run inside a worker) ===


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

    from ava_keras.benchmarks.host_stalls import HostStallMonitor

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


def _step_timer():
    import keras

    class StepTimer(keras.callbacks.Callback):
        """`(start, end)` of every training batch, from `time.perf_counter()`."""

        def __init__(self):
            super().__init__()
            self.intervals = []

        def on_train_batch_begin(self, batch, logs=None):
            self._start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.intervals.append((self._start, time.perf_counter()))

    return StepTimer()


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
    """Times `fit` steps of one preset with the default networks and optimizers.

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
    from ava_keras.benchmarks.flops import step_flops
    from ava_keras.benchmarks.host_stalls import HostStallMonitor

    import_memory = _peak_memory_mib()
    images = np.random.default_rng(0).random((batch_size * 4,) + tuple(image_shape)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(batch_size, drop_remainder=True).repeat()
    model = ak.AVA.from_preset(preset, image_shape=image_shape, seed=0, dtype=precision)
    model.compile(jit_compile=jit_compile)
    counter = _count_traces(model)
    model.fit(dataset, steps_per_epoch=warmup, epochs=1, verbose=0)
    trial_intervals = []
    with HostStallMonitor() as monitor:
        for _ in range(trials):
            timer = _step_timer()
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


def measure_checks(preset, image_shape, batch_size, warmup, steps, trials):
    """Step time of one preset with `safety_checks` on and off, interleaved step by step in one process.

    Two models with the same weights take turns: each round runs one
    training step of each (the function `fit` runs per batch, checks and
    all; the order alternates), `steps * trials` rounds in all. On a shared
    machine the step time drifts by more than the checks cost, so the
    overhead is the median over rounds of the paired difference (checked
    minus unchecked) divided by the median unchecked step. Every step's time
    excludes the host's pauses (`HostStallMonitor`).
    """
    import numpy as np
    import tensorflow as tf

    import ava_keras as ak
    from ava_keras.benchmarks.host_stalls import HostStallMonitor

    images = np.random.default_rng(0).random((batch_size * 4,) + tuple(image_shape)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(batch_size, drop_remainder=True).repeat()
    models, functions, iterators = {}, {}, {}
    for checked in (True, False):
        models[checked] = ak.AVA.from_preset(preset, image_shape=image_shape, seed=0, safety_checks=checked)
        models[checked].compile()
    models[False].set_weights(models[True].get_weights())
    for checked, model in models.items():
        functions[checked], iterators[checked] = model.make_train_function(), iter(dataset)

    def step(checked):
        start = time.perf_counter()
        float(functions[checked](iterators[checked])["loss"])  # the same host read for both
        return start, time.perf_counter()

    for _ in range(warmup):
        step(True), step(False)
    intervals = {True: [], False: []}
    with HostStallMonitor() as monitor:
        for i in range(steps * trials):
            for checked in (True, False) if i % 2 == 0 else (False, True):
                intervals[checked].append(step(checked))
    busy = {checked: [monitor.busy_seconds(*interval) for interval in intervals[checked]] for checked in intervals}
    unchecked = statistics.median(busy[False])
    differences = [(a - b) / unchecked for a, b in zip(busy[True], busy[False])]
    quartiles = statistics.quantiles(differences, n=4)
    return {
        "step_seconds_checked": statistics.median(busy[True]),
        "step_seconds_unchecked": unchecked,
        "checks_overhead": quartiles[1],
        "checks_overhead_quartiles": [quartiles[0], quartiles[2]],
        "checks_overhead_of_medians": statistics.median(busy[True]) / unchecked - 1,
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
    from ava_keras.benchmarks.host_stalls import HostStallMonitor

    images = np.random.default_rng(0).random((batch_size * 4,) + tuple(image_shape)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(batch_size, drop_remainder=True).repeat()
    model = ak.AVA.from_preset(preset, image_shape=image_shape, seed=0, dtype=precision)
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


def _write_jpegs(directory, count, size=96):
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
        _write_jpegs(directory, count)
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


def _measure(job):
    _set_threads(job.get("intra"), job.get("inter"))
    if job["kind"] == "train":
        return measure_training(job["preset"], job["shape"], job["batch_size"], job["warmup"], job["steps"],
                                job["trials"], job["jit"], job["precision"])
    if job["kind"] == "traces":
        return measure_traces()
    if job["kind"] == "checks":
        return measure_checks(job["preset"], job["shape"], job["batch_size"], job["warmup"], job["steps"],
                              job["trials"])
    if job["kind"] == "profile":
        return profile_op_types(job["preset"], job["shape"], job["batch_size"], precision=job["precision"])
    return measure_pipeline(job["count"], job["shape"][0], job["batch_size"])


def _worker_main(job_json):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    result = _measure(json.loads(job_json))
    print(json.dumps(result))


# === Orchestration ===


def _jobs(args):
    base = {"batch_size": args.batch_size, "warmup": args.warmup, "steps": args.steps, "trials": args.trials,
            "jit": False, "intra": None, "inter": None, "precision": "float32"}
    jobs = []
    for shape in args.shapes:
        for preset in args.presets:
            for precision in args.precisions:  # interleaved, so a slow spell of the host hits both alike
                jobs.append({**base, "kind": "train", "preset": preset, "shape": list(shape), "mode": "graph",
                             "precision": precision})
    first = list(args.shapes[0])
    extremes = [p for p in ("vae", "ava1", "ava5") if p in args.presets]
    if not args.no_threads and not args.in_process:
        for preset in [p for p in ("vae", "ava5") if p in args.presets]:
            jobs.append({**base, "kind": "train", "preset": preset, "shape": first, "intra": 1, "inter": 1,
                         "mode": "1 thread"})
    if args.profile:
        for precision in args.precisions:
            jobs.append({"kind": "profile", "preset": args.profile, "shape": first, "batch_size": args.batch_size,
                         "precision": precision})
    jobs.append({"kind": "traces"})
    checked_preset = "ava5" if "ava5" in args.presets else args.presets[-1]
    jobs.append({**base, "kind": "checks", "preset": checked_preset, "shape": first})
    jobs.append({"kind": "pipeline", "count": args.pipeline_images, "shape": first, "batch_size": args.batch_size})
    if not args.no_jit:  # last: XLA compilation can be slow, and a timeout then loses nothing else
        for preset in extremes:  # at most 2 trials: XLA's CPU steps have run many times slower
            jobs.append({**base, "kind": "train", "preset": preset, "shape": first, "jit": True, "mode": "xla",
                         "trials": min(args.trials, 2)})
    return jobs


def _run_job(job, in_process, timeout=None):
    if in_process:
        return _measure(job)
    command = [sys.executable, "-m", "ava_keras.benchmarks.train_throughput", _WORKER_FLAG, json.dumps(job)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    try:
        process = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"timed_out_after_seconds": timeout}
    if process.returncode != 0:
        raise RuntimeError(f"benchmark worker failed for {job}: {process.stderr.strip().splitlines()[-1:]}")
    return json.loads(process.stdout.strip().splitlines()[-1])


def _precision(result):
    return result.get("precision", "float32")  # runs recorded before the precision axis were float32


def _describe(job):
    if job["kind"] == "train":
        return f"{job['preset']} {'x'.join(map(str, job['shape']))} {job['mode']} {_precision(job)}"
    if job["kind"] == "checks":
        return f"safety checks {job['preset']} {'x'.join(map(str, job['shape']))}"
    return job["kind"]


def _shape_name(shape):
    return "x".join(map(str, shape))


def summarize(results):
    """Adds step-time ratios to the VAE and the targets' verdicts to `results`."""
    train = [r for r in results if r["kind"] == "train"]
    vae = {(_shape_name(r["shape"]), r["mode"], _precision(r)): r["step_seconds"]
           for r in train if r["preset"] == "vae"}
    float32 = {(r["preset"], _shape_name(r["shape"]), r["mode"]): r["step_seconds"]
               for r in train if _precision(r) == "float32"}
    for r in train:
        reference = vae.get((_shape_name(r["shape"]), r["mode"], _precision(r)))
        r["ratio_to_vae"] = r["step_seconds"] / reference if reference else None
        reference = float32.get((r["preset"], _shape_name(r["shape"]), r["mode"]))
        r["speedup_over_float32"] = reference / r["step_seconds"] if reference else None
    checks = {}
    graph = {(r["preset"], _shape_name(r["shape"])): r for r in train
             if r["mode"] == "graph" and _precision(r) == "float32"}
    first = _shape_name(train[0]["shape"]) if train else None
    for preset, key in (("ava1", "ava1_ratio"), ("ava5", "ava5_ratio")):
        r = graph.get((preset, first))
        if r and r["ratio_to_vae"] is not None:
            checks[f"{preset} step / vae step at {first}"] = (r["ratio_to_vae"], f"<= {TARGETS[key]}",
                                                             r["ratio_to_vae"] <= TARGETS[key])
    ava5 = graph.get(("ava5", first))
    if ava5:
        checks[f"ava5 achieved / matmul FLOP/s (same process) at {first}"] = (
            ava5["flops_fraction"], f">= {TARGETS['flops_fraction']}", ava5["flops_fraction"] >= TARGETS["flops_fraction"])
        # The matmul of one process varies with the machine's load; the median
        # over all graph-mode processes of the run is the steadier reference.
        run_matmul = statistics.median(r["matmul_gflops"] for r in graph.values())
        fraction = ava5["achieved_gflops"] / run_matmul
        checks[f"ava5 achieved / median matmul FLOP/s of the run ({run_matmul:.0f} GFLOP/s) at {first}"] = (
            fraction, f">= {TARGETS['flops_fraction']}", fraction >= TARGETS["flops_fraction"])
        gib = ava5["peak_memory_mib"] / 1024
        checks[f"ava5 peak memory (GiB) at {first}"] = (gib, f"< {TARGETS['peak_memory_gib']}",
                                                         gib < TARGETS["peak_memory_gib"])
    pipeline = next((r for r in results if r["kind"] == "pipeline"), None)
    consumers = [r for r in graph.values() if _shape_name(r["shape"]) == first]
    if pipeline and consumers:
        fastest = max(consumers, key=lambda r: r["images_per_second"])
        factor = pipeline["images_per_second"] / fastest["images_per_second"]
        checks[f"pipeline (decoding JPEGs) / fastest training ({fastest['preset']})"] = (
            factor, f">= {TARGETS['pipeline_factor']}", factor >= TARGETS["pipeline_factor"])
    safety = next((r for r in results if r["kind"] == "checks"), None)
    if safety:
        checks[f"safety checks' overhead, {safety['preset']} at {_shape_name(safety['shape'])}"] = (
            safety["checks_overhead"], f"<= {TARGETS['checks_overhead']}",
            safety["checks_overhead"] <= TARGETS["checks_overhead"])
    trace_counts = [r["traces"] for r in results if "traces" in r]
    checks["train_step traces per process (max)"] = (max(trace_counts), "== 1", max(trace_counts) == 1)
    return checks


def format_report(results, checks):
    """The markdown tables of one run."""
    lines = [
        "Step times are medians over all timed steps, each step's wall time less the host's pauses "
        "inside it (`HostStallMonitor`); \"trials\" is the range of the per-trial medians, \"raw\" "
        "the median wall time, \"paused\" the share of the timed steps' wall time the host was paused.",
        "",
        "\"Speed-up\" is the float32 step time over this row's, for the same preset, shape and mode; "
        "the matmul runs in the row's compute dtype.",
        "",
        "| preset | shape | mode | precision | steps | step ms | trials ms | raw ms | paused | images/s "
        "| ratio to VAE | speed-up | GFLOP/step | achieved GFLOP/s | matmul GFLOP/s | fraction | peak RSS MiB | traces |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if r["kind"] != "train":
            continue
        ratio = "" if r["ratio_to_vae"] is None else f"{r['ratio_to_vae']:.2f}"
        speedup = "" if r["speedup_over_float32"] is None else f"{r['speedup_over_float32']:.2f}"
        lines.append(
            f"| {r['preset']} | {_shape_name(r['shape'])} | {r['mode']} | {_precision(r)} | {r['timed_steps']} "
            f"| {r['step_seconds'] * 1e3:.1f} "
            f"| {r['step_seconds_min'] * 1e3:.1f}–{r['step_seconds_max'] * 1e3:.1f} "
            f"| {r['step_seconds_raw'] * 1e3:.1f} | {r['host_paused_fraction']:.0%} | {r['images_per_second']:.1f} "
            f"| {ratio} | {speedup} | {r['step_gflop']:.3f} | {r['achieved_gflops']:.1f} | {r['matmul_gflops']:.1f} "
            f"| {r['flops_fraction']:.2f} | {r['peak_memory_mib']:.0f} | {r['traces']} |"
        )
    pipeline = next(r for r in results if r["kind"] == "pipeline")
    traces = next(r for r in results if r["kind"] == "traces")
    for profile in (r for r in results if r["kind"] == "profile"):
        lines += ["", f"Profile of {profile['preset']} at {_shape_name(profile['shape'])}, "
                  f"{_precision(profile)} (tf.profiler, "
                  f"{profile['profile_steps']} steps; the host was paused for "
                  f"{profile['host_paused_fraction']:.0%} of the window): self time per op type.", "",
                  "| op type | ms per step | share | share of busy time |", "|---|---:|---:|---:|"]
        lines += [f"| {op['type']} | {op['milliseconds_per_step']:.1f} | {op['share']:.1%} "
                  f"| {'' if op['busy_share'] is None else format(op['busy_share'], '.1%')} |"
                  for op in profile["op_types"]]
    lines += [
        "",
        f"Input pipeline (`ak.data.image_folder`, {pipeline['jpegs']} JPEGs of 96×96 resized to "
        f"{_shape_name(pipeline['shape'])}, batch {pipeline['batch_size']}): {pipeline['images_per_second']:.0f} images/s "
        f"decoding every epoch (cache=False), {pipeline['cached_images_per_second']:.0f} images/s from the cache.",
        "",
        f"`train_step` traces over {traces['epochs']} epochs with a VariantSchedule ({traces['schedule']}): "
        f"{traces['traces']}.",
        "",
    ]
    safety = next((r for r in results if r["kind"] == "checks"), None)
    if safety:
        lines += [
            f"Safety checks (`AVA(safety_checks=True)`: every batch checked, the divergence stop), "
            f"{safety['preset']} at {_shape_name(safety['shape'])}, batch {safety['batch_size']}, "
            f"{safety['timed_steps']} timed steps each, on and off alternating step by step in one process: "
            f"{safety['step_seconds_checked'] * 1e3:.1f} ms per step with them, "
            f"{safety['step_seconds_unchecked'] * 1e3:.1f} ms without (medians); overhead "
            f"{safety['checks_overhead']:.1%}: the median of the paired differences over the median step "
            + (f"(their quartiles {safety['checks_overhead_quartiles'][0]:.1%} and "
               f"{safety['checks_overhead_quartiles'][1]:.1%}; " if "checks_overhead_quartiles" in safety else "(")
            + f"the medians' ratio gives {safety['checks_overhead_of_medians']:.1%}).",
            "",
        ]
    lines += [
        "| check | measured | target | met |",
        "|---|---:|---|---|",
    ]
    for name, (value, target, met) in checks.items():
        lines.append(f"| {name} | {value:.3g} | {target} | {'yes' if met else '**no**'} |")
    return "\n".join(lines) + "\n"


def run(args):
    """Runs the benchmark described by parsed `args`; returns an exit code."""
    if args.quick:
        args.presets, args.shapes, args.batch_size = ("vae", "ava5"), [(16, 16, 1)], 8
        args.warmup, args.steps, args.trials, args.no_jit, args.no_threads = 1, 2, 2, True, True
        args.pipeline_images = min(args.pipeline_images, 32)
    make_out_dir(args.out)
    if args.report_from:
        results, timed_out = _read_jsonl(args.report_from)
        _write_report(results, timed_out, args, seconds=None)
        return 0
    jobs = _jobs(args)
    results, timed_out = [], []
    start = time.time()
    if os.path.exists(os.path.join(args.out, "train_throughput.jsonl")):
        os.remove(os.path.join(args.out, "train_throughput.jsonl"))
    for i, job in enumerate(jobs, 1):
        job_start = time.time()
        result = {**job, **_run_job(job, args.in_process, args.job_timeout)}
        if "timed_out_after_seconds" in result:
            timed_out.append(result)
            outcome = f"timed out after {args.job_timeout} s"
        else:
            results.append(result)
            outcome = (f"{result['step_seconds'] * 1e3:.1f} ms/step" if job["kind"] == "train" else
                       f"overhead {result['checks_overhead']:.1%}" if job["kind"] == "checks" else "done")
        with open(os.path.join(args.out, "train_throughput.jsonl"), "a") as file:  # survives an interrupted run
            file.write(json.dumps(result) + "\n")
        print(f"[bench {i}/{len(jobs)}] {_describe(job)}: {outcome} ({time.time() - job_start:.0f} s)", flush=True)
    _write_report(results, timed_out, args, time.time() - start)
    return 0


def _read_jsonl(path):
    """The results and timed-out jobs of a run, from its train_throughput.jsonl."""
    with open(path) as file:
        rows = [json.loads(line) for line in file if line.strip()]
    return ([r for r in rows if "timed_out_after_seconds" not in r],
            [r for r in rows if "timed_out_after_seconds" in r])


def _write_report(results, timed_out, args, seconds):
    """Prints the tables and checks, and writes train_throughput.json and .md."""
    checks = summarize(results)
    report = format_report(results, checks)
    for job in timed_out:
        report += (f"\nNot measured: {_describe(job)} did not finish within --job-timeout "
                   f"{job['timed_out_after_seconds']} s.\n")
    print(report)
    summary = {
        "command": "ava-keras bench " + " ".join(sys.argv[2:] if sys.argv[1:2] == ["bench"] else sys.argv[1:]),
        "machine": machine(),
        "isolated_processes": not args.in_process,
        "seconds": seconds,
        "targets": TARGETS,
        "checks": {name: {"measured": v, "target": t, "met": m} for name, (v, t, m) in checks.items()},
        "results": results,
        "timed_out": timed_out,
    }
    with open(os.path.join(args.out, "train_throughput.json"), "w") as file:
        json.dump(summary, file, indent=2)
    with open(os.path.join(args.out, "train_throughput.md"), "w") as file:
        file.write(report)
    print(f"Wrote {args.out}/train_throughput.json and train_throughput.md")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == _WORKER_FLAG:
        _worker_main(sys.argv[2])
    else:
        sys.exit(run(add_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0])).parse_args()))
