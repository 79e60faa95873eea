"""Input pipeline at scale (`ava-keras bench data-scale`): `image_folder` on 10k-200k JPEG files.

For each number of files, image size and cache mode, in its own Python
process: the up-front time of `ak.data.image_folder(...)` (finding,
checking or decoding the files), the images per second of the whole first
epoch, and the peak resident memory, against TensorFlow's baseline (the
peak after importing TensorFlow and running a one-batch pipeline) and the
size of the decoded uint8 data. Modes: `memory` (`cache=True`), `stream`
(`cache=False`) and `disk` (`cache=FILE`), each with `check="auto"` (so
folders above 10,000 files that are not held in memory have only their
headers read up front). Times exclude host pauses (`HostStallMonitor`).

The synthetic folders are JPEG crops (quality 90, at the image size) of the
bundled photographs, written once under `--data-root` and reused. Results
are appended to data_scale.jsonl as they come and summarised in
data_scale.json and data_scale.md in `--out`.
"""

# TensorFlow is imported only inside functions, so `--help` answers at once.

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from ava_keras.benchmarks.report import read_targets
from ava_keras.experiments._common import machine, make_out_dir, positive_int

MODES = ("memory", "stream", "disk")
DEFAULT_FILES = (10_000, 50_000, 200_000)
DEFAULT_SIZES = (64, 128)
_WORKER_FLAG = "--worker"
_MIB = 2**20


def add_arguments(parser):
    """Adds the options of `ava-keras bench data-scale` to an argparse parser."""
    parser.add_argument("--files", type=positive_int, nargs="+", default=DEFAULT_FILES,
                        help="Numbers of JPEG files (default 10000 50000 200000).")
    parser.add_argument("--sizes", type=positive_int, nargs="+", default=DEFAULT_SIZES,
                        help="Image sides in pixels (files are written at this size; default 64 128).")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=MODES, help="Cache modes (default all).")
    parser.add_argument("--batch-size", type=positive_int, default=64, help="Images per batch (default 64).")
    parser.add_argument("--data-root", default=os.path.join(tempfile.gettempdir(), "ava_keras_data_scale"),
                        help="Where the synthetic folders are written and reused (default /tmp/...).")
    parser.add_argument("--job-timeout", type=positive_int, default=3600,
                        help="Seconds one measurement may take before it is recorded as timed out.")
    parser.add_argument("--report-from", default=None, metavar="JSONL",
                        help="Measure nothing: rebuild the report from a run's data_scale.jsonl.")
    parser.add_argument("--targets", default=None, metavar="JSON",
                        help="Targets file (as for `ava-keras bench`); its memory_peak_over_data bounds memory "
                             "mode's (peak - baseline) / data. The ava_keras repository keeps its own in "
                             "benchmarks/targets.json.")
    parser.add_argument("--out", default="benchmark_results", help="Output folder (default ./benchmark_results).")
    return parser


# === Measurement (in a worker process) ===


def _peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def write_jpeg_folder(directory, count, side):
    """Writes `count` JPEG crops of the bundled photos (side × side, quality 90) in sub-folders of 10,000."""
    import numpy as np
    from PIL import Image

    from ava_keras.datasets import load_photos

    photos = (load_photos(image_size=256, channels=3) * 255).round().astype("uint8")
    rng = np.random.default_rng(0)
    for i in range(count):
        photo = photos[i % len(photos)]
        top, left = rng.integers(0, photo.shape[0] - side + 1, size=2)
        folder = os.path.join(directory, f"{i // 10_000:02d}")
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(photo[top : top + side, left : left + side]).save(
            os.path.join(folder, f"{i:06d}.jpg"), quality=90)


def synthetic_folder(root, count, side):
    """The folder of `count` JPEGs at `side`, written on first use (a marker file records completion)."""
    directory = os.path.join(root, f"jpeg_{side}px_{count}")
    marker = os.path.join(directory, ".complete")
    if not os.path.exists(marker):
        write_jpeg_folder(directory, count, side)
        with open(marker, "w") as file:
            file.write(str(count))
    return directory


def _baseline_mib():
    """Peak RSS after TensorFlow is imported and has run a one-batch numpy_function pipeline."""
    import numpy as np
    import tensorflow as tf

    import ava_keras  # noqa: F401

    dataset = tf.data.Dataset.range(4).batch(2).map(
        lambda i: tf.numpy_function(lambda x: np.zeros((len(x), 8), np.uint8), [i], tf.uint8))
    for _ in dataset:
        pass
    return _peak_rss_mib()


def measure(directory, side, mode, batch_size):
    """One measurement: up-front time, first-epoch images per second, peak memory."""
    import ava_keras as ak
    from ava_keras._host_stalls import HostStallMonitor
    from ava_keras.data.image_folder import FULL_CHECK_FILES

    baseline = _baseline_mib()
    with tempfile.TemporaryDirectory() as scratch:
        cache = {"memory": True, "stream": False, "disk": os.path.join(scratch, "cache")}[mode]
        with HostStallMonitor() as monitor:
            start = time.perf_counter()
            dataset = ak.data.image_folder(directory, side, batch_size=batch_size, cache=cache, seed=0)
            upfront_end = time.perf_counter()
            after_upfront = _peak_rss_mib()
            images = 0
            for batch in dataset:
                images += int(batch.shape[0])
            epoch_end = time.perf_counter()
        files = len(dataset.file_paths)
        data_mib = files * side * side * 3 / _MIB
        peak = _peak_rss_mib()
        return {
            "files": files, "side": side, "mode": mode, "batch_size": batch_size,
            "checked": "decode" if mode == "memory" or files <= FULL_CHECK_FILES else "header",
            "upfront_seconds": monitor.busy_seconds(start, upfront_end),
            "upfront_wall_seconds": upfront_end - start,
            "first_epoch_images": images,
            "first_epoch_images_per_second": images / monitor.busy_seconds(upfront_end, epoch_end),
            "first_epoch_wall_seconds": epoch_end - upfront_end,
            "host_paused_fraction": monitor.stalled_fraction(start, epoch_end),
            "data_mib": data_mib, "baseline_mib": baseline,
            "peak_after_upfront_mib": after_upfront, "peak_mib": peak,
            "peak_over_baseline_per_data": (peak - baseline) / data_mib,
        }


