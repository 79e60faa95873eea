"""The throughput benchmark runs end to end, and the FLOP counter counts what runs."""

import argparse
import json
import os
import signal
import time

import numpy as np
import pytest
import tensorflow as tf

from ava_keras import cli
from ava_keras._host_stalls import HostStallMonitor
from ava_keras.benchmarks._flops import step_flops
from tests._readme import shared_run_group
from tests._tiny import IMAGE_SHAPE, tiny_model

pytestmark = pytest.mark.integration  # the full tier (README: Tests)


def test_step_flops_counts_matmuls_and_skips_unused_ops():
    def used_and_unused(a, b):
        tf.matmul(b, b)  # result unused: pruned by TensorFlow, not counted
        return tf.matmul(a, b)

    total, by_type = step_flops(
        used_and_unused, tf.TensorSpec((3, 5), tf.float32), tf.TensorSpec((5, 5), tf.float32)
    )
    assert total == by_type["MatMul"] == 2 * 3 * 5 * 5


def test_joint_step_runs_one_backward_pass_through_the_decoder():
    # In joint routing the encoder's and the decoder's gradients share one
    # backward pass. A second pass would repeat the decoder's input-gradient
    # convolutions; the paper routing, whose encoder objective (K) never
    # reaches the decoder, runs each of them once.
    conv_flops = {}
    for routing in ("joint", "paper"):
        model = tiny_model("vae", routing=routing)
        model.compile()
        _, by_type = step_flops(model.train_step, tf.TensorSpec((4,) + IMAGE_SHAPE, tf.float32))
        conv_flops[routing] = by_type["Conv2D"]
    assert conv_flops["joint"] == conv_flops["paper"]


def test_host_stall_monitor_measures_a_pause_of_its_watcher():
    # A stopped watcher wakes up late exactly as it does when the host pauses
    # the whole machine, so stopping it for 0.3 s must read as a 0.3 s pause.
    with HostStallMonitor() as monitor:
        time.sleep(0.05)
        before = time.perf_counter()
        os.kill(monitor._process.pid, signal.SIGSTOP)
        time.sleep(0.3)
        os.kill(monitor._process.pid, signal.SIGCONT)
        time.sleep(0.05)
        after = time.perf_counter()
    paused = monitor.stalled_seconds(before, after)
    assert 0.28 <= paused <= after - before
    # Pauses outside an interval do not count inside it.
    assert monitor.stalled_seconds(after + 1, after + 2) == 0.0


def test_host_stall_monitor_arithmetic_by_hand():
    # Pauses [1, 1.5] and [2, 3]; the interval [1.25, 2.5] holds 0.25 s of the
    # first and 0.5 s of the second: 0.75 s paused, 0.5 s busy, a fraction 0.6.
    monitor = HostStallMonitor()
    monitor.stalls = [(1.0, 1.5), (2.0, 3.0)]
    assert monitor.stalled_seconds(1.25, 2.5) == pytest.approx(0.75)
    assert monitor.busy_seconds(1.25, 2.5) == pytest.approx(0.5)
    assert monitor.stalled_fraction(1.25, 2.5) == pytest.approx(0.6)
    assert monitor.stalled_fraction(0.0, 4.0) == pytest.approx(1.5 / 4.0)
    assert monitor.stalled_fraction(1.5, 2.0) == 0.0  # between the pauses
    assert monitor.stalled_fraction(2.0, 2.0) == 0.0  # an empty interval


