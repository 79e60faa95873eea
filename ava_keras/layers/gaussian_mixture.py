"""A Gaussian mixture over latent vectors, fitted after training, to sample from."""

import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from ava_keras._validation import check_positive_int
from ava_keras.errors import InputError


@keras.saving.register_keras_serializable(package="ava_keras")
class GaussianMixture(keras.layers.Layer):
    """A K-component, full-covariance Gaussian mixture over `dim`-vectors.

    A VAE trained on little data does not fill its prior N(0, I): draws from
    the prior fall in "holes" the encoder never uses and decode to blurs.
    Ex-post density estimation (Ghosh et al. 2020, "From variational to
    deterministic autoencoders") fits a density to the encoder's mean vectors
    μ(x) after training and samples from it instead. `fit` runs EM in numpy;
    sampling and the density are TensorFlow ops, so a saved model needs no
    scikit-learn, and the weights (mixture logits, means, Cholesky factors of
    the covariances) are saved with the model.

    Before `fit`, every component is N(0, I) with equal weight, so the mixture
    *is* the prior and `sample` draws exactly z ~ N(0, I).

    Args:
        dim: Size of the vectors (the latent size).
        num_components: K, the number of Gaussians (default 10).
        **kwargs: Base layer keyword arguments, such as `name`.

    Call arguments:
        inputs: List `[uniform, normal]`: `(n,)` draws from U[0, 1) that pick
            each vector's component and `(n, dim)` draws from N(0, I).

    Output shape:
        `(n, dim)`: component mean + Cholesky factor @ normal.

    Example:

    >>> mixture = GaussianMixture(dim=2, num_components=3)
    >>> mixture.fit(np.random.default_rng(0).normal(size=(500, 2)))
    >>> z = mixture.sample(16, seed=0)

    Reference:
        Ghosh et al. (2020), ICLR, section 4 (ex-post density estimation).
    """

    def __init__(self, dim, num_components=10, **kwargs):
        super().__init__(**kwargs)
        # === Config ===
        self.dim = check_positive_int("dim", dim)
        self.num_components = check_positive_int("num_components", num_components)

        # === State ===
        k, d = self.num_components, self.dim
        self.logits = self.add_weight(name="logits", shape=(k,), initializer="zeros", trainable=False)
        self.means = self.add_weight(name="means", shape=(k, d), initializer="zeros", trainable=False)
        self.scale_tril = self.add_weight(name="scale_tril", shape=(k, d, d), initializer="zeros", trainable=False)
        # Identity scales (N(0, I) per component), assigned, so that the weight's config holds no lambda.
        self.scale_tril.assign(ops.tile(ops.eye(d, dtype=self.scale_tril.dtype)[None], (k, 1, 1)))
        self.fitted = self.add_weight(name="fitted", shape=(), initializer="zeros", trainable=False)
        self.built = True

    @property
    def is_fitted(self):
        """Whether `fit` has run (otherwise the mixture is N(0, I))."""
        return bool(ops.convert_to_numpy(self.fitted) > 0.5)

    # === Sampling and density (TensorFlow ops) ===

    def call(self, inputs):
        uniform, normal = (ops.cast(x, "float32") for x in inputs)
        weights = ops.softmax(ops.cast(self.logits, "float32"))
        # Inverse CDF with comparisons only (no categorical op): TFLite runs it.
        edges = ops.cumsum(weights)[:-1]
        uniform = ops.cast(uniform, "float32")  # float16 under mixed_float16: compare in float32
        component = ops.sum(ops.cast(ops.expand_dims(uniform, -1) >= edges, "int32"), axis=-1)
        means = ops.take(ops.cast(self.means, "float32"), component, axis=0)
        scales = ops.take(ops.cast(self.scale_tril, "float32"), component, axis=0)
        return ops.cast(means + ops.einsum("nij,nj->ni", scales, normal), self.compute_dtype)

    def noise(self, n, seed):
        """The `(uniform, normal)` draws behind `sample(n, seed)`, as stateless ops."""
        seed = tf.cast(seed, tf.int32)
        normal = tf.random.stateless_normal(tf.stack([n, self.dim]), seed=tf.stack([seed, 0]))
        uniform = tf.random.stateless_uniform(tf.reshape(n, (1,)), seed=tf.stack([seed, 1]))
        return uniform, normal

    def sample(self, n, seed=None):
        """Draws `n` vectors; the same integer `seed` gives the same vectors.

        Before `fit` these are z ~ N(0, I), identical to
        `keras.random.normal((n, dim), seed=seed)`.
        """
        check_positive_int("n", n)
        if seed is None:
            seed = int(np.random.randint(0, 2**31 - 1))
        return self(self.noise(int(n), int(seed)))

    def log_density(self, vectors):
        """log p(z) of the mixture for `vectors` `(n, dim)`, shape `(n,)`."""
        vectors = ops.cast(ops.convert_to_tensor(vectors), "float32")
        scale_tril = ops.cast(self.scale_tril, "float32")
        centred = ops.expand_dims(vectors, 1) - ops.expand_dims(ops.cast(self.means, "float32"), 0)
        # Solve L y = (z − m) for every component: y = L⁻¹(z − m), ‖y‖² the Mahalanobis distance.
        solved = tf.linalg.triangular_solve(
            tf.tile(scale_tril[None], (tf.shape(vectors)[0], 1, 1, 1)), centred[..., None], lower=True
        )[..., 0]
        log_det = ops.sum(ops.log(ops.abs(tf.linalg.diag_part(scale_tril))), axis=-1)
        log_weights = ops.log_softmax(ops.cast(self.logits, "float32"))
        per_component = (
            log_weights - log_det - 0.5 * ops.sum(ops.square(solved), axis=-1) - 0.5 * self.dim * math.log(2 * math.pi)
        )
        return ops.logsumexp(per_component, axis=-1)

    # === Fitting (numpy EM) ===

    def fit(self, vectors, max_iterations=200, tolerance=1e-4, regularization=1e-6, seed=0):
        """Fits the mixture to `vectors` `(n, dim)` by EM; returns the mean log-likelihood.

        k-means++ initial means, then EM on full covariances; `regularization`
        is added to each covariance's diagonal (as scikit-learn's
        `reg_covar`). Stops when the mean log-likelihood improves by less than
        `tolerance`. Needs at least `num_components` distinct vectors.
        """
        vectors = np.asarray(vectors, dtype="float64")
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise InputError(f"Expected vectors of shape (n, {self.dim}). Received: {vectors.shape}")
        if not np.all(np.isfinite(vectors)):
            raise InputError("Cannot fit the mixture: some vectors are NaN or infinite.")
        if len(vectors) < self.num_components:
            raise InputError(
                f"Cannot fit {self.num_components} components to {len(vectors)} vectors: "
                "give at least as many vectors as components."
            )
        rng = np.random.default_rng(seed)
        means = _kmeans_plus_plus(vectors, self.num_components, rng)
        covariances = np.repeat(np.cov(vectors.T, bias=True).reshape(self.dim, self.dim)[None], len(means), 0)
        covariances += regularization * np.eye(self.dim)
        weights = np.full(len(means), 1.0 / len(means))
        previous = -np.inf
        for _ in range(max_iterations):
            log_resp, log_likelihood = _e_step(vectors, weights, means, covariances)
            weights, means, covariances = _m_step(vectors, np.exp(log_resp), regularization)
            if log_likelihood - previous < tolerance:
                break
            previous = log_likelihood
        self.logits.assign(np.log(weights).astype("float32"))
        self.means.assign(means.astype("float32"))
        self.scale_tril.assign(np.linalg.cholesky(covariances).astype("float32"))
        self.fitted.assign(1.0)
        return float(_e_step(vectors, weights, means, covariances)[1])

    def compute_output_shape(self, input_shape):
        return (input_shape[1][0], self.dim)

    def get_config(self):
        config = super().get_config()
        config.update({"dim": self.dim, "num_components": self.num_components})
        return config


