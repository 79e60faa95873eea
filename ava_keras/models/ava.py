"""The AVA model: a VAE whose decoder and encoder are kept honest by discriminators."""

import contextlib

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from ava_keras import distribute, losses
from ava_keras.layers import AnomalyScorer, DiffAugment, GaussianMixture, Sampling
from ava_keras._validation import check_image_shape, check_positive_int
from ava_keras.constants import BLOCKS as _BLOCKS
from ava_keras.constants import ROUTINGS
from ava_keras.errors import InputError
from ava_keras.models.anomaly_terms import anomaly_terms
from ava_keras.models.networks import NETWORK_OPTIONS, build_networks
from ava_keras.models.presets import PRESETS, SWITCHES, get_switches

# The block each switch needs, and the block whose update each switch gates.
_SWITCH_BLOCK = {
    "decoder_discriminator": "discriminator",
    "decoder_leaning": "discriminator",
    "encoder_discriminator": "latent_discriminator",
    "encoder_leaning": "latent_discriminator",
}
# Vectors reduced over replicas are padded to this length (see AVA._across_replicas):
# at most 11 logged terms plus two entries per block.
_REDUCED_LENGTH = 32
_LOG_NAMES = (
    "loss",
    "reconstruction",
    "kl",
    "decoder_adversarial",
    "encoder_adversarial",
    "discriminator_loss",
    "latent_discriminator_loss",
    "d_real",
    "d_fake",
    "latent_d_real",
    "latent_d_fake",
    "feature_reconstruction",
)
# What `_fault` records first in a fit, evaluate or predict call: [kind, step,
# term, value, low, high]; kind is _NO_FAULT, _BAD_IMAGES or _DIVERGED.
_NO_FAULT, _BAD_IMAGES, _DIVERGED = 0.0, 1.0, 2.0
_FAULT_SIZE = 6
# uint8 pixel value -> float32 `value / 255`, looked up so that the graph
# gives exactly numpy's `x / 255` (a graph may turn the division into a
# multiplication by 1/255, which rounds differently).
_UINT8_TO_UNIT = (np.arange(256) / 255).astype("float32")


