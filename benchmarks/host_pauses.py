"""Shows that this machine's host pauses both CPUs at once, and for how long.

    python benchmarks/host_pauses.py --seconds 6 --out docs/performance/host_pauses.json

Runs one busy loop per CPU, each pinned to its CPU (`os.sched_setaffinity`),
for `--seconds`. Each records every gap of more than 20 ms between two
consecutive reads of the clock: time in which the loop did not run. A loop
that never sleeps is only held up by the kernel or by the host. When both
CPUs' gaps start and end together, the whole virtual machine was stopped.
The kernel's own steal time over the same seconds is printed beside them.
The correction in `ava-keras bench` (`HostStallMonitor`) rests on this.
"""

import argparse
import json
import multiprocessing
import os
import time

THRESHOLD = 0.02


def _busy_loop(cpu, seconds, queue):
    os.sched_setaffinity(0, {cpu})
    gaps = []
    start = last = time.perf_counter()
    while last - start < seconds:
        now = time.perf_counter()
        if now - last > THRESHOLD:
            gaps.append((last, now))
        last = now
    queue.put((cpu, start, last, gaps))


def _steal_seconds():
    """The kernel's steal time summed over CPUs (`/proc/stat`), in seconds."""
    with open("/proc/stat") as file:
        fields = file.readline().split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


def _overlap(gaps, others):
    return sum(max(0.0, min(e, f) - max(s, g)) for s, e in gaps for g, f in others)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--out", default=None, help="Optional JSON file for the result.")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    steal_before = _steal_seconds()
    queue = multiprocessing.Queue()
    loops = [multiprocessing.Process(target=_busy_loop, args=(cpu, args.seconds, queue)) for cpu in cpus]
    for loop in loops:
        loop.start()
    runs = sorted(queue.get() for _ in loops)
    for loop in loops:
        loop.join()
    steal = _steal_seconds() - steal_before
    result = {"threshold_seconds": THRESHOLD, "steal_seconds_all_cpus": steal, "cpus": {}}
    for cpu, start, end, gaps in runs:
        paused = sum(e - s for s, e in gaps)
        result["cpus"][cpu] = {"seconds": end - start, "gaps": len(gaps), "paused_seconds": paused,
                               "paused_fraction": paused / (end - start),
                               "longest_gap_ms": 1e3 * max((e - s for s, e in gaps), default=0.0)}
        print(f"CPU {cpu}: {len(gaps)} gaps > {THRESHOLD * 1e3:.0f} ms, {paused:.2f} s of "
              f"{end - start:.2f} s not running ({paused / (end - start):.0%}), longest "
              f"{result['cpus'][cpu]['longest_gap_ms']:.0f} ms")
    if len(runs) >= 2:
        first, second = runs[0][3], runs[1][3]
        shared = _overlap(first, second)
        result["shared_paused_seconds"] = shared
        result["shared_fraction_of_cpu0_gaps"] = shared / max(1e-9, sum(e - s for s, e in first))
        print(f"Paused on both CPUs at the same time: {shared:.2f} s "
              f"({result['shared_fraction_of_cpu0_gaps']:.0%} of CPU {runs[0][0]}'s paused time)")
    print(f"Steal time the kernel counted meanwhile: {steal:.2f} s over {len(cpus)} CPUs")
    if args.out:
        with open(args.out, "w") as file:
            json.dump(result, file, indent=2)


if __name__ == "__main__":
    main()
