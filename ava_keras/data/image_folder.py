"""A folder of image files (searched recursively) -> a tf.data pipeline of images in [0, 1].

Lists, shards and checks the files here; decoding and resizing one file is ava_keras.data.images's part.
"""

import concurrent.futures
import functools
import os
import warnings

import numpy as np
from PIL import Image

from ava_keras._validation import (
    check_channels,
    check_file_not_empty,
    check_image_size,
    check_positive_int,
    check_resize,
    unreadable_image,
)
from ava_keras.data import memory
from ava_keras.data.class_folders import check_classes_not_empty, check_labels, infer_labels
from ava_keras.data.images import IMAGE_EXTENSIONS, load_image
from ava_keras.errors import InputError

CHECK_MODES = ("auto", "decode", "header")
_LISTED_BAD_FILES = 20
_DISK_CACHE_SHUFFLE_BUFFER = 2048
# check="auto" decodes every file up front in folders of at most this many
# files; larger folders that are not held in memory have their headers read.
FULL_CHECK_FILES = 10_000
# Files per task of the up-front check: few enough for a smooth progress bar.
_CHUNK_FILES = 256


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


def shard_files(paths, num_shards, index):
    """Returns the files that worker `index` of `num_shards` reads: every `num_shards`-th file from `index`.

    The shards of workers `0 .. num_shards - 1` are disjoint and together hold
    every file; their sizes differ by at most one.

    Raises:
        ValueError: `num_shards` is not a positive integer or `index` is not
            in `0 .. num_shards - 1`.
    """
    if isinstance(num_shards, bool) or not isinstance(num_shards, (int, np.integer)) or num_shards < 1:
        raise InputError(f"The number of shards must be a positive integer. Received: {num_shards!r}")
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < num_shards:
        raise InputError(f"The shard index must be in 0..{num_shards - 1}. Received: {index!r}")
    return list(paths[index::num_shards])


def _progress_bar(total, verbose, message):
    """A Keras progress bar over `total` files after a one-line `message`, or None when `verbose` is 0."""
    if not verbose:
        return None
    from keras.utils import Progbar

    print(message, flush=True)
    return Progbar(total, verbose=verbose, unit_name="file")


def check_image_header(path):
    """Checks that `path` is a non-empty image file Pillow can identify, reading only its header.

    Much faster than decoding; a file whose header is fine but whose data is
    truncated or corrupt passes, and fails later in `load_image`.

    Raises:
        ValueError: The file is empty or its header is not an image's. The
            message names the file.
    """
    path = check_file_not_empty(path)
    try:
        with Image.open(path) as image:
            image.size  # noqa: B018 -- identifying the format reads the header
    except Exception as error:  # Pillow raises many types on malformed files.
        raise unreadable_image(path, error) from error


