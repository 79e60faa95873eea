"""Each block's update is the gradient of its own objective (docs/design_choices.md).

The reference objectives below are written from the paper's equations with raw
TensorFlow ops and one persistent tape, independently of the model's
multi-tape `train_step` and of `ava_keras.losses`. With plain SGD at
learning rate 1, one `train_on_batch` must move every weight of a trained
block by exactly −(reference gradient), and leave untrained blocks alone.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import ava_keras as ak
from ava_keras import layers
from tests._tiny import IMAGE_SHAPE, block_weights, peek_noise, sgd_compile, tiny_images, tiny_model

PRESETS = ["vae", "ava1", "ava2", "ava3", "ava4", "ava5"]
TOLERANCE = dict(rtol=1e-5, atol=1e-5)
# The paper's loss terms (eq. 1's R, minimax A terms), which the closed forms below are written for.
PAPER_TERMS = dict(likelihood="paper", generator_loss="minimax")
# An option's gradients under the default routing in the fast tier, under both in the full tier
# (test_one_step_updates_exactly_the_right_blocks_by_their_own_gradients checks both routings in the fast tier).
ROUTINGS_PAPER_IN_FULL_TIER = ["joint", pytest.param("paper", marks=pytest.mark.integration)]


def _discriminator_features(discriminator, images):
    """Dis_l: d's last convolution's LeakyReLU(0.2) activations, flattened."""
    x = images
    for conv in discriminator.conv_layers:
        x = tf.nn.leaky_relu(conv(x), alpha=0.2)
    return tf.reshape(x, [tf.shape(x)[0], -1])


def reference_objectives(
    model,
    images,
    noise,
    routing,
    generator_loss="minimax",
    likelihood="paper",
    feature_weight=0.0,
    frequency_weight=0.0,
    prior_noise=None,
    adaptive=False,
    adversaries_on=True,
    decoder_adversarial_reaches_encoder=True,
):
    """Block -> objective, from the equations, with raw TF ops.

    `frequency_weight`: the focal frequency loss's weight (Jiang et al. 2021).
    `prior_noise`: d also judges g(prior_noise) (Larsen et al. 2016).
    `adaptive`: A_d times ‖∇_w R‖ / (‖∇_w A_d‖ + 1e-4), w the decoder's output
    convolution's kernel (Esser et al. 2021). `adversaries_on=False`: every switch off.
    `decoder_adversarial_reaches_encoder=False`: the joint encoder's objective has no A_d (Larsen et al. 2016).
    """
    on = {k: float(v) * adversaries_on for k, v in model.variant.items()}
    enc, dec = model.encoder, model.decoder
    with tf.GradientTape(persistent=True) as last_layer_tape:  # for the adaptive weight
        mean, log_var = enc(images)
        reconstructions = dec(mean + tf.exp(log_var / 2.0) * noise)
        prior_draws = None if prior_noise is None else dec(tf.constant(prior_noise))
        squared = tf.reduce_sum(tf.square(images - reconstructions), axis=[1, 2, 3])
        pixels = float(np.prod(images.shape[1:]))
        variance = tf.reduce_mean(tf.square(images - reconstructions))  # σ̂², the optimal shared variance
        if likelihood == "paper":
            r = tf.reduce_mean(0.5 * squared)
        elif likelihood == "bernoulli":
            p = tf.clip_by_value(reconstructions, 1e-7, 1 - 1e-7)
            log_likelihood = images * tf.math.log(p) + (1 - images) * tf.math.log(1 - p)
            r = -tf.reduce_mean(tf.reduce_sum(log_likelihood, [1, 2, 3]))
        else:
            r = tf.reduce_mean(0.5 * pixels * tf.math.log(2 * np.pi * variance) + squared / (2 * variance))
        if frequency_weight:  # Jiang et al. (2021): ½ Σ focal weight · |orthonormal DFT of x′ − x|², per σ̂²
            spectrum = tf.signal.fft2d(tf.complex(tf.transpose(reconstructions - images, [0, 3, 1, 2]), 0.0))
            distance = (tf.square(tf.math.real(spectrum)) + tf.square(tf.math.imag(spectrum))) / (
                images.shape[1] * images.shape[2])
            focal = tf.stop_gradient(tf.sqrt(distance) / tf.reduce_max(tf.sqrt(distance), axis=[2, 3], keepdims=True))
            scale = tf.stop_gradient(variance) if likelihood == "gaussian" else 1.0
            r = r + frequency_weight * tf.reduce_mean(0.5 * tf.reduce_sum(focal * distance, [1, 2, 3])) / scale
        k = tf.reduce_mean(0.5 * tf.reduce_sum(tf.exp(log_var) + tf.square(mean) - 1.0 - log_var, axis=1))

        def generator_term(probability):
            if generator_loss == "minimax":
                return tf.reduce_mean(tf.math.log(1.0 - probability))
            return tf.reduce_mean(-tf.math.log(probability))

        d_real = tf.sigmoid(model.discriminator(images))
        d_fake = tf.sigmoid(model.discriminator(reconstructions))
        a_d = generator_term(d_fake)
        b = tf.reduce_mean(tf.math.log(d_real) + tf.math.log(1.0 - d_fake))
        if prior_draws is not None:  # fake terms averaged over reconstructions and prior draws
            d_prior = tf.sigmoid(model.discriminator(prior_draws))
            a_d = (a_d + generator_term(d_prior)) / 2.0
            b = tf.reduce_mean(tf.math.log(d_real)) + (
                tf.reduce_mean(tf.math.log(1.0 - d_fake)) + tf.reduce_mean(tf.math.log(1.0 - d_prior))
            ) / 2.0
        slope = reconstructions * (1.0 - reconstructions)
        if likelihood == "paper":  # eq. 10, summed over pixels
            delta_d = tf.reduce_sum((images - reconstructions) * slope, axis=[1, 2, 3])
        elif likelihood == "bernoulli":  # −∂BCE/∂net_g = x − x′, averaged over pixels
            delta_d = tf.reduce_mean(images - reconstructions, axis=[1, 2, 3])
        else:  # −∂ℓ/∂net_g = (x − x′) x′(1 − x′) / σ̂², averaged over pixels
            delta_d = tf.reduce_mean((images - reconstructions) * slope, axis=[1, 2, 3]) / variance
        delta_d = tf.stop_gradient(delta_d)
        # One δ_d per example, shared by every logit of a patch discriminator.
        per_logit = tf.reshape(d_fake, [len(images), -1])
        psi = -on["decoder_discriminator"] * b - on["decoder_leaning"] * tf.reduce_mean(delta_d[:, None] * per_logit)

        if routing == "paper":
            # The encoder sees x′ only as data: a constant, not a path to Φ or Θ.
            mean_rec = enc(tf.constant(reconstructions.numpy()))[0]
        else:
            mean_rec = enc(reconstructions)[0]
        big_d_real = tf.sigmoid(model.latent_discriminator(mean))
        big_d_fake = tf.sigmoid(model.latent_discriminator(mean_rec))
        a_big_d = generator_term(big_d_fake)
        big_b = tf.reduce_mean(tf.math.log(big_d_real) + tf.math.log(1.0 - big_d_fake))
        reduce = tf.reduce_sum if likelihood == "paper" else tf.reduce_mean
        delta_big_d = tf.stop_gradient(reduce(mean - mean_rec, axis=1))
        lam = -on["encoder_discriminator"] * big_b - on["encoder_leaning"] * tf.reduce_mean(
            delta_big_d * big_d_fake[:, 0]
        )

    if adaptive:
        kernel = dec.output_conv.kernel
        ratio = tf.norm(last_layer_tape.gradient(r, kernel)) / (tf.norm(last_layer_tape.gradient(a_d, kernel)) + 1e-4)
        a_d = tf.stop_gradient(tf.clip_by_value(ratio, 0.0, 1e4)) * a_d
    adversarial = on["decoder_discriminator"] * a_d + on["encoder_discriminator"] * a_big_d
    if feature_weight:  # Larsen et al. (2016), eq. 7: ½‖Dis_l(x) − Dis_l(x′)‖², targets constant
        real_features = tf.stop_gradient(_discriminator_features(model.discriminator, images))
        fake_features = _discriminator_features(model.discriminator, reconstructions)
        r = r + feature_weight * tf.reduce_mean(0.5 * tf.reduce_sum(tf.square(real_features - fake_features), 1))
    if routing == "joint":
        theta, phi = r + k + adversarial, r + adversarial
        if not decoder_adversarial_reaches_encoder:
            theta = r + k + on["encoder_discriminator"] * a_big_d
    else:
        theta = k + on["encoder_discriminator"] * a_big_d
        phi = r + on["decoder_discriminator"] * a_d
    return {"encoder": theta, "decoder": phi, "discriminator": psi, "latent_discriminator": lam}


def reference_gradients(
    model, images, noise, routing, generator_loss="minimax", likelihood="paper", feature_weight=0.0, **options
):
    """Block -> gradients of its `reference_objectives` (`options`: theirs)."""
    with tf.GradientTape(persistent=True) as tape:
        objectives = reference_objectives(
            model, tf.constant(images), noise, routing, generator_loss, likelihood, feature_weight, **options
        )
    return {
        block: [
            np.zeros(v.shape, "float32") if g is None else g.numpy()
            for g, v in zip(
                tape.gradient(objective, getattr(model, block).trainable_variables),
                getattr(model, block).trainable_variables,
            )
        ]
        for block, objective in objectives.items()
    }


def trained_blocks(preset):
    switches = ak.PRESETS[preset]["switches"]
    blocks = {"encoder", "decoder"}
    if switches["decoder_discriminator"] or switches["decoder_leaning"]:
        blocks.add("discriminator")
    if switches["encoder_discriminator"] or switches["encoder_leaning"]:
        blocks.add("latent_discriminator")
    return blocks


def one_step_deltas(model, images):
    before = block_weights(model)
    model.train_on_batch(images)
    after = block_weights(model)
    return {b: [a - w for a, w in zip(after[b], before[b])] for b in before}


# The patch discriminator's gradients are in the fast tier through test_non_saturating_..._gradients[gaussian-patch].
@pytest.mark.parametrize("discriminator", ["global", pytest.param("patch", marks=pytest.mark.integration)])
@pytest.mark.parametrize("routing", ["joint", "paper"])
def test_one_step_updates_exactly_the_right_blocks_by_their_own_gradients(routing, discriminator):
    # One model per routing: the switches are variables, so every preset
    # runs through the same traced step; weights are reset between presets.
    model = sgd_compile(tiny_model("ava5", routing=routing, discriminator=discriminator, **PAPER_TERMS))
    initial_weights = model.get_weights()
    images = tiny_images()
    for preset in PRESETS:
        model.set_weights(initial_weights)
        model.set_variant(preset)
        expected = reference_gradients(model, images, peek_noise(model, len(images)), routing)
        deltas = one_step_deltas(model, images)
        for block, block_deltas in deltas.items():
            where = f"{preset}/{routing}/{discriminator}: {block}"
            if block in trained_blocks(preset):
                assert any(np.abs(d).max() > 0 for d in block_deltas), f"{where} did not change"
                for delta, gradient in zip(block_deltas, expected[block]):
                    np.testing.assert_allclose(-delta, gradient, **TOLERANCE, err_msg=where)
            else:
                for delta in block_deltas:
                    np.testing.assert_array_equal(delta, 0.0, err_msg=f"{where} must not change")


@pytest.mark.parametrize(
    "likelihood,discriminator",
    [("paper", "global"), ("bernoulli", "global"), ("gaussian", "global"), ("gaussian", "patch")],
)
def test_non_saturating_generator_loss_and_likelihood_gradients(likelihood, discriminator):
    model = sgd_compile(
        tiny_model("ava5", generator_loss="non_saturating", likelihood=likelihood, discriminator=discriminator), 0.1
    )
    images = tiny_images()
    expected = reference_gradients(
        model, images, peek_noise(model, len(images)), "joint", "non_saturating", likelihood
    )
    for block, block_deltas in one_step_deltas(model, images).items():
        for delta, gradient in zip(block_deltas, expected[block]):
            np.testing.assert_allclose(
                -delta / 0.1, gradient, rtol=1e-4, atol=1e-4, err_msg=f"{likelihood}/{discriminator}: {block}"
            )


@pytest.mark.parametrize("routing", ROUTINGS_PAPER_IN_FULL_TIER)
def test_feature_reconstruction_gradients_reach_encoder_and_decoder_only(routing):
    """Larsen et al.'s feature-wise term joins R in Θ's (joint routing) and Φ's objectives; Ψ's is unchanged."""
    model = sgd_compile(tiny_model("ava5", routing=routing, feature_reconstruction_weight=0.5, **PAPER_TERMS))
    images = tiny_images()
    noise = peek_noise(model, len(images))
    expected = reference_gradients(model, images, noise, routing, feature_weight=0.5)
    without = reference_gradients(model, images, noise, routing)
    assert not np.allclose(expected["decoder"][0], without["decoder"][0]), "the feature term changed nothing"
    for block, block_deltas in one_step_deltas(model, images).items():
        for delta, gradient in zip(block_deltas, expected[block]):
            np.testing.assert_allclose(-delta, gradient, **TOLERANCE, err_msg=f"{routing}: {block}")
    assert "feature_reconstruction" in model.get_metrics_result()


@pytest.mark.parametrize(
    "routing, likelihood",
    [("joint", "gaussian"), pytest.param("paper", "paper", marks=pytest.mark.integration)],
)
def test_frequency_reconstruction_gradients_reach_encoder_and_decoder_only(routing, likelihood):
    """The focal frequency loss joins R wherever R is (Θ's objective in joint routing, Φ's); Ψ's and Λ's are unchanged."""
    model = sgd_compile(tiny_model("ava5", routing=routing, frequency_reconstruction_weight=0.5,
                                   likelihood=likelihood, generator_loss="minimax"), 0.1)
    images = tiny_images()
    noise = peek_noise(model, len(images))
    expected = reference_gradients(model, images, noise, routing, likelihood=likelihood, frequency_weight=0.5)
    without = reference_gradients(model, images, noise, routing, likelihood=likelihood)
    assert not np.allclose(expected["decoder"][0], without["decoder"][0]), "the frequency term changed nothing"
    for block, block_deltas in one_step_deltas(model, images).items():
        for delta, gradient in zip(block_deltas, expected[block]):
            np.testing.assert_allclose(-delta / 0.1, gradient, rtol=1e-4, atol=1e-4, err_msg=f"{routing}: {block}")
    assert "frequency_reconstruction" in model.get_metrics_result()


def test_feature_reconstruction_needs_a_discriminator_with_features():
    with pytest.raises(ValueError, match="feature_reconstruction_weight.*features"):
        tiny_model("vae", feature_reconstruction_weight=1.0)


def test_defaults_are_the_gaussian_likelihood_and_non_saturating_loss():
    model = tiny_model("ava5")
    assert (model.likelihood, model.generator_loss) == ("gaussian", "non_saturating")


@pytest.mark.parametrize("preset", ["vae", "ava1", "ava2"])
def test_paper_routing_encoder_gradient_ignores_the_decoder(preset):
    """Without D, Θ's update (eq. 5) is the KL gradient: the decoder cannot reach it."""
    images = tiny_images()
    # One traced model per routing; each step starts from the same weights and noise state (SGD keeps no state).
    models = {routing: sgd_compile(tiny_model(preset, routing=routing, **PAPER_TERMS)) for routing in ("paper", "joint")}
    initial_weights = models["paper"].get_weights()
    noise_state = models["paper"].sampling.seed_generator.state.numpy()

    def encoder_delta(routing, perturb):
        model = models[routing]
        model.set_weights(initial_weights)
        model.sampling.seed_generator.state.assign(noise_state)
        if perturb:
            model.decoder.set_weights([w + 0.3 for w in model.decoder.get_weights()])
        return np.concatenate([d.ravel() for d in one_step_deltas(model, images)["encoder"]])

    np.testing.assert_array_equal(encoder_delta("paper", False), encoder_delta("paper", True))
    # The same perturbation does move the joint encoder: the check can fail.
    assert np.abs(encoder_delta("joint", False) - encoder_delta("joint", True)).max() > 1e-4


