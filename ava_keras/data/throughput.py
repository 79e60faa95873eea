"""How fast an input pipeline delivers images, to compare with training speed."""

import contextlib
import time

from ava_keras.errors import InputError


def images_per_second(dataset, batches=None, warmup_batches=1, exclude_host_pauses=False):
    """Iterates over `dataset` and returns the images per second it delivers.

    Run it on the pipeline alone and compare with the images per second of
    training (e.g. timed per step by a callback): when the pipeline is much
    faster, input is not the bottleneck.

    Args:
        dataset: A `tf.data.Dataset` of image batches (or `(images, ...)` tuples).
        batches: Number of batches to time; `None` times one full pass.
        warmup_batches: Batches read before the clock starts (pipeline start-up,
            first-epoch caching).
        exclude_host_pauses: Do not count the time the host paused this
            virtual machine (watched by a helper process), as
            `ava-keras bench` does for its step times.

    Returns:
        Images per second over the timed batches, as a float.

    Example:

    >>> train = ava_keras.data.image_folder("photos/", image_size=64, cache=False)
    >>> ava_keras.data.images_per_second(train, batches=50)
    """
    iterator = iter(dataset)
    for _ in range(warmup_batches):
        next(iterator, None)
    images = 0
    with contextlib.ExitStack() as stack:
        monitor = None
        if exclude_host_pauses:
            from ava_keras._host_stalls import HostStallMonitor

            monitor = stack.enter_context(HostStallMonitor())
        start = time.perf_counter()
        for i, batch in enumerate(iterator):
            if batches is not None and i >= batches:
                break
            images += int((batch[0] if isinstance(batch, (tuple, list)) else batch).shape[0])
        end = time.perf_counter()
    elapsed = monitor.busy_seconds(start, end) if monitor else end - start
    if images == 0:
        raise InputError(
            "No batches were timed: the dataset has at most `warmup_batches` "
            f"({warmup_batches}) batches."
        )
    return images / elapsed
