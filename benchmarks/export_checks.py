"""The cost of the SavedModel export's input checks: each endpoint's latency with and without them.

    python benchmarks/export_checks.py --out docs/performance/export_checks.json

Builds an AVA5 of the shipped `saved_models/ava5_digits` architecture (16x16x1, latent_dim 8;
untrained weights, which do not change the latency), writes it twice in one run, once with the
checks of `ava_keras.export_saved_model` and once with every check removed from the graph, loads
both with `tf.saved_model.load` and times each endpoint at batch 1 and 256 (`generate` at n = 1
and 256). Calls alternate between the two exports in rounds; the median time per call over the
rounds is reported, with the first and third quartiles and the fastest round (the least disturbed
by other processes on a shared machine).
"""

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _report import write_result  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 256])
    parser.add_argument("--rounds", type=int, default=21, help="alternating rounds per endpoint and batch size")
    parser.add_argument("--calls", type=int, default=20, help="calls per round (timed together)")
    parser.add_argument("--out", help="write the JSON result here")
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    import ava_keras as ak
    from ava_keras.export import endpoint_functions, write_endpoints

    model = ak.AVA.from_preset(
        "ava5", image_shape=(16, 16, 1), latent_dim=8, encoder_filters=(16, 32), decoder_filters=(32, 16),
        discriminator_filters=(16, 32), latent_discriminator_units=(32,), hidden_units=64, seed=0,
    )
    model(np.zeros((1, 16, 16, 1), "float32"))
    folder = tempfile.mkdtemp()
    checked = ak.export_saved_model(model, os.path.join(folder, "checked"))
    unchecked = os.path.join(folder, "unchecked")
    write_endpoints(model, endpoint_functions(model, refuse=lambda valid, message, value: value), unchecked)
    exports = {"with_checks": tf.saved_model.load(checked), "without_checks": tf.saved_model.load(unchecked)}

    rng = np.random.default_rng(0)
    results = []
    for batch in args.batches:
        inputs = {
            "images": tf.constant(rng.random((batch, 16, 16, 1), dtype="float32")),
            "latents": tf.constant(rng.normal(size=(batch, 8)).astype("float32")),
        }
        calls = {
            "serve": lambda e: e.serve(images=inputs["images"]),
            "encode": lambda e: e.encode(images=inputs["images"]),
            "score": lambda e: e.score(images=inputs["images"]),
            "discriminate": lambda e: e.discriminate(images=inputs["images"]),
            "decode": lambda e: e.decode(latents=inputs["latents"]),
            "discriminate_latent": lambda e: e.discriminate_latent(latents=inputs["latents"]),
            "generate": lambda e, n=tf.constant(batch): e.generate(n=n, seed=tf.constant(0)),
        }
        for endpoint, call in calls.items():
            times = {name: [] for name in exports}
            for name, export in exports.items():  # warm-up
                call(export)
            for _ in range(args.rounds):
                for name, export in exports.items():
                    start = time.perf_counter()
                    for _ in range(args.calls):
                        call(export)
                    times[name].append((time.perf_counter() - start) / args.calls * 1e3)
            medians = {name: statistics.median(values) for name, values in times.items()}
            quartiles = {name: statistics.quantiles(values, n=4) for name, values in times.items()}
            row = {
                "endpoint": endpoint,
                "batch": batch,
                "ms_with_checks": round(medians["with_checks"], 3),
                "ms_without_checks": round(medians["without_checks"], 3),
                "overhead_percent": round(100 * (medians["with_checks"] / medians["without_checks"] - 1), 1),
                "ms_fastest_round_with_checks": round(min(times["with_checks"]), 3),
                "ms_fastest_round_without_checks": round(min(times["without_checks"]), 3),
                "ms_quartiles_with_checks": [round(q, 3) for q in quartiles["with_checks"][::2]],
                "ms_quartiles_without_checks": [round(q, 3) for q in quartiles["without_checks"][::2]],
            }
            print(row, flush=True)
            results.append(row)
    return write_result(
        {
            "command": "python benchmarks/export_checks.py" + (f" --out {args.out}" if args.out else ""),
            "model": "AVA5, image_shape (16, 16, 1), latent_dim 8, the ava5_digits architecture",
            "rounds": args.rounds,
            "calls_per_round": args.calls,
            "cpu_count": os.cpu_count(),
            "tensorflow": tf.__version__,
            "results": results,
        },
        args.out,
    )


if __name__ == "__main__":
    raise SystemExit(main())
