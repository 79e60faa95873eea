"""The names every part of ava_keras agrees on, in one light module.

Imports no TensorFlow or Keras, so the command line and the experiments
answer `--help` at once; the models, losses and data pipelines import their
choices from here too, so each list is written exactly once. It imports
nothing from ava_keras either: it is the bottom of the package's imports.
"""

# The model variants of `AVA.from_preset` (ava_keras.models.presets.PRESETS).
PRESET_NAMES = ("vae", "ava1", "ava2", "ava3", "ava4", "ava5")
# The four trainable blocks of an AVA model, each with its own optimizer.
BLOCKS = ("encoder", "decoder", "discriminator", "latent_discriminator")
# The four switches that choose an AVA variant, and the block each one needs
# (and whose update it gates).
SWITCHES = ("decoder_discriminator", "decoder_leaning", "encoder_discriminator", "encoder_leaning")
SWITCH_BLOCKS = {
    "decoder_discriminator": "discriminator",
    "decoder_leaning": "discriminator",
    "encoder_discriminator": "latent_discriminator",
    "encoder_leaning": "latent_discriminator",
}
# Gradient routing of `AVA`: every block minimises its full objective through
# every path, or the paper's update rules (docs/design_choices.md).
ROUTINGS = ("joint", "paper")
# The reconstruction likelihoods of ava_keras.losses.reconstruction_loss.
LIKELIHOODS = ("paper", "bernoulli", "gaussian")
# The encoder's and decoder's adversarial terms (ava_keras.losses.generator_loss).
GENERATOR_LOSSES = ("minimax", "non_saturating")
# tf.distribute strategies of ava_keras.distribute.make_strategy.
STRATEGIES = ("none", "mirrored", "multiworker")
# Keras dtype policies `ava-keras train --precision` accepts.
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
# How ava_keras.data fits an image to the requested size.
RESIZE_MODES = ("stretch", "crop", "pad")
# File name endings ava_keras.data reads as images.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
# Components of the Gaussian mixture `AVA.fit_latent_sampler` fits (per class, for a class-conditional model).
LATENT_SAMPLER_COMPONENTS = 10
# Per-image anomaly terms (ava_keras.layers.AnomalyScorer, docs/anomaly.md).
ANOMALY_TERMS = ("reconstruction", "kl", "realism", "latent_realism")
# The networks of `AVA.from_preset` (ava_keras.models.networks.build_networks): the small 28x28
# ones, ones whose depth, widths and latent size follow the image size, or "auto": small up to
# SMALL_NETWORKS_MAX_SIDE pixels on the longer side, scaled above (docs/quality.md).
NETWORKS = ("auto", "small", "scaled")
SMALL_NETWORKS_MAX_SIDE = 32
# The "small" family: the 28x28 networks `AVA.from_preset` has always built.
SMALL_NETWORKS = {
    "latent_dim": 32,
    "encoder_filters": (32, 64),
    "decoder_filters": (64, 32),
    "discriminator_filters": (32, 64),
    "latent_discriminator_units": (64, 64),
    "hidden_units": 128,
    "normalization": None,
}
# The decoder discriminator d of `AVA.from_preset`: one logit per image, or one per patch.
DISCRIMINATORS = ("global", "patch")
# Feature normalisation of the convolutional encoder and decoder (None: none).
NORMALIZATIONS = ("group",)
# How ava_keras.layers.ConvDecoder doubles the spatial size.
UPSAMPLINGS = ("transpose", "resize")