def test_paper_routing_encoder_sees_decoder_only_through_stopped_reconstruction():
    """With D (AVA3), Θ's update is ∇Θ[K + log(1 − D(f_μ(x′)))] with x′ a constant (eq. 14)."""
    model = sgd_compile(tiny_model("ava3", routing="paper", **PAPER_TERMS))
    images = tiny_images()
    noise = peek_noise(model, len(images))
    mean, log_var = model.encoder(images)
    constant_rec = model.decoder(mean + tf.exp(log_var / 2.0) * noise).numpy()
    variables = model.encoder.trainable_variables
    with tf.GradientTape() as tape:
        m, lv = model.encoder(images)
        k = tf.reduce_mean(0.5 * tf.reduce_sum(tf.exp(lv) + m**2 - 1.0 - lv, axis=1))
        fake = tf.sigmoid(model.latent_discriminator(model.encoder(constant_rec)[0]))
        objective = k + tf.reduce_mean(tf.math.log(1.0 - fake))
    expected = tape.gradient(objective, variables)
    for delta, gradient in zip(one_step_deltas(model, images)["encoder"], expected):
        np.testing.assert_allclose(-delta, gradient.numpy(), **TOLERANCE)


def test_kl_gradient_matches_eq_5_closed_form():
    """∂K/∂μ = μ and ∂K/∂Σ = −½Σ⁻¹ + ½I, per example (eq. 5), batch-averaged."""
    mean = tf.Variable([[0.5, -1.0, 2.0], [0.1, 0.0, -0.3]])
    sigma = tf.Variable([[0.5, 1.0, 2.0], [3.0, 0.2, 1.5]])
    with tf.GradientTape() as tape:
        kl = ak.losses.kl_divergence(mean, tf.math.log(sigma))
    grad_mean, grad_sigma = tape.gradient(kl, [mean, sigma])
    batch = 2.0
    np.testing.assert_allclose(grad_mean.numpy(), mean.numpy() / batch, rtol=1e-6)
    np.testing.assert_allclose(
        grad_sigma.numpy(), (-0.5 / sigma.numpy() + 0.5) / batch, rtol=1e-6
    )


