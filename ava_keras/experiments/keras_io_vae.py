"""The keras.io VAE ("Variational AutoEncoder", fchollet), the baseline users would pick instead.

Its code, with two sizes made parameters so that the quality benchmark can
give it the same networks as AVA: the encoder's hidden units (keras.io: 16)
and the latent size (keras.io: 2). Encoder: Conv32-Conv64 (3x3, stride 2,
ReLU), Flatten, Dense(hidden, ReLU), then z_mean and z_log_var heads;
decoder: Dense to an (H/4, W/4, 64) map, ConvTranspose 64 and 32 (stride 2,
ReLU), ConvTranspose to the image's channels with a sigmoid, cropped to the
image size. Loss: binary cross-entropy summed over pixels plus KL, one Adam
optimizer (keras.io's default learning rate), z sampled from N(0, I).
"""

import math

import keras
import tensorflow as tf
from keras import ops


class KerasIOVAE(keras.Model):
    """The keras.io VAE with `sample` and `reconstruct` as `ava_keras.AVA` has them.

    Args:
        image_shape: `(height, width, channels)`.
        latent_dim: Size of z (keras.io: 2).
        hidden_units: Units of the encoder's dense layer (keras.io: 16).
        seed: Seed of the sampling noise.
    """

    def __init__(self, image_shape, latent_dim=2, hidden_units=16, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        height, width, channels = self.image_shape
        inputs = keras.Input(self.image_shape)
        x = keras.layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(inputs)
        x = keras.layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(x)
        x = keras.layers.Flatten()(x)
        x = keras.layers.Dense(hidden_units, activation="relu")(x)
        self.encoder = keras.Model(inputs, [keras.layers.Dense(latent_dim)(x), keras.layers.Dense(latent_dim)(x)])

        seed_h, seed_w = math.ceil(height / 4), math.ceil(width / 4)
        latents = keras.Input((latent_dim,))
        x = keras.layers.Dense(seed_h * seed_w * 64, activation="relu")(latents)
        x = keras.layers.Reshape((seed_h, seed_w, 64))(x)
        x = keras.layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(x)
        x = keras.layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(x)
        x = keras.layers.Conv2DTranspose(channels, 3, activation="sigmoid", padding="same")(x)
        x = keras.layers.Cropping2D(((0, seed_h * 4 - height), (0, seed_w * 4 - width)))(x)
        self.decoder = keras.Model(latents, x)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("loss", "reconstruction", "kl")}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def train_step(self, data):
        if isinstance(data, (tuple, list)):
            data = data[0]
        with tf.GradientTape() as tape:
            z_mean, z_log_var = self.encoder(data)
            z = z_mean + ops.exp(0.5 * z_log_var) * keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
            reconstruction = self.decoder(z)
            reconstruction_loss = ops.mean(
                ops.sum(keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2))
            )
            kl_loss = ops.mean(ops.sum(-0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var)), axis=1))
            total_loss = reconstruction_loss + kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        for name, value in (("loss", total_loss), ("reconstruction", reconstruction_loss), ("kl", kl_loss)):
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def reconstruct(self, images, batch_size=256):
        """g(μ(x)) as a numpy array."""
        means = self.encoder.predict(images, batch_size=batch_size, verbose=0)[0]
        return self.decoder.predict(means, batch_size=batch_size, verbose=0)

    def sample(self, n, seed=None):
        """Decodes `n` draws z ~ N(0, I), as keras.io does."""
        latents = ops.convert_to_numpy(keras.random.normal((n, self.latent_dim), seed=seed))
        return self.decoder.predict(latents, batch_size=256, verbose=0)
