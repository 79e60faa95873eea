"""Decoding and resizing: one image file or array (any Pillow mode) -> a uint8 array of a fixed size.

Listing and checking the files of a folder is ava_keras.data.image_folder's part.
"""

import numpy as np
from PIL import Image, ImageOps

from ava_keras._validation import check_channels, check_file_not_empty, check_image_size, check_resize, unreadable_image
from ava_keras.constants import IMAGE_EXTENSIONS, RESIZE_MODES  # noqa: F401 (ava_keras.data exports them)
from ava_keras.errors import InputError

_RESAMPLE = Image.Resampling.BICUBIC


def _to_rgb_or_gray(image, channels):
    """Converts any Pillow mode to "RGB" or "L" with 8 bits per channel.

    16- and 32-bit integer images are scaled (not clipped) to 8 bits, float
    images are read as [0, 1], and transparency (RGBA, LA, palette with a
    transparent colour) is composited onto black.
    """
    target = "L" if channels == 1 else "RGB"
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float64)
        if image.mode == "F":
            scale = 1.0
        elif image.mode == "I" and values.max(initial=0) > 65535:
            scale = 2.0**32 - 1
        else:
            scale = 65535.0
        gray = np.clip(np.rint(values / scale * 255.0), 0, 255).astype(np.uint8)
        image = Image.fromarray(gray, mode="L")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode != target:
        # CMYK, YCbCr, LAB, HSV, "1" and the rest go through RGB.
        image = image.convert("RGB")
        if target == "L":
            image = image.convert("L")
    return image


def _resize(image, size, resize):
    height, width = size
    if resize == "stretch":
        return image.resize((width, height), _RESAMPLE)
    if resize == "crop":
        return ImageOps.fit(image, (width, height), _RESAMPLE)
    return ImageOps.pad(image, (width, height), _RESAMPLE, color=0)


def load_image(path, image_size, channels=3, resize="crop"):
    """Reads an image file into a uint8 array of shape `(height, width, channels)`.

    Reads every format Pillow can (PNG, JPEG, BMP, GIF, WebP, TIFF; the first
    frame of an animation), applies the EXIF orientation, converts grayscale,
    RGBA, palette, 16-bit and CMYK images to `channels`, and resizes.

    Args:
        path: Path of the image file.
        image_size: Int or `(height, width)` of the output.
        channels: 1 (grayscale) or 3 (RGB).
        resize: `"stretch"` (resize, ignoring the aspect ratio), `"crop"`
            (central crop to the target aspect ratio, then resize) or `"pad"`
            (resize to fit inside, then pad with black).

    Returns:
        A uint8 numpy array of shape `(height, width, channels)`.

    Raises:
        ValueError: The file is empty, is not an image or cannot be fully
            decoded (for example a truncated file). The message names the file.
    """
    size = check_image_size(image_size)
    check_channels(channels)
    check_resize(resize)
    path = check_file_not_empty(path)
    try:
        with Image.open(path) as image:
            # JPEG: decode directly at a reduced scale that still covers `size`.
            image.draft("RGB" if channels == 3 else "L", (size[1], size[0]))
            image.load()
            return prepare_image(ImageOps.exif_transpose(image), size, channels, resize)
    except Exception as error:  # Pillow raises many types on malformed files.
        raise unreadable_image(path, error) from error


def prepare_image(image, image_size, channels=3, resize="crop"):
    """Converts a Pillow image or an array to uint8 `(height, width, channels)`.

    Arrays may be uint8, or float in [0, 1], of shape `(h, w)` or
    `(h, w, 1 | 3 | 4)`. Conversion and `resize` are as in `load_image`.
    """
    size = check_image_size(image_size)
    if not isinstance(image, Image.Image):
        array = np.asarray(image)
        if array.ndim == 3 and array.shape[-1] == 1:
            array = array[..., 0]
        image = Image.fromarray(to_uint8(array))
    image = _resize(_to_rgb_or_gray(image, check_channels(channels)), size, check_resize(resize))
    return np.asarray(image, dtype=np.uint8).reshape(size + (channels,))


def to_uint8(images):
    """Maps uint8 or float-in-[0, 1] pixel arrays to uint8, rounding."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    if images.dtype.kind not in "fiub":
        raise InputError(f"Expected numeric pixel values; received dtype {images.dtype}.")
    if images.size and not (np.all(np.isfinite(images)) and images.min() >= 0 and images.max() <= 1):
        raise InputError(
            "Expected uint8 pixels or floats in [0, 1]; received dtype "
            f"{images.dtype} with values in [{images.min()}, {images.max()}]."
        )
    return np.rint(images.astype(np.float64) * 255.0).astype(np.uint8)

