"""Image discriminator d(x | Ψ): image -> realism logit."""

import keras
from keras import ops

from ava_keras._validation import check_classes, check_filters, check_positive_int
from ava_keras.errors import InputError


@keras.saving.register_keras_serializable(package="ava_keras")
class Discriminator(keras.layers.Layer):
    """Decoder discriminator d(x | Ψ) of eqs. 2-4: strided convolutions, one logit.

    It returns the logit `net_d`; the probability that an image is real is
    `d(x) = sigmoid(net_d)` (a_d is the sigmoid). The losses in
    `ava_keras.losses` take logits so that saturated outputs stay finite.

    With `num_classes`, d(x, y) is a projection discriminator (Miyato &
    Koyama 2018): logit = ψ(φ(x)) + ⟨embed(y), φ(x)⟩, φ the features
    before the output unit, embed a learned vector per class.

    Args:
        filters: Filter counts of the stride-2 convolutions.
        kernel_size: Convolution kernel size.
        dropout: Dropout rate before the output unit (0 for none).
        spectral_normalization: Divide every weight matrix by its largest
            singular value, estimated by power iteration (Miyato et al. 2018),
            so that d is roughly 1-Lipschitz.
        num_classes: None (default) or the number of classes K of a
            class-conditional d, which then needs `labels`.
        **kwargs: Base layer keyword arguments, such as `name`.

    Call arguments:
        inputs: Images of shape `(batch, height, width, channels)`.
        labels: Int class indices `(batch,)`, for a class-conditional d.
        training: Python bool; enables dropout.

    Output shape:
        `(batch, 1)` logits.

    Example:

    >>> logits = Discriminator(filters=(16, 32))(keras.ops.zeros((2, 28, 28, 1)))

    Reference:
        Nguyen (2023), eqs. 2, 4 and 7; Miyato & Koyama (2018), eq. 3.
    """

    def __init__(self, filters=(32, 64), kernel_size=3, dropout=0.0, spectral_normalization=False, num_classes=None,
                 **kwargs):
        super().__init__(**kwargs)
        # === Config ===
        self.filters = check_filters("filters", filters)
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        if not 0.0 <= float(dropout) < 1.0:
            raise InputError(f"`dropout` must be in [0, 1). Received: dropout={dropout!r}")
        self.dropout = float(dropout)
        self.spectral_normalization = bool(spectral_normalization)
        self.num_classes = check_classes(num_classes, None)[0]

        # === Layers ===
        self.conv_layers = [
            self._normalized(
                keras.layers.Conv2D(
                    n, self.kernel_size, strides=2, padding="same", name=f"conv_{i}", dtype=self.dtype_policy
                )
            )
            for i, n in enumerate(self.filters)
        ]
        self.activation_layer = keras.layers.LeakyReLU(
            negative_slope=0.2, name="leaky_relu", dtype=self.dtype_policy
        )
        self.flatten = keras.layers.Flatten(name="flatten", dtype=self.dtype_policy)
        self.dropout_layer = keras.layers.Dropout(self.dropout, name="dropout", dtype=self.dtype_policy)
        self.logit = self._normalized(self._logit_layer())

    def _logit_layer(self):
        """The output unit: one logit from the flattened features."""
        return keras.layers.Dense(1, name="logit", dtype=self.dtype_policy)

    def _normalized(self, layer):
        if not self.spectral_normalization:
            return layer
        return keras.layers.SpectralNormalization(layer, name=f"spectral_{layer.name}", dtype=self.dtype_policy)

    def _build_convolutions(self, input_shape):
        """Builds the convolutions for `input_shape`; returns the shape of their last feature map."""
        if len(input_shape) != 4:
            raise InputError(
                f"{type(self).__name__} expects images of shape (batch, height, width, "
                f"channels). Received: input_shape={input_shape}"
            )
        shape = input_shape
        for layer in self.conv_layers:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        return shape

    def build(self, inputs_shape, labels_shape=None):
        shape = self.flatten.compute_output_shape(self._build_convolutions(inputs_shape))
        self.logit.build(shape)
        self._build_projection(shape[-1])
        self.built = True

    def _build_projection(self, features):
        """Builds embed(y), one vector of `features` values per class (class-conditional d only)."""
        self.class_embedding = None
        if self.num_classes is not None:
            self.class_embedding = keras.layers.Embedding(
                self.num_classes, features, name="class_embedding", dtype=self.dtype_policy
            )
            self.class_embedding.build((None,))

    def _projected(self, logits, features, labels):
        """`logits` + ⟨embed(y), φ⟩ over the last axis of `features` (every position of a feature map)."""
        if self.num_classes is None:
            if labels is not None:
                raise InputError(f"This {type(self).__name__} has no num_classes, so it takes no `labels`.")
            return logits
        if labels is None:
            raise InputError(
                f"This {type(self).__name__} is class-conditional (num_classes={self.num_classes}): pass `labels`."
            )
        embedded = self.class_embedding(ops.reshape(ops.cast(labels, "int32"), (-1,)))
        embedded = ops.reshape(embedded, (-1,) + (1,) * (len(features.shape) - 2) + (features.shape[-1],))
        return logits + ops.sum(embedded * features, axis=-1, keepdims=True)

    def _feature_map(self, inputs, training=False):
        """The last convolution's activations, `(batch, h, w, filters[-1])`."""
        x = inputs
        for layer in self.conv_layers:
            x = self.activation_layer(layer(x, training=training))
        return x

    def features(self, inputs, training=False):
        """The last convolution's activations, flattened: `(batch, features)`.

        The representation Dis_l(x) that feature-wise reconstruction
        compares (Larsen et al. 2016, eq. 7; `AVA(feature_reconstruction_weight=...)`).
        """
        return self.flatten(self._feature_map(inputs, training=training))

    def call(self, inputs, labels=None, training=False):
        x = self.dropout_layer(self.features(inputs, training=training), training=training)
        return self._projected(self.logit(x, training=training), x, labels)

    def compute_output_shape(self, inputs_shape, labels_shape=None):
        return (inputs_shape[0], 1)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": list(self.filters),
                "kernel_size": self.kernel_size,
                "dropout": self.dropout,
                "spectral_normalization": self.spectral_normalization,
                "num_classes": self.num_classes,
            }
        )
        return config
