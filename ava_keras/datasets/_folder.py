"""Arrays of images <-> image folders: shared by the bundled datasets and the CLI."""

import os

import numpy as np
from PIL import Image

from ava_keras.data.images import prepare_image, to_uint8
from ava_keras.errors import InputError


def resize_images(images, image_size, channels, resize="crop"):
    """Resizes a stack of images (arrays or Pillow images) to float32 in [0, 1]."""
    return np.stack([prepare_image(image, image_size, channels, resize) for image in images]).astype(
        "float32"
    ) / np.float32(255.0)


def write_image_folder(images, directory, names=None):
    """Writes images as PNG files into `directory` (created if needed).

    Args:
        images: Array `(n, height, width)` or `(n, height, width, 1 | 3 | 4)`,
            uint8 or float in [0, 1], such as a bundled dataset.
        directory: Output folder; existing files of the same names are replaced.
        names: Optional list of `n` file names (`.png` is appended if
            missing); default `image_00000.png`, `image_00001.png`, ...

    Returns:
        The list of written paths.

    Example:

    >>> paths = write_image_folder(ava_keras.datasets.load_digits(), "digits/")
    >>> train = ava_keras.data.image_folder("digits/", image_size=8, channels=1)
    """
    images = to_uint8(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if not (images.ndim == 3 or (images.ndim == 4 and images.shape[-1] in (3, 4))):
        raise InputError(
            "`images` must have shape (n, height, width) or (n, height, width, 1|3|4). "
            f"Received: shape {images.shape}"
        )
    if names is None:
        names = [f"image_{i:05d}.png" for i in range(len(images))]
    names = [os.fspath(n) if os.fspath(n).lower().endswith(".png") else f"{os.fspath(n)}.png" for n in names]
    if len(names) != len(images):
        raise InputError(f"Got {len(names)} names for {len(images)} images.")
    directory = os.fspath(directory)
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise NotADirectoryError(f"'{directory}' is a file, not a folder.")
    os.makedirs(directory, exist_ok=True)
    paths = []
    for image, name in zip(images, names):
        path = os.path.join(directory, name)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        Image.fromarray(image).save(path)
        paths.append(path)
    return paths
