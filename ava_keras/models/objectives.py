"""The objectives of an AVA's blocks, as functions of one forward pass (docs/design_choices.md)."""

import contextlib

import tensorflow as tf
from keras import ops

from ava_keras import losses
from ava_keras.distribute import reduce_across_replicas
from ava_keras.errors import InputError

# Esser et al. (2021): the adaptive adversarial weight's stabiliser and its upper bound.
ADAPTIVE_WEIGHT_EPSILON, ADAPTIVE_WEIGHT_MAX = 1e-4, 1e4


def compute_losses(model, images, labels=None, training=False):
    """One forward pass of `model` on float32 `images`; returns each block's objective and the logged terms.

    `labels` (int32 `(batch,)`) are the class labels of a class-conditional
    model, an extra input of every block (`ava_keras.models.conditioning`).

    Keys `encoder`, `decoder`, `discriminator`, `latent_discriminator` of the
    first dict hold the objective each block's optimizer minimises; the
    second dict holds the loss terms (`ava_keras.losses`) and the
    discriminators' mean outputs, unweighted, for logging.
    """
    w = model.loss_weights_config
    adaptive = model.adaptive_adversarial_weight and model.discriminator is not None
    with contextlib.ExitStack() as stack:
        if adaptive:  # records the forward pass for the two gradients at the decoder's last layer
            last_layer_tape = stack.enter_context(tf.GradientTape(persistent=True, watch_accessed_variables=False))
            kernel = last_layer_kernel(model.decoder)
            last_layer_tape.watch(kernel.value)
        terms, logs, on = forward_terms(model, images, labels, training)
    decoder_adversarial_weight = w["adversarial_weight"]
    if adaptive:
        weight = adaptive_weight(last_layer_tape, terms["reconstruction"], terms["decoder_adversarial"], kernel)
        logs["adaptive_adversarial_weight"] = weight
        decoder_adversarial_weight = decoder_adversarial_weight * weight
    objectives = generator_objectives(
        model.routing,
        terms["reconstruction"],
        w["kl_weight"] * terms["kl"],
        decoder_adversarial=on["decoder_discriminator"] * decoder_adversarial_weight * terms["decoder_adversarial"],
        encoder_adversarial=on["encoder_discriminator"] * w["adversarial_weight"] * terms["encoder_adversarial"],
        decoder_adversarial_reaches_encoder=model.decoder_adversarial_reaches_encoder,
    )
    objectives.update(discriminator=terms["discriminator"], latent_discriminator=terms["latent_discriminator"])
    return objectives, logs


