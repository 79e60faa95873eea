"""Class labels of an image folder inferred from its sub-folders, as `keras.utils.image_dataset_from_directory` does."""

import os

import numpy as np

from ava_keras.errors import InputError

# The values of `image_folder(labels=...)`: no labels, or one class per sub-folder.
LABEL_MODES = (None, "inferred")


def check_labels(labels):
    """Returns `labels` if it is one of `LABEL_MODES`."""
    if labels not in LABEL_MODES:
        raise InputError(f"`labels` must be None or 'inferred'. Received: labels={labels!r}")
    return labels


def infer_labels(directory, paths):
    """The class of each image file: the index of its top-level sub-folder among the sorted sub-folder names.

    Files directly in `directory` belong to no class and are left out, as
    Keras leaves them out; files in deeper folders belong to their
    top-level sub-folder's class.

    Args:
        directory: The folder.
        paths: The image files under `directory` (`find_image_files`).

    Returns:
        `(paths, labels, class_names)`: the files in classes, their int64
        labels and the sorted class names.

    Raises:
        ValueError: `directory` has no sub-folder with images, or a
            sub-folder (a class) has no image file.
    """
    directory = os.fspath(directory)
    class_names = sorted(
        name for name in os.listdir(directory)
        if not name.startswith(".") and os.path.isdir(os.path.join(directory, name))
    )
    if not class_names:
        raise InputError(
            f"labels='inferred' takes one sub-folder per class, but '{directory}' has no sub-folders. Put each "
            f"class's images in a folder of its own ('{os.path.join(directory, '<class name>')}'), or pass "
            "labels=None to train without labels."
        )
    index = {name: k for k, name in enumerate(class_names)}
    classes = [os.path.relpath(path, directory).split(os.sep)[0] for path in paths]
    kept = [(path, index[name]) for path, name in zip(paths, classes) if name in index]
    check_classes_not_empty(directory, class_names, [label for _, label in kept])
    return [path for path, _ in kept], np.array([label for _, label in kept], np.int64), class_names


def check_classes_not_empty(directory, class_names, labels, what="image files"):
    """Raises an InputError naming the classes of `class_names` that no label of `labels` has."""
    counts = np.bincount(np.asarray(labels, np.int64), minlength=len(class_names))
    empty = [name for name, count in zip(class_names, counts) if count == 0]
    if empty:
        raise InputError(
            f"labels='inferred' makes every sub-folder of '{directory}' a class, but the class(es) "
            f"{', '.join(repr(name) for name in empty)} have no {what}. Add images to them, or remove those "
            "sub-folders."
        )
