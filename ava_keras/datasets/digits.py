"""Handwritten digits bundled with scikit-learn (1,797 images, 8x8, no download)."""

import numpy as np

from ava_keras.datasets._folder import resize_images
from ava_keras.errors import import_optional


def load_digits(image_size=None, return_labels=False):
    """Loads scikit-learn's handwritten digits as images in [0, 1].

    The 1,797 digits (UCI "optical recognition of handwritten digits", 8x8,
    16 gray levels) ship inside scikit-learn, so nothing is downloaded.

    Args:
        image_size: Optional int or `(height, width)`: upscale (bicubic) to
            this size, e.g. 28 or 32; `None` keeps 8x8.
        return_labels: Also return the digit labels (int array `(n,)`).

    Returns:
        Float32 array `(1797, height, width, 1)` in [0, 1], or
        `(images, labels)` if `return_labels`.

    Example:

    >>> images = load_digits(image_size=32)
    >>> images.shape
    (1797, 32, 32, 1)
    """
    bunch = import_optional("sklearn.datasets", "load_digits()").load_digits()
    images = (bunch.images / 16.0).astype("float32")[..., None]
    if image_size is not None:
        images = resize_images(images, image_size, channels=1, resize="stretch")
    labels = np.asarray(bunch.target, dtype="int64")
    return (images, labels) if return_labels else images
