"""Loss terms (docs/design_choices.md) against hand-computed values, including saturation."""

import numpy as np
import pytest
import tensorflow as tf

from ava_keras import losses


def test_reconstruction_loss_is_half_squared_error_summed_over_pixels():
    images = np.zeros((2, 2, 2, 1), "float32")
    reconstructions = np.zeros((2, 2, 2, 1), "float32")
    reconstructions[0, 0, 0, 0] = 1.0  # example 0: ½·1 = 0.5
    reconstructions[1] = 0.5  # example 1: ½·4·0.25 = 0.5
    reconstructions[1, 1, 1, 0] = 1.0  # example 1: ½(3·0.25 + 1) = 0.875
    value = float(losses.reconstruction_loss(images, reconstructions))
    assert value == pytest.approx((0.5 + 0.875) / 2)


def test_kl_divergence_matches_closed_form():
    mean = np.array([[1.0, -2.0], [0.0, 0.0]], "float32")
    log_var = np.array([[0.0, np.log(2.0)], [0.0, 0.0]], "float32")
    # Example 0: ½[(1 + 1 − 1 − 0) + (2 + 4 − 1 − log 2)]; example 1: 0.
    expected = 0.5 * (1.0 + 5.0 - np.log(2.0)) / 2
    assert float(losses.kl_divergence(mean, log_var)) == pytest.approx(expected, rel=1e-6)


def test_discriminator_and_generator_terms_match_log_formulas():
    real = np.array([[0.3], [-1.2]], "float32")
    fake = np.array([[-0.4], [2.0]], "float32")
    sig = lambda v: 1.0 / (1.0 + np.exp(-v.astype("float64")))  # noqa: E731
    expected_b = np.mean(np.log(sig(real)) + np.log(1 - sig(fake)))
    assert float(losses.discriminator_loss(real, fake)) == pytest.approx(-expected_b, rel=1e-6)
    assert float(losses.generator_loss(fake, "minimax")) == pytest.approx(
        np.mean(np.log(1 - sig(fake))), rel=1e-6
    )
    assert float(losses.generator_loss(fake, "non_saturating")) == pytest.approx(
        np.mean(-np.log(sig(fake))), rel=1e-6
    )


@pytest.mark.parametrize("logit", [100.0, -100.0])
def test_terms_and_gradients_stay_finite_when_discriminator_saturates(logit):
    logits = tf.Variable(np.full((4, 1), logit, "float32"))
    with tf.GradientTape(persistent=True) as tape:
        values = [
            losses.discriminator_loss(logits, logits),
            losses.generator_loss(logits, "minimax"),
            losses.generator_loss(logits, "non_saturating"),
            losses.leaning_loss(tf.ones((4, 1)), logits),
        ]
    for value in values:
        assert np.isfinite(float(value))
        assert np.all(np.isfinite(tape.gradient(value, logits).numpy()))
    # log(1 − d) at logit +100 is −100, not −inf.
    if logit > 0:
        assert float(losses.generator_loss(logits, "minimax")) == pytest.approx(-100.0)


def test_leaning_coefficients_are_constants():
    images = tf.constant(np.full((1, 2, 1, 1), 0.75, "float32"))
    reconstructions = tf.Variable(np.full((1, 2, 1, 1), 0.5, "float32"))
    with tf.GradientTape() as tape:
        delta = losses.decoder_leaning_coefficient(images, reconstructions)
    # Σ (x − x′) x′(1 − x′) = 2 · 0.25 · 0.25
    assert float(delta[0, 0]) == pytest.approx(0.125)
    assert tape.gradient(delta, reconstructions) is None
    delta_latent = losses.encoder_leaning_coefficient(
        np.array([[1.0, 2.0]], "float32"), np.array([[0.5, 0.0]], "float32")
    )
    assert float(delta_latent[0, 0]) == pytest.approx(2.5)


def test_unknown_generator_loss_is_rejected():
    with pytest.raises(ValueError, match="non_saturating"):
        losses.generator_loss(np.zeros((1, 1), "float32"), "wasserstein")


