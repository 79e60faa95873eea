"""Input pipelines: image folders -> tf.data."""

from ava_keras.data.image_folder import find_image_files, image_folder, read_images
from ava_keras.data.images import IMAGE_EXTENSIONS, RESIZE_MODES, load_image, prepare_image, to_uint8
from ava_keras.data.throughput import images_per_second

__all__ = [
    "IMAGE_EXTENSIONS",
    "RESIZE_MODES",
    "find_image_files",
    "image_folder",
    "images_per_second",
    "load_image",
    "prepare_image",
    "read_images",
    "to_uint8",
]
