"""A folder of image files (searched recursively) -> a tf.data pipeline of images in [0, 1]."""

import concurrent.futures
import functools
import os
import warnings

import numpy as np

from ava_keras.data.images import (
    IMAGE_EXTENSIONS,
    check_channels,
    check_image_size,
    check_resize,
    load_image,
)

_LISTED_BAD_FILES = 20
_DISK_CACHE_SHUFFLE_BUFFER = 2048


def find_image_files(directory):
    """Returns the sorted paths of the image files under `directory`, recursively.

    Files are recognised by extension (case-insensitive): PNG, JPEG, BMP,
    GIF, WebP and TIFF. Hidden files and folders (names starting with ".")
    are ignored.

    Raises:
        FileNotFoundError: `directory` does not exist.
        NotADirectoryError: `directory` is a file.
    """
    directory = os.fspath(directory)
    if not os.path.exists(directory):
        raise FileNotFoundError(f"Image folder not found: '{directory}'")
    if not os.path.isdir(directory):
        raise NotADirectoryError(
            f"'{directory}' is a file, not a folder. Pass the folder that contains the images."
        )
    paths = []
    for root, folders, files in os.walk(directory, followlinks=True):
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        paths.extend(
            os.path.join(root, name)
            for name in files
            if not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)
        )
    return sorted(paths)


def _workers():
    return max(1, min(32, os.cpu_count() or 1))


def read_images(paths, image_size, channels=3, resize="crop", keep=True):
    """Decodes image files in parallel threads, separating the unreadable ones.

    Args:
        paths: Image file paths.
        image_size, channels, resize: As in `load_image`.
        keep: Return the decoded images; `False` only checks the files.

    Returns:
        `(images, good_paths, bad)`: a uint8 array `(len(good_paths), height,
        width, channels)` (None if `keep` is False or nothing was readable),
        the readable paths in order, and a list of `(path, reason)`.
    """

    def read(path):
        try:
            array = load_image(path, image_size, channels, resize)
        except (ValueError, OSError) as error:
            return None, str(error).removeprefix(f"{path}: ")
        return (array if keep else True), None

    with concurrent.futures.ThreadPoolExecutor(_workers()) as pool:
        results = list(pool.map(read, paths))
    good, arrays, bad = [], [], []
    for path, (array, reason) in zip(paths, results):
        if reason is None:
            good.append(path)
            arrays.append(array)
        else:
            bad.append((path, reason))
    stacked = np.stack(arrays) if keep and arrays else None
    return stacked, good, bad


def _describe_bad(directory, bad):
    listed = [f"{os.path.relpath(path, directory)} ({reason})" for path, reason in bad[:_LISTED_BAD_FILES]]
    more = f"; and {len(bad) - _LISTED_BAD_FILES} more" if len(bad) > _LISTED_BAD_FILES else ""
    return "; ".join(listed) + more


