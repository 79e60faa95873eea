"""Per-image anomaly terms of an AVA model, as TensorFlow ops (the Python method and the export share them)."""

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
    variance = scorer.reconstruction_variance(images, reconstructions) if model.likelihood == "gaussian" else None
    terms = {
        "reconstruction": losses.likelihood_reconstruction_loss(
            images, reconstructions, model.likelihood, variance, per_example=True
        ),
        "kl": losses.kl_divergence(mean, log_var, per_example=True),
    }
    if model.discriminator is not None:
        logits = ops.cast(model.discriminator(images, training=False), "float32")
        terms["realism"] = ops.mean(ops.reshape(logits, (ops.shape(logits)[0], -1)), axis=1)  # patches: their mean
    if model.latent_discriminator is not None:
        terms["latent_realism"] = ops.cast(model.latent_discriminator(mean, training=False), "float32")[:, 0]
    terms["anomaly"] = scorer(scorer.stack(terms))
    return terms
