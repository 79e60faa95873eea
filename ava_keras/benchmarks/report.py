"""The report of `ava-keras bench`: tables, and checks against targets passed with `--targets`.

The ava_keras project's own targets live with its benchmarks, in
`benchmarks/targets.json` of the repository (docs/performance.md).
"""

import json
import os
import statistics
import sys

from ava_keras.errors import InputError
from ava_keras.experiments._common import machine

# The keys a targets file may set: step-time ratios to the VAE, achieved FLOP/s
# as a fraction of matmul FLOP/s, pipeline speed-up, memory, safety-check overhead,
# the class-conditional step over the unconditional one;
# and for `bench data-scale`, memory mode's (peak - baseline) / data.
TRAINING_TARGET_KEYS = ("ava1_ratio", "ava5_ratio", "flops_fraction", "pipeline_factor", "peak_memory_gib",
                        "traces", "checks_overhead", "conditional_ratio")
TARGET_KEYS = TRAINING_TARGET_KEYS + ("memory_peak_over_data",)


def read_targets(path):
    """The targets in the JSON file at `path` (None: no targets), checked against `TARGET_KEYS`."""
    if path is None:
        return None
    with open(path) as file:
        targets = json.load(file)
    unknown = sorted(set(targets) - set(TARGET_KEYS))
    if unknown:
        raise InputError(f"{path}: unknown targets {unknown}; the known ones are {', '.join(TARGET_KEYS)}.")
    return targets


def _precision(result):
    return result.get("precision", "float32")  # runs recorded before the precision axis were float32


def describe(job):
    if job["kind"] == "train":
        return f"{job['preset']} {'x'.join(map(str, job['shape']))} {job['mode']} {_precision(job)}"
    if job["kind"] == "checks":
        return f"safety checks {job['preset']} {'x'.join(map(str, job['shape']))}"
    if job["kind"] == "conditional":
        return (f"conditional ({job['num_classes']} classes) vs unconditional {job['preset']} "
                f"{'x'.join(map(str, job['shape']))}")
    return job["kind"]


def _shape_name(shape):
    return "x".join(map(str, shape))


def _interleaved_setting(result, pair):
    """The setting of a measurement whose two models (`pair`) took alternate steps (`interleaved_step_seconds`)."""
    return (
        f"{result['preset']} at {_shape_name(result['shape'])}, batch {result['batch_size']}, "
        f"{result['timed_steps']} timed steps each, {pair} alternating step by step in one process: "
    )


