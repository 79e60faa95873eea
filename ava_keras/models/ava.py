"""The AVA model: a VAE whose decoder and encoder are kept honest by discriminators."""

import keras
import numpy as np
from keras import ops

from ava_keras import losses
from ava_keras._validation import (
    check_choice,
    check_classes,
    check_compile_arguments,
    check_decoder_outputs,
    check_encoder_outputs,
    check_feature_discriminator,
    check_image_shape,
    check_latents,
    check_non_negative,
    check_positive_int,
)
from ava_keras.constants import (
    BLOCKS,
    GENERATOR_LOSSES,
    LATENT_SAMPLER_COMPONENTS,
    ROUTINGS,
    SWITCH_BLOCKS,
    SWITCHES,
)
from ava_keras.errors import InputError
from ava_keras.layers import DiffAugment, Sampling
from ava_keras.models import objectives
from ava_keras.models.anomaly_scoring import AnomalyScoring
from ava_keras.models.conditioning import LabelConditioning
from ava_keras.models.latent_sampling import LatentSampling
from ava_keras.models.networks import NETWORK_OPTIONS, build_networks
from ava_keras.models.presets import PRESETS, get_switches
from ava_keras.models.safety import SafetyChecks
from ava_keras.models.training import BlockTrainer


@keras.saving.register_keras_serializable(package="ava_keras")
class AVA(SafetyChecks, BlockTrainer, LabelConditioning, LatentSampling, AnomalyScoring, keras.Model):
    """Adversarial Variational Autoencoder (Nguyen, 2023), variants VAE and AVA1-AVA5.

    An encoder f(x|Θ) gives μ(x), log σ²(x); z = μ + σ·r (eq. 8); a decoder
    g(z|Φ) gives x′. A discriminator d(x|Ψ) judges images (eqs. 2-7) and a
    latent discriminator D(μ|Λ) judges mean vectors μ(x) against μ(x′)
    (eqs. 11-14). Four switches choose the variant (see `PRESETS`); they live in
    non-trainable variables, so a callback can flip them during `fit` and the
    next batch obeys without retracing. `train_step` runs one forward pass,
    records it on one `GradientTape` per block and applies one optimizer per
    block to that block's own objective (docs/design_choices.md).

    The parts live beside this module in `ava_keras.models`: `objectives`
    (the forward pass and each block's objective), `training` (the steps),
    `safety` (the checks below), `conditioning` (the label path),
    `latent_sampling` and `anomaly_scoring`.

    With `num_classes=K` the model is class-conditional: every block takes
    the class label y as an extra input, f(x, y), g(z, y), d(x, y) and
    D(μ, y), and the paper's equations hold with y beside x
    (`ava_keras.models.conditioning`, docs/design_choices.md). `fit` then
    takes `(images, labels)` batches (`ak.data.image_folder(...,
    labels="inferred")`) or `fit(images, labels)` with int labels, and the
    helpers take `labels=`: class indices or names, one for all images or
    one per image. An unconditional model ignores labels in `fit`, as Keras
    ignores unused targets, and refuses them in the helpers.

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
        frequency_reconstruction_weight: Weight of the focal frequency loss
            (Jiang et al. 2021, `ava_keras.losses.focal_frequency_loss`, with
            the likelihood's σ̂² under `"gaussian"`), added to R wherever R
            is (the decoder's objective only in `paper` routing). 0: none.
        augment_discriminator: Show d DiffAugment-ed real and decoded images
            while training (`ava_keras.layers.DiffAugment`).
        discriminator_prior_samples: d also judges decoded prior draws
            g(z_p), z_p ~ N(0, I) (Larsen et al. 2016): d's fake term and
            the decoder's A_d average over reconstructions and prior draws.
        adaptive_adversarial_weight: Multiply the decoder's A_d by
            λ = ‖∇_w L_rec‖ / (‖∇_w L_adv‖ + 1e-4), clipped to [0, 1e4], a
            constant, w the decoder's last layer's kernel (Esser et al.
            2021); logged as `adaptive_adversarial_weight`.
        decoder_adversarial_reaches_encoder: In `"joint"` routing, the
            encoder also minimises A_d through the decoder (eq. 3). False:
            only the decoder does, as Larsen et al. (2016) train their
            encoder without the GAN term (`"paper"` routing never lets it).
        discriminator_start_step: Before the decoder's optimizer has taken
            this many steps, every adversarial and leaning term is off and
            neither discriminator is updated: a VAE warm-up (0: none).
        latent_sampler_components: Components of the Gaussian mixture that
            `fit_latent_sampler` fits to the encoder's means (`latent_sampler`,
            or one mixture per class, `class_latent_samplers`).
        num_classes: None (default: unconditional) or the number of classes
            K ≥ 2 of a class-conditional model; the blocks must accept the
            label's inputs (`AVA.from_preset(..., num_classes=K)` builds them).
        class_names: Optional names of the K classes (e.g. the sub-folder
            names, `dataset.class_names`), for `sample(labels="cat")`;
            sets `num_classes` when that is None.
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
        frequency_reconstruction_weight=0.0,
        augment_discriminator=False,
        discriminator_prior_samples=False,
        adaptive_adversarial_weight=False,
        decoder_adversarial_reaches_encoder=True,
        discriminator_start_step=0,
        latent_sampler_components=LATENT_SAMPLER_COMPONENTS,
        seed=None,
        safety_checks=True,
        num_classes=None,
        class_names=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # === Config ===
        self.image_shape = check_image_shape(image_shape)
        self.num_classes, self.class_names = check_classes(num_classes, class_names)
        self.routing = check_choice("routing", routing, ROUTINGS)
        self.generator_loss = check_choice("generator_loss", generator_loss, GENERATOR_LOSSES)
        self.likelihood = losses.get_likelihood(likelihood).name
        self.latent_sampler_components = check_positive_int(
            "latent_sampler_components", latent_sampler_components
        )
        self.loss_weights_config = {
            name: check_non_negative(name, value)
            for name, value in (
                ("reconstruction_weight", reconstruction_weight),
                ("kl_weight", kl_weight),
                ("adversarial_weight", adversarial_weight),
                ("leaning_weight", leaning_weight),
                ("r1_weight", r1_weight),
                ("feature_reconstruction_weight", feature_reconstruction_weight),
                ("frequency_reconstruction_weight", frequency_reconstruction_weight),
            )
        }
        self.discriminator_prior_samples = bool(discriminator_prior_samples)
        self.adaptive_adversarial_weight = bool(adaptive_adversarial_weight)
        self.decoder_adversarial_reaches_encoder = bool(decoder_adversarial_reaches_encoder)
        self.discriminator_start_step = check_positive_int(
            "discriminator_start_step", discriminator_start_step, allow_zero=True
        )
        self.seed = seed
        self.safety_checks = bool(safety_checks)

        # === Blocks ===
        self.encoder = encoder
        self.decoder = decoder
        self.discriminator = discriminator
        check_feature_discriminator(self.loss_weights_config["feature_reconstruction_weight"], discriminator)
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
        self._create_trackers()
        self._create_fault_state()
        self._build_blocks()

    # === Construction ===

    @classmethod
    def from_preset(cls, preset, image_shape, networks="auto", discriminator="global", **kwargs):
        """Builds a model with the convolutional networks for `preset`.

        `preset` is one of `"vae"`, `"ava1"` ... `"ava5"` (see `PRESETS`).
        Only the discriminators the preset uses are built; build from `"ava5"`
        and call `set_variant` (or use `VariantSchedule`) to move between
        variants during training. `networks` (`"auto"`: `"small"`, the 28x28
        networks, up to 32 pixels a side, else `"scaled"`, sized to the image)
        and `discriminator` (`"global"` or
        `"patch"`) choose the networks, and the keyword arguments of
        `ava_keras.models.networks.NETWORK_OPTIONS` (`latent_dim`,
        `encoder_filters`, ..., `spectral_normalization`) adjust them (see
        `build_networks`). Other keyword arguments go to `AVA`; with
        `num_classes` (or `class_names`) the networks take the label too.
        """
        switches = get_switches(preset)
        blocks = build_networks(
            image_shape,
            networks,
            discriminator,
            with_discriminator=switches["decoder_discriminator"] or switches["decoder_leaning"],
            with_latent_discriminator=switches["encoder_discriminator"] or switches["encoder_leaning"],
            dtype=kwargs.get("dtype"),  # the networks follow the model's dtype policy
            num_classes=check_classes(kwargs.get("num_classes"), kwargs.get("class_names"))[0],
            **{name: kwargs.pop(name) for name in NETWORK_OPTIONS if name in kwargs},
        )
        return cls(image_shape=image_shape, **blocks, **switches, **kwargs)

    def _build_blocks(self):
        """Calls every block once on a batch of one blank image (of class 0), checking what it returns."""
        self._check_conditional_discriminator()
        images = ops.zeros((1,) + self.image_shape)
        labels = ops.zeros((1,), "int32") if self.conditional else None
        mean, log_var = check_encoder_outputs(self.encoder_outputs(images, labels))
        self.latent_dim = int(mean.shape[-1])
        self.sampling([mean, log_var])
        self._create_latent_samplers()
        check_decoder_outputs(self.decoder_outputs(mean, labels), self.image_shape)
        if self.discriminator is not None:
            self.discriminator_logits(images, labels)
        if self.latent_discriminator is not None:
            self.latent_discriminator_logits(mean, labels)
        self._create_anomaly_scorer()
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
            if value and getattr(self, SWITCH_BLOCKS[name]) is None:
                raise InputError(
                    f"Cannot turn on `{name}`: the model has no {SWITCH_BLOCKS[name]}. "
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

        An optimizer with `use_ema=True` keeps an exponential moving average
        of its block's weights, which the block takes at the end of `fit`
        (Keras' `use_ema` semantics; `finalize_variable_values`), e.g.
        `decoder_optimizer=keras.optimizers.Adam(1e-3, use_ema=True,
        ema_momentum=0.99)` samples from an average decoder. Keras' average
        has no bias correction and starts from the first step's weights, so
        `ema_momentum` must suit the number of steps: 0.999 over 600 steps
        keeps 0.999**599 ≈ 55% of the first step's weights; 0.99 suits
        hundreds of steps.
        """
        super().compile(optimizer=None, jit_compile=jit_compile, **check_compile_arguments(kwargs))
        self._auto_scale_loss = bool(auto_scale_loss)
        given = (encoder_optimizer, decoder_optimizer, discriminator_optimizer, latent_discriminator_optimizer)
        self._create_optimizers(
            dict(zip(BLOCKS, given)), scale_loss=self._auto_scale_loss and self.dtype_policy.name == "mixed_float16"
        )

    # === Forward pass and losses ===

    def call(self, inputs, training=False):
        """Deterministic reconstruction g(μ(x)); `inputs` are images, or `(images, labels)` when conditional."""
        images, labels = self._split_inputs(inputs)
        mean, _ = self.encoder_outputs(images, labels, training=training)
        return self.decoder_outputs(mean, labels, training=training)

    def compute_losses(self, images, labels=None, training=False):
        """One forward pass; returns each block's objective and the logged terms.

        Keys `encoder`, `decoder`, `discriminator`, `latent_discriminator`
        hold the objective each block's optimizer minimises (docs/design_choices.md);
        the other keys are the loss terms (`ava_keras.losses`) and the discriminators' mean
        outputs, unweighted, for logging. `labels`: int32 `(batch,)`, for a
        class-conditional model. See `ava_keras.models.objectives`.
        """
        return objectives.compute_losses(self, images, labels, training=training)

    # === Inference helpers ===

    def _run_batched(self, function, inputs, batch_size, labels=None):
        """`function(inputs_batch, labels_batch)` over batches, concatenated as numpy (labels None: None)."""
        inputs = np.asarray(inputs, dtype="float32")
        outputs = [
            function(inputs[i : i + batch_size], None if labels is None else labels[i : i + batch_size])
            for i in range(0, max(len(inputs), 1), batch_size)
        ]
        if isinstance(outputs[0], dict):
            return {k: np.concatenate([ops.convert_to_numpy(o[k]) for o in outputs]) for k in outputs[0]}
        if isinstance(outputs[0], (tuple, list)):
            return tuple(np.concatenate([ops.convert_to_numpy(o[k]) for o in outputs]) for k in range(len(outputs[0])))
        return np.concatenate([ops.convert_to_numpy(o) for o in outputs])

    def encode(self, images, labels=None, batch_size=256):
        """Returns `(mean, log_var)` of f(x|Θ) (f(x, y|Θ) given `labels`) as numpy arrays."""
        images = self._images_array(images, "encode")
        labels = self.labels_array(labels, len(images), "encode")
        return self._run_batched(lambda x, y: self.encoder_outputs(x, y), images, batch_size, labels)

    def decode(self, latents, labels=None, batch_size=256):
        """Returns g(z|Φ) (g(z, y|Φ) given `labels`) for latent vectors `(n, latent_dim)`, pixels in [0, 1]."""
        latents = check_latents(latents, self.latent_dim)
        labels = self.labels_array(labels, len(latents), "decode")
        return self._run_batched(lambda z, y: self.decoder_outputs(z, y), latents, batch_size, labels)

    def reconstruct(self, images, labels=None, batch_size=256):
        """Returns g(μ(x)): the deterministic reconstruction of `images` (given `labels` when conditional)."""
        images = self._images_array(images, "reconstruct")
        labels = self.labels_array(labels, len(images), "reconstruct")
        return self._run_batched(
            lambda x, y: self(x if y is None else (x, y), training=False), images, batch_size, labels
        )

    def discriminate(self, images, labels=None, batch_size=256):
        """Returns d(x) = sigmoid(logit) in [0, 1], shape `(n, 1)` (patches: `(n, h, w, 1)`).

        A class-conditional model gives d(x, y) for the given `labels`, or,
        with `labels=None`, the realism of each image under every class: the
        last axis holds one column per class, `(n, num_classes)` (patches:
        `(n, h, w, num_classes)`), column k being d(x, k).
        """
        if self.discriminator is None:
            raise InputError("This model has no discriminator (it was built without one).")
        images = self._images_array(images, "discriminate")
        if self.conditional and labels is None:
            return np.concatenate(
                [self.discriminate(images, labels=k, batch_size=batch_size) for k in range(self.num_classes)], axis=-1
            )
        labels = self.labels_array(labels, len(images), "discriminate")
        return self._run_batched(
            lambda x, y: ops.sigmoid(self.discriminator_logits(x, y)), images, batch_size, labels
        )

    # === Serialization ===

    def get_config(self):
        config = super().get_config()
        serialize = keras.saving.serialize_keras_object
        config.update({block: serialize(getattr(self, block)) for block in BLOCKS})
        config.update(
            {
                "image_shape": list(self.image_shape),
                "routing": self.routing,
                "generator_loss": self.generator_loss,
                "likelihood": self.likelihood,
                "augment_discriminator": self.augment_discriminator,
                "discriminator_prior_samples": self.discriminator_prior_samples,
                "adaptive_adversarial_weight": self.adaptive_adversarial_weight,
                "decoder_adversarial_reaches_encoder": self.decoder_adversarial_reaches_encoder,
                "discriminator_start_step": self.discriminator_start_step,
                "latent_sampler_components": self.latent_sampler_components,
                "seed": self.seed,
                "num_classes": self.num_classes,
                "class_names": None if self.class_names is None else list(self.class_names),
                **self.loss_weights_config,
                **self.variant,
            }
        )
        config["safety_checks"] = self.safety_checks
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for block in BLOCKS:
            if config.get(block) is not None:
                config[block] = keras.saving.deserialize_keras_object(config[block])
        return cls(**config)

