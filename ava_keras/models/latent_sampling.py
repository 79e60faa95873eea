"""Drawing images from an AVA: latent draws from N(0, I) or a Gaussian mixture fitted to the means."""

import numpy as np
import tensorflow as tf
from keras import ops

from ava_keras.errors import InputError


class LatentSampling:
    """`sample` and `fit_latent_sampler` of `ava_keras.AVA` (a mixin of `keras.Model`).

    Needs `latent_sampler` (an `ava_keras.layers.GaussianMixture`), `latent_dim`,
    `encode` and `decode`.
    """

    def sample(self, n, seed=None):
        """Decodes `n` latent draws; the same integer `seed` gives the same images.

        The draws come from `model.latent_sampler`: z ~ N(0, I) until
        `fit_latent_sampler` has run, then its fitted Gaussian mixture.
        """
        return self.decode(ops.convert_to_numpy(self.latent_sampler.sample(n, seed)))

    def fit_latent_sampler(self, images, batch_size=256, max_images=50_000, seed=0):
        """Fits `model.latent_sampler` to the mean vectors μ(x) of `images`.

        Ex-post density estimation (Ghosh et al. 2020): after training, a
        Gaussian mixture of `latent_sampler_components` components is fitted
        to the encoder's means, and from then on `sample`, `SampleGrid`, the
        CLI and the SavedModel's `generate` endpoint draw z from it instead
        of N(0, I), which decodes to sharper, more typical images. Fitting
        uses numpy only; the mixture is saved with the model.

        Args:
            images: Array of images in [0, 1] `(n, H, W, C)`, or a
                `tf.data.Dataset` of such batches (or of `(images, ...)` tuples).
            batch_size: Batch size for encoding an array.
            max_images: Use at most this many images (the first ones).
            seed: Seed of the mixture's k-means++ initialisation.

        Returns:
            The mean log-likelihood of the means under the fitted mixture.
        """
        means = []
        if isinstance(images, tf.data.Dataset):
            count = 0
            for batch in images:
                batch = batch[0] if isinstance(batch, (tuple, list)) else batch
                means.append(self.encode(batch.numpy()[: max_images - count], batch_size=batch_size)[0])
                count += len(means[-1])
                if count >= max_images:
                    break
        else:
            means.append(self.encode(np.asarray(images)[:max_images], batch_size=batch_size)[0])
        means = np.concatenate(means) if means else np.zeros((0, self.latent_dim))
        if len(means) == 0:
            raise InputError("`fit_latent_sampler` got no images: pass the training images.")
        return self.latent_sampler.fit(means, seed=seed)