def _pair():
    """Two 2x1x1 images and reconstructions with hand-picked pixels."""
    images = np.array([[[[1.0]], [[0.0]]], [[[0.5]], [[1.0]]]], "float32")
    reconstructions = np.array([[[[0.8]], [[0.1]]], [[[0.5]], [[0.6]]]], "float32")
    return images, reconstructions


def test_bernoulli_likelihood_is_binary_cross_entropy_summed_over_pixels():
    images, reconstructions = _pair()
    # Example 0: −log 0.8 − log 0.9; example 1: −(0.5 log 0.5 + 0.5 log 0.5) − log 0.6.
    expected = ((-np.log(0.8) - np.log(0.9)) + (np.log(2.0) - np.log(0.6))) / 2
    assert float(losses.bernoulli_reconstruction_loss(images, reconstructions)) == pytest.approx(expected, rel=1e-6)
    assert float(losses.likelihood_reconstruction_loss(images, reconstructions, "bernoulli")) == pytest.approx(
        expected, rel=1e-6
    )
    # Saturated outputs are clipped, not infinite.
    saturated = float(losses.bernoulli_reconstruction_loss(images, np.zeros_like(images)))
    # Example 0 (x = 1, 0): −log ε − log(1 − ε); example 1 (x = 0.5, 1): −½ log ε − ½ log(1 − ε) − log ε.
    eps = losses.EPSILON
    assert saturated == pytest.approx((-2.5 * np.log(eps) - 1.5 * np.log(1 - eps)) / 2, rel=1e-5)


def test_gaussian_likelihood_uses_the_optimal_variance():
    images, reconstructions = _pair()
    squared = np.array([0.04 + 0.01, 0.0 + 0.16])  # per example
    variance = squared.sum() / 4  # σ̂² = mean over batch and pixels = 0.0525
    assert float(losses.optimal_variance(images, reconstructions)) == pytest.approx(variance, rel=1e-6)
    expected = np.mean(0.5 * 2 * np.log(2 * np.pi * variance) + squared / (2 * variance))
    assert float(losses.gaussian_reconstruction_loss(images, reconstructions)) == pytest.approx(expected, rel=1e-5)
    # With σ̂² the mean squared error, the value is ½·D·(log 2πσ̂² + 1) per example.
    assert expected == pytest.approx(0.5 * 2 * (np.log(2 * np.pi * variance) + 1), rel=1e-9)
    # A perfect reconstruction stays finite: σ̂² is floored at MIN_VARIANCE.
    assert float(losses.optimal_variance(images, images)) == pytest.approx(losses.MIN_VARIANCE)
    assert np.isfinite(float(losses.gaussian_reconstruction_loss(images, images)))


def test_paper_likelihood_is_eq_1_and_unknown_likelihood_is_refused():
    images, reconstructions = _pair()
    expected = np.mean([0.5 * (0.04 + 0.01), 0.5 * (0.0 + 0.16)])
    assert float(losses.likelihood_reconstruction_loss(images, reconstructions, "paper")) == pytest.approx(expected)
    with pytest.raises(ValueError, match="likelihood"):
        losses.likelihood_reconstruction_loss(images, reconstructions, "laplace")


def test_leaning_coefficients_per_likelihood():
    images, reconstructions = _pair()
    x, r = images.reshape(2, 2).astype("float64"), reconstructions.reshape(2, 2).astype("float64")
    slope = r * (1 - r)
    paper = losses.decoder_leaning_coefficient(images, reconstructions, "paper").numpy()[:, 0]
    np.testing.assert_allclose(paper, ((x - r) * slope).sum(1), rtol=1e-6)  # eq. 10, summed
    bernoulli = losses.decoder_leaning_coefficient(images, reconstructions, "bernoulli").numpy()[:, 0]
    np.testing.assert_allclose(bernoulli, (x - r).mean(1), rtol=1e-6)  # −∂BCE/∂net_g, averaged
    gaussian = losses.decoder_leaning_coefficient(images, reconstructions, "gaussian").numpy()[:, 0]
    np.testing.assert_allclose(gaussian, ((x - r) * slope).mean(1) / 0.0525, rtol=1e-5)
    mean = np.array([[1.0, 3.0, -1.0]], "float32")
    other = np.zeros_like(mean)
    assert float(losses.encoder_leaning_coefficient(mean, other, "paper")[0, 0]) == pytest.approx(3.0)
    assert float(losses.encoder_leaning_coefficient(mean, other, "gaussian")[0, 0]) == pytest.approx(1.0)


