"""Photographs bundled with scikit-image (no download)."""

from ava_keras.datasets._folder import resize_images

# Sample images that ship inside the scikit-image wheel (checked offline
# with scikit-image 0.26): colour photographs first, then grayscale ones.
COLOR_PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "rocket",
    "stereo_motorcycle",
)
GRAYSCALE_PHOTOS = ("camera", "coins", "moon", "grass", "gravel", "brick")
PHOTO_NAMES = COLOR_PHOTOS + GRAYSCALE_PHOTOS


def load_photos(image_size=64, channels=3, names=None, resize="crop"):
    """Loads scikit-image's sample photographs as images in [0, 1].

    Args:
        image_size: Int or `(height, width)` of the output images.
        channels: 3 (grayscale photographs are repeated over RGB) or 1.
        names: Photographs to load, a subset of `PHOTO_NAMES` (default all
            14: eight colour, six grayscale).
        resize: `"crop"` (default), `"stretch"` or `"pad"`, as in
            `ava_keras.data.image_folder`.

    Returns:
        Float32 array `(len(names), height, width, channels)` in [0, 1].

    Example:

    >>> photos = load_photos(image_size=64)
    >>> photos.shape
    (14, 64, 64, 3)
    """
    names = PHOTO_NAMES if names is None else tuple(names)
    unknown = [n for n in names if n not in PHOTO_NAMES]
    if unknown or not names:
        raise ValueError(f"Unknown photo names {unknown}. Valid names: {', '.join(PHOTO_NAMES)}.")
    try:
        import skimage.data
    except ImportError as error:
        raise ImportError("load_photos() needs scikit-image: pip install 'ava_keras[datasets]'") from error
    photos = []
    for name in names:
        photo = getattr(skimage.data, name)()
        photos.append(photo[0] if name == "stereo_motorcycle" else photo)  # (left, right, disparity)
    return resize_images(photos, image_size, channels, resize)
