"""Serve an exported AVA with TensorFlow alone: samples and reconstructions.

Loads a SavedModel written by `ava_keras.export_saved_model` (by default the
pretrained `saved_models/ava5_digits`) with `tf.saved_model.load` and calls
its endpoints. It does not import ava_keras, so it runs anywhere TensorFlow
is installed. It writes two PNG files:

- `samples.png`: `generate(n, seed)`, images decoded from z ~ N(0, I);
- `reconstructions.png`: input images (top row) and `reconstruct` (bottom).

    python examples/serve_saved_model.py saved_models/ava5_digits --out-dir samples/

Input images come from `--images` (a `.npy` array of shape (n, H, W, C) in
[0, 1]) or, without it, from scikit-learn's bundled digits resized to the
export's image size.
"""

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

## Arguments

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("export", nargs="?", default=os.path.join("saved_models", "ava5_digits"))
parser.add_argument("--out-dir", default=".", help="where the PNG files go")
parser.add_argument("--images", help=".npy file of images (n, H, W, C) in [0, 1]")
parser.add_argument("-n", type=int, default=16, help="number of samples and reconstructions")
parser.add_argument("--seed", type=int, default=0, help="seed of `generate`; -1 for fresh noise")
args = parser.parse_args()

## Load the export and read its signature

served = tf.saved_model.load(args.export)
image_spec = served.signatures["reconstruct"].structured_input_signature[1]["images"]
height, width, channels = image_spec.shape[1:]
print(f"{args.export}: endpoints {sorted(served.signatures)}; images {height}x{width}x{channels}")
metadata_path = os.path.join(args.export, "assets.extra", "ava_keras.json")
if os.path.exists(metadata_path):
    with open(metadata_path, encoding="utf-8") as file:
        metadata = json.load(file)
    print(f"preset {metadata['preset']}, latent_dim {metadata['latent_dim']}")

## Input images


def load_images():
    if args.images:
        return np.load(args.images).astype("float32")[: args.n]
    from sklearn.datasets import load_digits  # bundled with scikit-learn, no download

    digits = load_digits().images[: args.n, :, :, None].astype("float32") / 16.0
    resized = tf.image.resize(digits, (height, width)).numpy().clip(0.0, 1.0)
    return np.repeat(resized, channels, axis=-1)


images = load_images()

## Call the endpoints

samples = served.generate(n=tf.constant(args.n), seed=tf.constant(args.seed))["images"].numpy()
reconstructions = served.reconstruct(images=tf.constant(images))["reconstructions"].numpy()
mean = served.encode(images=tf.constant(images))["mean"].numpy()
print(f"encode: mean of shape {mean.shape}; reconstruction MSE {np.mean((reconstructions - images) ** 2):.4f}")
if "discriminate" in served.signatures:
    realism = {
        name: float(served.discriminate(images=tf.constant(batch))["probability"].numpy().mean())
        for name, batch in (("inputs", images), ("reconstructions", reconstructions), ("samples", samples))
    }
    print("mean d(x): " + ", ".join(f"{name} {value:.3f}" for name, value in realism.items()))

## Write PNG grids


def write_grid(path, rows):
    """Writes rows of images (each (n, H, W, C) in [0, 1]) as one PNG."""
    grid = np.concatenate([np.concatenate(list(row), axis=1) for row in rows], axis=0)
    tf.io.write_file(path, tf.io.encode_png(tf.constant(np.round(grid * 255).astype("uint8"))))
    print(f"wrote {path}")


os.makedirs(args.out_dir, exist_ok=True)
columns = min(8, len(samples))
padding = np.zeros(((-len(samples)) % columns,) + samples.shape[1:], "float32")
sample_rows = np.concatenate([samples, padding]).reshape((-1, columns) + samples.shape[1:])
write_grid(os.path.join(args.out_dir, "samples.png"), sample_rows)
write_grid(os.path.join(args.out_dir, "reconstructions.png"), [images, reconstructions])
