"""Loss terms of the AVA paper, as pure functions, and the decoder likelihoods (see docs/design_choices.md).

Every term is per example and averaged over the batch. Discriminator terms
take logits: log d = -softplus(-logit) and log(1 - d) = -softplus(logit),
never `log(sigmoid(.))`, so a saturated discriminator gives finite values.
Ascent objectives (eqs. 4, 11) are returned as the quantity to *minimise*.
"""

import math

from keras import ops

from ava_keras.constants import GENERATOR_LOSSES, LIKELIHOODS
from ava_keras.errors import InputError

# Probabilities are clipped to [ε, 1 − ε] in the Bernoulli log-likelihood (as
# keras.losses.binary_crossentropy does), and the Gaussian's σ² is at least
# MIN_VARIANCE (σ ≥ 1e-3), so a perfect reconstruction gives finite losses.
EPSILON = 1e-7
MIN_VARIANCE = 1e-6


def _sum_per_example(values):
    """Sums every axis but the first: `(batch, ...)` -> `(batch,)`."""
    return ops.sum(ops.reshape(values, (ops.shape(values)[0], -1)), axis=1)


def _mean_per_example(values):
    """Averages every axis but the first: `(batch, ...)` -> `(batch,)`."""
    return ops.mean(ops.reshape(values, (ops.shape(values)[0], -1)), axis=1)


def _batch_mean(values, per_example):
    """`values` `(batch,)` as they are when `per_example`, else their mean."""
    return values if per_example else ops.mean(values)


def reconstruction_loss(images, reconstructions, per_example=False):
    """R = ½‖x − x′‖², summed over pixels, averaged over the batch (eq. 1).

    The paper's term: the negative log-likelihood of a Gaussian decoder with
    σ = 1 (up to a constant), far wider than pixels in [0, 1] spread. With
    `per_example`, every reconstruction loss here returns `(batch,)` values
    instead of their mean.
    """
    squared = ops.square(ops.subtract(images, reconstructions))
    return _batch_mean(0.5 * _sum_per_example(squared), per_example)


def bernoulli_reconstruction_loss(images, reconstructions, per_example=False):
    """−Σᵢ [xᵢ log x′ᵢ + (1 − xᵢ) log(1 − x′ᵢ)]: binary cross-entropy, batch mean.

    The negative log-likelihood of a Bernoulli decoder (Kingma & Welling
    2014; the keras.io VAE's loss), for pixels in [0, 1]. `reconstructions`
    are the decoder's sigmoid outputs, clipped to [EPSILON, 1 − EPSILON].
    """
    probabilities = ops.clip(reconstructions, EPSILON, 1.0 - EPSILON)
    log_likelihood = images * ops.log(probabilities) + (1.0 - images) * ops.log(1.0 - probabilities)
    return _batch_mean(-_sum_per_example(log_likelihood), per_example)


def optimal_variance(images, reconstructions):
    """σ̂² = mean of (x − x′)² over the batch and every pixel, at least MIN_VARIANCE.

    The closed-form maximiser of the Gaussian likelihood over one shared σ
    (σ-VAE, Rybkin et al. 2021). Gradients flow through it, as in σ-VAE.
    """
    return ops.maximum(ops.mean(ops.square(ops.subtract(images, reconstructions))), MIN_VARIANCE)