def summarize(results, targets=None):
    """Adds step-time ratios to `results`; returns the checks against `targets` (a dict, or None for none).

    The trace count is always checked (== 1: switching variants must not retrace).
    """
    targets = targets or {}
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
        if r and r["ratio_to_vae"] is not None and key in targets:
            checks[f"{preset} step / vae step at {first}"] = (r["ratio_to_vae"], f"<= {targets[key]}",
                                                             r["ratio_to_vae"] <= targets[key])
    ava5 = graph.get(("ava5", first))
    if ava5 and {"flops_fraction", "peak_memory_gib"} <= set(targets):
        checks[f"ava5 achieved / matmul FLOP/s (same process) at {first}"] = (
            ava5["flops_fraction"], f">= {targets['flops_fraction']}", ava5["flops_fraction"] >= targets["flops_fraction"])
        # The matmul of one process varies with the machine's load; the median
        # over all graph-mode processes of the run is the steadier reference.
        run_matmul = statistics.median(r["matmul_gflops"] for r in graph.values())
        fraction = ava5["achieved_gflops"] / run_matmul
        checks[f"ava5 achieved / median matmul FLOP/s of the run ({run_matmul:.0f} GFLOP/s) at {first}"] = (
            fraction, f">= {targets['flops_fraction']}", fraction >= targets["flops_fraction"])
        gib = ava5["peak_memory_mib"] / 1024
        checks[f"ava5 peak memory (GiB) at {first}"] = (gib, f"< {targets['peak_memory_gib']}",
                                                         gib < targets["peak_memory_gib"])
    pipeline = next((r for r in results if r["kind"] == "pipeline"), None)
    consumers = [r for r in graph.values() if _shape_name(r["shape"]) == first]
    if pipeline and consumers and "pipeline_factor" in targets:
        fastest = max(consumers, key=lambda r: r["images_per_second"])
        factor = pipeline["images_per_second"] / fastest["images_per_second"]
        checks[f"pipeline (decoding JPEGs) / fastest training ({fastest['preset']})"] = (
            factor, f">= {targets['pipeline_factor']}", factor >= targets["pipeline_factor"])
    safety = next((r for r in results if r["kind"] == "checks"), None)
    if safety and "checks_overhead" in targets:
        checks[f"safety checks' overhead, {safety['preset']} at {_shape_name(safety['shape'])}"] = (
            safety["checks_overhead"], f"<= {targets['checks_overhead']}",
            safety["checks_overhead"] <= targets["checks_overhead"])
    conditional = next((r for r in results if r["kind"] == "conditional"), None)
    if conditional and "conditional_ratio" in targets:
        checks[f"class-conditional ({conditional['num_classes']} classes) / unconditional step, "
               f"{conditional['preset']} at {_shape_name(conditional['shape'])}"] = (
            conditional["conditional_ratio"], f"<= {targets['conditional_ratio']}",
            conditional["conditional_ratio"] <= targets["conditional_ratio"])
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
            + _interleaved_setting(safety, "on and off")
            + f"{safety['step_seconds_checked'] * 1e3:.1f} ms per step with them, "
            f"{safety['step_seconds_unchecked'] * 1e3:.1f} ms without (medians); overhead "
            f"{safety['checks_overhead']:.1%}: the median of the paired differences over the median step "
            + (f"(their quartiles {safety['checks_overhead_quartiles'][0]:.1%} and "
               f"{safety['checks_overhead_quartiles'][1]:.1%}; " if "checks_overhead_quartiles" in safety else "(")
            + f"the medians' ratio gives {safety['checks_overhead_of_medians']:.1%}).",
            "",
        ]
    conditional = next((r for r in results if r["kind"] == "conditional"), None)
    if conditional:
        lines += [
            f"Class-conditional step (`num_classes={conditional['num_classes']}`, labels as inputs of every block), "
            + _interleaved_setting(conditional, "conditional and unconditional")
            + f"{conditional['step_seconds_conditional'] * 1e3:.1f} ms per step conditional, "
            f"{conditional['step_seconds_unconditional'] * 1e3:.1f} ms unconditional (medians); ratio "
            f"{conditional['conditional_ratio']:.3f}: 1 + the median of the paired differences over the median "
            f"unconditional step (quartiles {conditional['conditional_ratio_quartiles'][0]:.3f} and "
            f"{conditional['conditional_ratio_quartiles'][1]:.3f}; the medians' ratio gives "
            f"{conditional['conditional_ratio_of_medians']:.3f}).",
            "",
        ]
    lines += [
        "| check | measured | target | met |",
        "|---|---:|---|---|",
    ]
    for name, (value, target, met) in checks.items():
        lines.append(f"| {name} | {value:.3g} | {target} | {'yes' if met else '**no**'} |")
    return "\n".join(lines) + "\n"


def read_jsonl(path):
    """The results and timed-out jobs of a run, from its train_throughput.jsonl."""
    with open(path) as file:
        rows = [json.loads(line) for line in file if line.strip()]
    return ([r for r in rows if "timed_out_after_seconds" not in r],
            [r for r in rows if "timed_out_after_seconds" in r])


def write_report(results, timed_out, args, seconds):
    """Prints the tables and checks, and writes train_throughput.json and .md."""
    targets = read_targets(getattr(args, "targets", None))
    checks = summarize(results, targets)
    report = format_report(results, checks)
    for job in timed_out:
        report += (f"\nNot measured: {describe(job)} did not finish within --job-timeout "
                   f"{job['timed_out_after_seconds']} s.\n")
    print(report)
    summary = {
        "command": "ava-keras bench " + " ".join(sys.argv[2:] if sys.argv[1:2] == ["bench"] else sys.argv[1:]),
        "machine": machine(),
        "isolated_processes": not args.in_process,
        "seconds": seconds,
        "targets": None if targets is None else {k: v for k, v in targets.items() if k in TRAINING_TARGET_KEYS},
        "checks": {name: {"measured": v, "target": t, "met": m} for name, (v, t, m) in checks.items()},
        "results": results,
        "timed_out": timed_out,
    }
    with open(os.path.join(args.out, "train_throughput.json"), "w") as file:
        json.dump(summary, file, indent=2)
    with open(os.path.join(args.out, "train_throughput.md"), "w") as file:
        file.write(report)
    print(f"Wrote {args.out}/train_throughput.json and train_throughput.md")