@keras.saving.register_keras_serializable(package="ava_keras")
class AVA(keras.Model):
    """Adversarial Variational Autoencoder (Nguyen, 2023), variants VAE and AVA1-AVA5.

    An encoder f(x|Θ) gives μ(x), log σ²(x); z = μ + σ·r (eq. 8); a decoder
    g(z|Φ) gives x′. A discriminator d(x|Ψ) judges images (eqs. 2-7) and a
    latent discriminator D(μ|Λ) judges mean vectors μ(x) against μ(x′)
    (eqs. 11-14). Four switches choose the variant (see `PRESETS`); they live in
    non-trainable variables, so a callback can flip them during `fit` and the
    next batch obeys without retracing. `train_step` runs one forward pass,
    records it on one `GradientTape` per block and applies one optimizer per
    block to that block's own objective (docs/design_choices.md).

    Images are float arrays in [0, 1]; uint8 arrays are divided by 255 (the
    result equals passing `x / 255`). `fit`, `evaluate`, `predict` and the
    helpers check every batch in the graph and raise a ValueError naming the
    problem (a NaN or inf, or the observed minimum and maximum) and the fix;
    empty input raises a ValueError too. A training step whose loss terms or
    gradients are not finite changes nothing, and `fit` raises a
    FloatingPointError naming the step and the term: the model keeps its
    last finite weights and optimizer states (docs/design_choices.md).

    Args:
        encoder: Layer or model mapping images to `(mean, log_var)`.
        decoder: Layer or model mapping `(batch, latent_dim)` to images in
            [0, 1] (sigmoid output) of shape `image_shape`.
        image_shape: `(height, width, channels)`.
        discriminator: Optional layer mapping images to one logit (d).
        latent_discriminator: Optional layer mapping mean vectors to one logit (D).
        decoder_discriminator: Train Ψ and add A_d = log(1 − d(x′)) (eq. 3).
        decoder_leaning: Add the leaning term of eq. 10 to Ψ's update.
        encoder_discriminator: Train Λ and add A_D = log(1 − D(μ(x′))) (eq. 12).
        encoder_leaning: Add the leaning term of eq. 16 to Λ's update.
        routing: `"joint"` (default: each block minimises eq. 3/12 through
            every path) or `"paper"` (the paper's update rules, eqs. 5-16:
            the encoder sees only KL and A_D). See docs/design_choices.md.
        generator_loss: `"non_saturating"` (default, −log d, bounded below)
            or `"minimax"` (the paper's log(1 − d), unbounded below: it can
            run away, see docs/quality.md).
        likelihood: The decoder's likelihood, i.e. the reconstruction term:
            `"gaussian"` (default: σ set to its optimum, σ-VAE),
            `"bernoulli"` (binary cross-entropy) or `"paper"` (eq. 1's
            ½‖x − x′‖², a Gaussian with σ = 1, far too wide for pixels).
            `ava_keras.PAPER_SETTINGS` holds the paper's exact settings.
        reconstruction_weight, kl_weight, adversarial_weight, leaning_weight:
            Non-negative multipliers of R, K, the A terms and the leaning terms.
        r1_weight: Weight γ of the R1 penalty (γ/2)·E‖∇ₓ logit d(x)‖² on real
            images in d's objective (0: none).
        feature_reconstruction_weight: Weight of the reconstruction error in
            d's features, ½‖Dis_l(x) − Dis_l(x′)‖² (Larsen et al. 2016,
            `ava_keras.losses.feature_reconstruction_loss`), added to the
            encoder's and decoder's objectives (the decoder's only in `paper`
            routing). 0 (default): none. Needs a `discriminator` with a
            `features` method, such as `ava_keras.layers.Discriminator`.
        augment_discriminator: Show d DiffAugment-ed real and decoded images
            while training (`ava_keras.layers.DiffAugment`).
        latent_sampler_components: Components of the Gaussian mixture that
            `fit_latent_sampler` fits to the encoder's means (`latent_sampler`).
        seed: Optional integer seed of the sampling noise.
        safety_checks: Check every batch and stop a diverging `fit` (above).
            They cost a few percent of a step (docs/performance.md); turn
            them off only to measure that.

    Example:

    >>> model = AVA.from_preset("ava3", image_shape=(28, 28, 1), latent_dim=8)
    >>> model.compile()
    >>> model.fit(images, epochs=1)  # images: float32 array in [0, 1]
    """

    def __init__(
        self,
        encoder,
        decoder,
        image_shape,
        discriminator=None,
        latent_discriminator=None,
        decoder_discriminator=False,
        decoder_leaning=False,
        encoder_discriminator=False,
        encoder_leaning=False,
        routing="joint",
        generator_loss="non_saturating",
        likelihood="gaussian",
        reconstruction_weight=1.0,
        kl_weight=1.0,
        adversarial_weight=1.0,
        leaning_weight=1.0,
        r1_weight=0.0,
        feature_reconstruction_weight=0.0,
        augment_discriminator=False,
        latent_sampler_components=10,
        seed=None,
        safety_checks=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # === Config ===
        if routing not in ROUTINGS:
            raise InputError(f"`routing` must be one of {ROUTINGS}. Received: routing={routing!r}")
        if generator_loss not in losses.GENERATOR_LOSSES:
            raise InputError(
                f"`generator_loss` must be one of {losses.GENERATOR_LOSSES}. "
                f"Received: generator_loss={generator_loss!r}"
            )
        if likelihood not in losses.LIKELIHOODS:
            raise InputError(
                f"`likelihood` must be one of {losses.LIKELIHOODS}. Received: likelihood={likelihood!r}"
            )
        self.image_shape = check_image_shape(image_shape)
        self.routing = routing
        self.generator_loss = generator_loss
        self.likelihood = likelihood
        self.latent_sampler_components = check_positive_int(
            "latent_sampler_components", latent_sampler_components
        )
        self.loss_weights_config = {}
        for name, value in (
            ("reconstruction_weight", reconstruction_weight),
            ("kl_weight", kl_weight),
            ("adversarial_weight", adversarial_weight),
            ("leaning_weight", leaning_weight),
            ("r1_weight", r1_weight),
            ("feature_reconstruction_weight", feature_reconstruction_weight),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise InputError(f"`{name}` must be a non-negative number. Received: {name}={value!r}")
            self.loss_weights_config[name] = float(value)
        self.seed = seed
        self.safety_checks = bool(safety_checks)

        # === Blocks ===
        self.encoder = encoder
        self.decoder = decoder
        self.discriminator = discriminator
        if self.loss_weights_config["feature_reconstruction_weight"] > 0 and not hasattr(
            discriminator, "features"
        ):
            raise InputError(
                "`feature_reconstruction_weight` > 0 compares images in d's features, so it needs a "
                "`discriminator` with a `features(images)` method (such as ava_keras.layers.Discriminator, "
                f"built by presets ava1-ava5). Received: discriminator={discriminator!r}"
            )
        self.latent_discriminator = latent_discriminator
        self.sampling = Sampling(seed=seed, name="sampling", dtype=self.dtype_policy)
        self.augment_discriminator = bool(augment_discriminator)
        self.augmenter = (
            DiffAugment(seed=seed, name="augmenter", dtype=self.dtype_policy) if self.augment_discriminator else None
        )

        # === State ===
        # Switches are variables, not Python bools: a traced train_step reads
        # their current value, so callbacks can change them mid-fit.
        self._switch_variables = {
            name: self.add_weight(
                name=name, shape=(), initializer="zeros", trainable=False, dtype="float32"
            )
            for name in SWITCHES
        }
        self.set_variant(
            {
                "decoder_discriminator": decoder_discriminator,
                "decoder_leaning": decoder_leaning,
                "encoder_discriminator": encoder_discriminator,
                "encoder_leaning": encoder_leaning,
            }
        )
        self.trackers = {name: keras.metrics.Mean(name=name) for name in _LOG_NAMES}
        self._create_fault_state()
        self._build_blocks()

    # === Construction ===

    @classmethod
    def from_preset(cls, preset, image_shape, networks="small", discriminator="global", **kwargs):
        """Builds a model with the convolutional networks for `preset`.

        `preset` is one of `"vae"`, `"ava1"` ... `"ava5"` (see `PRESETS`).
        Only the discriminators the preset uses are built; build from `"ava5"`
        and call `set_variant` (or use `VariantSchedule`) to move between
        variants during training. `networks` (`"small"`, the 28x28 networks,
        or `"scaled"`, sized to the image) and `discriminator` (`"global"` or
        `"patch"`) choose the networks, and the keyword arguments of
        `ava_keras.models.networks.NETWORK_OPTIONS` (`latent_dim`,
        `encoder_filters`, ..., `spectral_normalization`) adjust them (see
        `build_networks`). Other keyword arguments go to `AVA`.
        """
        switches = get_switches(preset)
        blocks = build_networks(
            image_shape,
            networks,
            discriminator,
            with_discriminator=switches["decoder_discriminator"] or switches["decoder_leaning"],
            with_latent_discriminator=switches["encoder_discriminator"] or switches["encoder_leaning"],
            dtype=kwargs.get("dtype"),  # the networks follow the model's dtype policy
            **{name: kwargs.pop(name) for name in NETWORK_OPTIONS if name in kwargs},
        )
        return cls(image_shape=image_shape, **blocks, **switches, **kwargs)

    def _build_blocks(self):
        images = ops.zeros((1,) + self.image_shape)
        outputs = self.encoder(images)
        if not isinstance(outputs, (list, tuple)) or len(outputs) != 2:
            raise InputError(
                "The encoder must return two tensors (mean, log_var). "
                f"Received: {type(outputs).__name__} of length "
                f"{len(outputs) if isinstance(outputs, (list, tuple)) else 1}"
            )
        mean, log_var = outputs
        if tuple(mean.shape) != tuple(log_var.shape) or len(mean.shape) != 2:
            raise InputError(
                "The encoder's mean and log_var must both have shape (batch, latent_dim). "
                f"Received: {tuple(mean.shape)} and {tuple(log_var.shape)}"
            )
        self.latent_dim = int(mean.shape[-1])
        self.sampling([mean, log_var])
        self.latent_sampler = GaussianMixture(
            self.latent_dim, self.latent_sampler_components, name="latent_sampler"
        )
        reconstruction = self.decoder(mean)
        if tuple(reconstruction.shape[1:]) != self.image_shape:
            raise InputError(
                f"The decoder returns images of shape {tuple(reconstruction.shape[1:])}, "
                f"but image_shape={self.image_shape}."
            )
        if self.discriminator is not None:
            self.discriminator(images)
        if self.latent_discriminator is not None:
            self.latent_discriminator(mean)
        terms = ("reconstruction", "kl") + ("realism",) * (self.discriminator is not None)
        terms += ("latent_realism",) * (self.latent_discriminator is not None)
        self.anomaly_scorer = AnomalyScorer(terms, name="anomaly_scorer")
        self.built = True

    # === Variant switches ===

    @property
    def variant(self):
        """The current switches as a dict of bools."""
        return {name: bool(ops.convert_to_numpy(var) > 0.5) for name, var in self._switch_variables.items()}

    @property
    def preset(self):
        """Name of the preset the current switches match, or None."""
        current = self.variant
        return next((name for name, p in PRESETS.items() if p["switches"] == current), None)

    def check_variant(self, variant):
        """Returns the switches `variant` names, or raises a ValueError.

        `variant` is a preset name or a (partial) dict of switches. Raises for
        an unknown preset or switch, or a switch whose block the model lacks.
        """
        switches = get_switches(variant) if isinstance(variant, str) else dict(variant)
        unknown = set(switches) - set(SWITCHES)
        if unknown:
            raise InputError(f"Unknown switches {sorted(unknown)}. Valid switches: {', '.join(SWITCHES)}.")
        for name, value in switches.items():
            if value and getattr(self, _SWITCH_BLOCK[name]) is None:
                raise InputError(
                    f"Cannot turn on `{name}`: the model has no {_SWITCH_BLOCK[name]}. "
                    "Build it with one (e.g. AVA.from_preset('ava5', ...))."
                )
        return switches

    def set_variant(self, variant):
        """Sets the switches from a preset name or a (partial) dict of switches.

        Takes effect at the next training batch. Raises a ValueError as
        `check_variant` does.
        """
        for name, value in self.check_variant(variant).items():
            self._switch_variables[name].assign(1.0 if value else 0.0)

    def _switch_property(name):
        def getter(self):
            return self.variant[name]

        def setter(self, value):
            self.set_variant({name: value})

        return property(getter, setter, doc=f"Whether `{name}` is on (settable).")

    decoder_discriminator = _switch_property("decoder_discriminator")
    decoder_leaning = _switch_property("decoder_leaning")
    encoder_discriminator = _switch_property("encoder_discriminator")
    encoder_leaning = _switch_property("encoder_leaning")
    del _switch_property

    # === Compilation ===

    def compile(
        self,
        encoder_optimizer=None,
        decoder_optimizer=None,
        discriminator_optimizer=None,
        latent_discriminator_optimizer=None,
        jit_compile=False,
        auto_scale_loss=True,
        **kwargs,
    ):
        """Configures one optimizer per block.

        Defaults: Adam(1e-3) for the encoder and decoder, Adam(2e-4,
        beta_1=0.5) for each discriminator. Each may be an optimizer instance,
        a name or a config dict. Under the `"mixed_float16"` dtype policy,
        with `auto_scale_loss=True`, each block's optimizer is wrapped in its
        own `keras.optimizers.LossScaleOptimizer`, so small float16 gradients
        do not underflow (bfloat16 has float32's range and needs no scaling).
        Other arguments go to `keras.Model.compile` (`optimizer` and `loss`
        are not used: the losses are the paper's).
        """
        for unused in ("optimizer", "loss"):
            if kwargs.get(unused) is not None:
                raise InputError(
                    f"AVA.compile takes one optimizer per block, not `{unused}`: use "
                    "encoder_optimizer=, decoder_optimizer=, discriminator_optimizer=, "
                    "latent_discriminator_optimizer=."
                )
            kwargs.pop(unused, None)
        super().compile(optimizer=None, jit_compile=jit_compile, **kwargs)
        self._auto_scale_loss = bool(auto_scale_loss)
        scale_loss = self._auto_scale_loss and self.dtype_policy.name == "mixed_float16"
        defaults = {
            "encoder": lambda: keras.optimizers.Adam(1e-3),
            "decoder": lambda: keras.optimizers.Adam(1e-3),
            "discriminator": lambda: keras.optimizers.Adam(2e-4, beta_1=0.5),
            "latent_discriminator": lambda: keras.optimizers.Adam(2e-4, beta_1=0.5),
        }
        given = {
            "encoder": encoder_optimizer,
            "decoder": decoder_optimizer,
            "discriminator": discriminator_optimizer,
            "latent_discriminator": latent_discriminator_optimizer,
        }
        for block in _BLOCKS:
            network = getattr(self, block)
            if network is None:
                setattr(self, f"{block}_optimizer", None)
                continue
            optimizer = given[block]
            optimizer = defaults[block]() if optimizer is None else keras.optimizers.get(optimizer)
            if scale_loss and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer, name=f"{block}_loss_scale_optimizer")
            optimizer.build(network.trainable_variables)
            setattr(self, f"{block}_optimizer", optimizer)

    def get_compile_config(self):
        config = {"jit_compile": bool(self.jit_compile), "auto_scale_loss": getattr(self, "_auto_scale_loss", True)}
        for block in _BLOCKS:
            optimizer = getattr(self, f"{block}_optimizer", None)
            if optimizer is not None:
                config[f"{block}_optimizer"] = keras.optimizers.serialize(optimizer)
        return config

    def compile_from_config(self, config):
        config = dict(config)
        for block in _BLOCKS:
            if config.get(f"{block}_optimizer") is not None:
                config[f"{block}_optimizer"] = keras.optimizers.deserialize(config[f"{block}_optimizer"])
        self.compile(**config)

    # === Forward pass and losses ===

    def call(self, inputs, training=False):
        """Deterministic reconstruction g(μ(x))."""
        mean, _ = self.encoder(inputs, training=training)
        return self.decoder(mean, training=training)

    def _check_image_shape(self, shape):
        """Raises a ValueError unless `shape` is `(batch,) + image_shape`."""
        shape = tuple(shape)
        if len(shape) != 4 or any(
            got is not None and got != want for got, want in zip(shape[1:], self.image_shape)
        ):
            raise InputError(
                f"Expected images of shape (batch, {', '.join(map(str, self.image_shape))}) "
                f"(the model's image_shape), got {shape}. Resize the data "
                "or build the model with a matching image_shape."
            )

    def _check_images(self, images):
        """Checks the shape; uint8 images become float32 `x / 255`."""
        self._check_image_shape(images.shape)
        if keras.backend.standardize_dtype(images.dtype) == "uint8":
            return tf.gather(_UINT8_TO_UNIT, ops.cast(images, "int32"))
        return ops.cast(images, "float32")  # the loss target; the blocks cast to their compute dtype

    def compute_losses(self, images, training=False):
        """One forward pass; returns each block's objective and the logged terms.

        Keys `encoder`, `decoder`, `discriminator`, `latent_discriminator`
        hold the objective each block's optimizer minimises (docs/design_choices.md);
        the other keys are the loss terms (`ava_keras.losses`) and the discriminators' mean
        outputs, unweighted, for logging.
        """
        w = self.loss_weights_config
        on = {name: ops.convert_to_tensor(var) for name, var in self._switch_variables.items()}
        zero = ops.zeros((), dtype="float32")

        mean, log_var = self.encoder(images, training=training)
        z = self.sampling([mean, log_var])
        reconstructions = self.decoder(z, training=training)
        # Losses and logs in float32 under mixed precision; each block casts its inputs back.
        mean, log_var, reconstructions = (ops.cast(t, "float32") for t in (mean, log_var, reconstructions))
        variance = self._shared_variance(images, reconstructions) if self.likelihood == "gaussian" else None
        reconstruction = losses.likelihood_reconstruction_loss(images, reconstructions, self.likelihood, variance)
        kl = losses.kl_divergence(mean, log_var)
        logs = {
            "loss": w["reconstruction_weight"] * reconstruction + w["kl_weight"] * kl,
            "reconstruction": reconstruction,
            "kl": kl,
        }

        decoder_adversarial = discriminator_objective = zero
        if self.discriminator is not None:
            decoder_adversarial, discriminator_objective, terms = self._adversary_terms(
                self.discriminator,
                real=images,
                fake=reconstructions,
                leaning_coefficient=losses.decoder_leaning_coefficient(
                    images, reconstructions, self.likelihood, variance
                ),
                supervise=on["decoder_discriminator"],
                lean=on["decoder_leaning"],
                training=training,
                augmenter=self.augmenter,
                r1_weight=w["r1_weight"],
            )
            logs.update(
                decoder_adversarial=decoder_adversarial,
                discriminator_loss=terms["loss"],
                d_real=terms["real"],
                d_fake=terms["fake"],
            )

        encoder_adversarial = latent_discriminator_objective = zero
        if self.latent_discriminator is not None:
            # paper routing: A_D reaches Θ only through f_μ(stop_gradient(x′)).
            encoder_input = reconstructions if self.routing == "joint" else ops.stop_gradient(reconstructions)
            reconstruction_mean, _ = self.encoder(encoder_input, training=training)
            reconstruction_mean = ops.cast(reconstruction_mean, "float32")
            encoder_adversarial, latent_discriminator_objective, terms = self._adversary_terms(
                self.latent_discriminator,
                real=mean,
                fake=reconstruction_mean,
                leaning_coefficient=losses.encoder_leaning_coefficient(mean, reconstruction_mean, self.likelihood),
                supervise=on["encoder_discriminator"],
                lean=on["encoder_leaning"],
                training=training,
            )
            logs.update(
                encoder_adversarial=encoder_adversarial,
                latent_discriminator_loss=terms["loss"],
                latent_d_real=terms["real"],
                latent_d_fake=terms["fake"],
            )

        adversarial = (
            on["decoder_discriminator"] * w["adversarial_weight"] * decoder_adversarial
            + on["encoder_discriminator"] * w["adversarial_weight"] * encoder_adversarial
        )
        weighted_reconstruction = w["reconstruction_weight"] * reconstruction
        if w["feature_reconstruction_weight"] > 0:
            feature_reconstruction = losses.feature_reconstruction_loss(
                ops.cast(self.discriminator.features(images, training=training), "float32"),
                ops.cast(self.discriminator.features(reconstructions, training=training), "float32"),
            )
            logs["feature_reconstruction"] = feature_reconstruction
            weighted_reconstruction += w["feature_reconstruction_weight"] * feature_reconstruction
            logs["loss"] += w["feature_reconstruction_weight"] * feature_reconstruction
        if self.routing == "joint":
            encoder_objective = weighted_reconstruction + w["kl_weight"] * kl + adversarial
            decoder_objective = weighted_reconstruction + adversarial
        else:
            encoder_objective = (
                w["kl_weight"] * kl
                + on["encoder_discriminator"] * w["adversarial_weight"] * encoder_adversarial
            )
            decoder_objective = (
                weighted_reconstruction
                + on["decoder_discriminator"] * w["adversarial_weight"] * decoder_adversarial
            )
        objectives = {
            "encoder": encoder_objective,
            "decoder": decoder_objective,
            "discriminator": discriminator_objective,
            "latent_discriminator": latent_discriminator_objective,
        }
        return objectives, logs

    def _shared_variance(self, images, reconstructions):
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
            variance = self._across_replicas(variance[None], "sum")[0] / context.num_replicas_in_sync
        return variance

    def _adversary_terms(
        self, network, real, fake, leaning_coefficient, supervise, lean, training, augmenter=None, r1_weight=0.0
    ):
        """One discriminator's terms: (generator term, its own objective, logs).

        The generator term is A_d (eq. 3) or A_D (eq. 12). The objective is
        −b (eq. 4) or −B (eq. 11), gated by `supervise`, plus the leaning
        term of eq. 10 or 16, gated by `lean`. With an `augmenter`, real and
        fake inputs are augmented (DiffAugment) while training; a positive
        `r1_weight` adds the R1 penalty (r1_weight / 2)·E‖∇ₓ logit(x)‖² on
        real inputs (Mescheder et al. 2018) to the supervised objective.
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
        generator_term = losses.generator_loss(fake_logits, self.generator_loss)
        discriminator_loss = losses.discriminator_loss(real_logits, fake_logits)
        leaning = losses.leaning_loss(leaning_coefficient, fake_logits)
        objective = (
            supervise * (discriminator_loss + r1_weight * penalty)
            + lean * self.loss_weights_config["leaning_weight"] * leaning
        )
        terms = {
            "loss": discriminator_loss,
            "real": ops.mean(ops.sigmoid(real_logits)),
            "fake": ops.mean(ops.sigmoid(fake_logits)),
        }
        return generator_term, objective, terms

    # === Steps ===

    def _images_from(self, data):
        """The batch's images as float32 (the loss target; each block casts them to its compute
        dtype), and a scalar bool: whether they pass the checks."""
        if isinstance(data, (tuple, list)):
            data = data[0]
        images = self._check_images(data)
        valid = self._record_bad_images(images) if self.safety_checks else tf.constant(True)
        return images, valid

    def _block_is_on(self, block):
        """A scalar bool tensor: whether `block` is updated this step."""
        if block in ("encoder", "decoder"):
            return tf.constant(True)
        names = [name for name, owner in _SWITCH_BLOCK.items() if owner == block]
        return tf.reduce_any([self._switch_variables[name] > 0.5 for name in names])

    def _gradient_groups(self):
        """Tuples of blocks whose gradients come from one backward pass.

        In `joint` routing the decoder's objective is the encoder's minus
        the KL term, which does not depend on Φ, so the gradient of the
        encoder's objective with respect to Θ and Φ gives both blocks'
        gradients: one backward pass through the discriminators and the
        decoder instead of two. In `paper` routing the two objectives reach
        their blocks through different paths, so each block has its own tape.
        """
        blocks = [b for b in _BLOCKS if getattr(self, b) is not None]
        if self.routing == "joint":
            return [("encoder", "decoder")] + [(b,) for b in blocks[2:]]
        return [(b,) for b in blocks]

    def train_step(self, data):
        images, valid = self._images_from(data)
        groups = self._gradient_groups()
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with contextlib.ExitStack() as stack:
            tapes = []
            for group in groups:
                tape = stack.enter_context(tf.GradientTape(watch_accessed_variables=False))
                tape.watch([v.value for block in group for v in getattr(self, block).trainable_variables])
                tapes.append(tape)
            objectives, logs = self.compute_losses(images, training=True)
            # Gradients are summed over replicas, so scale to the global batch,
            # then by the loss scale of the group's first optimizer (1 without
            # loss scaling), as Keras' own train_step does.
            scaled = [self._optimizer(group[0]).scale_loss(objectives[group[0]] / replicas) for group in groups]
        updates = {}  # every gradient first: a non-finite one stops every block's update
        for group, tape, objective in zip(groups, tapes, scaled):
            variables = [getattr(self, block).trainable_variables for block in group]
            gradients = tape.gradient(objective, [v for block_variables in variables for v in block_variables])
            for block, block_variables in zip(group, variables):
                block_gradients, gradients = gradients[: len(block_variables)], gradients[len(block_variables) :]
                # Each optimizer unscales by its own loss scale (powers of 2, so the ratio is exact).
                ratio = self._loss_scale(block) / self._loss_scale(group[0])
                block_gradients = [
                    ops.zeros_like(v) if g is None else g * ratio for g, v in zip(block_gradients, block_variables)
                ]
                updates[block] = (block_gradients, block_variables)
        healthy = self._record_divergence(objectives, logs, updates, valid) if self.safety_checks else valid
        for block, (block_gradients, block_variables) in updates.items():
            self._apply_if_on(block, block_gradients, block_variables, replicas, healthy)
        return self._update_trackers(logs)

    def _optimizer(self, block):
        return getattr(self, f"{block}_optimizer")

    def _loss_scale(self, block):
        """The current loss scale of `block`'s optimizer, a float32 scalar."""
        return ops.cast(self._optimizer(block).scale_loss(1.0), "float32")

    def _apply_if_on(self, block, gradients, variables, replicas, healthy):
        """Applies `block`'s optimizer only while one of its switches is on and the step is `healthy`.

        On one replica the step is skipped outright, so a switched-off block
        (or an unhealthy step) does not move at all (a zero-gradient Adam step
        would still move it by its momentum). Under a multi-replica strategy an
        optimizer step cannot sit inside control flow (it synchronises
        replicas), so there the gradients are zeroed instead; see
        docs/distributed.md.
        """
        optimizer = self._optimizer(block)
        is_on = self._block_is_on(block) & healthy
        if replicas > 1:
            optimizer.apply([tf.where(is_on, g, tf.zeros_like(g)) for g in gradients], variables)
            return

        def apply():
            optimizer.apply(gradients, variables)
            return tf.constant(True)

        tf.cond(is_on, apply, lambda: tf.constant(False))

    def test_step(self, data):
        images, _ = self._images_from(data)
        _, logs = self.compute_losses(images, training=False)
        return self._update_trackers(logs)

    def predict_step(self, data):
        images, _ = self._images_from(data)
        return self(images, training=False)

    def _update_trackers(self, logs):
        for name, value in logs.items():
            self.trackers[name].update_state(value)
        return distribute.step_logs({name: self.trackers[name].result() for name in logs})

    @property
    def metrics(self):
        return list(self.trackers.values())

    # === Checks on every batch and the divergence stop ===

    def _create_fault_state(self):
        # A plain tf.Variable, not a model weight: saved models do not change.
        # All replicas write the same values (see `_across_replicas`).
        self._fault = tf.Variable(
            tf.zeros([_FAULT_SIZE]),
            trainable=False,
            name="fault",
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
        )
        self._fault_terms = ()
        self._batches_run = 0

    def _record_fault(self, fault, kind, details):
        """Records `[kind, *details]` if `fault` and nothing was recorded before."""
        values = tf.stack([tf.constant(kind)] + [tf.cast(d, "float32") for d in details])
        first = fault & tf.equal(self._fault[0], _NO_FAULT)
        self._fault.assign(tf.where(first, values, self._fault))

    @staticmethod
    def _across_replicas(values, reduction):
        """Combines per-replica `values` (a vector) over replicas: "sum", "min" or "max".

        Only all-reduce sums (no `all_gather`: its collective instances were
        seen to clash between two MirroredStrategy objects in one process).
        For "min" and "max" each replica's values fill its own row of a
        zero matrix, and the rows are summed.
        """
        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return values
        if reduction == "sum":
            # One fixed length for every reduced vector: collective instance keys
            # are reused across MirroredStrategy objects in one process, and a
            # reuse with another shape aborts ("Shape mismatch in the collective instance").
            length = tf.shape(values)[0]
            padded = tf.pad(values, [[0, _REDUCED_LENGTH - length]])
            return context.all_reduce("sum", padded)[:length]
        own_row = tf.equal(tf.range(context.num_replicas_in_sync), context.replica_id_in_sync_group)
        rows = context.all_reduce("sum", tf.where(own_row[:, None], values[None], 0.0))
        return {"min": tf.reduce_min, "max": tf.reduce_max}[reduction](rows, axis=0)

    def _record_bad_images(self, images):
        """Whether every value of the batch is finite and in [0, 1]; records a fault if not.

        Three reductions when the batch is valid; the count of non-finite
        values and the range of the finite ones only when it is not.
        """
        x = ops.cast(images, "float32")
        low, high = tf.reduce_min(x), tf.reduce_max(x)
        valid = tf.math.is_finite(tf.reduce_sum(x)) & (low >= 0.0) & (high <= 1.0)

        def describe():
            finite = tf.math.is_finite(x)
            return (
                tf.reduce_sum(tf.cast(~finite, "float32")),
                tf.reduce_min(tf.where(finite, x, np.inf)),
                tf.reduce_max(tf.where(finite, x, -np.inf)),
            )

        nonfinite, low, high = tf.cond(valid, lambda: (0.0, low, high), describe)
        nonfinite = self._across_replicas(nonfinite[None], "sum")[0]
        low = self._across_replicas(low[None], "min")[0]
        high = self._across_replicas(high[None], "max")[0]
        valid = tf.equal(nonfinite, 0.0) & (low >= 0.0) & (high <= 1.0)
        self._record_fault(~valid, _BAD_IMAGES, [0.0, 0.0, nonfinite, low, high])
        return valid

    def _record_divergence(self, objectives, logs, updates, valid):
        """Whether the step may change the weights: `valid` images, every
        loss term and every block's squared gradient norm finite (not checked
        for a loss-scaled optimizer, which skips overflowing steps itself), and no
        fault recorded earlier in this call. Records the first non-finite
        term (a squared norm above ~3e38, i.e. gradients above ~1e19, counts
        as non-finite, so one update cannot overflow the weights).
        """
        terms = sorted(logs, key=lambda name: name == "loss")  # a component before their sum
        names = [f"the {name} term" for name in terms]
        values = [ops.cast(logs[name], "float32") for name in terms]
        for block, (gradients, _) in updates.items():
            names.append(f"the {block}'s objective")
            values.append(ops.cast(objectives[block], "float32"))
            if isinstance(self._optimizer(block), keras.optimizers.LossScaleOptimizer):
                continue  # overflowing scaled gradients are its to skip (and it lowers the scale)
            names.append(f"the squared norm of the {block}'s gradients")
            squares = [tf.nn.l2_loss(ops.cast(g, "float32")) * 2.0 for g in gradients]
            values.append(tf.add_n(squares))
        self._fault_terms = tuple(names)
        values = self._across_replicas(tf.stack(values), "sum")
        finite = tf.math.is_finite(values)
        first = tf.argmin(tf.cast(finite, "int32"))
        step = self.encoder_optimizer.iterations + 1
        self._record_fault(valid & ~tf.reduce_all(finite), _DIVERGED, [step, first, values[first], 0.0, 0.0])
        return tf.equal(self._fault[0], _NO_FAULT)

    def _fault_error(self):
        """The exception for the fault `_fault` holds."""
        kind, step, term, value, low, high = self._fault.numpy().tolist()
        if kind == _BAD_IMAGES:
            return ValueError(_bad_images_message(value, low, high))
        return FloatingPointError(
            f"Training diverged at step {int(step)}: {self._fault_terms[int(term)]} became {value}. "
            "The model keeps its weights and optimizer states from before that step; lower the "
            "learning rate or check the data."
        )

    def _raising_faults(self, function):
        """Wraps a train, test or predict function: raises the fault its steps recorded."""

        def checked(data):
            outputs = function(data)
            self._batches_run += 1
            if self.safety_checks and self._fault.numpy()[0] != _NO_FAULT:
                error = self._fault_error()
                self._fault.assign(tf.zeros([_FAULT_SIZE]))  # e.g. for the next train_on_batch
                raise error
            return outputs

        return checked

    @contextlib.contextmanager
    def _checked_run(self, method, x):
        """Around fit, evaluate and predict: refuses empty input or the wrong shape, clears the fault record.

        The shape is also checked when each step is traced, but a retraced
        step may have generalised the shape to `(None, None, None, None)`.
        """
        _check_not_empty(x, f"`{method}`")
        if isinstance(x, tf.data.Dataset):
            spec = x.element_spec[0] if isinstance(x.element_spec, (tuple, list)) else x.element_spec
            if isinstance(spec, tf.TensorSpec):
                self._check_image_shape(spec.shape)
        elif getattr(x, "shape", None) is not None:
            self._check_image_shape((None,) + tuple(x.shape)[1:])  # as the traced step reports it
        self._fault.assign(tf.zeros([_FAULT_SIZE]))
        batches = self._batches_run
        try:
            yield
        except UnboundLocalError:  # Keras's predict after zero batches
            if self._batches_run != batches:
                raise
        if self._batches_run == batches:
            raise InputError(f"`{method}` got no batches: the input is empty. Pass at least one image.")

    def make_train_function(self, force=False):
        if self.train_function is None or force:
            super().make_train_function(force=force)
            self.train_function = self._raising_faults(self.train_function)
        return self.train_function

    def make_test_function(self, force=False):
        if self.test_function is None or force:
            super().make_test_function(force=force)
            self.test_function = self._raising_faults(self.test_function)
        return self.test_function

    def make_predict_function(self, force=False):
        if self.predict_function is None or force:
            super().make_predict_function(force=force)
            self.predict_function = self._raising_faults(self.predict_function)
        return self.predict_function

    def fit(self, x=None, *args, **kwargs):
        with self._checked_run("fit", x):
            return super().fit(x, *args, **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        with self._checked_run("evaluate", x):
            return super().evaluate(x, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        with self._checked_run("predict", x):
            return super().predict(x, *args, **kwargs)

    # === Inference helpers ===

    def _run_batched(self, function, inputs, batch_size):
        inputs = np.asarray(inputs, dtype="float32")
        outputs = [function(inputs[i : i + batch_size]) for i in range(0, max(len(inputs), 1), batch_size)]
        if isinstance(outputs[0], dict):
            return {k: np.concatenate([ops.convert_to_numpy(o[k]) for o in outputs]) for k in outputs[0]}
        if isinstance(outputs[0], (tuple, list)):
            return tuple(np.concatenate([ops.convert_to_numpy(o[k]) for o in outputs]) for k in range(len(outputs[0])))
        return np.concatenate([ops.convert_to_numpy(o) for o in outputs])

    def _images_array(self, images, method):
        """`images` as a float32 array, checked as the steps check each batch."""
        _check_not_empty(images, f"`{method}`")
        images = np.asarray(images)
        self._check_image_shape(images.shape)
        if images.dtype == np.uint8:
            images = _UINT8_TO_UNIT[images]
        images = images.astype("float32", copy=False)
        if self.safety_checks:
            finite = np.isfinite(images)
            low, high = (images[finite].min(), images[finite].max()) if finite.any() else (np.inf, -np.inf)
            if not finite.all() or low < 0.0 or high > 1.0:
                raise InputError(_bad_images_message(np.count_nonzero(~finite), low, high))
        return images

    def encode(self, images, batch_size=256):
        """Returns `(mean, log_var)` of f(x|Θ) as numpy arrays."""
        images = self._images_array(images, "encode")
        return self._run_batched(lambda x: self.encoder(x, training=False), images, batch_size)

    def decode(self, latents, batch_size=256):
        """Returns g(z|Φ) for latent vectors `(n, latent_dim)`, pixels in [0, 1]."""
        latents = np.asarray(latents, dtype="float32")
        if latents.ndim != 2 or latents.shape[1] != self.latent_dim:
            raise InputError(
                f"Expected latent vectors of shape (n, {self.latent_dim}), got {latents.shape}."
            )
        return self._run_batched(lambda z: self.decoder(z, training=False), latents, batch_size)

    def reconstruct(self, images, batch_size=256):
        """Returns g(μ(x)): the deterministic reconstruction of `images`."""
        images = self._images_array(images, "reconstruct")
        return self._run_batched(lambda x: self(x, training=False), images, batch_size)

    def sample(self, n, seed=None):
        """Decodes `n` latent draws; the same integer `seed` gives the same images.

        The draws come from `model.latent_sampler`: z ~ N(0, I) until
        `fit_latent_sampler` has run, then its fitted Gaussian mixture.
        """
        return self.decode(ops.convert_to_numpy(self.latent_sampler.sample(n, seed)))

    def fit_latent_sampler(self, images, batch_size=256, max_images=50_000, seed=0):
        """Fits `model.latent_sampler` to the mean vectors μ(x) of `images`.

        Ex-post density estimation (Ghosh et al. 2020): after training, a
        Gaussian mixture of `latent_sampler_components` components is fitted
        to the encoder's means, and from then on `sample`, `SampleGrid`, the
        CLI and the SavedModel's `generate` endpoint draw z from it instead
        of N(0, I), which decodes to sharper, more typical images. Fitting
        uses numpy only; the mixture is saved with the model.

        Args:
            images: Array of images in [0, 1] `(n, H, W, C)`, or a
                `tf.data.Dataset` of such batches (or of `(images, ...)` tuples).
            batch_size: Batch size for encoding an array.
            max_images: Use at most this many images (the first ones).
            seed: Seed of the mixture's k-means++ initialisation.

        Returns:
            The mean log-likelihood of the means under the fitted mixture.
        """
        means = []
        if isinstance(images, tf.data.Dataset):
            count = 0
            for batch in images:
                batch = batch[0] if isinstance(batch, (tuple, list)) else batch
                means.append(self.encode(batch.numpy()[: max_images - count], batch_size=batch_size)[0])
                count += len(means[-1])
                if count >= max_images:
                    break
        else:
            means.append(self.encode(np.asarray(images)[:max_images], batch_size=batch_size)[0])
        means = np.concatenate(means) if means else np.zeros((0, self.latent_dim))
        if len(means) == 0:
            raise InputError("`fit_latent_sampler` got no images: pass the training images.")
        return self.latent_sampler.fit(means, seed=seed)

    def discriminate(self, images, batch_size=256):
        """Returns d(x) = sigmoid(logit) in [0, 1], shape `(n, 1)`."""
        if self.discriminator is None:
            raise InputError("This model has no discriminator (it was built without one).")
        images = self._images_array(images, "discriminate")
        return self._run_batched(
            lambda x: ops.sigmoid(self.discriminator(x, training=False)), images, batch_size
        )

    def anomaly_scores(self, images, batch_size=256):
        """Per-image realism and anomaly scores: which images are unusual or unlike the training data.

        Returns a dict of `(n,)` float32 arrays (see
        `ava_keras.models.anomaly_terms.anomaly_terms`): `reconstruction` (the
        error under the model's likelihood), `kl`, `realism` (logit of d(x),
        models with d), `latent_realism` (logit of D(μ(x)), models with D)
        and `anomaly`, higher = more anomalous: the terms standardised on the
        training images by `fit_anomaly_scores` and combined by
        `model.anomaly_scorer` (until then, the reconstruction error alone).
        Images are checked as `encode` checks them. See docs/anomaly.md.
        """
        images = self._images_array(images, "anomaly_scores")
        return self._run_batched(lambda x: anomaly_terms(self, x), images, batch_size)

    def fit_anomaly_scores(self, images, batch_size=256, terms=None, max_images=10_000):
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
                `(images, ...)` tuples).
            batch_size: Batch size for scoring.
            terms: Names of the terms to combine (see above).
            max_images: Use at most this many images (the first ones).
        """
        if isinstance(images, tf.data.Dataset):
            batches = (b[0] if isinstance(b, (tuple, list)) else b for b in images.unbatch().batch(max_images).take(1))
            images = next((b.numpy() for b in batches), np.zeros((0,) + self.image_shape, "float32"))
        images = self._images_array(np.asarray(images)[:max_images], "fit_anomaly_scores")
        if self.likelihood == "gaussian":
            errors = self.reconstruct(images, batch_size) - images
            variance = max(float(np.mean(np.square(errors, dtype="float64"))), losses.MIN_VARIANCE)
            self.anomaly_scorer.variance.assign(variance)
        return self.anomaly_scorer.fit(self.anomaly_scores(images, batch_size), terms=terms)

    # === Serialization ===

    def get_config(self):
        config = super().get_config()
        serialize = keras.saving.serialize_keras_object
        config.update(
            {
                "encoder": serialize(self.encoder),
                "decoder": serialize(self.decoder),
                "discriminator": serialize(self.discriminator) if self.discriminator is not None else None,
                "latent_discriminator": (
                    serialize(self.latent_discriminator) if self.latent_discriminator is not None else None
                ),
                "image_shape": list(self.image_shape),
                "routing": self.routing,
                "generator_loss": self.generator_loss,
                "likelihood": self.likelihood,
                "augment_discriminator": self.augment_discriminator,
                "latent_sampler_components": self.latent_sampler_components,
                "seed": self.seed,
                **self.loss_weights_config,
                **self.variant,
            }
        )
        config["safety_checks"] = self.safety_checks
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for block in _BLOCKS:
            if config.get(block) is not None:
                config[block] = keras.saving.deserialize_keras_object(config[block])
        return cls(**config)


def _check_not_empty(x, what):
    """Raises a ValueError if `x` is an array or a tf.data.Dataset with no images."""
    if isinstance(x, tf.data.Dataset):
        empty = int(x.cardinality()) == 0
    else:
        shape = getattr(x, "shape", None)
        empty = (len(shape) > 0 and shape[0] == 0) if shape is not None else isinstance(x, (list, tuple)) and not x
    if empty:
        raise InputError(f"{what} got no images (the input is empty). Pass at least one image.")


def _bad_images_message(nonfinite, low, high):
    """What is wrong with a batch outside [0, 1], and how to fix it."""
    problem = f"values from {low:g} to {high:g}"
    if nonfinite:
        problem = f"{int(nonfinite)} non-finite value(s) (NaN or inf)" + (f" and finite {problem}" if low <= high else "")
    return (
        f"AVA expects images with finite values in [0, 1], but a batch has {problem}. "
        "Replace NaN and inf values; divide 0-255 pixels by 255 (uint8 arrays are divided for you) "
        "or map [-1, 1] data with (x + 1) / 2; or load image files with ak.data.image_folder, "
        "which scales them for you."
    )
