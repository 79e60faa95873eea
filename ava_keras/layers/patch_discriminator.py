"""Patch discriminator d(x | Ψ): image -> one realism logit per patch."""

import keras

from ava_keras.layers.discriminator import Discriminator


@keras.saving.register_keras_serializable(package="ava_keras")
class PatchDiscriminator(Discriminator):
    """Decoder discriminator d(x | Ψ) that judges every patch of an image.

    The convolutions of `Discriminator`, then a stride-1 convolution to one
    logit per position of the last feature map (a PatchGAN, Isola et al.
    2017): each logit judges the patch in its receptive field, so d rewards
    sharp local texture instead of one global impression. The loss terms
    of `ava_keras.losses` average over the patches as over the batch, and
    a per-image score (`AVA.anomaly_scores`' realism) is the mean patch logit.
    With `num_classes`, each patch's logit gains the projection term
    ⟨embed(y), φ⟩ of its position's features φ (Miyato & Koyama 2018).

    Args:
        filters: Filter counts of the stride-2 convolutions; each halves the
            logit map and doubles the patch a logit sees.
        kernel_size: Convolution kernel size.
        dropout: Dropout rate before the logit convolution (0 for none).
        spectral_normalization: Spectrally normalised weights (Miyato et al.
            2018), as in `Discriminator`.
        num_classes: None (default) or the number of classes K of a
            class-conditional d, which then needs `labels`.
        **kwargs: Base layer keyword arguments, such as `name`.

    Call arguments:
        inputs: Images of shape `(batch, height, width, channels)`.
        labels: Int class indices `(batch,)`, for a class-conditional d.
        training: Python bool; enables dropout.

    Output shape:
        `(batch, ceil(height / 2**n), ceil(width / 2**n), 1)` logits,
        `n = len(filters)`.

    Example:

    >>> logits = PatchDiscriminator(filters=(16, 32))(keras.ops.zeros((2, 64, 64, 3)))
    >>> logits.shape
    TensorShape([2, 16, 16, 1])

    Reference:
        Nguyen (2023), eqs. 2, 4 and 7; Isola et al. (2017), section 3.2.2.
    """

    def _logit_layer(self):
        """The output unit: one logit per position of the last feature map."""
        return keras.layers.Conv2D(1, self.kernel_size, padding="same", name="logit", dtype=self.dtype_policy)

    def build(self, inputs_shape, labels_shape=None):
        shape = self._build_convolutions(inputs_shape)
        self.logit.build(shape)
        self._build_projection(shape[-1])
        self.built = True

    def call(self, inputs, labels=None, training=False):
        x = self.dropout_layer(self._feature_map(inputs, training=training), training=training)
        return self._projected(self.logit(x, training=training), x, labels)

    def compute_output_shape(self, inputs_shape, labels_shape=None):
        shape = inputs_shape
        for layer in self.conv_layers:
            shape = layer.compute_output_shape(shape)
        return shape[:3] + (1,)
