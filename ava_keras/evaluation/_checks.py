"""Argument checks shared by the metrics: each raises a ValueError naming the argument."""

import numpy as np

from ava_keras.errors import InputError


def check_images(name, images):
    """Returns `images` as float64 `(n, height, width, channels)` with values in [0, 1]."""
    try:
        array = np.asarray(images, dtype="float64")
    except (TypeError, ValueError):
        raise InputError(f"`{name}` must be a numeric array. Received: {type(images).__name__}") from None
    if array.ndim != 4:
        raise InputError(
            f"`{name}` must have shape (n, height, width, channels) (NHWC). Received: shape {array.shape}"
        )
    if array.shape[0] == 0 or 0 in array.shape[1:]:
        raise InputError(f"`{name}` must hold at least one non-empty image. Received: shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise InputError(f"`{name}` contains NaN or infinite values ({int(np.sum(~np.isfinite(array)))} of them)")
    low, high = float(array.min()), float(array.max())
    if low < 0.0 or high > 1.0:
        raise InputError(f"`{name}` must have values in [0, 1]. Received: values in [{low:g}, {high:g}]")
    return array


def check_image_pair(x, y, names=("x", "y")):
    """Checks two image batches of the same shape (e.g. originals and reconstructions)."""
    x, y = check_images(names[0], x), check_images(names[1], y)
    if x.shape != y.shape:
        raise InputError(
            f"`{names[0]}` and `{names[1]}` must have the same shape. Received: {x.shape} and {y.shape}"
        )
    return x, y


def check_features(name, features, min_rows=2):
    """Returns `features` as a finite float64 `(n, dim)` array with at least `min_rows` rows."""
    try:
        array = np.asarray(features, dtype="float64")
    except (TypeError, ValueError):
        raise InputError(f"`{name}` must be a numeric array. Received: {type(features).__name__}") from None
    if array.ndim != 2 or array.shape[1] == 0:
        raise InputError(f"`{name}` must have shape (n, dim). Received: shape {array.shape}")
    if array.shape[0] < min_rows:
        raise InputError(f"`{name}` must hold at least {min_rows} rows. Received: {array.shape[0]}")
    if not np.all(np.isfinite(array)):
        raise InputError(f"`{name}` contains NaN or infinite values ({int(np.sum(~np.isfinite(array)))} of them)")
    return array


def check_feature_pair(a, b, names, min_rows=2):
    """Checks two feature sets with the same dimension."""
    a, b = check_features(names[0], a, min_rows), check_features(names[1], b, min_rows)
    if a.shape[1] != b.shape[1]:
        raise InputError(
            f"`{names[0]}` and `{names[1]}` must have the same feature dimension. "
            f"Received: {a.shape[1]} and {b.shape[1]}"
        )
    return a, b


def check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return int(value)
