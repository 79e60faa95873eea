"""Export an AVA as a TensorFlow SavedModel with named endpoints.

The export runs wherever TensorFlow runs (`tf.saved_model.load`,
`keras.layers.TFSMLayer`, TF Serving); ava_keras need not be installed there.
See `saved_models/README.md` for the layout and how to call each endpoint.
"""

import inspect
import json
import os

import keras
import tensorflow as tf

from ava_keras._validation import (
    bad_images_message,
    check_positive_int,
    empty_input_message,
    generate_labels_message,
    image_shape_message,
    label_count_message,
    label_range_message,
    label_shape_message,
    latent_shape_message,
    nonfinite_latents_message,
    positive_int_message,
)
from ava_keras.errors import InputError
from ava_keras.models.anomaly_scoring import anomaly_terms
from ava_keras.models.ava import AVA
from ava_keras.version import __version__

DEFAULT_EXPORT_DIR = "saved_models"
METADATA_FILE = os.path.join("assets.extra", "ava_keras.json")
RANDOM_SEED = -1  # `generate(n, seed=RANDOM_SEED)` draws fresh noise.
GENERATE_MEMORY = 2**30  # bytes of decoder tensors one `generate` call may use, by default


def decoder_bytes_per_image(model):
    """The bytes of every tensor the decoder computes for one image (its weights not counted)."""
    labels = tf.zeros((1,), tf.int32) if model.conditional else None
    graph = (
        tf.function(lambda latents: model.decoder_outputs(latents, labels), autograph=False)
        .get_concrete_function(tf.TensorSpec((1, model.latent_dim), tf.float32))
        .graph
    )
    skipped = ("Placeholder", "ReadVariableOp", "Const", "Identity", "NoOp")
    return sum(
        tensor.shape.num_elements() * tensor.dtype.size
        for op in graph.get_operations()
        if op.type not in skipped
        for tensor in op.outputs
        if tensor.dtype.is_floating and tensor.shape.is_fully_defined()
    )


