"""Callback that saves a picture of reconstructions and samples after every epoch."""

import math
import os

import keras
import numpy as np
from PIL import Image

from ava_keras._validation import check_positive_int
from ava_keras.data.images import to_uint8
from ava_keras.errors import InputError


def image_grid(images, columns=None, padding=2, min_tile=0):
    """Tiles images `(n, h, w, c)` (uint8 or float in [0, 1]) into one uint8 picture.

    `columns` defaults to ceil(sqrt(n)); tiles are separated by `padding`
    white pixels; images smaller than `min_tile` pixels are enlarged by an
    integer factor (nearest neighbour) so small images stay visible.
    Returns an array `(rows*(h+p)+p, columns*(w+p)+p, c)`.
    """
    images = to_uint8(images)
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or len(images) == 0:
        raise InputError(f"Expected images of shape (n, height, width, 1 or 3), n >= 1. Received: {images.shape}")
    scale = max(1, math.ceil(min_tile / min(images.shape[1:3])))
    images = images.repeat(scale, axis=1).repeat(scale, axis=2)
    n, height, width, channels = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    grid = np.full(
        (rows * (height + padding) + padding, columns * (width + padding) + padding, channels), 255, np.uint8
    )
    for i, image in enumerate(images):
        top = padding + (i // columns) * (height + padding)
        left = padding + (i % columns) * (width + padding)
        grid[top : top + height, left : left + width] = image
    return grid


def save_image_grid(images, path, columns=None, padding=2, min_tile=0):
    """Writes `image_grid(images, columns, padding, min_tile)` to `path` (PNG); returns the path."""
    grid = image_grid(images, columns, padding, min_tile)
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(path)
    return path


class SampleGrid(keras.callbacks.Callback):
    """Saves a PNG grid of reconstructions and samples after every epoch.

    Each picture has, for up to `columns` fixed images x, a row of x, then a
    row of their reconstructions g(μ(x)), then rows of images decoded from
    the same fixed latent draws (`model.sample` with a fixed seed: N(0, I),
    or the model's fitted latent mixture once `fit_latent_sampler` has run),
    so successive epochs are comparable. For a class-conditional model the
    samples are one row of `columns` images per class (the same latent draws
    in every row), and the reconstructions need the images' `labels`.
    `write("final")` draws one more
    picture on demand, e.g. after fitting the latent mixture.
    With `log_dir`, the picture is also written as a TensorBoard image summary.

    Args:
        directory: Folder for the PNG files (`epoch_001.png`, ...); `None`
            writes only the TensorBoard summary.
        images: Optional array of real images in [0, 1] to reconstruct; the
            first `columns` are used. Without it, only samples are drawn.
        labels: The labels of `images`, for a class-conditional model.
        num_samples: Number of sampled images (default 16); a
            class-conditional model draws one row per class instead.
        columns: Images per row (default 8).
        seed: Seed of the fixed latent draws.
        log_dir: Optional TensorBoard log folder.
        every: Write every `every` epochs (the last epoch is always written).

    Example:

    >>> model.fit(images, epochs=10, callbacks=[SampleGrid("grids/", images=images[:8])])
    """

    def __init__(
        self, directory, images=None, num_samples=16, columns=8, seed=0, log_dir=None, every=1, labels=None
    ):
        super().__init__()
        check_positive_int("num_samples", num_samples, allow_zero=True)
        check_positive_int("columns", columns)
        check_positive_int("every", every)
        if directory is None and log_dir is None:
            raise InputError("SampleGrid needs a `directory`, a `log_dir` or both.")
        self.directory = None if directory is None else os.fspath(directory)
        self.images = None if images is None else np.asarray(images, dtype="float32")[:columns]
        if self.images is not None and len(self.images) == 0:
            self.images = None
        self.labels = None if labels is None or self.images is None else np.asarray(labels)[: len(self.images)]
        if self.images is None and num_samples == 0:
            raise InputError("SampleGrid has nothing to draw: pass `images` or num_samples > 0.")
        self.num_samples = int(num_samples)
        self.columns = int(columns)
        self.seed = seed
        self.log_dir = None if log_dir is None else os.fspath(log_dir)
        self.every = int(every)
        self.paths = []
        self._writer = None

    def picture(self):
        """Returns the current grid as a uint8 array `(height, width, channels)`."""
        rows = []
        if self.images is not None:
            rows += [self.images, self.model.reconstruct(self.images, self.labels)]
        if self.num_samples and self.model.conditional:
            rows += [self.model.sample(self.columns, seed=self.seed, labels=k) for k in range(self.model.num_classes)]
        elif self.num_samples:
            rows.append(self.model.sample(self.num_samples, seed=self.seed))
        return image_grid(np.concatenate(rows), columns=self.columns, min_tile=64)

    def on_epoch_end(self, epoch, logs=None):
        last = self.params is not None and epoch + 1 == self.params.get("epochs")
        if (epoch + 1) % self.every and not last:
            return
        self.write(f"epoch_{epoch + 1:03d}", step=epoch + 1)

    def write(self, name, step):
        """Draws the picture now: `<directory>/<name>.png` and a TensorBoard image at `step`.

        Returns the PNG's path (None without a `directory`).
        """
        grid = self.picture()
        path = None
        if self.directory is not None:
            path = save_image_grid(grid[None], os.path.join(self.directory, f"{name}.png"), columns=1, padding=0)
            self.paths.append(path)
        if self.log_dir is not None:
            import tensorflow as tf

            if self._writer is None:
                self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "samples"))
            with self._writer.as_default():
                tf.summary.image("reconstructions_and_samples", grid[None], step=step)
            self._writer.flush()
        return path

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
