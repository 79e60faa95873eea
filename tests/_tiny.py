"""Tiny seeded AVA models and data shared by the model tests."""

import keras
import numpy as np

import ava_keras as ak

IMAGE_SHAPE = (8, 8, 1)
LATENT_DIM = 3


def tiny_model(preset="ava5", **kwargs):
    """An AVA with every block (built from `preset`'s networks) and few weights."""
    kwargs.setdefault("seed", 0)
    return ak.AVA.from_preset(
        preset,
        image_shape=IMAGE_SHAPE,
        latent_dim=LATENT_DIM,
        encoder_filters=(4,),
        decoder_filters=(4,),
        discriminator_filters=(4,),
        latent_discriminator_units=(4,),
        hidden_units=8,
        **kwargs,
    )


def sgd_compile(model, learning_rate=1.0):
    """Plain SGD for every block: a step moves each weight by −learning_rate · gradient."""
    model.compile(
        encoder_optimizer=keras.optimizers.SGD(learning_rate),
        decoder_optimizer=keras.optimizers.SGD(learning_rate),
        discriminator_optimizer=keras.optimizers.SGD(learning_rate),
        latent_discriminator_optimizer=keras.optimizers.SGD(learning_rate),
    )
    return model


def tiny_images(n=4, seed=0):
    return np.random.default_rng(seed).random((n,) + IMAGE_SHAPE).astype("float32")


def block_weights(model):
    """{block: [numpy arrays]} for every block the model has."""
    blocks = ("encoder", "decoder", "discriminator", "latent_discriminator")
    return {
        b: [v.numpy().copy() for v in getattr(model, b).trainable_variables]
        for b in blocks
        if getattr(model, b) is not None
    }


def peek_noise(model, batch_size, draws=1):
    """The noise the model's next sampling draw will use (a list of the next `draws`), without consuming it."""
    generator = model.sampling.seed_generator
    state = generator.state.numpy().copy()
    noises = [keras.random.normal((batch_size, model.latent_dim), seed=generator).numpy() for _ in range(draws)]
    generator.state.assign(state)
    return noises[0] if draws == 1 else noises
