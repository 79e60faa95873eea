"""Loss terms of DESIGN §2 against hand-computed values, including saturation."""

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