def _check_in_threads(paths, check, verbose=0, message="Checking image files"):
    """Runs `check(index, path)` on every file in chunks in parallel threads, with a progress bar.

    Returns the list of `(path, reason)` for the files on which `check`
    raised `ValueError` or `OSError`, in order, and the indices of the others.
    """
    reasons = [None] * len(paths)
    chunk = max(1, min(_CHUNK_FILES, -(-len(paths) // (4 * _workers()))))

    def run(start):
        stop = min(start + chunk, len(paths))
        for i in range(start, stop):
            try:
                check(i, paths[i])
            except (ValueError, OSError) as error:
                reasons[i] = str(error).removeprefix(f"{paths[i]}: ")
        return stop - start

    bar = _progress_bar(len(paths), verbose, f"{message}: {len(paths)} file(s)")
    futures = [_decode_pool().submit(run, start) for start in range(0, len(paths), chunk)]
    try:
        for future in futures:
            done = future.result()
            if bar is not None:
                bar.add(done)
    except BaseException:  # e.g. Ctrl-C: do not decode the rest of the folder before exiting
        for future in futures:
            future.cancel()
        raise
    bad = [(path, reason) for path, reason in zip(paths, reasons) if reason is not None]
    return bad, [i for i, reason in enumerate(reasons) if reason is None]


def read_images(paths, image_size, channels=3, resize="crop", keep=True, verbose=0):
    """Decodes image files in parallel threads into one array, separating the unreadable ones.

    The images are decoded straight into one preallocated uint8 array (no
    per-image list, no stacking), so the peak memory is about the data's own
    size.

    Args:
        paths: Image file paths.
        image_size, channels, resize: As in `load_image`.
        keep: Return the decoded images; `False` only checks the files.
        verbose: 0 (silent), 1 (progress bar) or 2 (one line at the end).

    Returns:
        `(images, good_paths, bad)`: a uint8 array `(len(good_paths), height,
        width, channels)` (None if `keep` is False or nothing was readable),
        the readable paths in order, and a list of `(path, reason)`.
    """
    size = check_image_size(image_size)
    images = np.empty((len(paths),) + size + (channels,), np.uint8) if keep else None

    def decode(index, path):
        image = load_image(path, size, channels, resize)
        if keep:
            images[index] = image

    bad, good = _check_in_threads(paths, decode, verbose, "Decoding images")
    if keep:  # move the good images to the front, in place: no second copy
        for target, source in enumerate(good):
            if source != target:
                images[target] = images[source]
        images = images[: len(good)] if good else None
    return images, [paths[i] for i in good], bad


def check_headers(paths, verbose=0):
    """Reads only the header of each file (fast); returns `(good_paths, bad)` as `read_images` does."""
    bad, good = _check_in_threads(paths, lambda index, path: check_image_header(path), verbose,
                                  "Checking image headers")
    return [paths[i] for i in good], bad


def _describe_bad(directory, bad):
    listed = [f"{os.path.relpath(path, directory)} ({reason})" for path, reason in bad[:_LISTED_BAD_FILES]]
    more = f"; and {len(bad) - _LISTED_BAD_FILES} more" if len(bad) > _LISTED_BAD_FILES else ""
    return "; ".join(listed) + more


def warn_unreadable(directory, bad, stacklevel=2):
    """Warns once that the `(path, reason)` files of `bad` under `directory` were skipped, naming them."""
    warnings.warn(
        f"Skipped {len(bad)} unreadable image file(s) in '{directory}': {_describe_bad(directory, bad)}",
        stacklevel=stacklevel,
    )


def image_folder(
    directory,
    image_size,
    batch_size=32,
    channels=3,
    validation_split=None,
    seed=None,
    cache="auto",
    shuffle=True,
    resize="crop",
    strict=False,
    check="auto",
    verbose=0,
    shard=None,
    available_memory=None,
    labels=None,
):
    """Builds a `tf.data.Dataset` of images from a folder, checking every file first.

    All image files under `directory` (recursively; PNG, JPEG, BMP, GIF, WebP,
    TIFF) are checked with Pillow before the pipeline is built, so a bad
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
        cache: `"auto"` (default) holds the images in memory when their
            decoded size (height × width × channels bytes each) takes at most
            half the available memory, and streams them otherwise, printing
            one line saying so. `True` keeps the decoded, resized images in
            memory as one uint8 array (about the data's own size; each file
            is decoded exactly once), batches gathered on one private
            tf.data thread (`private_threadpool_size=1`, which also applies
            to maps added to the dataset; pass other `tf.data.Options` to
            change it); `False` decodes the files again every
            epoch, a batch at a time in parallel threads (for folders too
            large for memory); a string is a file name for
            `tf.data.Dataset.cache` (decoded once, kept on disk, shuffled in a
            buffer of 2,048 images). TensorFlow's file cache was measured to
            hold about 1.4× the data in memory while it writes the first epoch
            (docs/performance.md), so it saves decoding, not memory.
        shuffle: Whether to reshuffle the training images every epoch.
        resize: `"crop"` (default: central crop to the target aspect ratio,
            then resize), `"stretch"` (resize, ignoring the aspect ratio) or
            `"pad"` (fit inside, pad with black).
        strict: Raise a `ValueError` on any unreadable file instead of
            skipping it (every file is then decoded up front).
        check: How files that are not held in memory are checked up front:
            `"decode"` decodes every file (all unreadable files are found
            before training), `"header"` reads only each file's header (much
            faster; a file that fails to decode later is skipped with a
            warning when it is reached, never stopping training). `"auto"`
            (default) decodes folders of up to 10,000 files and reads the
            headers of larger ones. Images held in memory are always decoded
            up front.
        verbose: 0 (silent, default), 1 (a progress bar while the files are
            checked or decoded) or 2 (one line when done).
        shard: Optional `(num_workers, worker_index)`: read only this
            worker's share of the files (`shard_files`), for multi-worker
            training; the dataset then turns off `tf.distribute`'s own
            sharding. `ava_keras.distribute.worker_shard()` gives this
            worker's pair from `TF_CONFIG`.
        available_memory: Bytes of memory that `cache="auto"` compares the
            decoded size with; by default measured (`memory.available_memory`).
        labels: None (default: images only) or `"inferred"`: one class per
            sub-folder of `directory`, as in
            `keras.utils.image_dataset_from_directory(labels="inferred")`.
            The classes are the sorted sub-folder names; each image's int64
            label is its top-level sub-folder's index among them, and files
            directly in `directory` are left out. For
            `AVA.from_preset(..., num_classes=len(dataset.class_names))`.

    Returns:
        A dataset of float32 batches `(batch, height, width, channels)` in
        [0, 1] (with `labels="inferred"`, of `(images, labels)` pairs,
        labels int64 `(batch,)`), or a `(train, validation)` pair. Each
        dataset has the attributes `class_names` (the sorted class names,
        None without labels) and `file_labels` (the int64 label of each of
        `file_paths`, None without labels), and the attributes
        `file_paths` (the files it reads), `skipped_files` (a list of
        `(path, reason)` for the files that were skipped; files found
        unreadable later are added when reached) and `cache` (the mode used:
        True, False or the cache file name).

    Raises:
        FileNotFoundError: `directory` does not exist.
        NotADirectoryError: `directory` is a file.
        ValueError: No images, fewer readable images than one batch, a bad
            argument, (with `strict=True`) an unreadable file, or (with
            `labels="inferred"`) no sub-folders or a class without readable images.

    Example:

    >>> train = image_folder("photos/", image_size=64, batch_size=32, verbose=1)
    >>> model.fit(train, epochs=10)

    >>> pets = image_folder("pets/", image_size=64, labels="inferred")  # pets/cat/..., pets/dog/...
    >>> model = AVA.from_preset("ava5", (64, 64, 3), num_classes=2, class_names=pets.class_names)
    >>> model.fit(pets, epochs=10)
    """
    import tensorflow as tf

    size = check_image_size(image_size)
    check_channels(channels)
    check_resize(resize)
    check_positive_int("batch_size", batch_size)
    if validation_split is not None and not (
        isinstance(validation_split, (float, int)) and 0 < validation_split < 1
    ):
        raise InputError(
            "`validation_split` must be None or a number strictly between 0 and 1. "
            f"Received: validation_split={validation_split!r}"
        )
    if not (cache == "auto" or isinstance(cache, (bool, str)) or isinstance(cache, os.PathLike)):
        raise InputError(f"`cache` must be 'auto', True, False or a file name. Received: cache={cache!r}")
    if check not in CHECK_MODES:
        raise InputError(f"`check` must be one of {CHECK_MODES}. Received: check={check!r}")
    check_labels(labels)
    directory = os.fspath(directory)

    paths = find_image_files(directory)
    if not paths:
        raise InputError(
            f"No image files found in '{directory}' (looked recursively for "
            f"{', '.join(e.lstrip('.') for e in IMAGE_EXTENSIONS)})."
        )
    class_names = file_labels = None
    if labels == "inferred":
        paths, file_labels, class_names = infer_labels(directory, paths)
        file_labels = dict(zip(paths, file_labels))
    if shard is not None:
        paths = shard_files(paths, *shard)
    cache = choose_cache(cache, len(paths), size, channels, available_memory, directory)
    in_memory = cache is True
    if in_memory or strict or check == "decode" or (check == "auto" and len(paths) <= FULL_CHECK_FILES):
        arrays, good, bad = read_images(paths, size, channels, resize, keep=in_memory, verbose=verbose)
    else:
        good, bad = check_headers(paths, verbose=verbose)
    if bad:
        if strict:
            raise InputError(f"{len(bad)} unreadable image file(s) in '{directory}': {_describe_bad(directory, bad)}")
        warn_unreadable(directory, bad, stacklevel=3)
    if not good:
        raise InputError(f"None of the {len(paths)} image files in '{directory}' could be read.")
    if file_labels is not None:
        file_labels = np.array([file_labels[path] for path in good], np.int64)
        check_classes_not_empty(directory, class_names, file_labels, "readable image files")

    order = np.arange(len(good))
    if validation_split is not None:
        order = np.random.default_rng(seed).permutation(len(good))
        n_val = max(1, int(round(validation_split * len(good))))
        splits = {"train": np.sort(order[n_val:]), "validation": np.sort(order[:n_val])}
    else:
        splits = {"train": order}
    if len(splits["train"]) < batch_size:
        raise InputError(
            f"'{directory}' has {len(splits['train'])} readable training image(s), fewer than "
            f"one batch (batch_size={batch_size}). Add images or lower the batch size."
        )

    def build(indices, training):
        files = [good[i] for i in indices]
        labels_of_files = None if file_labels is None else file_labels[indices]
        skipped = list(bad)
        reshuffle = training and shuffle
        if in_memory:
            dataset = in_memory_batches(arrays, indices, batch_size, reshuffle, seed, file_labels)
        else:  # decode a whole batch of files per Python call
            dataset = tf.data.Dataset.from_tensor_slices(files if file_labels is None else (files, labels_of_files))
            if reshuffle and not cache:  # shuffle paths, not decoded images: little memory
                dataset = dataset.shuffle(len(files), seed=seed)
            dataset = dataset.batch(batch_size).map(
                _plain_python(
                    lambda paths, *batch_labels: _decode_batch_tensor(
                        paths, size, channels, resize, skipped, files, *batch_labels, file_labels=labels_of_files
                    )
                ),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
            if cache:  # decoded once into a disk cache, then shuffled in a bounded buffer
                dataset = dataset.unbatch().cache(os.fspath(cache) + ("" if training else "-validation"))
                if reshuffle:
                    dataset = dataset.shuffle(min(len(files), _DISK_CACHE_SHUFFLE_BUFFER), seed=seed)
                dataset = dataset.batch(batch_size)
            dataset = dataset.map(_to_unit_float, num_parallel_calls=tf.data.AUTOTUNE)
        dataset = dataset.prefetch(tf.data.AUTOTUNE)
        if shard is not None:  # the files are sharded already: tf.distribute must not shard again
            # tf.distribute splits each worker's batches into one step per worker, so a known
            # cardinality would stop Keras after 1/num_workers of the shard; with an unknown one,
            # Keras runs until every worker's shard is exhausted (tf.distribute syncs the end).
            dataset = dataset.filter(lambda *batch: True)
            options = tf.data.Options()
            options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
            dataset = dataset.with_options(options)
        dataset.file_paths = files
        dataset.skipped_files = skipped
        dataset.cache = cache
        dataset.class_names = class_names
        dataset.file_labels = labels_of_files
        return dataset

    train = build(splits["train"], training=True)
    if validation_split is None:
        return train
    return train, build(splits["validation"], training=False)


def choose_cache(cache, num_files, image_size, channels=3, available_memory=None, directory=None):
    """Resolves `cache="auto"`: True (in memory) when the decoded images fit comfortably, else False.

    Any other `cache` is returned unchanged. When streaming is chosen, one
    line says so, with the sizes compared.

    Args:
        cache: `"auto"`, True, False or a cache file name.
        num_files: Number of images.
        image_size: `(height, width)`.
        channels: 1 or 3.
        available_memory: Bytes available; by default measured.
        directory: The folder, named in the printed line.
    """
    if not (isinstance(cache, str) and cache == "auto"):
        return cache
    num_bytes = num_files * image_size[0] * image_size[1] * channels
    available = memory.available_memory() if available_memory is None else available_memory
    if memory.fits_in_memory(num_bytes, available):
        return True
    print(
        f"Streaming the images of '{directory}' from disk, decoding a batch per step: decoded, they "
        f"would take {num_bytes / 2**30:.2f} GiB, more than {memory.MEMORY_SHARE:.0%} of the "
        f"{available / 2**30:.2f} GiB of memory available (cache=True holds them in memory anyway).",
        flush=True,
    )
    return False


def _plain_python(function):
    """Keeps tf.data's autograph from rewriting `function` and what it calls.

    The decoder runs Pillow through `tf.numpy_function`; rewritten by
    autograph, its Python code would run with autograph's checks on every
    call, several times slower.
    """
    import tensorflow as tf

    return tf.autograph.experimental.do_not_convert(function)


def in_memory_batches(images, indices, batch_size, reshuffle=False, seed=None, labels=None):
    """The float32 batches in [0, 1] of `images[indices]` (a uint8 numpy array), without copying the array.

    With `labels` (an array beside `images`), the batches are
    `(images, labels[indices])` pairs.

    Batches of (optionally reshuffled) indices are gathered from the array
    one batch at a time, then cast. tf.data runs these functions on one
    private thread: the float32 batches are then allocated by one thread,
    and glibc reuses the freed ones from one malloc arena instead of keeping
    them in an arena per thread of TensorFlow's pool (at 128×128 the
    memory grew by a median 69 MiB during an epoch instead of 240 MiB;
    docs/performance.md, "Memory during an epoch"). One thread gathers and
    casts thousands of images per second.
    """
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices(np.asarray(indices, np.int64))
    if reshuffle:
        dataset = dataset.shuffle(len(indices), seed=seed)
    dataset = dataset.batch(batch_size).map(
        _plain_python(lambda batch: _gather_batch_tensor(images, batch, labels)), num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.map(_to_unit_float, num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    return dataset.with_options(options)


def _to_unit_float(batch, *labels):
    """tf.data map function: uint8 images -> float32 in [0, 1] (labels, if any, pass through)."""
    import tensorflow as tf

    images = tf.cast(batch, tf.float32) / 255.0
    return (images,) + labels if labels else images


def _gather_batch_tensor(images, indices, labels=None):
    """tf.data map function: the batch of `images` (a numpy array) at `indices`, copied only batch by batch.

    `from_tensor_slices(images)` would copy the whole array into a tensor
    (and a graph constant); gathering by index keeps one copy of the data.
    With `labels`, returns `(images, labels)` at `indices`.
    """
    import tensorflow as tf

    batch = tf.numpy_function(lambda rows: images[rows], [indices], tf.uint8, stateful=False)
    batch.set_shape((None,) + images.shape[1:])
    if labels is None:
        return batch
    return batch, tf.gather(tf.constant(labels, tf.int64), indices)


def _decode_batch_tensor(paths, size, channels, resize, skipped, files, labels=None, file_labels=None):
    """tf.data map function: decodes a batch of files with Pillow in parallel threads.

    One Python call per batch instead of per image; Pillow releases the GIL
    while it decodes and resizes, so the threads use every core. A file
    that fails to decode is left out of the batch (with its label, if the
    batch has `labels`), added to `skipped` and named in a warning (once),
    so a file that breaks after the up-front check never stops training. A
    batch none of whose files decodes is replaced by the previous batch
    (never an empty batch). `file_labels` are the labels of `files`.
    """
    import tensorflow as tf

    def read(path):
        try:
            return load_image(path, size, channels, resize)
        except (ValueError, OSError) as error:
            _skip_late(path, str(error).removeprefix(f"{path}: "), skipped)
            return None

    last_good = []

    def decode(path_batch, *label_batch):
        decoded = list(_decode_pool().map(lambda path: read(path.decode()), path_batch))
        kept = [i for i, image in enumerate(decoded) if image is not None]
        if not kept:  # never an empty batch (its loss would be NaN): repeat the last good one
            return last_good[0] if last_good else _first_readable(files, size, channels, resize, file_labels)
        last_good[:] = [(np.stack([decoded[i] for i in kept]),) + tuple(b[kept] for b in label_batch)]
        return last_good[0]

    if labels is None:
        images = tf.numpy_function(decode, [paths], [tf.uint8], stateful=False)[0]
    else:
        images, labels = tf.numpy_function(decode, [paths, labels], [tf.uint8, tf.int64], stateful=False)
        labels.set_shape((None,))
    images.set_shape((None,) + size + (channels,))
    return images if labels is None else (images, labels)


def _first_readable(paths, size, channels, resize, labels=None):
    """A batch of one: the first of `paths` that still decodes, and its label if `labels` (when a whole batch
    failed before any other)."""
    for i, path in enumerate(paths):
        try:
            image = load_image(path, size, channels, resize)[None]
        except (ValueError, OSError):
            continue
        return (image,) + (() if labels is None else (labels[i : i + 1],))
    raise InputError(f"None of the {len(paths)} image files checked before training can be read any more.")


def _skip_late(path, reason, skipped):
    """Records and warns about (once) a file that failed to decode after the up-front check."""
    if any(path == known for known, _ in skipped):
        return
    skipped.append((path, reason))
    warnings.warn(f"Skipped unreadable image file '{path}' ({reason}); it passed the up-front check "
                  "and is left out of the batches from now on.", stacklevel=2)


@functools.cache
def _decode_pool():
    """The thread pool shared by the pipelines that decode files, created on first use."""
    return concurrent.futures.ThreadPoolExecutor(_workers(), thread_name_prefix="ava_keras_decode")
