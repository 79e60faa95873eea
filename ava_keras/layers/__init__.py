"""Keras layers of the AVA model, usable in any Functional or Sequential model."""

from ava_keras.layers.anomaly_scorer import AnomalyScorer
from ava_keras.layers.conv_decoder import ConvDecoder
from ava_keras.layers.conv_encoder import ConvEncoder
from ava_keras.layers.diff_augment import DiffAugment
from ava_keras.layers.discriminator import Discriminator
from ava_keras.layers.gaussian_mixture import GaussianMixture
from ava_keras.layers.latent_discriminator import LatentDiscriminator
from ava_keras.layers.patch_discriminator import PatchDiscriminator
from ava_keras.layers.sampling import Sampling

__all__ = ["AnomalyScorer", "ConvDecoder", "ConvEncoder", "DiffAugment", "Discriminator", "GaussianMixture", "LatentDiscriminator", "PatchDiscriminator", "Sampling"]
