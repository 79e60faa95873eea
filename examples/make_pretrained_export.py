"""Make the pretrained export shipped in `saved_models/ava5_digits/`.

Trains the AVA5 preset on scikit-learn's handwritten digits (1,797 grey
images of 8x8 pixels, upscaled to 16x16 and scaled to [0, 1]; the data ship
with scikit-learn, nothing is downloaded) and writes a TensorFlow SavedModel
with `ava_keras.export_saved_model`. The shipped export was made with:

    python examples/make_pretrained_export.py --overwrite

(defaults: 30 epochs, batch 64, latent_dim 8, seed 0, and the package's
defaults: optimal-sigma Gaussian likelihood, non-saturating generator loss;
a few minutes on two idle CPU cores). After training it fits the latent
mixture that `generate` samples from. It prints the held-out reconstruction
error so the result can be compared with the record in
`saved_models/README.md`.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

## Arguments

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--output", default=os.path.join("saved_models", "ava5_digits"), help="export directory")
parser.add_argument("--epochs", type=int, default=30)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--latent-dim", type=int, default=8)
parser.add_argument("--image-size", type=int, default=16, help="digits are upscaled from 8x8 to this size")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--overwrite", action="store_true", help="replace an existing export")
args = parser.parse_args()
if os.path.isdir(args.output) and os.listdir(args.output) and not args.overwrite:
    sys.exit(f"{args.output} exists and is not empty; pass --overwrite to replace it.")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import ava_keras as ak  # noqa: E402

keras.utils.set_random_seed(args.seed)

## Data: 8x8 digits with pixel values 0-16 -> (n, size, size, 1) in [0, 1]

digits = load_digits().images.astype("float32")[..., None] / 16.0
images = tf.image.resize(digits, (args.image_size, args.image_size), method="bilinear")
images = np.clip(images.numpy(), 0.0, 1.0)
order = np.random.default_rng(args.seed).permutation(len(images))
held_out, train = images[order[:180]], images[order[180:]]
print(f"digits: {len(train)} training and {len(held_out)} held-out images of shape {images.shape[1:]}")

## Model: the AVA5 preset (both discriminators, both leaning terms)

model = ak.AVA.from_preset(
    "ava5",
    image_shape=images.shape[1:],
    latent_dim=args.latent_dim,
    encoder_filters=(16, 32),
    decoder_filters=(32, 16),
    discriminator_filters=(16, 32),
    latent_discriminator_units=(32,),
    hidden_units=64,
    seed=args.seed,
    name="ava5_digits",
)
model.compile()

## Train

history = model.fit(
    train,
    validation_data=(held_out,),
    epochs=args.epochs,
    batch_size=args.batch_size,
    verbose=2,
)

## Latent mixture: `generate` samples from it (ex-post density estimation)

model.fit_latent_sampler(train, seed=args.seed)

## Anomaly scores: the `score` endpoint standardises each term on the training digits

model.fit_anomaly_scores(train)

## Export

path = ak.export_saved_model(model, args.output, overwrite=args.overwrite)
size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)
print(f"exported to {path} ({size / 1e6:.2f} MB)")

## Check: the export answers like the model

served = tf.saved_model.load(path)
reconstructions = served.reconstruct(images=held_out)["reconstructions"].numpy()
difference = np.abs(reconstructions - model.reconstruct(held_out)).max()
mse = float(np.mean((reconstructions - held_out) ** 2))
baseline = float(np.mean((train.mean(axis=0) - held_out) ** 2))
print(f"export vs Keras model, max |difference|: {difference:.2e}")
print(f"held-out per-pixel MSE of g(mu(x)): {mse:.4f} (mean-image baseline {baseline:.4f})")
print("final epoch: " + ", ".join(f"{k}={v[-1]:.4f}" for k, v in history.history.items()))