def test_r1_penalty_is_half_the_mean_squared_gradient_norm():
    gradients = np.array([[[[3.0]], [[4.0]]], [[[0.0]], [[1.0]]]], "float32")
    assert float(losses.r1_penalty(gradients)) == pytest.approx(np.mean([0.5 * 25.0, 0.5 * 1.0]))


def test_feature_reconstruction_loss_is_half_the_squared_feature_distance_and_spares_the_targets():
    real = tf.constant([[1.0, 2.0], [0.0, 0.0]])
    fake = tf.constant([[0.0, 0.0], [3.0, 4.0]])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([real, fake])
        loss = losses.feature_reconstruction_loss(real, fake)
    assert float(loss) == pytest.approx(np.mean([0.5 * 5.0, 0.5 * 25.0]))
    assert tape.gradient(loss, real) is None  # Dis_l(x) is a target
    np.testing.assert_allclose(tape.gradient(loss, fake).numpy(), (fake - real).numpy() / 2)


def _focal_frequency_reference(images, reconstructions, alpha, variance=1.0):
    """Jiang et al. (2021) in numpy: focal weights |ΔF|^alpha over their per-image, per-channel maximum."""
    spectrum = np.fft.fft2(np.transpose(reconstructions - images, (0, 3, 1, 2)), norm="ortho")
    distance = np.abs(spectrum) ** 2
    weights = np.sqrt(distance) ** alpha
    weights = weights / weights.max(axis=(2, 3), keepdims=True)
    return np.mean(0.5 * (weights * distance).sum(axis=(1, 2, 3)) / variance)


def test_focal_frequency_loss_matches_a_numpy_reference_and_is_eq1_without_focal_weights():
    rng = np.random.default_rng(0)
    images, reconstructions = (rng.random((3, 8, 6, 2)).astype("float32") for _ in range(2))
    for alpha, variance in ((1.0, None), (2.0, 0.1)):
        got = losses.focal_frequency_loss(images, reconstructions, variance=variance, alpha=alpha)
        want = _focal_frequency_reference(images, reconstructions, alpha, 1.0 if variance is None else variance)
        assert float(got) == pytest.approx(want, rel=1e-5)
    # alpha = 0: every weight 1, and by Parseval the spectrum's squared error is the pixels'.
    assert float(losses.focal_frequency_loss(images, reconstructions, alpha=0.0)) == pytest.approx(
        float(losses.reconstruction_loss(images, reconstructions)), rel=1e-5)
    per_example = losses.focal_frequency_loss(images, reconstructions, per_example=True)
    assert per_example.shape == (3,) and float(np.mean(per_example)) == pytest.approx(
        _focal_frequency_reference(images, reconstructions, 1.0), rel=1e-5)


def test_focal_frequency_loss_is_finite_and_zero_for_a_perfect_reconstruction():
    images = np.random.default_rng(1).random((2, 4, 4, 3)).astype("float32")
    images_t = tf.constant(images)
    with tf.GradientTape() as tape:
        tape.watch(images_t)
        loss = losses.focal_frequency_loss(images, images_t)
    assert float(loss) == 0.0
    assert np.isfinite(tape.gradient(loss, images_t).numpy()).all()


def test_every_likelihood_name_has_one_registered_likelihood():
    from ava_keras.constants import LIKELIHOODS

    assert [losses.get_likelihood(name).name for name in LIKELIHOODS] == list(LIKELIHOODS)
    gaussian = losses.get_likelihood("gaussian")
    assert losses.get_likelihood(gaussian) is gaussian and gaussian.fits_variance and gaussian.calibrated
    assert not losses.get_likelihood("paper").calibrated and not losses.get_likelihood("paper").fits_variance
    with pytest.raises(ValueError, match="likelihood"):
        losses.get_likelihood(["gaussian"])
