"""The size rule of `ava_keras.build_networks`: the family `networks="auto"` picks, and the scaled family's sizes.

Plain arithmetic, without TensorFlow, so that the command line applies the
same rule before it builds anything.
"""

import math

from ava_keras.constants import NETWORKS, SMALL_NETWORKS_MAX_SIDE
from ava_keras.errors import InputError

# The "scaled" family's size rule: stride-2 levels until the shorter side of
# the coarsest map is MIN_MAP_SIZE to 2 * MIN_MAP_SIZE - 1 pixels; widths
# BASE_WIDTH * 2**level up to MAX_WIDTH (16 rather than 32 at the finest level:
# a resize-then-convolve decoder convolves at the output resolution, so at
# 64x64 a base of 32 costs ~4x the FLOPs of 16 per step); the latent size is the power of 2
# nearest sqrt(height * width), within [MIN_LATENT_DIM, MAX_LATENT_DIM].
MIN_MAP_SIZE = 4
BASE_WIDTH, MAX_WIDTH = 16, 256
MIN_LATENT_DIM, MAX_LATENT_DIM = 16, 256


def scaled_levels(height, width):
    """Stride-2 levels of the scaled networks: `max(1, floor(log2(min(height, width) / MIN_MAP_SIZE)))`.

    28 -> 2 (7x7 map), 32 -> 3 (4x4), 64 -> 4, 128 -> 5, 83x60 -> 3 (11x8).
    """
    return max(1, math.floor(math.log2(min(height, width) / MIN_MAP_SIZE)))


def scaled_widths(levels):
    """Filters of each stride-2 level, fine to coarse: `min(BASE_WIDTH * 2**level, MAX_WIDTH)`."""
    return tuple(min(BASE_WIDTH * 2**level, MAX_WIDTH) for level in range(levels))


def scaled_latent_dim(height, width):
    """Latent size of the scaled networks: the power of 2 nearest `sqrt(height * width)`, clipped.

    28x28 -> 32, 64x64 -> 64, 128x128 -> 128, 83x60 -> 64.
    """
    return min(MAX_LATENT_DIM, max(MIN_LATENT_DIM, 2 ** round(math.log2(math.sqrt(height * width)))))


def resolve_networks(networks, height, width):
    """The family `networks` names at `height` x `width`: `"auto"` is `"small"` up to
    `SMALL_NETWORKS_MAX_SIDE` pixels on the longer side (where docs/quality.md
    calibrates the small networks) and `"scaled"` above it (docs/quality.md,
    "Default networks at 64x64"); `"small"` and `"scaled"` are themselves.
    """
    if networks not in NETWORKS:
        raise InputError(f"`networks` must be one of {NETWORKS}. Received: networks={networks!r}")
    if networks != "auto":
        return networks
    return "small" if max(height, width) <= SMALL_NETWORKS_MAX_SIDE else "scaled"