def default_max_generate(model):
    """The largest `n` for which `generate(n)`'s decoder tensors fit in `GENERATE_MEMORY` (1 GiB)."""
    return max(1, GENERATE_MEMORY // decoder_bytes_per_image(model))


def raise_unless(valid, message, value):
    """`value`, run after an Assert that raises an InvalidArgumentError with `message()` unless `valid`.

    `message` is called only in the branch taken when `valid` is False.
    """
    message = tf.cond(valid, lambda: tf.constant(""), message)
    with tf.control_dependencies([tf.debugging.Assert(valid, [message])]):
        return tf.identity(value)


def _text(value):
    """A number tensor as text, as `f"{value:g}"` (floats) or `str(value)` (integers) gives it."""
    return tf.strings.as_string(value, shortest=value.dtype.is_floating)


def _rank(tensor):
    """`tensor`'s rank as fed at run time: TF Serving feeds what a request holds, whatever the signature
    declares, and `tf.rank` (like `tf.size(tf.shape(tensor))`) is folded into the declared rank."""
    return tf.size(tf.where(tf.shape(tensor) >= 0), out_type=tf.int32)


def _shape_text(tensor):
    """`tensor`'s shape as text, as `str(tuple(shape))` gives it."""
    shape = tf.shape(tensor)
    comma = tf.where(_rank(tensor) == 1, ",", "")
    return "(" + tf.strings.reduce_join(tf.strings.as_string(shape), separator=", ") + comma + ")"


def _nonfinite_count(tensor):
    return tf.size(tensor) - tf.math.count_nonzero(tf.math.is_finite(tensor), dtype=tf.int32)


def _has_shape(tensor, shape):
    """True if `tensor`'s shape is `(batch,) + shape`, as a boolean tensor (for a tensor of any rank)."""
    actual = tf.shape(tensor)
    padded = tf.concat([actual, tf.zeros([len(shape) + 1], tf.int32)], 0)[: len(shape) + 1]
    return (_rank(tensor) == len(shape) + 1) & tf.reduce_all(padded[1:] == shape)


def _not_empty(endpoint, tensor, refuse):
    return refuse(tf.size(tensor) > 0, lambda: empty_input_message(f"`{endpoint}`"), tensor)


def checked_images(model, images, endpoint, refuse=raise_unless):
    """`images` once they have shape `(batch ≥ 1,) + model.image_shape` and finite values in [0, 1]."""

    def wrong_shape():
        return image_shape_message(model.image_shape, _shape_text(images))

    def wrong_values():
        finite = tf.math.is_finite(images)
        low = tf.reduce_min(tf.where(finite, images, float("inf")))
        high = tf.reduce_max(tf.where(finite, images, -float("inf")))
        return bad_images_message(_nonfinite_count(images), low, high, exported=True, text=_text, where=tf.where)

    images = _not_empty(endpoint, images, refuse)
    images = refuse(_has_shape(images, model.image_shape), wrong_shape, images)
    # NaN fails both comparisons and ±inf one of them: one pass checks finiteness and range.
    in_range = tf.reduce_all((images >= 0.0) & (images <= 1.0))
    return refuse(in_range, wrong_values, images)


def checked_latents(model, latents, endpoint, refuse=raise_unless):
    """`latents` once they have shape `(n ≥ 1, model.latent_dim)` and finite values."""

    def wrong_shape():
        return latent_shape_message(model.latent_dim, _shape_text(latents))

    def nonfinite():
        return nonfinite_latents_message(_nonfinite_count(latents), text=_text)

    latents = _not_empty(endpoint, latents, refuse)
    latents = refuse(_has_shape(latents, (model.latent_dim,)), wrong_shape, latents)
    # |z| ≤ the largest float32 is False for NaN and ±inf (TFLite has no IsFinite op).
    finite = tf.reduce_all(tf.abs(latents) <= tf.float32.max)
    return refuse(finite, nonfinite, latents)


def checked_count(n, max_generate, refuse=raise_unless):
    """`n` once 1 ≤ n ≤ `max_generate`."""

    def out_of_range():
        return positive_int_message("n", _text(n), maximum=max_generate)

    return refuse((n >= 1) & (n <= max_generate), out_of_range, n)


def checked_labels(model, labels, count, refuse=raise_unless):
    """`labels` once they are a vector of `count` class indices in 0..K-1.

    The signatures declare a vector, but TF Serving feeds what a request
    holds (e.g. `[[0], [2], [1]]`), so the rank is checked at run time.
    """

    def wrong_rank():
        return label_shape_message(_shape_text(labels), exported=True)

    def wrong_count():
        return label_count_message(tf.size(labels), count, text=_text)

    def out_of_range():
        return label_range_message(tf.reduce_min(labels), tf.reduce_max(labels), model.num_classes, text=_text)

    labels = refuse(_rank(labels) == 1, wrong_rank, labels)
    labels = refuse(tf.size(labels) == count, wrong_count, labels)
    in_range = (tf.reduce_min(labels) >= 0) & (tf.reduce_max(labels) < model.num_classes)
    return refuse(in_range, out_of_range, labels)


def checked_label_count(labels, max_generate, refuse=raise_unless):
    """`labels` of `generate` once there are 1 to `max_generate` of them."""

    def wrong_count():
        return generate_labels_message(tf.size(labels), max_generate, text=_text)

    return refuse((tf.size(labels) >= 1) & (tf.size(labels) <= max_generate), wrong_count, labels)


def endpoint_functions(model, noise=None, max_generate=None, refuse=raise_unless):
    """Returns `{name: (function, input_signature)}` for `model`'s endpoints.

    `noise(n, seed)` gives the `(uniform, normal)` draws `generate` feeds to
    the latent sampler; by default the sampler's own (`model.sample`'s).
    Every endpoint checks its input first (`checked_images`,
    `checked_latents`, `checked_count` with `max_generate`, by default
    `default_max_generate(model)`, and for a class-conditional model
    `checked_labels`); `refuse(valid, message, value)` stops a call with
    invalid input. A class-conditional model's endpoints take one more
    input, `label`: int32 class indices `(batch,)`, one per image or latent
    vector; its `generate` takes `label` and `seed`, and draws one image per label.
    """
    sampler = model.class_latent_samplers[0] if model.conditional else model.latent_sampler
    noise = noise or sampler.noise
    max_generate = max_generate or default_max_generate(model)
    height, width, channels = model.image_shape
    images_spec = tf.TensorSpec((None, height, width, channels), tf.float32, name="images")
    latents_spec = tf.TensorSpec((None, model.latent_dim), tf.float32, name="latents")
    label_spec = [tf.TensorSpec((None,), tf.int32, name="label")] if model.conditional else []

    # Each checked function is named after its endpoint, which names its graph and signature in errors.
    def check(endpoint, function, check_input, signature):
        """`function(values, labels)` on checked inputs, with arguments named as `signature`'s specs.

        The inputs are images or latents, and for a class-conditional model their labels.
        """

        def checked(*inputs):
            values = check_input(model, inputs[0], endpoint, refuse)
            labels = checked_labels(model, inputs[1], tf.shape(values)[0], refuse) if model.conditional else None
            return function(values, labels)

        checked.__name__ = endpoint
        checked.__signature__ = inspect.Signature(
            [inspect.Parameter(spec.name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for spec in signature]
        )
        return checked, signature

    def reconstruct(images, labels):
        mean, _ = model.encoder_outputs(images, labels)
        return {"reconstructions": model.decoder_outputs(mean, labels)}

    def encode(images, labels):
        mean, log_var = model.encoder_outputs(images, labels)
        return {"mean": mean, "log_var": log_var}

    def decode(latents, labels):
        return {"images": model.decoder_outputs(latents, labels)}

    def draw(n, seed, labels):
        # Same draws as `model.sample(n, seed, labels)`: the latent sampler's stateless noise
        # (unless `noise` replaces it). A fresh seed comes from a float
        # RandomUniform, a TFLite op (RandomUniformInt is not).
        seed = tf.where(seed < 0, tf.cast(tf.random.uniform(()) * 2.0**30, tf.int32), seed)
        latents = model.latents_from_noise(noise(n, seed), labels)
        return {"images": model.decoder_outputs(latents, labels)}

    def generate(n, seed=RANDOM_SEED):
        return draw(checked_count(n, max_generate, refuse), seed, None)

    def generate_labelled(label, seed=RANDOM_SEED):
        label = checked_labels(model, checked_label_count(label, max_generate, refuse), tf.size(label), refuse)
        return draw(tf.size(label), seed, label)

    def score(images, labels):
        return anomaly_terms(model, images, labels)

    def discriminate(images, labels):
        return {"probability": tf.sigmoid(model.discriminator_logits(images, labels))}

    def discriminate_latent(latents, labels):
        return {"probability": tf.sigmoid(model.latent_discriminator_logits(latents, labels))}

    seed_spec = tf.TensorSpec((), tf.int32, name="seed")
    if model.conditional:
        generate_labelled.__name__ = "generate"
        generator = (generate_labelled, label_spec + [seed_spec])
    else:
        generator = (generate, [tf.TensorSpec((), tf.int32, name="n"), seed_spec])
    image_inputs, latent_inputs = [images_spec] + label_spec, [latents_spec] + label_spec
    endpoints = {
        "serve": check("serve", reconstruct, checked_images, image_inputs),
        "encode": check("encode", encode, checked_images, image_inputs),
        "decode": check("decode", decode, checked_latents, latent_inputs),
        "reconstruct": check("reconstruct", reconstruct, checked_images, image_inputs),
        "score": check("score", score, checked_images, image_inputs),
        "generate": generator,
    }
    if model.discriminator is not None:
        endpoints["discriminate"] = check("discriminate", discriminate, checked_images, image_inputs)
    if model.latent_discriminator is not None:
        endpoints["discriminate_latent"] = check(
            "discriminate_latent", discriminate_latent, checked_latents, latent_inputs
        )
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


def export_saved_model(model, path=None, overwrite=False, max_generate=None):
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

    A class-conditional model's export (`num_classes=K`) gives every
    endpoint one more input, `label`: int32 class indices `(batch,)`, one
    per image or latent vector; its `generate` takes `label` and `seed`
    instead of `n` and draws one image per label, from that class's latent
    mixture. Labels must be a flat vector of indices in 0..K-1, as many as the images (for
    `generate`, 1 to `max_generate` of them), checked as the inputs are.
    `assets.extra/ava_keras.json` then holds `num_classes` and
    `class_names`, which map a class name to its index.

    `generate` decodes z drawn by `model.latent_sampler` (N(0, I), or the
    mixture fitted by `model.fit_latent_sampler`) with stateless random ops: the same
    non-negative `seed` gives the same images, equal to `model.sample(n,
    seed)`; `seed=-1` draws fresh noise. `score` gives the outputs of
    `model.anomaly_scores` (with the statistics stored by
    `model.fit_anomaly_scores`). For TFLite, see `export_tflite`. `discriminate` exists only when the
    model has a discriminator, `discriminate_latent` only when it has a
    latent discriminator. A JSON summary (image shape, latent size, variant,
    endpoints, `max_generate`, classes, ava_keras version) is written to
    `assets.extra/ava_keras.json`.

    Every endpoint checks its input in the graph, in the words of the
    model's own methods: images must have shape `(batch ≥ 1, H, W, C)` and
    finite float32 values in [0, 1] (a uint8 array that TensorFlow casts to
    float32 is refused: "values from 0 to 255 ... divide 0-255 pixels by
    255"); latents must have shape `(n ≥ 1, L)` and finite values;
    `generate` needs 1 ≤ n ≤ `max_generate`. A refused call raises
    `tf.errors.InvalidArgumentError`. Its first line is TensorFlow's
    "Graph execution error:" (Python's function runtime puts it there);
    the message follows on the line that starts with "assertion failed:".

    Args:
        model: A built `AVA` model.
        path: Output directory. Defaults to `saved_models/<preset or name>`
            under the current directory.
        overwrite: Whether to replace a non-empty existing directory.
        max_generate: The largest `n` that `generate` accepts. Defaults to
            `default_max_generate(model)`: as many images as the decoder's
            tensors for them fit in 1 GiB.

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

    if max_generate is None:
        max_generate = default_max_generate(model)
    max_generate = check_positive_int("max_generate", max_generate)
    endpoints = endpoint_functions(model, max_generate=max_generate)
    write_endpoints(model, endpoints, path)

    samplers = model.class_latent_samplers if model.conditional else [model.latent_sampler]
    sampler_fitted = all(sampler.is_fitted for sampler in samplers)
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
        "max_generate": max_generate,
        "latent_sampler": "gaussian_mixture" if sampler_fitted else "standard_normal",
        "num_classes": model.num_classes,
        "class_names": None if model.class_names is None else list(model.class_names),
        "anomaly_terms": list(model.anomaly_scorer.combined_terms) if model.anomaly_scorer.is_fitted else None,
    }
    os.makedirs(os.path.join(path, os.path.dirname(METADATA_FILE)), exist_ok=True)
    with open(os.path.join(path, METADATA_FILE), "w", encoding="utf-8") as file:
        json.dump(metadata, file, indent=2)
    return path