def forward_terms(model, images, labels, training):
    """The forward pass of `compute_losses`: (weighted reconstruction and unweighted terms, logs, switches).

    The switches are the model's, all off before `discriminator_start_step`.
    """
    w = model.loss_weights_config
    on = {name: ops.convert_to_tensor(var) for name, var in model._switch_variables.items()}
    started = adversaries_started(model)
    if started is not None:
        on = {name: value * ops.cast(started, "float32") for name, value in on.items()}
    likelihood = losses.get_likelihood(model.likelihood)
    zero = ops.zeros((), dtype="float32")

    mean, log_var = model.encoder_outputs(images, labels, training=training)
    z = model.sampling([mean, log_var])
    reconstructions = model.decoder_outputs(z, labels, training=training)
    prior_draws = None
    if model.discriminator_prior_samples and model.discriminator is not None:
        # g(z_p), z_p ~ N(0, I) (Larsen et al. 2016): the sampler's next draw, around 0 with unit variance.
        prior_z = model.sampling([ops.zeros_like(mean), ops.zeros_like(log_var)])
        prior_draws = ops.cast(model.decoder_outputs(prior_z, labels, training=training), "float32")
    # Losses and logs in float32 under mixed precision; each block casts its inputs back.
    mean, log_var, reconstructions = (ops.cast(t, "float32") for t in (mean, log_var, reconstructions))
    variance = shared_variance(images, reconstructions) if likelihood.fits_variance else None
    reconstruction = likelihood.reconstruction_loss(images, reconstructions, variance)
    kl = losses.kl_divergence(mean, log_var)
    logs = {
        "loss": w["reconstruction_weight"] * reconstruction + w["kl_weight"] * kl,
        "reconstruction": reconstruction,
        "kl": kl,
    }

    decoder_adversarial = discriminator_objective = zero
    if model.discriminator is not None:
        decoder_adversarial, discriminator_objective, terms = adversary_terms(
            lambda x, training: model.discriminator_logits(x, labels, training=training),
            real=images,
            fake=reconstructions,
            prior_fake=prior_draws,
            leaning_coefficient=losses.decoder_leaning_coefficient(images, reconstructions, likelihood, variance),
            supervise=on["decoder_discriminator"],
            lean=on["decoder_leaning"],
            training=training,
            generator_loss=model.generator_loss,
            leaning_weight=w["leaning_weight"],
            augmenter=model.augmenter,
            r1_weight=w["r1_weight"],
        )
        logs.update(
            decoder_adversarial=decoder_adversarial,
            discriminator_loss=terms["loss"],
            d_real=terms["real"],
            d_fake=terms["fake"],
        )
        if prior_draws is not None:
            logs["d_prior"] = terms["prior_fake"]

    encoder_adversarial = latent_discriminator_objective = zero
    if model.latent_discriminator is not None:
        # paper routing: A_D reaches Θ only through f_μ(stop_gradient(x′)).
        encoder_input = reconstructions if model.routing == "joint" else ops.stop_gradient(reconstructions)
        reconstruction_mean, _ = model.encoder_outputs(encoder_input, labels, training=training)
        reconstruction_mean = ops.cast(reconstruction_mean, "float32")
        encoder_adversarial, latent_discriminator_objective, terms = adversary_terms(
            lambda means, training: model.latent_discriminator_logits(means, labels, training=training),
            real=mean,
            fake=reconstruction_mean,
            leaning_coefficient=losses.encoder_leaning_coefficient(mean, reconstruction_mean, likelihood),
            supervise=on["encoder_discriminator"],
            lean=on["encoder_leaning"],
            training=training,
            generator_loss=model.generator_loss,
            leaning_weight=w["leaning_weight"],
        )
        logs.update(
            encoder_adversarial=encoder_adversarial,
            latent_discriminator_loss=terms["loss"],
            latent_d_real=terms["real"],
            latent_d_fake=terms["fake"],
        )

    weighted_reconstruction = w["reconstruction_weight"] * reconstruction
    extra_terms = {
        # Larsen et al. (2016): the reconstruction error in d's features.
        "feature_reconstruction": lambda: losses.feature_reconstruction_loss(
            ops.cast(model.discriminator.features(images, training=training), "float32"),
            ops.cast(model.discriminator.features(reconstructions, training=training), "float32"),
        ),
        # Jiang et al. (2021): the focal frequency loss, over the likelihood's σ̂².
        "frequency_reconstruction": lambda: losses.focal_frequency_loss(images, reconstructions, variance),
    }
    for name, term in extra_terms.items():  # each joins R, weighted by its `<name>_weight`, when that is > 0
        weight = w[name + "_weight"]
        if weight > 0:
            logs[name] = term()
            weighted_reconstruction += weight * logs[name]
            logs["loss"] += weight * logs[name]
    terms = {
        "reconstruction": weighted_reconstruction,
        "kl": kl,
        "decoder_adversarial": decoder_adversarial,
        "encoder_adversarial": encoder_adversarial,
        "discriminator": discriminator_objective,
        "latent_discriminator": latent_discriminator_objective,
    }
    return terms, logs, on


def adversaries_started(model):
    """A scalar bool tensor, whether the decoder's optimizer has taken `discriminator_start_step` steps; None if 0.

    Read from the optimizer's iteration counter, so a traced step needs no retracing.
    """
    if not model.discriminator_start_step:
        return None
    optimizer = getattr(model, "decoder_optimizer", None)
    iterations = 0 if optimizer is None else optimizer.iterations
    return ops.greater_equal(iterations, model.discriminator_start_step)


def last_layer_kernel(decoder):
    """The decoder's last layer's kernel: its last trainable variable of rank 2 or more."""
    kernels = [v for v in decoder.trainable_variables if len(v.shape) >= 2]
    if not kernels:
        raise InputError(
            "`adaptive_adversarial_weight=True` compares gradients at the decoder's last layer, but the decoder "
            "has no trainable kernel (a trainable variable of rank 2 or more)."
        )
    return kernels[-1]


def adaptive_weight(tape, reconstruction, adversarial, kernel):
    """λ = ‖∇_w L_rec‖ / (‖∇_w L_adv‖ + 1e-4), clipped to [0, 1e4], as a constant (Esser et al. 2021, eq. 7).

    `w` is the decoder's last layer's `kernel`, `tape` the persistent tape
    that recorded both terms.
    """
    reconstruction_gradient = tape.gradient(reconstruction, kernel)
    adversarial_gradient = tape.gradient(adversarial, kernel)
    weight = _norm(reconstruction_gradient) / (_norm(adversarial_gradient) + ADAPTIVE_WEIGHT_EPSILON)
    return ops.stop_gradient(ops.clip(weight, 0.0, ADAPTIVE_WEIGHT_MAX))


