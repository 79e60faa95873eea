"""Loss terms of the AVA paper (DESIGN §2), as pure functions.

Every term is per example and averaged over the batch. Discriminator terms
take logits: log d = -softplus(-logit) and log(1 - d) = -softplus(logit),
never `log(sigmoid(.))`, so a saturated discriminator gives finite values.
Ascent objectives (eqs. 4, 11) are returned as the quantity to *minimise*.
"""

from keras import ops

GENERATOR_LOSSES = ("minimax", "non_saturating")


def _sum_per_example(values):
    """Sums every axis but the first: `(batch, ...)` -> `(batch,)`."""
    return ops.sum(ops.reshape(values, (ops.shape(values)[0], -1)), axis=1)


def reconstruction_loss(images, reconstructions):
    """R = ½‖x − x′‖², summed over pixels, averaged over the batch (eq. 1)."""
    squared = ops.square(ops.subtract(images, reconstructions))
    return ops.mean(0.5 * _sum_per_example(squared))


def kl_divergence(mean, log_var):
    """K = ½ Σⱼ (σⱼ² + μⱼ² − 1 − log σⱼ²), KL to N(0, I), batch mean (eq. 1)."""
    per_example = 0.5 * ops.sum(ops.exp(log_var) + ops.square(mean) - 1.0 - log_var, axis=-1)
    return ops.mean(per_example)


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
    raise ValueError(f"`kind` must be one of {GENERATOR_LOSSES}. Received: kind={kind!r}")


def discriminator_loss(real_logits, fake_logits):
    """−b = −(log d(x) + log(1 − d(x′))), batch mean: eq. 4 (and eq. 11 for D)."""
    return ops.mean(-log_probability(real_logits) - log_complement_probability(fake_logits))


def decoder_leaning_coefficient(images, reconstructions):
    """δ_d = Σᵢ (xᵢ − x′ᵢ) a′_g(x′ᵢ) with a_g the sigmoid, per example (eq. 10).

    Returns a `(batch, 1)` tensor with gradients stopped: it is a fixed
    coefficient of the leaning term, not a path for gradients.
    """
    slope = reconstructions * (1.0 - reconstructions)
    product = (images - reconstructions) * slope
    return ops.stop_gradient(ops.expand_dims(_sum_per_example(product), -1))


def encoder_leaning_coefficient(mean, reconstruction_mean):
    """δ_D = Σⱼ (μ(x)ⱼ − μ(x′)ⱼ) a′_μ with a linear mean head (a′_μ = 1), eq. 16."""
    return ops.stop_gradient(ops.sum(mean - reconstruction_mean, axis=-1, keepdims=True))


def leaning_loss(coefficient, fake_logits):
    """−mean(δ · sigmoid(logit)): the leaning ascent term as a loss (eqs. 10, 16).

    Its gradient with respect to the discriminator's weights is
    −δ · a′_d(net) · ∂net/∂weights, i.e. minus the paper's extra term.
    """
    return -ops.mean(coefficient * ops.sigmoid(fake_logits))