def _kmeans_plus_plus(vectors, k, rng):
    """k-means++ seeding (Arthur & Vassilvitskii 2007): k rows of `vectors`."""
    centres = [vectors[rng.integers(len(vectors))]]
    distances = np.sum((vectors - centres[0]) ** 2, axis=1)
    for _ in range(1, k):
        total = distances.sum()
        index = rng.choice(len(vectors), p=distances / total) if total > 0 else rng.integers(len(vectors))
        centres.append(vectors[index])
        distances = np.minimum(distances, np.sum((vectors - centres[-1]) ** 2, axis=1))
    return np.array(centres)


def _e_step(vectors, weights, means, covariances):
    """Log responsibilities `(n, k)` and the mean log-likelihood."""
    n, d = vectors.shape
    log_prob = np.empty((n, len(weights)))
    for j, (mean, covariance) in enumerate(zip(means, covariances)):
        cholesky = np.linalg.cholesky(covariance)
        solved = np.linalg.solve(cholesky, (vectors - mean).T)
        log_prob[:, j] = (
            np.log(weights[j])
            - np.sum(np.log(np.diag(cholesky)))
            - 0.5 * np.sum(solved**2, axis=0)
            - 0.5 * d * math.log(2 * math.pi)
        )
    top = log_prob.max(axis=1, keepdims=True)
    log_norm = top + np.log(np.exp(log_prob - top).sum(axis=1, keepdims=True))
    return log_prob - log_norm, float(log_norm.mean())


def _m_step(vectors, resp, regularization):
    """Weights, means and (regularised) covariances from responsibilities `(n, k)`."""
    counts = resp.sum(axis=0) + 10 * np.finfo(resp.dtype).eps
    means = resp.T @ vectors / counts[:, None]
    covariances = np.empty((len(counts), vectors.shape[1], vectors.shape[1]))
    for j in range(len(counts)):
        centred = vectors - means[j]
        covariances[j] = (resp[:, j, None] * centred).T @ centred / counts[j]
        covariances[j].flat[:: vectors.shape[1] + 1] += regularization
    return counts / counts.sum(), means, covariances
