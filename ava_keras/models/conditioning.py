"""The label path of a class-conditional AVA: every block sees the class label as an extra input.

Conditioning (docs/design_choices.md, choice 20): the encoder f(x, y|Θ)
reads the one-hot label as extra constant image channels, the decoder
g(z, y|Φ) and the latent discriminator D(μ, y|Λ) read it concatenated to
their input vector (a conditional VAE, Sohn et al. 2015), and the image
discriminator d(x, y|Ψ) is a projection discriminator (Miyato & Koyama
2018; `ava_keras.layers.Discriminator(num_classes=K)`). The paper's
equations hold with y an extra input of every block. An unconditional model
(`num_classes=None`) has no label path: each method calls its block on its
input alone.
"""

import numpy as np
import tensorflow as tf
from keras import ops

from ava_keras._validation import (
    dataset_labels_message,
    label_range_message,
    label_shape_message,
    missing_labels_message,
    unconditional_labels_message,
    unknown_class_message,
)
from ava_keras.errors import InputError


class LabelConditioning:
    """The blocks of `ava_keras.AVA` run on a batch and its labels (a mixin of `keras.Model`).

    Needs `num_classes` (None for an unconditional model), `class_names` and
    the four blocks. Each method takes tensors and returns tensors; `labels`
    are int class indices `(batch,)`, required when `num_classes` is set.
    """

    @property
    def conditional(self):
        """Whether the model is class-conditional (`num_classes` is set)."""
        return self.num_classes is not None

    def _split_inputs(self, inputs):
        """`(images, labels)` of the model's inputs: images (labels None), or `(images, labels)` when conditional."""
        if not self.conditional:
            return inputs, None
        if not (isinstance(inputs, (tuple, list)) and len(inputs) == 2):
            raise InputError(missing_labels_message("calling the model", self.num_classes))
        return inputs

    def encoder_outputs(self, images, labels=None, training=False):
        """`(mean, log_var)` of f(x, y|Θ) (eq. 1)."""
        return self.encoder(self._with_label_channels(images, labels), training=training)

    def decoder_outputs(self, latents, labels=None, training=False):
        """g(z, y|Φ) (eq. 1): images in [0, 1]."""
        return self.decoder(self._with_label_vector(latents, labels), training=training)

    def discriminator_logits(self, images, labels=None, training=False):
        """The logit of d(x, y|Ψ) (eqs. 2-4): `(batch, 1)`, or one per patch."""
        if not self.conditional:
            return self.discriminator(images, training=training)
        return self.discriminator(images, labels, training=training)  # projection: logit + ⟨embed(y), φ(x)⟩

    def latent_discriminator_logits(self, means, labels=None, training=False):
        """The logit of D(μ, y|Λ) (eqs. 11-13): `(batch, 1)`."""
        return self.latent_discriminator(self._with_label_vector(means, labels), training=training)

    def _one_hot(self, labels, dtype):
        return ops.one_hot(ops.cast(labels, "int32"), self.num_classes, dtype=dtype)

    def _with_label_channels(self, images, labels):
        """`images` with the one-hot label appended as `num_classes` constant channels."""
        if not self.conditional:
            return images
        shape = ops.shape(images)
        maps = ops.broadcast_to(
            self._one_hot(labels, images.dtype)[:, None, None, :], (shape[0], shape[1], shape[2], self.num_classes)
        )
        return ops.concatenate([images, maps], axis=-1)

    def _with_label_vector(self, vectors, labels):
        """`vectors` with the one-hot label appended."""
        if not self.conditional:
            return vectors
        return ops.concatenate([vectors, self._one_hot(labels, vectors.dtype)], axis=-1)

    def _check_conditional_discriminator(self):
        """Raises unless d's `num_classes` is the model's (a projection d needs the same classes)."""
        if self.discriminator is None:
            return
        classes = getattr(self.discriminator, "num_classes", None)
        if classes != self.num_classes:
            raise InputError(
                f"The discriminator must be built for the model's classes: num_classes={self.num_classes}, but "
                f"the discriminator has num_classes={classes}. Build it as ak.layers.Discriminator(..., "
                f"num_classes={self.num_classes}) (AVA.from_preset(..., num_classes=...) does)."
            )

    # === Labels given by the user ===

    def labels_array(self, labels, n, method="this method"):
        """`labels` as an int32 array `(n,)` of class indices, checked; None for an unconditional model.

        `labels` is one class for every image, or one per image: ints, or text
        (`class_index`: class names, or indices as digits). Raises an InputError naming the fix for
        missing labels (conditional model), any labels (unconditional model),
        unknown names, a wrong count or out-of-range indices.
        """
        what = f"`{method}`"
        if not self.conditional:
            if labels is not None:
                raise InputError(unconditional_labels_message(what))
            return None
        if labels is None:
            raise InputError(missing_labels_message(what, self.num_classes))
        array = np.asarray(labels)
        if array.dtype.kind in "US":
            array = np.vectorize(self.class_index, otypes=["int64"])(array) if array.size else array.astype("int64")
        if array.dtype.kind not in "iu" or array.ndim > 2 or (array.ndim == 2 and array.shape[1] != 1):
            raise InputError(label_shape_message(f"{array.shape} and dtype {array.dtype}"))
        array = np.broadcast_to(array, (n,)) if array.ndim == 0 else array.reshape(-1)
        if len(array) != n:
            raise InputError(f"{what} got {len(array)} labels for {n} images: pass one label, or one per image.")
        if n and (array.min() < 0 or array.max() >= self.num_classes):
            raise InputError(label_range_message(array.min(), array.max(), self.num_classes))
        return array.astype("int32")

    def class_index(self, name):
        """The index of the class named `name` (text): a class name, else an index as digits (`"3"`).

        A name comes first, so with classes named by digits (sub-folders
        `0/` ... `9/`) `"3"` is the class named 3. Raises an InputError naming
        the model's classes. The CLI's `--label` reads its text with this.
        """
        if not self.conditional:
            raise InputError(unconditional_labels_message("`class_index`"))
        name = str(name)
        if self.class_names is not None and name in self.class_names:
            return self.class_names.index(name)
        if name.isdecimal() and int(name) < self.num_classes:
            return int(name)
        raise InputError(unknown_class_message(name, self.class_names, self.num_classes))

    def _label_batch(self, data, method):
        """The labels of a batch `data` (`(images, labels, ...)` or images) as int32 `(batch,)`, in the graph.

        None for an unconditional model, which ignores labels as Keras models
        ignore unused targets.
        """
        if not self.conditional:
            return None
        if not isinstance(data, (tuple, list)) or len(data) < 2 or data[1] is None:
            raise InputError(missing_labels_message(f"`{method}`", self.num_classes))
        labels = data[1]
        shape = tuple(labels.shape)
        if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1) or not labels.dtype.is_integer:
            raise InputError(label_shape_message(f"{shape} and dtype {labels.dtype.name}"))
        return ops.reshape(ops.cast(labels, "int32"), (-1,))

    def _first_images(self, images, labels, max_images, method):
        """The first `max_images` images (numpy) and their labels: `labels`, or a dataset's own.

        `images` is an array or a `tf.data.Dataset` of batches of images or of
        `(images, labels, ...)` tuples; an unconditional model ignores a
        dataset's labels.
        """
        if not isinstance(images, tf.data.Dataset):
            return np.asarray(images)[:max_images], None if labels is None else np.asarray(labels)[:max_images]
        if labels is not None:
            raise InputError(dataset_labels_message(f"`{method}`"))
        first = next(iter(images.unbatch().batch(max_images).take(1)), None)
        if first is None:
            return np.zeros((0,) + self.image_shape, "float32"), None
        return self._batch_arrays(first)

    def _batch_arrays(self, batch):
        """A dataset element (images, or `(images, labels, ...)`) as numpy `(images, labels)`; the labels are
        None for an unconditional model or an element without them."""
        if not isinstance(batch, (tuple, list)):
            return batch.numpy(), None
        return batch[0].numpy(), batch[1].numpy() if self.conditional and len(batch) > 1 else None
