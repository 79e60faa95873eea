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
the overhead of the model's safety checks (`AVA(safety_checks=...)`: every
batch checked, the divergence stop) with the checks on and off, interleaved in
one process, and, interleaved the same way, the step of a class-conditional
model (`--num-classes`) against the unconditional one.

Every step, matmul and pipeline time excludes the time the host paused this
virtual machine (`HostStallMonitor`): on a shared host such pauses took
more than half the wall time in the committed run, and would otherwise set
every figure. Each measurement runs in its own Python process (unless
`--in-process`), so that thread settings take effect and peak memory belongs
to one model.
Steps are timed by a callback, not by whole `fit` calls, and the first
batch of every trial (which also starts the data iterator) is not timed. Writes
train_throughput.json and train_throughput.md to `--out` and prints the table.

This module runs the jobs; ava_keras.benchmarks.measure measures, ava_keras.benchmarks.report
writes the tables and checks them against `--targets` (the ava_keras repository's
own targets are in benchmarks/targets.json).
"""

# TensorFlow is imported only inside functions, so `--help` answers at once.

import argparse
import json
import os
import subprocess
import sys
import time

from ava_keras.benchmarks import measure, report
from ava_keras.constants import PRECISIONS
from ava_keras.experiments._common import PRESETS, make_out_dir, positive_int, preset_list

DEFAULT_SHAPES = ((64, 64, 3), (28, 28, 1))


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
    parser.add_argument("--num-classes", type=int, default=10, metavar="K",
                        help="Also time the class-conditional step (K classes) against the unconditional one, "
                        "interleaved in one process, for ava5 (or the last preset) at the first shape; 0 skips "
                        "it (default 10).")
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
    parser.add_argument("--targets", default=None, metavar="JSON",
                        help="Targets to check the run against, a JSON object (keys: "
                             f"{', '.join(report.TARGET_KEYS)}); the ava_keras repository keeps its own in "
                             "benchmarks/targets.json. Without it only the trace count is checked.")
    parser.add_argument("--out", default="benchmark_results", help="Output folder (default ./benchmark_results).")
    return parser


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
    if args.num_classes:
        jobs.append({**base, "kind": "conditional", "preset": checked_preset, "shape": first,
                     "num_classes": args.num_classes})
    jobs.append({"kind": "pipeline", "count": args.pipeline_images, "shape": first, "batch_size": args.batch_size})
    if not args.no_jit:  # last: XLA compilation can be slow, and a timeout then loses nothing else
        for preset in extremes:  # at most 2 trials: XLA's CPU steps have run many times slower
            jobs.append({**base, "kind": "train", "preset": preset, "shape": first, "jit": True, "mode": "xla",
                         "trials": min(args.trials, 2)})
    return jobs


def _run_job(job, in_process, timeout=None):
    if in_process:
        return measure.measure(job)
    command = [sys.executable, "-m", "ava_keras.benchmarks.measure", measure.WORKER_FLAG, json.dumps(job)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    try:
        process = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"timed_out_after_seconds": timeout}
    if process.returncode != 0:
        raise RuntimeError(f"benchmark worker failed for {job}: {process.stderr.strip().splitlines()[-1:]}")
    return json.loads(process.stdout.strip().splitlines()[-1])


def run(args):
    """Runs the benchmark described by parsed `args`; returns an exit code."""
    if args.quick:
        args.presets, args.shapes, args.batch_size = ("vae", "ava5"), [(16, 16, 1)], 8
        args.warmup, args.steps, args.trials, args.no_jit, args.no_threads = 1, 2, 2, True, True
        args.pipeline_images = min(args.pipeline_images, 32)
    make_out_dir(args.out)
    if args.report_from:
        results, timed_out = report.read_jsonl(args.report_from)
        report.write_report(results, timed_out, args, seconds=None)
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
                       f"overhead {result['checks_overhead']:.1%}" if job["kind"] == "checks" else
                       f"ratio {result['conditional_ratio']:.3f}" if job["kind"] == "conditional" else "done")
        with open(os.path.join(args.out, "train_throughput.jsonl"), "a") as file:  # survives an interrupted run
            file.write(json.dumps(result) + "\n")
        print(f"[bench {i}/{len(jobs)}] {report.describe(job)}: {outcome} ({time.time() - job_start:.0f} s)", flush=True)
    report.write_report(results, timed_out, args, time.time() - start)
    return 0


if __name__ == "__main__":
    sys.exit(run(add_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0])).parse_args()))
