"""The feature normalisation shared by the convolutional encoder and decoder."""

import math

import keras

from ava_keras.constants import NORMALIZATIONS
from ava_keras.errors import InputError

# Group normalisation uses this many groups, or the largest divisor of the channel count below it.
MAX_GROUPS = 8


def check_normalization(normalization):
    """Returns `normalization` (None or one of `NORMALIZATIONS`), or raises an InputError."""
    if normalization is not None and normalization not in NORMALIZATIONS:
        raise InputError(
            f"`normalization` must be None or one of {NORMALIZATIONS}. Received: normalization={normalization!r}"
        )
    return normalization


def normalization_layer(normalization, channels, name, dtype):
    """A layer normalising `channels` feature maps as `normalization` says, or None for none.

    `"group"`: group normalisation (Wu & He 2018) with up to `MAX_GROUPS`
    groups, independent of the batch, so a batch of reconstructions and a
    single image are normalised alike.
    """
    if normalization is None:
        return None
    return keras.layers.GroupNormalization(groups=math.gcd(MAX_GROUPS, channels), name=name, dtype=dtype)
