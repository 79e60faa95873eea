"""Input pipelines: image folders -> tf.data."""

from ava_keras.data.image_folder import (
    check_headers,
    find_image_files,
    image_folder,
    read_images,
    shard_files,
    warn_unreadable,
)
from ava_keras.data.images import IMAGE_EXTENSIONS, RESIZE_MODES, load_image, prepare_image, to_uint8
from ava_keras.data.memory import available_memory
from ava_keras.data.throughput import images_per_second

__all__ = [
    "IMAGE_EXTENSIONS",
    "RESIZE_MODES",
    "available_memory",
    "check_headers",
    "find_image_files",
    "image_folder",
    "images_per_second",
    "load_image",
    "prepare_image",
    "read_images",
    "shard_files",
    "to_uint8",
    "warn_unreadable",
]
