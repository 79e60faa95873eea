"""Photographs bundled with scikit-image (no download)."""

from ava_keras.datasets._folder import resize_images
from ava_keras.errors import InputError, import_optional

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
        raise InputError(f"Unknown photo names {unknown}. Valid names: {', '.join(PHOTO_NAMES)}.")
    skimage_data = import_optional("skimage.data", "load_photos()")
    photos = []
    for name in names:
        photo = getattr(skimage_data, name)()
        photos.append(photo[0] if name == "stereo_motorcycle" else photo)  # (left, right, disparity)
    return resize_images(photos, image_size, channels, resize)


def photo_crops(num_crops, image_size=64, downscale=2, seed=0, names=None):
    """Random square crops of scikit-image's sample photographs, RGB in [0, 1].

    Each photograph (grayscale ones repeated over RGB) is shrunk by
    `downscale` (Pillow's box filter), then `num_crops` crops of
    `image_size` x `image_size` are taken at uniformly random positions of
    photographs chosen uniformly at random. Different seeds give different
    crops of the same photographs: a second set for held-out scores.

    Args:
        num_crops: Number of crops.
        image_size: Side of each crop in pixels (default 64).
        downscale: Shrink factor applied to the photographs first (default 2,
            so a 64-pixel crop covers 128 pixels of the original).
        seed: Seed of the photograph choice and positions.
        names: Photographs to crop, a subset of `PHOTO_NAMES` (default all).

    Returns:
        Float32 array `(num_crops, image_size, image_size, 3)` in [0, 1].

    Example:

    >>> train, held_out = photo_crops(2000, seed=0), photo_crops(500, seed=1)
    """
    import numpy as np
    from PIL import Image

    names = PHOTO_NAMES if names is None else tuple(names)
    load_photos(image_size=8, names=names)  # checks the names and that scikit-image is installed
    import skimage.data

    photos = []
    for name in names:
        photo = getattr(skimage.data, name)()
        photo = photo[0] if name == "stereo_motorcycle" else photo
        photo = np.repeat(photo[..., None], 3, axis=-1) if photo.ndim == 2 else photo[..., :3]
        image = Image.fromarray(np.asarray(photo, dtype=np.uint8))
        image = image.resize((image.width // downscale, image.height // downscale), Image.BOX)
        photos.append(np.asarray(image))
    rng = np.random.default_rng(seed)
    crops = np.empty((num_crops, image_size, image_size, 3), np.uint8)
    for i, index in enumerate(rng.integers(len(photos), size=num_crops)):
        photo = photos[index]
        top = rng.integers(photo.shape[0] - image_size + 1)
        left = rng.integers(photo.shape[1] - image_size + 1)
        crops[i] = photo[top : top + image_size, left : left + image_size]
    return crops.astype("float32") / np.float32(255.0)
