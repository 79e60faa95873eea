"""Bundled real datasets that need no download (loaded from installed packages)."""

from ava_keras.datasets._folder import write_image_folder
from ava_keras.datasets.digits import load_digits
from ava_keras.datasets.photos import PHOTO_NAMES, load_photos, photo_crops
from ava_keras.datasets.ten_images import ten_images

__all__ = ["PHOTO_NAMES", "load_digits", "load_photos", "photo_crops", "ten_images", "write_image_folder"]
