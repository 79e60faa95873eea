"""Export an AVA as TensorFlow Lite flatbuffers, one file per endpoint.

The files hold the endpoints of `export_saved_model` (see there), built from
TFLite's builtin ops only: no Flex (Select TF ops) delegate is needed, so
they run in the plain TFLite runtime, LiteRT (`pip install 'ava_keras[litert]'`
for its Python interpreter, `ai_edge_litert`), e.g. on phones.
"""

import math
import os
import tempfile

import tensorflow as tf

from ava_keras._validation import check_positive_int
from ava_keras.errors import InputError
from ava_keras.export import DEFAULT_EXPORT_DIR, endpoint_functions, check_model, write_endpoints

_PRIME = 2**31 - 1  # the Mersenne prime M31: products of two residues fit in int64
_ROUNDS = (1_234_567, 7_654_321, 2_718_281, 3_141_592)


def _uniform(count, seed, stream):
    """`count` draws from U(0, 1), a hash of (seed, stream, index) in int64 arithmetic.

    Each index is mapped to a residue mod M31, scrambled by a Lehmer step and
    rounds of x ← x² + c (mod M31), which are exact in int64, so TensorFlow
    and TFLite give the same integers. Not a cryptographic generator.
    """
    index = tf.range(tf.cast(count, tf.int64), dtype=tf.int64)
    base = tf.math.floormod(tf.cast(seed, tf.int64) * 48_271 + 11, _PRIME)
    x = tf.math.floormod(tf.math.floormod(base + 3 * index + stream, _PRIME) * 16_807, _PRIME)
    for constant in _ROUNDS:
        x = tf.math.floormod(x * x + constant, _PRIME)
    return (tf.cast(x, tf.float32) + 0.5) / float(_PRIME)


def builtin_noise(n, dim, seed):
    """`(uniform (n,), normal (n, dim))` from an integer `seed`, with TFLite builtin ops only.

    TFLite has no stateless random op, so the draws come from an integer hash
    (`_uniform`) and the Box-Muller transform. The same seed gives the same
    draws in TensorFlow and in TFLite; they differ from `tf.random`'s.
    """
    count = n * dim
    radius = tf.sqrt(-2.0 * tf.math.log(_uniform(count, seed, 0)))
    normal = radius * tf.cos(2.0 * math.pi * _uniform(count, seed, 1))
    return _uniform(n, seed, 2), tf.reshape(normal, tf.stack([n, dim]))


def trap_unless(valid, message, value):
    """`value`, run through a gather that is out of bounds unless `valid`.

    TFLite has no builtin op that raises an error with a message (the
    converter drops `tf.debugging.Assert`), but its GATHER fails on an index
    out of bounds: the interpreter's `invoke` raises a RuntimeError ("gather
    index out of bounds"). `message` is not used.
    """
    del message
    one = tf.gather(tf.ones([1], value.dtype), tf.cast(tf.logical_not(valid), tf.int32))
    return value * one


def export_tflite(model, path=None, overwrite=False, max_generate=None):
    """Writes each endpoint of `model` as a `.tflite` file in the folder `path`.

    The endpoints are those of `export_saved_model` (`serve`, `encode`,
    `decode`, `reconstruct`, `generate`, and `discriminate`,
    `discriminate_latent` when the model has those networks), with the same
    inputs and outputs (a class-conditional model's take `label` too);
    `<endpoint>.tflite` holds one signature of that name.
    Only TFLite builtin ops are used (no Flex delegate), so LiteRT's
    interpreter (`ai_edge_litert.interpreter.Interpreter`) runs them. `generate(n, seed)`
    draws its noise with `builtin_noise`: the same non-negative seed gives the
    same images on every run, but not those of `model.sample(n, seed)`, whose
    random ops are not TFLite ops; `seed=-1` draws fresh noise.

    The endpoints check their input as the SavedModel's do (image shape,
    empty batch, finite values in [0, 1], finite latents, 1 ≤ n ≤
    `max_generate`, labels in range and one per image), but TFLite has no builtin op that raises an error with
    a message: the converter drops `tf.debugging.Assert`. A check that
    fails makes a GATHER op index out of bounds, so the interpreter's
    `invoke` (or the signature runner's call) raises `RuntimeError: ...
    gather index out of bounds ...`, which names no culprit. Check inputs
    before calling the interpreter to give your users a clearer message.

    Args:
        model: A built `AVA` model.
        path: Output folder. Defaults to `saved_models/<preset or name>_tflite`.
        overwrite: Whether to replace `.tflite` files already in `path`.
        max_generate: The largest `n` that `generate` accepts; defaults to
            `default_max_generate(model)`, as for `export_saved_model`.

    Returns:
        `{endpoint: file path}`.

    Example:

    >>> from ai_edge_litert.interpreter import Interpreter  # pip install 'ava_keras[litert]'
    >>> files = ava_keras.export_tflite(model, "ava5_tflite")
    >>> generate = Interpreter(files["generate"]).get_signature_runner("generate")
    >>> images = generate(n=np.int32(16), seed=np.int32(0))["images"]
    """
    check_model(model)
    if path is None:
        path = os.path.join(DEFAULT_EXPORT_DIR, f"{model.preset or model.name}_tflite")
    path = os.fspath(path)
    if os.path.isfile(path):
        raise InputError(f"Cannot export to {path!r}: it is a file, not a folder.")

    def noise(n, seed):
        return builtin_noise(n, model.latent_dim, seed)

    if max_generate is not None:
        max_generate = check_positive_int("max_generate", max_generate)
    endpoints = endpoint_functions(model, noise=noise, max_generate=max_generate, refuse=trap_unless)
    files = {name: os.path.join(path, f"{name}.tflite") for name in endpoints}
    taken = [file for file in files.values() if os.path.exists(file)]
    if taken and not overwrite:
        raise InputError(f"Cannot export to {path!r}: {taken[0]!r} exists. Pass overwrite=True to replace it.")
    with tempfile.TemporaryDirectory() as saved_model:
        write_endpoints(model, endpoints, saved_model)
        flatbuffers = {}
        for name in endpoints:
            # One signature per conversion: converting several at once kept only `serving_default`.
            converter = tf.lite.TFLiteConverter.from_saved_model(saved_model, signature_keys=[name])
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
            flatbuffers[name] = converter.convert()
    os.makedirs(path, exist_ok=True)
    for name, flatbuffer in flatbuffers.items():
        with open(files[name], "wb") as file:
            file.write(flatbuffer)
    return files
