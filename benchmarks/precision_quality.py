"""Does mixed_bfloat16 change what AVA learns? float32 against mixed_bfloat16, same seeds.

    python benchmarks/precision_quality.py --out docs/performance/precision/quality.json

For each seed and precision, trains AVA5 (default networks, latent size 16)
on the 1,400 training digits at 28x28x1 for `--steps` steps of `--batch-size`
with the same seed (weights, noise, batch order), then scores it on the 397
held-out digits with the package's own evaluation functions: classifier FID
of `--samples` samples (`ak.evaluation.classifier_fid`) and the
reconstruction MSE (`ak.evaluation.mse`). Reports every run, and per
precision the mean and the standard deviation over seeds.
"""

import argparse
import json
import statistics
import time

import keras
import numpy as np

import ava_keras as ak
from ava_keras.evaluation.digit_classifier import digits_split

PRECISIONS = ("float32", "mixed_bfloat16")


def train_and_score(precision, seed, steps, batch_size, samples, train, held_out):
    keras.utils.set_random_seed(seed)
    model = ak.AVA.from_preset("ava5", image_shape=train.shape[1:], latent_dim=16, seed=seed, dtype=precision)
    model.compile()
    order = np.random.default_rng(seed).integers(0, len(train), size=steps * batch_size)
    start = time.perf_counter()
    history = model.fit(train[order], batch_size=batch_size, epochs=1, shuffle=False, verbose=0).history
    seconds = time.perf_counter() - start
    generated = np.asarray(model.sample(samples, seed=seed), dtype="float32")
    reconstructions = np.asarray(model.reconstruct(held_out), dtype="float32")
    return {
        "precision": precision,
        "seed": seed,
        "train_seconds": seconds,
        "final_loss": float(history["loss"][-1]),
        "classifier_fid": ak.evaluation.classifier_fid(held_out, generated),
        "mse": float(ak.evaluation.mse(held_out, reconstructions)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--samples", type=int, default=397)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    train, _, held_out, _ = digits_split()
    runs = []
    for seed in args.seeds:
        for precision in PRECISIONS:  # interleaved: the host's load hits both alike
            runs.append(train_and_score(precision, seed, args.steps, args.batch_size, args.samples, train, held_out))
            print(json.dumps(runs[-1]), flush=True)
    summary = {}
    for precision in PRECISIONS:
        rows = [r for r in runs if r["precision"] == precision]
        summary[precision] = {
            key: {"mean": statistics.mean(r[key] for r in rows), "sd": statistics.stdev(r[key] for r in rows)}
            for key in ("classifier_fid", "mse", "final_loss", "train_seconds")
        }
    fid = {p: summary[p]["classifier_fid"] for p in PRECISIONS}
    summary["fid_difference_in_float32_sds"] = (
        (fid["mixed_bfloat16"]["mean"] - fid["float32"]["mean"]) / fid["float32"]["sd"]
    )
    result = {"command": "python benchmarks/precision_quality.py " + " ".join(
        f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in vars(args).items()),
        "summary": summary, "runs": runs}
    with open(args.out, "w") as file:
        json.dump(result, file, indent=2)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
