"""Fréchet distance in the features of a fixed, randomly initialised CNN: for images without labels.

FID needs a feature space. Inception-v3 weights would need a download; a
classifier needs labels. A convolutional network with fixed random weights
still maps images to features that respond to edges, colours and textures at
several scales, and the Fréchet distance between the feature statistics of
two image sets ranks generators usefully (Naeem et al. 2020, "Reliable
fidelity and diversity metrics for generative models", sec. 5, use random
embeddings the same way). The weights are drawn by numpy from a fixed seed, so
the features are the same on every machine. Values are comparable only with
other values of the same network (same `seed`, same image size), never with
Inception FID.
"""

import numpy as np

from ava_keras._validation import check_images, check_positive_int
from ava_keras.errors import InputError
from ava_keras.evaluation.distribution_metrics import frechet_distance

FILTERS = (32, 64, 128)
SEED = 0


class RandomFeatures:
    """Features of a fixed random CNN: three 3x3 stride-2 ReLU convolutions.

    The feature vector of an image is, for every layer, the spatial mean and
    standard deviation of each channel (2 × (32 + 64 + 128) = 448 values), so
    it sees colour and coarse structure (first layer) as well as texture
    (last layer). Weights are He-normal draws of `numpy.random.default_rng(seed)`.

    Args:
        channels: 1 or 3, the images' channels.
        seed: Seed of the random weights (default 0).

    Example:

    >>> features = RandomFeatures(channels=3).features(images)  # images (n, h, w, 3) in [0, 1]
    """

    def __init__(self, channels=3, seed=SEED):
        if channels not in (1, 3):
            raise InputError(f"`channels` must be 1 or 3. Received: channels={channels!r}")
        self.channels = channels
        self.seed = seed
        rng = np.random.default_rng(seed)
        self.kernels, inputs = [], channels
        for filters in FILTERS:
            scale = np.sqrt(2.0 / (9 * inputs))
            self.kernels.append((rng.standard_normal((3, 3, inputs, filters)) * scale).astype("float32"))
            inputs = filters

    def features(self, images, batch_size=256):
        """Feature vectors `(n, 448)` of images `(n, h, w, channels)` in [0, 1]."""
        import tensorflow as tf

        images = check_images("images", images)
        batch_size = check_positive_int("batch_size", batch_size)
        if images.shape[-1] != self.channels:
            raise InputError(
                f"`images` must have {self.channels} channels. Received: shape {images.shape}"
            )
        outputs = []
        for start in range(0, len(images), batch_size):
            x = tf.constant(images[start : start + batch_size], tf.float32) * 2.0 - 1.0
            pooled = []
            for kernel in self.kernels:
                x = tf.nn.relu(tf.nn.conv2d(x, kernel, strides=2, padding="SAME"))
                mean, variance = tf.nn.moments(x, axes=(1, 2))
                pooled += [mean, tf.sqrt(variance + 1e-12)]
            outputs.append(tf.concat(pooled, axis=-1).numpy())
        return np.concatenate(outputs).astype("float64")


def random_feature_fid(real_images, generated_images, seed=SEED):
    """Fréchet distance between two image sets in `RandomFeatures` space.

    Args:
        real_images, generated_images: Arrays `(n, h, w, c)` in [0, 1] of the
            same size and channels.
        seed: Seed of the random network.

    Returns:
        A float; 0 for identical statistics, lower is better.
    """
    real_images = check_images("real_images", real_images)
    extractor = RandomFeatures(channels=real_images.shape[-1], seed=seed)
    return frechet_distance(extractor.features(real_images), extractor.features(generated_images))