@pytest.mark.xdist_group(shared_run_group("bench"))
def test_bench_quick_writes_finite_results(readme_run, tmp_path):
    # README.md's `ava-keras bench --quick`, as written: every measurement ran in its own worker process.
    out = readme_run("bench") / "benchmark_results"
    summary = json.loads((out / "train_throughput.json").read_text())
    train = [r for r in summary["results"] if r["kind"] == "train"]
    assert [r["preset"] for r in train] == ["vae", "ava5"]
    for r in train:
        for key in ("step_seconds", "images_per_second", "step_gflop", "matmul_gflops", "peak_memory_mib"):
            assert np.isfinite(r[key]) and r[key] > 0, (r["preset"], key)
        assert r["traces"] == 1
        # Each step's time less its host pauses is at most its wall time, so the medians keep that order.
        assert r["step_seconds"] <= r["step_seconds_raw"]
        assert 0 <= r["host_paused_fraction"] < 1 and r["timed_steps"] == 4
    assert train[1]["step_gflop"] > train[0]["step_gflop"]  # AVA5 does more work than the VAE
    traces = next(r for r in summary["results"] if r["kind"] == "traces")
    assert traces["traces"] == 1 and traces["final"] == "ava5"
    safety = next(r for r in summary["results"] if r["kind"] == "checks")
    assert safety["step_seconds_checked"] > 0 and safety["step_seconds_unchecked"] > 0
    assert np.isfinite(safety["checks_overhead"])
    conditional = next(r for r in summary["results"] if r["kind"] == "conditional")
    assert conditional["num_classes"] == 10 and conditional["timed_steps"] == 4
    assert conditional["step_seconds_conditional"] > 0 and conditional["step_seconds_unconditional"] > 0
    low, high = conditional["conditional_ratio_quartiles"]
    assert low <= conditional["conditional_ratio"] <= high
    assert "Class-conditional step (`num_classes=10`" in (out / "train_throughput.md").read_text()
    pipeline = next(r for r in summary["results"] if r["kind"] == "pipeline")
    assert pipeline["images_per_second"] > 0 and pipeline["cached_images_per_second"] > 0
    assert "| vae | 16x16x1 | graph |" in (out / "train_throughput.md").read_text()
    # Without --targets a report checks only the trace count; rebuilt from the run's incremental JSONL it
    # has the same checks.
    assert list(summary["checks"]) == ["train_step traces per process (max)"]
    assert cli.main(["bench", "--report-from", str(out / "train_throughput.jsonl"), "--out", str(tmp_path / "bare")]) == 0
    assert json.loads((tmp_path / "bare" / "train_throughput.json").read_text())["checks"] == summary["checks"]
    # With the repository's targets the rebuilt report checks them too; a targets file with an unknown key is refused.
    targets = os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks", "targets.json")
    assert cli.main(["bench", "--report-from", str(out / "train_throughput.jsonl"), "--targets", targets,
                     "--out", str(tmp_path / "again")]) == 0
    checks = json.loads((tmp_path / "again" / "train_throughput.json").read_text())["checks"]
    assert "safety checks' overhead, ava5 at 16x16x1" in checks and "ava5 step / vae step at 16x16x1" in checks
    assert "class-conditional (10 classes) / unconditional step, ava5 at 16x16x1" in checks
    (tmp_path / "bad.json").write_text('{"ava9_ratio": 1.0}')
    assert cli.main(["bench", "--report-from", str(out / "train_throughput.jsonl"), "--targets",
                     str(tmp_path / "bad.json"), "--out", str(tmp_path / "bad")]) == 2


def test_bench_profile_runs_in_process_and_shares_the_self_time_by_op_type():
    from ava_keras.benchmarks import train_throughput

    args = train_throughput.add_arguments(argparse.ArgumentParser()).parse_args(["--profile", "vae", "--in-process"])
    profiles = [job for job in train_throughput._jobs(args) if job["kind"] == "profile"]
    assert [(job["preset"], job["precision"]) for job in profiles] == [("vae", "float32")]
    profile = train_throughput._run_job({**profiles[0], "shape": [16, 16, 1], "batch_size": 8}, in_process=True)
    assert 0 <= profile["host_paused_fraction"] < 1
    shares = [op["share"] for op in profile["op_types"]]
    assert shares and all(0 < share <= 1 for share in shares) and shares == sorted(shares, reverse=True)


def test_bench_rejects_bad_flags(capsys):
    assert cli.main(["bench", "--shapes", "64x64x2"]) == 2
    assert "64x64x2" in capsys.readouterr().err


def test_the_conditional_step_figures_are_the_committed_run(tmp_path, capsys):
    """docs/performance.md's class-conditional section quotes docs/performance/conditional as its JSONL rebuilds it."""
    from tests._drift import ROOT, assert_matches_committed

    folder, targets = "docs/performance/conditional", "benchmarks/targets.json"
    command = f"ava-keras bench --report-from {folder}/train_throughput.jsonl --targets {targets} --out {folder}"
    assert cli.main(["bench", "--report-from", str(ROOT / folder / "train_throughput.jsonl"), "--targets",
                     str(ROOT / targets), "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    assert_matches_committed((tmp_path / "train_throughput.md").read_text(), f"{folder}/train_throughput.md", command)
    run = next(r for r in map(json.loads, (ROOT / folder / "train_throughput.jsonl").read_text().splitlines())
               if r["kind"] == "conditional")
    low, high = run["conditional_ratio_quartiles"]
    quoted = (f"Median step {run['step_seconds_conditional'] * 1e3:.1f} ms conditional and "
              f"{run['step_seconds_unconditional'] * 1e3:.1f} ms unconditional",
              f"(ratio {run['conditional_ratio']:.3f}; quartiles of the paired ratios {low:.3f} and {high:.3f}; "
              f"the medians'\nratio {run['conditional_ratio_of_medians']:.3f})",
              f"is {run['conditional_ratio'] - 1:.1%} of the median unconditional step")
    doc = (ROOT / "docs" / "performance.md").read_text()
    for text in quoted:
        assert " ".join(text.split()) in " ".join(doc.split()), text
