"""Per-image anomaly scores of an AVA: the terms as TensorFlow ops (the Python method and the export share them)."""

import numpy as np
from keras import ops

from ava_keras import losses
from ava_keras.layers import AnomalyScorer


def anomaly_terms(model, images, labels=None):
    """Every per-image term of `model` for a batch of float32 `images` in [0, 1], and their combination.

    A class-conditional model scores each image under its int32 `labels`:
    every term is that of f(x, y), g(z, y), d(x, y) and D(μ, y).

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
    mean, log_var = model.encoder_outputs(images, labels)
    reconstructions = model.decoder_outputs(mean, labels)
    mean, log_var, reconstructions = (ops.cast(t, "float32") for t in (mean, log_var, reconstructions))
    scorer = model.anomaly_scorer
    likelihood = losses.get_likelihood(model.likelihood)
    variance = scorer.reconstruction_variance(images, reconstructions) if likelihood.fits_variance else None
    terms = {
        "reconstruction": likelihood.reconstruction_loss(images, reconstructions, variance, per_example=True),
        "kl": losses.kl_divergence(mean, log_var, per_example=True),
    }
    if model.discriminator is not None:
        logits = ops.cast(model.discriminator_logits(images, labels), "float32")
        terms["realism"] = ops.mean(ops.reshape(logits, (ops.shape(logits)[0], -1)), axis=1)  # patches: their mean
    if model.latent_discriminator is not None:
        terms["latent_realism"] = ops.cast(model.latent_discriminator_logits(mean, labels), "float32")[:, 0]
    terms["anomaly"] = scorer(scorer.stack(terms))
    return terms


class AnomalyScoring:
    """`anomaly_scores` and `fit_anomaly_scores` of `ava_keras.AVA` (a mixin of `keras.Model`).

    Needs `anomaly_scorer` (an `ava_keras.layers.AnomalyScorer`), `likelihood`,
    `image_shape`, `reconstruct` and the image checks of
    `ava_keras.models.safety.SafetyChecks`.
    """

    def _create_anomaly_scorer(self):
        """`anomaly_scorer` over the terms the model has: d's and D's realism only with d and D."""
        terms = ("reconstruction", "kl") + ("realism",) * (self.discriminator is not None)
        terms += ("latent_realism",) * (self.latent_discriminator is not None)
        self.anomaly_scorer = AnomalyScorer(terms, name="anomaly_scorer")

    def anomaly_scores(self, images, labels=None, batch_size=256):
        """Per-image realism and anomaly scores: which images are unusual or unlike the training data.

        A class-conditional model needs `labels` (class indices or names, one
        for all images or one per image) and scores each image as a member of
        its class: "is this a typical 7?". Fit the statistics with the
        training images' own labels (`fit_anomaly_scores(images, labels)`).

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
        labels = self.labels_array(labels, len(images), "anomaly_scores")
        return self._run_batched(lambda x, y: anomaly_terms(self, x, y), images, batch_size, labels)

    def fit_anomaly_scores(self, images, labels=None, batch_size=256, terms=None, max_images=10_000):
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
                `(images, labels, ...)` tuples).
            labels: The images' labels, for a class-conditional model given
                an array (a dataset brings its own).
            batch_size: Batch size for scoring.
            terms: Names of the terms to combine (see above).
            max_images: Use at most this many images (the first ones).
        """
        images, labels = self._first_images(images, labels, max_images, "fit_anomaly_scores")
        images = self._images_array(images, "fit_anomaly_scores")
        labels = self.labels_array(labels, len(images), "fit_anomaly_scores")
        if losses.get_likelihood(self.likelihood).fits_variance:
            errors = self.reconstruct(images, labels, batch_size) - images
            variance = max(float(np.mean(np.square(errors, dtype="float64"))), losses.MIN_VARIANCE)
            self.anomaly_scorer.variance.assign(variance)
        return self.anomaly_scorer.fit(self.anomaly_scores(images, labels, batch_size), terms=terms)
