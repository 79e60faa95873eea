"""Combines per-image anomaly terms into one score, with statistics of the training images."""

import keras
import numpy as np
from keras import ops

from ava_keras import losses
from ava_keras.constants import ANOMALY_TERMS
from ava_keras.errors import InputError

# Every per-image term, and the sign that makes it grow with anomaly: the
# reconstruction error and the KL term grow, the realism logits d(x) and
# D(μ(x)) fall for unusual images.
ANOMALY_DIRECTIONS = {"reconstruction": 1.0, "kl": 1.0, "realism": -1.0, "latent_realism": -1.0}
# The terms `fit` combines by default, where the model has them: the best score
# of the anomaly benchmark (docs/anomaly.md; a VAE gets the reconstruction error).
DEFAULT_ANOMALY_TERMS = ("reconstruction", "realism")
# A term whose standard deviation on the training images is below this is
# scaled by it instead (a constant term must not divide by zero).
MIN_SCALE = 1e-6


@keras.saving.register_keras_serializable(package="ava_keras")
class AnomalyScorer(keras.layers.Layer):
    """One anomaly score from per-image terms, standardised on the training images.

    The combined score is the mean, over the chosen terms k, of
    s_k · (t_k − m_k) / σ_k, where t_k is the term, m_k and σ_k its mean
    and standard deviation on the training images and s_k = +1 for the
    reconstruction error and the KL term, −1 for the realism logits d(x)
    (eqs. 2-7) and D(μ(x)) (eqs. 11-14): higher means more anomalous, and the
    score is non-decreasing in the reconstruction error and the KL term and
    non-increasing in each realism (strictly for each chosen term).

    `fit` stores m_k, σ_k and which terms count; `AVA.fit_anomaly_scores`
    first sets `variance`, for a Gaussian likelihood, to σ̂² = the mean
    squared reconstruction error of the training images (the σ-VAE optimum
    the model trains with). They are non-trainable weights, so
    they are saved with the model and exported with it. Before `fit` the
    score is the reconstruction error alone (m = 0, σ = 1, only that term),
    and the Gaussian error of each image uses that image's own optimal σ̂².

    Args:
        terms: The terms the model provides, a subset of `ANOMALY_TERMS`
            that includes "reconstruction".
        **kwargs: Base layer keyword arguments, such as `name`.

    Call arguments:
        inputs: `(n, len(terms))` tensor: the terms in the order of `terms`
            (`stack` builds it from a dict of terms).

    Output shape:
        `(n,)`: the combined score.

    Example:

    >>> scorer = AnomalyScorer(terms=("reconstruction", "kl"))
    >>> scorer.fit({"reconstruction": train_errors, "kl": train_kl})
    >>> anomaly = scorer(scorer.stack({"reconstruction": errors, "kl": kl}))
    """

    def __init__(self, terms=ANOMALY_TERMS, **kwargs):
        super().__init__(**kwargs)
        # === Config ===
        terms = tuple(terms)
        unknown = [t for t in terms if t not in ANOMALY_TERMS]
        if unknown or "reconstruction" not in terms or len(set(terms)) != len(terms):
            raise InputError(
                f"`terms` must be distinct names from {ANOMALY_TERMS}, including 'reconstruction'. "
                f"Received: terms={terms!r}"
            )
        self.terms = terms

        # === State ===
        k = len(terms)
        reconstruction_only = [float(t == "reconstruction") for t in terms]
        self.means = self.add_weight(name="means", shape=(k,), initializer="zeros", trainable=False)
        self.scales = self.add_weight(name="scales", shape=(k,), initializer="ones", trainable=False)
        self.weights_used = self.add_weight(
            name="weights_used", shape=(k,), initializer=keras.initializers.Constant(reconstruction_only), trainable=False
        )
        # σ̂² of the Gaussian likelihood; 0 until fitted (then each image's own).
        self.variance = self.add_weight(name="variance", shape=(), initializer="zeros", trainable=False)
        self.fitted = self.add_weight(name="fitted", shape=(), initializer="zeros", trainable=False)
        self.built = True

    @property
    def is_fitted(self):
        """Whether `fit` has run (otherwise the score is the reconstruction error)."""
        return bool(ops.convert_to_numpy(self.fitted) > 0.5)

    @property
    def combined_terms(self):
        """The terms the combined score uses."""
        return tuple(t for t, w in zip(self.terms, ops.convert_to_numpy(self.weights_used)) if w > 0)

    def reconstruction_variance(self, images, reconstructions):
        """σ² for the Gaussian error: the fitted σ̂², or before `fit` each image's own MSE, `(n,)`."""
        squared = ops.reshape(ops.square(images - reconstructions), (ops.shape(images)[0], -1))
        own = ops.maximum(ops.mean(squared, axis=1), losses.MIN_VARIANCE)
        fitted = ops.cast(self.variance, "float32")
        return ops.where(fitted > 0.0, ops.maximum(fitted, losses.MIN_VARIANCE), own)

    def stack(self, term_values):
        """The `(n, len(terms))` input of the layer from a dict `{term: (n,) values}` (extra keys ignored)."""
        return ops.stack([ops.cast(term_values[t], "float32") for t in self.terms], axis=-1)

    def call(self, inputs):
        values = ops.cast(inputs, "float32")
        directions = ops.convert_to_tensor([ANOMALY_DIRECTIONS[t] for t in self.terms], "float32")
        standardised = directions * (values - ops.cast(self.means, "float32")) / ops.cast(self.scales, "float32")
        weights = ops.cast(self.weights_used, "float32")
        return ops.cast(ops.sum(standardised * weights, axis=-1) / ops.sum(weights), self.compute_dtype)

    def fit(self, term_values, terms=None):
        """Stores the statistics of the training images' terms; returns the terms combined.

        Args:
            term_values: Dict `{term: (n,) array}` for every term of
                `self.terms`, computed on the training images.
            terms: The terms to combine (default `DEFAULT_ANOMALY_TERMS`, those
                of them this scorer has). Each must be one of `self.terms`.
        """
        missing = [t for t in self.terms if t not in term_values]
        if missing:
            raise InputError(f"`term_values` lacks the terms {missing}. Received: {sorted(term_values)}")
        if terms is None:
            terms = tuple(t for t in DEFAULT_ANOMALY_TERMS if t in self.terms) or ("reconstruction",)
        terms = (terms,) if isinstance(terms, str) else tuple(terms)
        unknown = [t for t in terms if t not in self.terms]
        if unknown or not terms:
            raise InputError(
                f"`terms` must be a non-empty subset of this model's terms {self.terms}. Received: terms={terms!r}"
            )
        values = {t: np.asarray(term_values[t], dtype="float64") for t in self.terms}
        if any(v.ndim != 1 or len(v) < 2 or not np.all(np.isfinite(v)) for v in values.values()):
            raise InputError("Cannot fit the anomaly scores: every term needs at least two finite values.")
        self.means.assign(np.array([values[t].mean() for t in self.terms], "float32"))
        self.scales.assign(np.array([max(values[t].std(), MIN_SCALE) for t in self.terms], "float32"))
        self.weights_used.assign(np.array([float(t in terms) for t in self.terms], "float32"))
        self.fitted.assign(1.0)
        return terms

    def compute_output_shape(self, input_shape):
        return (input_shape[0],)

    def get_config(self):
        config = super().get_config()
        config.update({"terms": list(self.terms)})
        return config

    def load_own_variables(self, store):
        """Loads the statistics; a model saved before it had a scorer keeps the unfitted ones."""
        if len(store.keys()) == 0:
            return
        super().load_own_variables(store)