def gaussian_reconstruction_loss(images, reconstructions, variance=None, per_example=False):
    """−log N(x; x′, σ̂²I) with the optimal σ̂² of `optimal_variance`, batch mean.

    Per example: ½ D log(2π σ̂²) + ‖x − x′‖² / (2σ̂²), D the number of pixel
    values. With σ̂² set to the mean squared error this is ½ D (log(2π σ̂²) + 1):
    the reconstruction is weighted as strongly as the data's own spread
    warrants, instead of the paper's fixed σ = 1. `variance` overrides σ̂²
    (e.g. σ̂² over every replica's batch under tf.distribute); with
    `per_example` it may also be one σ² per example, shape `(batch,)`.
    """
    variance = optimal_variance(images, reconstructions) if variance is None else variance
    squared = _sum_per_example(ops.square(ops.subtract(images, reconstructions)))
    pixels = ops.cast(ops.size(images) // ops.shape(images)[0], squared.dtype)
    return _batch_mean(0.5 * pixels * ops.log(2.0 * math.pi * variance) + squared / (2.0 * variance), per_example)


def likelihood_reconstruction_loss(images, reconstructions, likelihood="paper", variance=None, per_example=False):
    """The reconstruction term under `likelihood`, a name in `LIKELIHOODS` or a `Likelihood`.

    `"paper"`: eq. 1's ½‖x − x′‖² (`reconstruction_loss`); `"bernoulli"`:
    `bernoulli_reconstruction_loss`; `"gaussian"`: `gaussian_reconstruction_loss`
    (with σ̂² = `variance` when given). `per_example`: one value per example.
    """
    return get_likelihood(likelihood).reconstruction_loss(images, reconstructions, variance, per_example)


def feature_reconstruction_loss(real_features, fake_features):
    """½‖Dis_l(x) − Dis_l(x′)‖², summed over features, averaged over the batch.

    Larsen et al. (2016), eq. 7: the reconstruction error measured in the
    discriminator's features instead of pixels (a Gaussian with unit
    variance there), which rewards x′ that d sees like x. The targets
    Dis_l(x) carry no gradient; the term trains the encoder and decoder only.
    """
    return reconstruction_loss(ops.stop_gradient(real_features), fake_features)


def focal_frequency_loss(images, reconstructions, variance=None, alpha=1.0, per_example=False):
    """½ Σ w·|F(x) − F(x′)|² / σ², over channels and frequencies, batch mean (Jiang et al. 2021).

    The focal frequency loss: F is each channel's orthonormal 2-D discrete
    Fourier transform, so with every weight w = 1 and σ² = 1 this is eq. 1's
    ½‖x − x′‖² (Parseval). The focal weights w = |F(x) − F(x′)|^alpha,
    scaled to a maximum of 1 per image and channel and carrying no gradient,
    put the weight on the frequencies the decoder gets most wrong: the high
    ones a pixel loss leaves blurred. `variance`: σ², e.g. the calibrated
    Gaussian's σ̂², without gradient (None: σ² = 1); `images` and
    `reconstructions` are `(batch, height, width, channels)`.
    """
    difference = ops.transpose(ops.subtract(reconstructions, images), (0, 3, 1, 2))
    real, imaginary = ops.fft2((difference, ops.zeros_like(difference)))  # F is linear: F(x′) − F(x)
    frequencies = ops.cast(ops.shape(difference)[2] * ops.shape(difference)[3], difference.dtype)
    distance = (ops.square(real) + ops.square(imaginary)) / frequencies  # orthonormal scaling
    weights = ops.power(ops.sqrt(distance), alpha)
    weights = ops.stop_gradient(weights / ops.maximum(ops.max(weights, axis=(2, 3), keepdims=True), EPSILON))
    values = 0.5 * _sum_per_example(weights * distance)
    if variance is not None:
        values = values / ops.stop_gradient(variance)
    return _batch_mean(values, per_example)


def kl_divergence(mean, log_var, per_example=False):
    """K = ½ Σⱼ (σⱼ² + μⱼ² − 1 − log σⱼ²), KL to N(0, I), batch mean (eq. 1); `(batch,)` with `per_example`."""
    values = 0.5 * ops.sum(ops.exp(log_var) + ops.square(mean) - 1.0 - log_var, axis=-1)
    return _batch_mean(values, per_example)


def log_probability(logits):
    """log sigmoid(logit) computed stably as −softplus(−logit)."""
    return -ops.softplus(-logits)


def log_complement_probability(logits):
    """log(1 − sigmoid(logit)) computed stably as −softplus(logit)."""
    return -ops.softplus(logits)


def generator_loss(fake_logits, kind="minimax"):
    """Adversarial term of the generator side, A_d (eq. 3) or A_D (eq. 12).

    `"minimax"` (the paper's) is mean log(1 − d(fake)); `"non_saturating"`
    is mean −log d(fake). Both are minimised by the generator.
    """
    if kind == "minimax":
        return ops.mean(log_complement_probability(fake_logits))
    if kind == "non_saturating":
        return ops.mean(-log_probability(fake_logits))
    raise InputError(f"`kind` must be one of {GENERATOR_LOSSES}. Received: kind={kind!r}")


def discriminator_loss(real_logits, fake_logits):
    """−b = −(log d(x) + log(1 − d(x′))), batch mean: eq. 4 (and eq. 11 for D)."""
    return ops.mean(-log_probability(real_logits) - log_complement_probability(fake_logits))


def decoder_leaning_coefficient(images, reconstructions, likelihood="paper", variance=None):
    """δ_d of eq. 10: the decoder's error signal −∂ℓ/∂net_g, per example.

    `"paper"`: δ_d = Σᵢ (xᵢ − x′ᵢ) a′_g(x′ᵢ), a_g the sigmoid (a′_g = x′(1 − x′)),
    exactly eq. 10; it is −∂R/∂net_g summed over pixels. For a calibrated
    likelihood ℓ the same signal, −∂ℓ/∂net_gᵢ, is *averaged* over pixels so
    that its scale does not grow with the image size or 1/σ̂² and leaning
    cannot swamp the discriminator (docs/design_choices.md): `"bernoulli"`
    gives mean(x − x′), `"gaussian"` mean((x − x′) x′(1 − x′)) / σ̂².

    Returns a `(batch, 1)` tensor with gradients stopped: it is a fixed
    coefficient of the leaning term, not a path for gradients.
    """
    signal = get_likelihood(likelihood).decoder_signal(images, reconstructions, variance)
    return ops.stop_gradient(ops.expand_dims(signal, -1))


def encoder_leaning_coefficient(mean, reconstruction_mean, likelihood="paper"):
    """δ_D of eq. 16: Σⱼ (μ(x)ⱼ − μ(x′)ⱼ) a′_μ with a linear mean head (a′_μ = 1).

    Summed over the latent dimensions for `"paper"`; averaged over them for a
    calibrated likelihood, like `decoder_leaning_coefficient`.
    """
    difference = mean - reconstruction_mean
    signal = ops.sum(difference, axis=-1, keepdims=True)
    if get_likelihood(likelihood).calibrated:
        signal = signal / ops.cast(ops.shape(difference)[-1], signal.dtype)
    return ops.stop_gradient(signal)


def leaning_loss(coefficient, fake_logits):
    """−mean(δ · sigmoid(logit)): the leaning ascent term as a loss (eqs. 10, 16).

    Its gradient with respect to the discriminator's weights is
    −δ · a′_d(net) · ∂net/∂weights, i.e. minus the paper's extra term.
    `coefficient` holds one δ per example, `(batch, 1)`; `fake_logits` may
    be `(batch, 1)` or one logit per patch, `(batch, h, w, 1)`, whose every
    patch gets its example's δ.
    """
    per_example = ops.reshape(coefficient, (-1,) + (1,) * (len(fake_logits.shape) - 1))
    return -ops.mean(per_example * ops.sigmoid(fake_logits))


def r1_penalty(gradients):
    """½ E‖∇ₓ logit(x)‖² on real images (Mescheder et al. 2018), from `gradients` `(batch, ...)`."""
    return ops.mean(0.5 * _sum_per_example(ops.square(gradients)))


# === Likelihoods ===


class Likelihood:
    """A decoder likelihood p(x | x′): the reconstruction term and the leaning signal it implies.

    `get_likelihood(name)` returns the one registered under each name of
    `LIKELIHOODS`; the model's objectives and anomaly terms use it.

    Attributes:
        name: Its name in `LIKELIHOODS`.
        calibrated: Whether leaning signals are averaged over pixels and
            latent dimensions (a calibrated likelihood), not summed (eq. 1's).
        fits_variance: Whether it has a shared variance σ̂², estimated from
            the reconstruction error (the Gaussian).
    """

    name = None
    calibrated = True
    fits_variance = False

    def reconstruction_loss(self, images, reconstructions, variance=None, per_example=False):
        """−log p(x | x′), batch mean (`(batch,)` with `per_example`); `variance` is σ̂² if it has one."""
        raise NotImplementedError

    def decoder_signal(self, images, reconstructions, variance=None):
        """The decoder's error signal −∂ℓ/∂net_g per example, `(batch,)` (see `decoder_leaning_coefficient`)."""
        raise NotImplementedError

    def __repr__(self):
        return f"<Likelihood {self.name!r}>"


def _sigmoid_error_signal(images, reconstructions):
    """(x − x′) a′_g(x′) per pixel, a_g the decoder's sigmoid output."""
    return (images - reconstructions) * reconstructions * (1.0 - reconstructions)


class _PaperLikelihood(Likelihood):
    name = "paper"
    calibrated = False

    def reconstruction_loss(self, images, reconstructions, variance=None, per_example=False):
        return reconstruction_loss(images, reconstructions, per_example)

    def decoder_signal(self, images, reconstructions, variance=None):
        return _sum_per_example(_sigmoid_error_signal(images, reconstructions))


class _BernoulliLikelihood(Likelihood):
    name = "bernoulli"

    def reconstruction_loss(self, images, reconstructions, variance=None, per_example=False):
        return bernoulli_reconstruction_loss(images, reconstructions, per_example)

    def decoder_signal(self, images, reconstructions, variance=None):
        return _mean_per_example(images - reconstructions)


class _GaussianLikelihood(Likelihood):
    name = "gaussian"
    fits_variance = True

    def reconstruction_loss(self, images, reconstructions, variance=None, per_example=False):
        return gaussian_reconstruction_loss(images, reconstructions, variance, per_example)

    def decoder_signal(self, images, reconstructions, variance=None):
        variance = optimal_variance(images, reconstructions) if variance is None else variance
        return _mean_per_example(_sigmoid_error_signal(images, reconstructions)) / variance


_LIKELIHOODS = {
    likelihood.name: likelihood
    for likelihood in (_PaperLikelihood(), _BernoulliLikelihood(), _GaussianLikelihood())
}


def get_likelihood(likelihood):
    """Returns the `Likelihood` named `likelihood` (one of `LIKELIHOODS`), or `likelihood` if it is one."""
    if isinstance(likelihood, Likelihood):
        return likelihood
    if isinstance(likelihood, str) and likelihood in _LIKELIHOODS:
        return _LIKELIHOODS[likelihood]
    raise InputError(f"`likelihood` must be one of {LIKELIHOODS}. Received: likelihood={likelihood!r}")