def _worker_main(job_json):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    job = json.loads(job_json)
    print(json.dumps(measure(job["directory"], job["side"], job["mode"], job["batch_size"])))


# === Orchestration and report ===


def _run_job(job, timeout):
    try:
        completed = subprocess.run(
            [sys.executable, "-m", __name__, _WORKER_FLAG, json.dumps(job)],
            capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"timed_out_after_seconds": timeout}
    if completed.returncode != 0:
        return {"error": completed.stderr.strip().splitlines()[-1:] or [f"exit {completed.returncode}"]}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _growth_table(results, title, cell):
    """One metric as a table: a row per (size, mode), a column per number of files."""
    counts = sorted({r["files_requested"] for r in results})
    rows = sorted({(r["side"], r["mode"]) for r in results}, key=lambda key: (key[0], MODES.index(key[1])))
    by_key = {(r["side"], r["mode"], r["files_requested"]): r for r in results}
    lines = [f"**{title}**", "", "| size | mode | " + " | ".join(f"{c:,} files" for c in counts) + " |",
             "|---|---|" + "---|" * len(counts)]
    for side, mode in rows:
        cells = []
        for count in counts:
            r = by_key.get((side, mode, count))
            cells.append("not run" if r is None else cell(r) if "peak_mib" in r else
                         f"failed: {r.get('error') or 'timed out after %s s' % r.get('timed_out_after_seconds')}")
        lines.append(f"| {side}×{side} | {mode} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_report(results):
    """Markdown: how up-front time, first-epoch speed and peak memory grow with the number of files."""
    return "\n\n".join([
        _growth_table(results, "Up-front seconds (finding and checking or decoding the files; check used)",
                      lambda r: f"{r['upfront_seconds']:.1f} ({r['checked']})"),
        _growth_table(results, "First epoch, images per second",
                      lambda r: f"{r['first_epoch_images_per_second']:,.0f}"),
        _growth_table(results, "Peak resident memory, MiB (baseline; decoded data; (peak − baseline) ÷ data)",
                      lambda r: f"{r['peak_mib']:,.0f} ({r['baseline_mib']:,.0f}; {r['data_mib']:,.0f}; "
                                f"{r['peak_over_baseline_per_data']:.2f})"),
    ])


def _write_report(results, out, command, seconds=None, targets=None):
    memory_rows = [r for r in results if r["mode"] == "memory" and "peak_mib" in r]
    summary = {"command": command, "machine": machine(), "seconds": seconds, "results": results}
    bound = (targets or {}).get("memory_peak_over_data")
    if bound is not None:
        summary["memory_target"] = f"peak <= {bound} x data + baseline in memory mode"
        summary["memory_target_met"] = [r["peak_over_baseline_per_data"] <= bound for r in memory_rows]
    with open(os.path.join(out, "data_scale.json"), "w") as file:
        json.dump(summary, file, indent=1)
    report = format_report(results)
    with open(os.path.join(out, "data_scale.md"), "w") as file:
        file.write(f"# Input pipeline at scale\n\n`{command}`\n\n{report}\n")
    print(report)


def _command(args):
    """The `ava-keras bench data-scale` command line of `args`, for the record."""
    if args.report_from:
        return f"ava-keras bench data-scale --report-from {args.report_from} --out {args.out}"
    return (f"ava-keras bench data-scale --files {' '.join(map(str, args.files))} "
            f"--sizes {' '.join(map(str, args.sizes))} --modes {' '.join(args.modes)} "
            f"--batch-size {args.batch_size} --out {args.out}")


def run(args):
    out = make_out_dir(args.out)
    command = _command(args)
    if args.report_from:
        with open(args.report_from) as file:
            results = [json.loads(line) for line in file if line.strip()]
        _write_report(results, out, command, targets=read_targets(args.targets))
        return 0
    started = time.time()
    results = []
    jsonl = os.path.join(out, "data_scale.jsonl")
    for side in args.sizes:
        for count in args.files:
            directory = synthetic_folder(args.data_root, count, side)
            for mode in args.modes:
                job = {"directory": directory, "side": side, "mode": mode, "batch_size": args.batch_size}
                print(f"data-scale: {count} files, {side}x{side}, {mode} ...", flush=True)
                result = {"files_requested": count, "side": side, "mode": mode,
                          **_run_job(job, args.job_timeout)}
                print(json.dumps(result), flush=True)
                results.append(result)
                with open(jsonl, "a") as file:
                    file.write(json.dumps(result) + "\n")
    _write_report(results, out, command, seconds=time.time() - started, targets=read_targets(args.targets))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == [_WORKER_FLAG]:
        _worker_main(sys.argv[2])
    else:
        sys.exit(run(add_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0])).parse_args()))
