"""Drawing images from an AVA: latent draws from N(0, I) or a Gaussian mixture fitted to the means."""

import numpy as np
import tensorflow as tf
from keras import ops

from ava_keras._validation import check_positive_int, dataset_labels_message
from ava_keras.errors import InputError
from ava_keras.layers import GaussianMixture


class LatentSampling:
    """`sample` and `fit_latent_sampler` of `ava_keras.AVA` (a mixin of `keras.Model`).

    Needs `latent_sampler` (an `ava_keras.layers.GaussianMixture`) or, for a
    class-conditional model, `class_latent_samplers` (one per class),
    `latent_dim`, `labels_array`, `encode` and `decode`.
    """

    def _create_latent_samplers(self):
        """`latent_sampler`, or one mixture per class (`class_latent_samplers`) for a class-conditional model."""
        if self.conditional:
            self.latent_sampler = None
            self.class_latent_samplers = [
                GaussianMixture(self.latent_dim, self.latent_sampler_components, name=f"latent_sampler_{k}")
                for k in range(self.num_classes)
            ]
        else:
            self.latent_sampler = GaussianMixture(
                self.latent_dim, self.latent_sampler_components, name="latent_sampler"
            )
            self.class_latent_samplers = None

    def sample(self, n, seed=None, labels=None):
        """Decodes `n` latent draws; the same integer `seed` gives the same images.

        The draws come from `model.latent_sampler`: z ~ N(0, I) until
        `fit_latent_sampler` has run, then its fitted Gaussian mixture. A
        class-conditional model needs `labels`: one class for all `n` images
        or one per image, as class indices or class names (`model.class_names`);
        image i is g(z_i, y_i) with z_i drawn from class y_i's mixture.

        Example:

        >>> cats = model.sample(16, labels="cat", seed=0)
        >>> one_per_digit = model.sample(10, labels=range(10), seed=0)
        """
        check_positive_int("n", n)
        labels = self.labels_array(labels, int(n), "sample")
        if seed is None:
            seed = int(np.random.randint(0, 2**31 - 1))
        return self.decode(ops.convert_to_numpy(self.sample_latents(int(n), int(seed), labels)), labels)

    def sample_latents(self, n, seed=0, labels=None):
        """The `(n, latent_dim)` latent draws of `sample(n, seed, labels)`, as TensorFlow ops.

        `labels`: int32 `(n,)` class indices (class-conditional model). Every
        class's mixture transforms the same noise, and each draw takes its own
        class's result, so draw i depends only on `seed`, i and its label.
        """
        sampler = self.class_latent_samplers[0] if self.conditional else self.latent_sampler
        return self.latents_from_noise(sampler.noise(n, seed), labels)

    def latents_from_noise(self, noise, labels=None):
        """The latent draws of `sample_latents` from the `(uniform, normal)` draws `noise` (`GaussianMixture.noise`).

        The SavedModel and TFLite exports feed their own noise through this.
        """
        if not self.conditional:
            return self.latent_sampler(noise)
        draws = ops.stack([sampler(noise) for sampler in self.class_latent_samplers], axis=1)  # (n, K, dim)
        return ops.take_along_axis(draws, ops.reshape(ops.cast(labels, "int32"), (-1, 1, 1)), axis=1)[:, 0]

    def fit_latent_sampler(self, images, labels=None, batch_size=256, max_images=50_000, seed=0):
        """Fits `model.latent_sampler` to the mean vectors μ(x) of `images`.

        Ex-post density estimation (Ghosh et al. 2020): after training, a
        Gaussian mixture of `latent_sampler_components` components is fitted
        to the encoder's means, and from then on `sample`, `SampleGrid`, the
        CLI and the SavedModel's `generate` endpoint draw z from it instead
        of N(0, I), which decodes to sharper, more typical images. Fitting
        uses numpy only; the mixture is saved with the model. A
        class-conditional model fits one mixture per class
        (`class_latent_samplers`) to the means μ(x, y) of that class's images.

        Args:
            images: Array of images in [0, 1] `(n, H, W, C)`, or a
                `tf.data.Dataset` of such batches (or of `(images, labels, ...)`
                tuples).
            labels: The images' labels, for a class-conditional model given
                an array (a dataset brings its own).
            batch_size: Batch size for encoding an array.
            max_images: Use at most this many images (the first ones).
            seed: Seed of the mixture's k-means++ initialisation.

        Returns:
            The mean log-likelihood of the means under the fitted mixture
            (conditional model: over all images, each under its class's).
        """
        means, classes = self._latent_means(images, labels, batch_size, max_images)
        if len(means) == 0:
            raise InputError("`fit_latent_sampler` got no images: pass the training images.")
        if not self.conditional:
            return self.latent_sampler.fit(means, seed=seed)
        total = 0.0
        for k, sampler in enumerate(self.class_latent_samplers):
            class_means = means[classes == k]
            if len(class_means) < self.latent_sampler_components:
                name = k if self.class_names is None else f"{k} ({self.class_names[k]!r})"
                raise InputError(
                    f"`fit_latent_sampler` got {len(class_means)} image(s) of class {name}, fewer than the "
                    f"{self.latent_sampler_components} mixture components: pass more images of every class, or "
                    "build the model with a smaller `latent_sampler_components`."
                )
            total += sampler.fit(class_means, seed=seed) * len(class_means)
        return total / len(means)

    def _latent_means(self, images, labels, batch_size, max_images):
        """The encoder's means of the first `max_images` images and their labels (None if unconditional)."""
        if not isinstance(images, tf.data.Dataset):
            images = np.asarray(images)[:max_images]
            labels = self.labels_array(None if labels is None else np.asarray(labels)[:max_images], len(images),
                                       "fit_latent_sampler")
            return self.encode(images, labels, batch_size=batch_size)[0], labels
        if labels is not None:
            raise InputError(dataset_labels_message("`fit_latent_sampler`"))
        means, classes, count = [], [], 0
        for batch in images:
            batch_images, batch_labels = self._batch_arrays(batch)
            batch_images = batch_images[: max_images - count]
            batch_labels = self.labels_array(
                None if batch_labels is None else batch_labels[: len(batch_images)], len(batch_images),
                "fit_latent_sampler",
            )
            means.append(self.encode(batch_images, batch_labels, batch_size=batch_size)[0])
            classes.append(batch_labels)
            count += len(means[-1])
            if count >= max_images:
                break
        if not means:
            return np.zeros((0, self.latent_dim)), None
        return np.concatenate(means), np.concatenate(classes) if self.conditional else None
