"""Export an AVA as a TensorFlow SavedModel with named endpoints.

The export runs wherever TensorFlow runs (`tf.saved_model.load`,
`keras.layers.TFSMLayer`, TF Serving); ava_keras need not be installed there.
See `saved_models/README.md` for the layout and how to call each endpoint.
"""

import json
import os

import keras
import tensorflow as tf

from ava_keras.errors import InputError
from ava_keras.models.anomaly_scoring import anomaly_terms
from ava_keras.models.ava import AVA
from ava_keras.version import __version__

DEFAULT_EXPORT_DIR = "saved_models"
METADATA_FILE = os.path.join("assets.extra", "ava_keras.json")
RANDOM_SEED = -1  # `generate(n, seed=RANDOM_SEED)` draws fresh noise.


def _endpoint_functions(model, noise=None):
    """Returns `{name: (function, input_signature)}` for `model`'s endpoints.

    `noise(n, seed)` gives the `(uniform, normal)` draws `generate` feeds to
    `model.latent_sampler`; by default the sampler's own (`model.sample`'s).
    """
    noise = noise or model.latent_sampler.noise
    height, width, channels = model.image_shape
    images_spec = tf.TensorSpec((None, height, width, channels), tf.float32, name="images")
    latents_spec = tf.TensorSpec((None, model.latent_dim), tf.float32, name="latents")

    def reconstruct(images):
        mean, _ = model.encoder(images, training=False)
        return {"reconstructions": model.decoder(mean, training=False)}

    def encode(images):
        mean, log_var = model.encoder(images, training=False)
        return {"mean": mean, "log_var": log_var}

    def decode(latents):
        return {"images": model.decoder(latents, training=False)}

    def generate(n, seed=RANDOM_SEED):
        # Same draws as `model.sample(n, seed)`: the latent sampler's stateless noise
        # (unless `noise` replaces it). A fresh seed comes from a float
        # RandomUniform, a TFLite op (RandomUniformInt is not).
        seed = tf.where(seed < 0, tf.cast(tf.random.uniform(()) * 2.0**30, tf.int32), seed)
        latents = model.latent_sampler(noise(n, seed))
        return {"images": model.decoder(latents, training=False)}

    def score(images):
        return anomaly_terms(model, images)

    def discriminate(images):
        return {"probability": tf.sigmoid(model.discriminator(images, training=False))}

    def discriminate_latent(latents):
        return {"probability": tf.sigmoid(model.latent_discriminator(latents, training=False))}

    endpoints = {
        "serve": (reconstruct, [images_spec]),
        "encode": (encode, [images_spec]),
        "decode": (decode, [latents_spec]),
        "reconstruct": (reconstruct, [images_spec]),
        "score": (score, [images_spec]),
        "generate": (
            generate,
            [tf.TensorSpec((), tf.int32, name="n"), tf.TensorSpec((), tf.int32, name="seed")],
        ),
    }
    if model.discriminator is not None:
        endpoints["discriminate"] = (discriminate, [images_spec])
    if model.latent_discriminator is not None:
        endpoints["discriminate_latent"] = (discriminate_latent, [latents_spec])
    return endpoints


def check_model(model):
    """Raises a ValueError unless `model` is an ava_keras AVA."""
    if not isinstance(model, AVA):
        raise InputError(f"`model` must be an ava_keras AVA model. Received: model of type {type(model).__name__}")


def write_endpoints(model, endpoints, path):
    """Writes `endpoints` (`{name: (function, input_signature)}`) of `model` as a SavedModel at `path`."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, (function, signature) in endpoints.items():
        archive.add_endpoint(name, function, input_signature=signature)
    archive.write_out(path, verbose=False)


def export_saved_model(model, path=None, overwrite=False):
    """Writes `model` as a TensorFlow SavedModel with one endpoint per use.

    Endpoints (each also a signature; `serving_default` is `serve`), with
    `H, W, C = model.image_shape` and `L = model.latent_dim`:

    | endpoint | inputs | outputs |
    | --- | --- | --- |
    | `serve`, `reconstruct` | `images` (batch, H, W, C) float32 in [0, 1] | `reconstructions` (batch, H, W, C) = g(μ(x)) |
    | `encode` | `images` | `mean`, `log_var`, each (batch, L) (eq. 1) |
    | `decode` | `latents` (batch, L) float32 | `images` (batch, H, W, C) |
    | `generate` | `n` int32 scalar, `seed` int32 scalar | `images` (n, H, W, C) |
    | `score` | `images` | `reconstruction`, `kl`, `realism` (with d), `latent_realism` (with D), `anomaly`, each (batch,) |
    | `discriminate` | `images` | `probability` (batch, 1) = d(x) in [0, 1] |
    | `discriminate_latent` | `latents` | `probability` (batch, 1) = D(μ) in [0, 1] |

    `generate` decodes z drawn by `model.latent_sampler` (N(0, I), or the
    mixture fitted by `model.fit_latent_sampler`) with stateless random ops: the same
    non-negative `seed` gives the same images, equal to `model.sample(n,
    seed)`; `seed=-1` draws fresh noise. `score` gives the outputs of
    `model.anomaly_scores` (with the statistics stored by
    `model.fit_anomaly_scores`). For TFLite, see `export_tflite`. `discriminate` exists only when the
    model has a discriminator, `discriminate_latent` only when it has a
    latent discriminator. A JSON summary (image shape, latent size, variant,
    endpoints, ava_keras version) is written to `assets.extra/ava_keras.json`.

    Args:
        model: A built `AVA` model.
        path: Output directory. Defaults to `saved_models/<preset or name>`
            under the current directory.
        overwrite: Whether to replace a non-empty existing directory.

    Returns:
        The path written.

    Example:

    >>> path = ava_keras.export_saved_model(model, "saved_models/ava5_digits")
    >>> served = tf.saved_model.load(path)
    >>> images = served.generate(n=16, seed=0)["images"]
    """
    check_model(model)
    if path is None:
        path = os.path.join(DEFAULT_EXPORT_DIR, model.preset or model.name)
    path = os.fspath(path)
    if os.path.isfile(path):
        raise InputError(f"Cannot export to {path!r}: it is a file, not a directory.")
    if os.path.isdir(path) and os.listdir(path) and not overwrite:
        raise InputError(f"Cannot export to {path!r}: the directory is not empty. Pass overwrite=True to replace it.")

    endpoints = _endpoint_functions(model)
    write_endpoints(model, endpoints, path)

    metadata = {
        "format": "ava_keras SavedModel export",
        "ava_keras_version": __version__,
        "image_shape": list(model.image_shape),
        "latent_dim": int(model.latent_dim),
        "preset": model.preset,
        "variant": model.variant,
        "routing": model.routing,
        "endpoints": list(endpoints) + ["serving_default"],
        "random_seed": RANDOM_SEED,
        "latent_sampler": "gaussian_mixture" if model.latent_sampler.is_fitted else "standard_normal",
        "anomaly_terms": list(model.anomaly_scorer.combined_terms) if model.anomaly_scorer.is_fitted else None,
    }
    os.makedirs(os.path.join(path, os.path.dirname(METADATA_FILE)), exist_ok=True)
    with open(os.path.join(path, METADATA_FILE), "w", encoding="utf-8") as file:
        json.dump(metadata, file, indent=2)
    return path
