"""Per-image anomaly scores of an AVA: the terms as TensorFlow ops (the Python method and the export share them)."""

import numpy as np
import tensorflow as tf
from keras import ops

from ava_keras import losses


def anomaly_terms(model, images):
    """Every per-image term of `model` for a batch of float32 `images` in [0, 1], and their combination.

    - `reconstruction`: −log p(x | g(μ(x))) under `model.likelihood` for the
      deterministic reconstruction g(μ(x)): eq. 1's ½‖x − x′‖² ("paper"),
      the binary cross-entropy ("bernoulli"), or −log N(x; x′, σ̂²I) with the
      σ̂² stored by `model.fit_anomaly_scores` ("gaussian"; before that, each
      image's own mean squared error).
    - `kl`: ½ Σⱼ (σⱼ² + μⱼ² − 1 − log σⱼ²) of f(x) (eq. 1).
    - `realism` (models with d): the logit of d(x) (eqs. 2-7), the mean
      patch logit for a patch discriminator; higher is more realistic,
      sigmoid(logit) is the probability `discriminate` returns.
    - `latent_realism` (models with D): the logit of D(μ(x)) (eqs. 11-14).
    - `anomaly`: `model.anomaly_scorer`'s combination; higher is more anomalous.

    Returns:
        Dict `{name: (n,) float32 tensor}`.
    """
    mean, log_var = model.encoder(images, training=False)
    reconstructions = model.decoder(mean, training=False)
    mean, log_var, reconstructions = (ops.cast(t, "float32") for t in (mean, log_var, reconstructions))
    scorer = model.anomaly_scorer
    likelihood = losses.get_likelihood(model.likelihood)
    variance = scorer.reconstruction_variance(images, reconstructions) if likelihood.fits_variance else None
    terms = {
        "reconstruction": likelihood.reconstruction_loss(images, reconstructions, variance, per_example=True),
        "kl": losses.kl_divergence(mean, log_var, per_example=True),
    }
    if model.discriminator is not None:
        logits = ops.cast(model.discriminator(images, training=False), "float32")
        terms["realism"] = ops.mean(ops.reshape(logits, (ops.shape(logits)[0], -1)), axis=1)  # patches: their mean
    if model.latent_discriminator is not None:
        terms["latent_realism"] = ops.cast(model.latent_discriminator(mean, training=False), "float32")[:, 0]
    terms["anomaly"] = scorer(scorer.stack(terms))
    return terms


class AnomalyScoring:
    """`anomaly_scores` and `fit_anomaly_scores` of `ava_keras.AVA` (a mixin of `keras.Model`).

    Needs `anomaly_scorer` (an `ava_keras.layers.AnomalyScorer`), `likelihood`,
    `image_shape`, `reconstruct` and the image checks of
    `ava_keras.models.safety.SafetyChecks`.
    """

    def anomaly_scores(self, images, batch_size=256):
        """Per-image realism and anomaly scores: which images are unusual or unlike the training data.

        Returns a dict of `(n,)` float32 arrays (see
        `ava_keras.models.anomaly_scoring.anomaly_terms`): `reconstruction` (the
        error under the model's likelihood), `kl`, `realism` (logit of d(x),
        models with d), `latent_realism` (logit of D(μ(x)), models with D)
        and `anomaly`, higher = more anomalous: the terms standardised on the
        training images by `fit_anomaly_scores` and combined by
        `model.anomaly_scorer` (until then, the reconstruction error alone).
        Images are checked as `encode` checks them. See docs/anomaly.md.
        """
        images = self._images_array(images, "anomaly_scores")
        return self._run_batched(lambda x: anomaly_terms(self, x), images, batch_size)

    def fit_anomaly_scores(self, images, batch_size=256, terms=None, max_images=10_000):
        """Fits `model.anomaly_scorer` to the training `images`; returns the terms it combines.

        Stores, for a Gaussian likelihood, σ̂² = the images' mean squared
        reconstruction error, then each term's mean and standard deviation on
        `images`. `terms` chooses the terms to combine (default
        `ava_keras.layers.anomaly_scorer.DEFAULT_ANOMALY_TERMS`, the
        benchmark's choice, those the model has). The statistics are saved
        with the model and used by the SavedModel's `score` endpoint.

        Args:
            images: Array of training images `(n, H, W, C)` in [0, 1] (or
                uint8), or a `tf.data.Dataset` of such batches (or of
                `(images, ...)` tuples).
            batch_size: Batch size for scoring.
            terms: Names of the terms to combine (see above).
            max_images: Use at most this many images (the first ones).
        """
        if isinstance(images, tf.data.Dataset):
            batches = (b[0] if isinstance(b, (tuple, list)) else b for b in images.unbatch().batch(max_images).take(1))
            images = next((b.numpy() for b in batches), np.zeros((0,) + self.image_shape, "float32"))
        images = self._images_array(np.asarray(images)[:max_images], "fit_anomaly_scores")
        if losses.get_likelihood(self.likelihood).fits_variance:
            errors = self.reconstruct(images, batch_size) - images
            variance = max(float(np.mean(np.square(errors, dtype="float64"))), losses.MIN_VARIANCE)
            self.anomaly_scorer.variance.assign(variance)
        return self.anomaly_scorer.fit(self.anomaly_scores(images, batch_size), terms=terms)
