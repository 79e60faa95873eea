"""Scores the model the README's main command trained: are its samples legible digits?

Run after `ava-keras train --dataset digits` (which writes
saved_models/digits-ava5/model.keras), from the repository root:

    python benchmarks/main_command_check.py saved_models/digits-ava5/model.keras --out docs/images/digits_ava5_check.json

Prints and writes: the package's DigitClassifier's mean top-class confidence
on 397 samples from the fitted latent mixture (seed 0), on 397 prior draws
N(0, I) decoded by the same model, and on the 397 real held-out digits; the
digits the samples are classified as; and the reconstruction MSE over all
1,797 digits (the command trains on all of them, so this is not a held-out
score: docs/quality.md has held-out scores).
"""

import argparse
import json

import numpy as np

import ava_keras as ak

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("model", help="the .keras file the main command wrote")
parser.add_argument("--out", help="also write the JSON here")
args = parser.parse_args()

model = ak.saving.load_model(args.model)
classifier = ak.evaluation.DigitClassifier()
samples = model.sample(397, seed=0)
prior = model.decode(np.random.default_rng(0).standard_normal((397, model.latent_dim)).astype("float32"))
_, _, held_out, _ = ak.evaluation.digits_split()
digits = ak.datasets.load_digits(image_size=model.image_shape[0])
result = {
    "model": args.model,
    "samples": len(samples),
    "sample_seed": 0,
    "classifier_confidence_mixture_samples": classifier.confidence(samples),
    "classifier_confidence_prior_samples": classifier.confidence(prior),
    "classifier_confidence_real_held_out_digits": classifier.confidence(held_out),
    "predicted_digit_counts_mixture_samples": np.bincount(classifier.predict(samples), minlength=10).tolist(),
    "reconstruction_mse_all_digits": ak.evaluation.mse(digits, model.reconstruct(digits)),
}
print(json.dumps(result, indent=2))
if args.out:
    with open(args.out, "w", encoding="utf-8") as file:
        json.dump(result, file, indent=2)