def _norm(gradient):
    """The Frobenius norm of `gradient` in float32 (0 for None: the term does not reach the kernel)."""
    return 0.0 if gradient is None else ops.sqrt(ops.sum(ops.square(ops.cast(gradient, "float32"))))


def generator_objectives(
    routing, reconstruction, kl, decoder_adversarial, encoder_adversarial, decoder_adversarial_reaches_encoder=True
):
    """The encoder's and decoder's objectives from their weighted, switched terms.

    `"joint"` routing: both minimise R + A_d + A_D through every path, the
    encoder also K (eqs. 3, 12); without `decoder_adversarial_reaches_encoder`
    the encoder's objective drops A_d (Larsen et al. 2016). `"paper"`
    routing (eqs. 5-16): the encoder minimises K + A_D, the decoder R + A_d.
    """
    if routing == "joint":
        adversarial = decoder_adversarial + encoder_adversarial
        encoder = reconstruction + kl + (adversarial if decoder_adversarial_reaches_encoder else encoder_adversarial)
        return {"encoder": encoder, "decoder": reconstruction + adversarial}
    return {"encoder": kl + encoder_adversarial, "decoder": reconstruction + decoder_adversarial}


def shared_variance(images, reconstructions):
    """σ̂² of the Gaussian likelihood over the global batch, as a constant.

    Under a multi-replica strategy each replica sees part of the batch, so
    the per-replica σ̂² are averaged (equal shares: the global mean
    squared error). Its gradient is stopped; at σ̂², the optimum, the
    likelihood's derivative with respect to σ² is zero, so this changes
    no gradient, and replicas need no differentiable all-reduce.
    """
    variance = ops.stop_gradient(losses.optimal_variance(images, reconstructions))
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        variance = reduce_across_replicas(variance[None], "sum")[0] / context.num_replicas_in_sync
    return variance


def adversary_terms(
    network,
    real,
    fake,
    leaning_coefficient,
    supervise,
    lean,
    training,
    generator_loss,
    leaning_weight,
    augmenter=None,
    r1_weight=0.0,
    prior_fake=None,
):
    """One discriminator's terms: (generator term, its own objective, logs).

    `network(inputs, training)` returns the discriminator's logits. The
    generator term is A_d (eq. 3) or A_D (eq. 12), of kind
    `generator_loss` (`ava_keras.losses.generator_loss`). The objective is
    −b (eq. 4) or −B (eq. 11), gated by `supervise`, plus `leaning_weight`
    times the leaning term of eq. 10 or 16, gated by `lean`. With an
    `augmenter`, real and fake inputs are augmented (DiffAugment) while
    training; a positive `r1_weight` adds the R1 penalty
    (r1_weight / 2)·E‖∇ₓ logit(x)‖² on real inputs (Mescheder et al. 2018)
    to the supervised objective. With `prior_fake` (decoded prior draws),
    the generator term and the fake part of −b average over both kinds of
    fake (Larsen et al. 2016); the leaning term stays on `fake`.
    """
    if augmenter is not None:
        real, fake = augmenter(real, training=training), augmenter(fake, training=training)
    if r1_weight and training:
        with tf.GradientTape() as input_tape:
            input_tape.watch(real)
            real_logits = network(real, training=training)
        gradient = ops.cast(input_tape.gradient(real_logits, real), "float32")
        penalty = losses.r1_penalty(gradient)  # sums over the batch
    else:
        real_logits = network(real, training=training)
        penalty = 0.0
    # Losses in float32 under mixed precision.
    real_logits = ops.cast(real_logits, "float32")
    fake_logits = ops.cast(network(fake, training=training), "float32")
    generator_term = losses.generator_loss(fake_logits, generator_loss)
    discriminator_loss = losses.discriminator_loss(real_logits, fake_logits)
    leaning = losses.leaning_loss(leaning_coefficient, fake_logits)
    terms = {"fake": ops.mean(ops.sigmoid(fake_logits))}
    if prior_fake is not None:
        if augmenter is not None:
            prior_fake = augmenter(prior_fake, training=training)
        prior_logits = ops.cast(network(prior_fake, training=training), "float32")
        generator_term = 0.5 * (generator_term + losses.generator_loss(prior_logits, generator_loss))
        discriminator_loss = 0.5 * (discriminator_loss + losses.discriminator_loss(real_logits, prior_logits))
        terms["prior_fake"] = ops.mean(ops.sigmoid(prior_logits))
    objective = supervise * (discriminator_loss + r1_weight * penalty) + lean * leaning_weight * leaning
    terms.update(loss=discriminator_loss, real=ops.mean(ops.sigmoid(real_logits)))
    return generator_term, objective, terms
