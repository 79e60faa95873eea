"""Ten real photographs bundled with scikit-image, sized like the paper's dataset."""

import numpy as np

from ava_keras._validation import check_positive_int
from ava_keras.datasets.photos import COLOR_PHOTOS, GRAYSCALE_PHOTOS
from ava_keras.errors import import_optional

# scikit-image ships only eight distinct colour photographs (`cat` is
# `chelsea`, the motorcycle's right stereo view repeats its left one, and
# `colorwheel` and `logo` are drawings), so the last two of the ten are
# grayscale photographs repeated over three channels.
TEN_IMAGE_NAMES = COLOR_PHOTOS + GRAYSCALE_PHOTOS[:2]
PAPER_IMAGE_SIZE = (250, 180)  # (height, width): the paper's "180x250", portrait.


def _load(name):
    import skimage.data

    image = getattr(skimage.data, name)()
    if name == "stereo_motorcycle":
        image = image[0]  # (left view, right view, disparity)
    image = np.asarray(image, dtype="float32") / 255.0
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    return image


def _crop_to_aspect(image, aspect):
    """Central crop of `image` to height / width == `aspect`."""
    height, width = image.shape[:2]
    if height / width > aspect:
        new_height = int(round(width * aspect))
        top = (height - new_height) // 2
        return image[top : top + new_height]
    new_width = int(round(height / aspect))
    left = (width - new_width) // 2
    return image[:, left : left + new_width]


def ten_images(shrink=1):
    """Loads ten real RGB photographs as the paper's "ten 180x250 images".

    The photographs are scikit-image's bundled samples listed in
    `TEN_IMAGE_NAMES` (nothing is downloaded): eight colour photographs and,
    because scikit-image ships only eight distinct ones, two grayscale
    photographs (`camera`, `coins`) copied into three equal channels. Each is
    cropped centrally to the aspect ratio 250:180 and resized with
    anti-aliasing to height 250 and width 180 (portrait); if `shrink` > 1,
    that image is resized again to `(round(250 / shrink), round(180 / shrink))`; `shrink=3` gives the
    paper's 3x smaller 83 x 60 images (Section 3). The result is
    deterministic.

    Args:
        shrink: Positive integer factor by which both sides are reduced.

    Returns:
        Float32 array of shape `(10, height, width, 3)` with values in [0, 1].

    Example:

    >>> images = ten_images(shrink=3)
    >>> images.shape
    (10, 83, 60, 3)
    """
    check_positive_int("shrink", shrink)
    resize = import_optional("skimage.transform", "ten_images()").resize
    height, width = PAPER_IMAGE_SIZE
    size = (int(round(height / shrink)), int(round(width / shrink)))
    images = []
    for name in TEN_IMAGE_NAMES:
        image = _crop_to_aspect(_load(name), height / width)
        image = resize(image, PAPER_IMAGE_SIZE, order=1, anti_aliasing=True)
        if size != PAPER_IMAGE_SIZE:
            image = resize(image, size, order=1, anti_aliasing=True)
        images.append(np.clip(image, 0.0, 1.0))
    return np.stack(images).astype("float32")