def image_folder(
    directory,
    image_size,
    batch_size=32,
    channels=3,
    validation_split=None,
    seed=None,
    cache=True,
    shuffle=True,
    resize="crop",
    strict=False,
):
    """Builds a `tf.data.Dataset` of images from a folder, checking every file first.

    All image files under `directory` (recursively; PNG, JPEG, BMP, GIF, WebP,
    TIFF) are decoded once with Pillow before the pipeline is built, so a bad
    file never stops training halfway: empty, truncated and non-image files
    are skipped with one warning that names them (or raise a `ValueError`
    when `strict=True`). Images are converted to `channels` (grayscale, RGBA,
    palette, 16-bit and CMYK included; transparency is composited onto black)
    and resized to `image_size`.

    Args:
        directory: The folder to read.
        image_size: Int or `(height, width)` of the output images.
        batch_size: Images per batch (the last batch may be smaller).
        channels: 1 (grayscale) or 3 (RGB).
        validation_split: Optional float in (0, 1): the fraction of files held
            out (chosen at random with `seed`); the function then returns
            `(train, validation)`.
        seed: Optional integer seed of the split and of the shuffling.
        cache: `True` (default) keeps the decoded, resized images in memory
            as uint8 (height × width × channels bytes each), so each file is
            decoded exactly once; `False` decodes the files again every epoch,
            a batch at a time in parallel threads (for folders too large for
            memory); a string is a
            file name for `tf.data.Dataset.cache` (decoded once, kept on
            disk, shuffled in a buffer of 2,048 images).
        shuffle: Whether to reshuffle the training images every epoch.
        resize: `"crop"` (default: central crop to the target aspect ratio,
            then resize), `"stretch"` (resize, ignoring the aspect ratio) or
            `"pad"` (fit inside, pad with black).
        strict: Raise a `ValueError` on any unreadable file instead of
            skipping it.

    Returns:
        A dataset of float32 batches `(batch, height, width, channels)` in
        [0, 1], or a `(train, validation)` pair. Each dataset has attributes
        `file_paths` (the files it reads) and `skipped_files` (a list of
        `(path, reason)` for the files that were skipped).

    Raises:
        FileNotFoundError: `directory` does not exist.
        NotADirectoryError: `directory` is a file.
        ValueError: No images, fewer readable images than one batch, a bad
            argument, or (with `strict=True`) an unreadable file.

    Example:

    >>> train = image_folder("photos/", image_size=64, batch_size=32)
    >>> model.fit(train, epochs=10)
    """
    import tensorflow as tf

    size = check_image_size(image_size)
    check_channels(channels)
    check_resize(resize)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}")
    if validation_split is not None and not (
        isinstance(validation_split, (float, int)) and 0 < validation_split < 1
    ):
        raise ValueError(
            "`validation_split` must be None or a number strictly between 0 and 1. "
            f"Received: validation_split={validation_split!r}"
        )
    if not (isinstance(cache, (bool, str)) or isinstance(cache, os.PathLike)):
        raise ValueError(f"`cache` must be True, False or a file name. Received: cache={cache!r}")
    directory = os.fspath(directory)

    paths = find_image_files(directory)
    if not paths:
        raise ValueError(
            f"No image files found in '{directory}' (looked recursively for "
            f"{', '.join(e.lstrip('.') for e in IMAGE_EXTENSIONS)})."
        )
    in_memory = cache is True
    arrays, good, bad = read_images(paths, size, channels, resize, keep=in_memory)
    if bad:
        listing = _describe_bad(directory, bad)
        if strict:
            raise ValueError(f"{len(bad)} unreadable image file(s) in '{directory}': {listing}")
        warnings.warn(
            f"Skipped {len(bad)} unreadable image file(s) in '{directory}': {listing}",
            stacklevel=2,
        )
    if not good:
        raise ValueError(f"None of the {len(paths)} image files in '{directory}' could be read.")

    order = np.arange(len(good))
    if validation_split is not None:
        order = np.random.default_rng(seed).permutation(len(good))
        n_val = max(1, int(round(validation_split * len(good))))
        splits = {"train": np.sort(order[n_val:]), "validation": np.sort(order[:n_val])}
    else:
        splits = {"train": order}
    if len(splits["train"]) < batch_size:
        raise ValueError(
            f"'{directory}' has {len(splits['train'])} readable training image(s), fewer than "
            f"one batch (batch_size={batch_size}). Add images or lower the batch size."
        )

    def build(indices, training):
        files = [good[i] for i in indices]
        reshuffle = training and shuffle
        if in_memory:
            dataset = tf.data.Dataset.from_tensor_slices(arrays[indices])
            if reshuffle:
                dataset = dataset.shuffle(len(files), seed=seed)
            dataset = dataset.batch(batch_size)
        else:  # decode a whole batch of files per Python call
            dataset = tf.data.Dataset.from_tensor_slices(files)
            if reshuffle and not cache:  # shuffle paths, not decoded images: little memory
                dataset = dataset.shuffle(len(files), seed=seed)
            dataset = dataset.batch(batch_size).map(
                _plain_python(lambda paths: _decode_batch_tensor(paths, size, channels, resize)),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
            if cache:  # decoded once into a disk cache, then shuffled in a bounded buffer
                dataset = dataset.unbatch().cache(os.fspath(cache) + ("" if training else "-validation"))
                if reshuffle:
                    dataset = dataset.shuffle(min(len(files), _DISK_CACHE_SHUFFLE_BUFFER), seed=seed)
                dataset = dataset.batch(batch_size)
        dataset = dataset.map(lambda x: tf.cast(x, tf.float32) / 255.0, num_parallel_calls=tf.data.AUTOTUNE)
        dataset = dataset.prefetch(tf.data.AUTOTUNE)
        dataset.file_paths = files
        dataset.skipped_files = list(bad)
        return dataset

    train = build(splits["train"], training=True)
    if validation_split is None:
        return train
    return train, build(splits["validation"], training=False)


def _plain_python(function):
    """Keeps tf.data's autograph from rewriting `function` and what it calls.

    The decoder runs Pillow through `tf.numpy_function`; rewritten by
    autograph, its Python code would run with autograph's checks on every
    call, several times slower.
    """
    import tensorflow as tf

    return tf.autograph.experimental.do_not_convert(function)


def _decode_batch_tensor(paths, size, channels, resize):
    """tf.data map function: decodes a batch of files with Pillow in parallel threads.

    One Python call per batch instead of per image; Pillow releases the GIL
    while it decodes and resizes, so the threads use every core.
    """
    import tensorflow as tf

    def decode(path_batch):
        return np.stack(list(_decode_pool().map(
            lambda path: load_image(path.decode(), size, channels, resize), path_batch)))

    images = tf.numpy_function(decode, [paths], tf.uint8, stateful=False)
    images.set_shape((None,) + size + (channels,))
    return images


@functools.cache
def _decode_pool():
    """The thread pool shared by the pipelines that decode files, created on first use."""
    return concurrent.futures.ThreadPoolExecutor(_workers(), thread_name_prefix="ava_keras_decode")
