"""Bundled real datasets that need no download (loaded from installed packages)."""

from ava_keras.datasets.ten_images import ten_images

__all__ = ["ten_images"]
