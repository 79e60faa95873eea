"""Why mixed_bfloat16 does not speed up AVA on this CPU: its convolutions, float32 against bfloat16, oneDNN off and on.

    python benchmarks/bf16_conv_probe.py --out docs/performance/precision/bf16_conv_probe.json

TensorFlow's pip wheel (a CUDA build) leaves oneDNN off unless
`TF_ENABLE_ONEDNN_OPTS=1`; without it, bfloat16 kernels are Eigen's. For
each setting, a fresh process times the forward pass and both gradients
(input and filter) of the default encoder's two stride-2 convolutions at
64x64x3 and batch 64 (`Conv2D`, `Conv2DBackpropInput`,
`Conv2DBackpropFilter`: the op types that take most of the step in the
profile), and a 2048² matmul, in float32 and bfloat16. Times are medians
of `--repeats` calls, each less the host's pauses (`HostStallMonitor`).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

# (input shape, filters) of the default ConvEncoder's convolutions at 64x64x3, batch 64.
CONVOLUTIONS = (((64, 64, 64, 3), 32), ((64, 32, 32, 32), 64))
MATMUL_SIZE = 2048


def _median_seconds(function, repeats):
    from ava_keras.benchmarks.host_stalls import HostStallMonitor

    function()  # trace and warm up
    intervals = []
    with HostStallMonitor() as monitor:
        for _ in range(repeats):
            start = time.perf_counter()
            function()
            intervals.append((start, time.perf_counter()))
    return statistics.median(monitor.busy_seconds(*interval) for interval in intervals)


def measure(repeats):
    import tensorflow as tf
    from tensorflow.python.util import _pywrap_util_port

    results = {"onednn_enabled": bool(_pywrap_util_port.IsMklEnabled()), "ops": []}
    for dtype in ("float32", "bfloat16"):
        for shape, filters in CONVOLUTIONS:
            x = tf.cast(tf.random.stateless_normal(shape, seed=(1, 2)), dtype)
            kernel = tf.cast(tf.random.stateless_normal((3, 3, shape[-1], filters), seed=(3, 4)), dtype)
            forward = tf.function(lambda x=x, k=kernel: tf.nn.conv2d(x, k, 2, "SAME"))
            output_shape = forward().shape
            dy = tf.cast(tf.random.stateless_normal(output_shape, seed=(5, 6)), dtype)
            backprop_input = tf.function(
                lambda k=kernel, dy=dy: tf.raw_ops.Conv2DBackpropInput(
                    input_sizes=shape, filter=k, out_backprop=dy, strides=[1, 2, 2, 1], padding="SAME"))
            backprop_filter = tf.function(
                lambda x=x, dy=dy: tf.raw_ops.Conv2DBackpropFilter(
                    input=x, filter_sizes=kernel.shape, out_backprop=dy, strides=[1, 2, 2, 1], padding="SAME"))
            for op, function in (("Conv2D", forward), ("Conv2DBackpropInput", backprop_input),
                                 ("Conv2DBackpropFilter", backprop_filter)):
                seconds = _median_seconds(lambda f=function: f().numpy(), repeats)
                results["ops"].append({"op": op, "dtype": dtype, "input": list(shape), "filters": filters,
                                       "milliseconds": seconds * 1e3})
        a = tf.cast(tf.random.stateless_normal((MATMUL_SIZE, MATMUL_SIZE), seed=(7, 8)), dtype)
        matmul = tf.function(lambda a=a: tf.matmul(a, a))
        seconds = _median_seconds(lambda: matmul().numpy(), repeats)
        results["ops"].append({"op": "MatMul", "dtype": dtype, "input": [MATMUL_SIZE, MATMUL_SIZE],
                               "milliseconds": seconds * 1e3, "gflops": 2 * MATMUL_SIZE**3 / seconds / 1e9})
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", required=True)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.repeats)))
        return
    runs = {}
    for onednn in ("0", "1"):
        env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": onednn, "TF_CPP_MIN_LOG_LEVEL": "3"}
        process = subprocess.run([sys.executable, __file__, "--worker", "--repeats", str(args.repeats), "--out", "-"],
                                 env=env, capture_output=True, text=True, check=True)
        runs[f"TF_ENABLE_ONEDNN_OPTS={onednn}"] = json.loads(process.stdout.strip().splitlines()[-1])
    for name, run in runs.items():
        float32 = {(r["op"], tuple(r["input"])): r["milliseconds"] for r in run["ops"] if r["dtype"] == "float32"}
        for r in run["ops"]:
            r["bfloat16_speedup"] = float32[(r["op"], tuple(r["input"]))] / r["milliseconds"] if r["dtype"] == "bfloat16" else None
            print(f"{name} {r['op']:22s} {r['dtype']:9s} {str(r['input']):20s} {r['milliseconds']:9.1f} ms"
                  + (f"  bf16 speed-up {r['bfloat16_speedup']:.2f}" if r["bfloat16_speedup"] else ""))
    result = {"command": f"python benchmarks/bf16_conv_probe.py --repeats {args.repeats} --out {args.out}",
              "runs": runs}
    with open(args.out, "w") as file:
        json.dump(result, file, indent=2)


if __name__ == "__main__":
    main()