def _linear_discriminator_model(**switches):
    """AVA whose d and D are single linear units, so eqs. 7, 10, 13, 16 are explicit."""
    model = ak.AVA(
        encoder=layers.ConvEncoder(3, filters=(4,), hidden_units=8),
        decoder=layers.ConvDecoder(IMAGE_SHAPE, filters=(4,)),
        discriminator=keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(1)]),
        latent_discriminator=layers.LatentDiscriminator(units=()),
        image_shape=IMAGE_SHAPE,
        seed=0,
        **PAPER_TERMS,
        **switches,
    )
    return sgd_compile(model)


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _forward(model, images):
    noise = peek_noise(model, len(images))
    mean, log_var = model.encoder(images)
    reconstructions = model.decoder(mean + tf.exp(log_var / 2.0) * noise)
    return mean.numpy(), reconstructions.numpy(), model.encoder(reconstructions)[0].numpy()


@pytest.mark.parametrize("with_b", [False, True])
def test_decoder_leaning_discriminator_gradient_is_eq_10(with_b):
    model = _linear_discriminator_model(decoder_discriminator=with_b, decoder_leaning=True)
    images = tiny_images()
    _, rec, _ = _forward(model, images)
    kernel, bias = (w.numpy() for w in model.discriminator.trainable_variables)
    x, xr = images.reshape(len(images), -1), rec.reshape(len(rec), -1)
    d_real, d_fake = _sigmoid(x @ kernel + bias), _sigmoid(xr @ kernel + bias)
    # Eq. 10's extra term: a′_d(d₀) Σᵢ (xᵢ − x′ᵢ) a′_g(x′ᵢ), times ∂net/∂Ψ.
    delta = ((x - xr) * xr * (1 - xr)).sum(axis=1, keepdims=True)
    leaning = delta * d_fake * (1 - d_fake)
    ascent_kernel = (leaning * xr).mean(axis=0)[:, None]
    ascent_bias = leaning.mean(axis=0)
    if with_b:  # eq. 7: a′_d/d on real, −a′_d/(1 − d) on fake
        ascent_kernel += ((1 - d_real) * x - d_fake * xr).mean(axis=0)[:, None]
        ascent_bias += ((1 - d_real) - d_fake).mean(axis=0)
    deltas = one_step_deltas(model, images)["discriminator"]
    np.testing.assert_allclose(deltas[0], ascent_kernel, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(deltas[1], ascent_bias, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("with_b", [False, True])
def test_encoder_leaning_discriminator_gradient_is_eq_16(with_b):
    model = _linear_discriminator_model(
        decoder_discriminator=True, encoder_discriminator=with_b, encoder_leaning=True
    )
    images = tiny_images()
    mean, _, mean_rec = _forward(model, images)
    kernel, bias = (w.numpy() for w in model.latent_discriminator.trainable_variables)
    d_real, d_fake = _sigmoid(mean @ kernel + bias), _sigmoid(mean_rec @ kernel + bias)
    # Eq. 16's extra term with a linear mean head (a′ = 1).
    delta = (mean - mean_rec).sum(axis=1, keepdims=True)
    leaning = delta * d_fake * (1 - d_fake)
    ascent_kernel = (leaning * mean_rec).mean(axis=0)[:, None]
    ascent_bias = leaning.mean(axis=0)
    if with_b:  # eq. 13
        ascent_kernel += ((1 - d_real) * mean - d_fake * mean_rec).mean(axis=0)[:, None]
        ascent_bias += ((1 - d_real) - d_fake).mean(axis=0)
    deltas = one_step_deltas(model, images)["latent_discriminator"]
    np.testing.assert_allclose(deltas[0], ascent_kernel, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(deltas[1], ascent_bias, rtol=1e-4, atol=1e-6)


def _assert_step_follows(model, images, expected, where):
    for block, block_deltas in one_step_deltas(model, images).items():
        for delta, gradient in zip(block_deltas, expected[block]):
            np.testing.assert_allclose(-delta, gradient, **TOLERANCE, err_msg=f"{where}: {block}")


@pytest.mark.parametrize("routing", ROUTINGS_PAPER_IN_FULL_TIER)
def test_prior_samples_join_the_fake_terms_of_d_and_the_decoder(routing):
    """Larsen et al. (2016): d also judges g(z_p); A_d and d's fake term average both kinds of fake."""
    model = sgd_compile(tiny_model("ava5", routing=routing, discriminator_prior_samples=True, **PAPER_TERMS))
    images = tiny_images()
    noise, prior_noise = peek_noise(model, len(images), draws=2)
    expected = reference_gradients(model, images, noise, routing, prior_noise=prior_noise)
    without = reference_gradients(model, images, noise, routing)
    for block in ("decoder", "discriminator"):
        assert not np.allclose(expected[block][0], without[block][0]), f"the prior draws changed nothing in {block}"
    _assert_step_follows(model, images, expected, routing)
    assert "d_prior" in model.get_metrics_result()


@pytest.mark.parametrize("routing", ROUTINGS_PAPER_IN_FULL_TIER)
def test_adaptive_adversarial_weight_scales_the_decoder_adversarial_term(routing):
    """Esser et al. (2021): A_d times ‖∇_w R‖ / (‖∇_w A_d‖ + 1e-4) at the decoder's output kernel, a constant."""
    model = sgd_compile(tiny_model("ava5", routing=routing, adaptive_adversarial_weight=True, **PAPER_TERMS), 1e-3)
    images = tiny_images()
    noise = peek_noise(model, len(images))
    expected = reference_gradients(model, images, noise, routing, adaptive=True)
    without = reference_gradients(model, images, noise, routing)
    assert not np.allclose(expected["decoder"][0], without["decoder"][0]), "the adaptive weight changed nothing"
    for block, block_deltas in one_step_deltas(model, images).items():
        for delta, gradient in zip(block_deltas, expected[block]):
            np.testing.assert_allclose(-delta / 1e-3, gradient, rtol=1e-4, atol=1e-4, err_msg=f"{routing}: {block}")
    assert model.get_metrics_result()["adaptive_adversarial_weight"] > 0


@pytest.mark.parametrize("adaptive", [False, True])
def test_decoder_adversarial_term_can_stay_off_the_encoder(adaptive):
    """Larsen et al. (2016): the encoder minimises R + K + A_D, the decoder still R + A_d + A_D (joint routing)."""
    options = dict(decoder_adversarial_reaches_encoder=False, adaptive_adversarial_weight=adaptive)
    model = sgd_compile(tiny_model("ava5", **options, **PAPER_TERMS), 1e-3)
    images = tiny_images()
    noise = peek_noise(model, len(images))
    expected = reference_gradients(
        model, images, noise, "joint", adaptive=adaptive, decoder_adversarial_reaches_encoder=False
    )
    reaching = reference_gradients(model, images, noise, "joint", adaptive=adaptive)
    assert not np.allclose(expected["encoder"][0], reaching["encoder"][0]), "A_d did not reach the encoder"
    np.testing.assert_allclose(expected["decoder"][0], reaching["decoder"][0], **TOLERANCE)
    assert [len(group) for group in model._gradient_groups()] == [1, 1, 1, 1]
    for block, block_deltas in one_step_deltas(model, images).items():
        for delta, gradient in zip(block_deltas, expected[block]):
            np.testing.assert_allclose(-delta / 1e-3, gradient, rtol=1e-4, atol=1e-4, err_msg=block)


@pytest.mark.parametrize("routing", ROUTINGS_PAPER_IN_FULL_TIER)
def test_discriminator_start_step_trains_a_vae_until_the_decoder_has_taken_that_many_steps(routing):
    model = sgd_compile(tiny_model("ava5", routing=routing, discriminator_start_step=2, **PAPER_TERMS), 0.01)
    images = tiny_images()
    for step in range(3):
        started = step >= 2
        expected = reference_gradients(model, images, peek_noise(model, len(images)), routing, adversaries_on=started)
        deltas = one_step_deltas(model, images)
        for block, block_deltas in deltas.items():
            where = f"{routing}, step {step}: {block}"
            if block in ("discriminator", "latent_discriminator") and not started:
                for delta in block_deltas:
                    np.testing.assert_array_equal(delta, 0.0, err_msg=f"{where} must not change")
                continue
            assert any(np.abs(d).max() > 0 for d in block_deltas), f"{where} did not change"
            for delta, gradient in zip(block_deltas, expected[block]):
                np.testing.assert_allclose(-delta / 0.01, gradient, rtol=1e-4, atol=1e-4, err_msg=where)
        # Skipped, not zero-gradient steps: an Adam step would move d by its momentum.
        assert int(model.discriminator_optimizer.iterations.numpy()) == int(started), f"{routing}, step {step}"
    assert int(model.decoder_optimizer.iterations.numpy()) == 3


def test_adversarial_options_round_trip_through_config_and_default_off():
    options = dict(discriminator_prior_samples=True, adaptive_adversarial_weight=True, discriminator_start_step=7,
                   decoder_adversarial_reaches_encoder=False)
    config = tiny_model("ava5", **options).get_config()
    assert {name: config[name] for name in options} == options
    restored = ak.AVA.from_config(config)
    assert {name: getattr(restored, name) for name in options} == options
    defaults = tiny_model("ava5").get_config()
    assert {name: defaults[name] for name in options} == dict(
        discriminator_prior_samples=False, adaptive_adversarial_weight=False, discriminator_start_step=0,
        decoder_adversarial_reaches_encoder=True,
    )
    with pytest.raises(ValueError, match="discriminator_start_step"):
        tiny_model("ava5", discriminator_start_step=-1)


def test_frequency_reconstruction_weight_round_trips_through_config_and_defaults_to_zero():
    restored = ak.AVA.from_config(tiny_model("ava5", frequency_reconstruction_weight=2.5).get_config())
    assert restored.loss_weights_config["frequency_reconstruction_weight"] == 2.5
    assert tiny_model("vae").get_config()["frequency_reconstruction_weight"] == 0.0
    with pytest.raises(ValueError, match="frequency_reconstruction_weight"):
        tiny_model("vae", frequency_reconstruction_weight=-1.0)
