"""Argument checks shared by the layers, the model, the data pipelines, the callbacks and the metrics.

Each check returns the value in a canonical form or raises an
`ava_keras.errors.InputError` (a `ValueError`) that quotes the argument.
Imports no TensorFlow (Keras only inside `check_activation`).
"""

import os

import numpy as np

from ava_keras.constants import RESIZE_MODES
from ava_keras.errors import InputError

# === Numbers ===


def check_positive_int(name, value, allow_zero=False):
    """Returns `value` (an int or numpy integer, not a bool) as an int ≥ 1 (≥ 0 with `allow_zero`)."""
    lowest = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lowest:
        raise InputError(positive_int_message(name, repr(value), allow_zero))
    return int(value)


def positive_int_message(name, received, allow_zero=False, maximum=None):
    """The message for `name` (given as the text `received`) not being an integer ≥ 1 (≥ 0), ≤ `maximum`."""
    kind = "a non-negative" if allow_zero else "a positive"
    bound = "" if maximum is None else f" no larger than {maximum}"
    return f"`{name}` must be {kind} integer{bound}. Received: {name}=" + received


def check_filters(name, filters, allow_empty=False):
    """Returns `filters` (an int or a sequence of positive ints) as a tuple."""
    if isinstance(filters, int):
        filters = (filters,)
    try:
        filters = tuple(filters)
    except TypeError:
        raise InputError(
            f"`{name}` must be a sequence of positive integers. Received: {name}={filters!r}"
        ) from None
    if not filters and not allow_empty:
        raise InputError(f"`{name}` must not be empty. Received: {name}={filters!r}")
    for value in filters:
        check_positive_int(name, value)
    return filters


def check_non_negative(name, value):
    """Returns `value` (an int or float, not a bool) as a float ≥ 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise InputError(f"`{name}` must be a non-negative number. Received: {name}={value!r}")
    return float(value)


def check_choice(name, value, choices):
    """Returns `value` if it is one of `choices`."""
    if value not in choices:
        raise InputError(f"`{name}` must be one of {choices}. Received: {name}={value!r}")
    return value


# === Layers ===


def check_activation(activation):
    """Returns a Keras activation in serializable form: a name as given, a callable serialized.

    Accepts what `keras.activations.get` accepts: a name such as `"relu"`, a
    built-in activation function, or a function registered with
    `keras.saving.register_keras_serializable` (so `get_config` can save it).
    """
    import keras

    try:
        function = keras.activations.get(activation)
    except ValueError as error:
        raise InputError(f"Unknown activation: activation={activation!r}") from error
    if isinstance(activation, str):
        return activation
    try:
        serialized = keras.activations.serialize(function)
        if keras.activations.get(serialized) is not function:
            raise ValueError("does not deserialize to itself")
    except Exception:  # e.g. a lambda: Keras cannot name it
        raise InputError(
            "`activation` must be the name of a Keras activation, such as 'relu', or a function registered "
            f"with keras.saving.register_keras_serializable. Received: activation={activation!r}"
        ) from None
    return serialized


def check_image_shape(image_shape):
    """Returns `image_shape` as a `(height, width, channels)` tuple of ints, with 1 or 3 channels."""
    try:
        shape = tuple(int(v) for v in image_shape)
    except (TypeError, ValueError):
        raise InputError(
            "`image_shape` must be (height, width, channels). "
            f"Received: image_shape={image_shape!r}"
        ) from None
    if len(shape) != 3 or min(shape) < 1 or shape[2] not in (1, 3):
        raise InputError(
            "`image_shape` must be (height, width, channels) with positive sizes "
            f"and 1 or 3 channels. Received: image_shape={image_shape!r}"
        )
    return shape


def check_image_batch_shape(shape, image_shape):
    """Raises unless `shape` is `(batch,) + image_shape` (`None` matches any size)."""
    shape = tuple(shape)
    if len(shape) != 4 or any(got is not None and got != want for got, want in zip(shape[1:], image_shape)):
        raise InputError(image_shape_message(image_shape, str(shape)))


# === Blocks (the model's construction) ===


def check_encoder_outputs(outputs):
    """Returns the encoder's `(mean, log_var)`: two tensors of one shape `(batch, latent_dim)`."""
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
    return mean, log_var


def check_decoder_outputs(images, image_shape):
    """Raises unless the decoder's `images` have shape `(batch,) + image_shape`."""
    if tuple(images.shape[1:]) != tuple(image_shape):
        raise InputError(
            f"The decoder returns images of shape {tuple(images.shape[1:])}, but image_shape={tuple(image_shape)}."
        )


def check_compile_arguments(kwargs):
    """Returns `AVA.compile`'s other keyword arguments without `optimizer` and `loss`, which must be None."""
    for unused in ("optimizer", "loss"):
        if kwargs.get(unused) is not None:
            raise InputError(
                f"AVA.compile takes one optimizer per block, not `{unused}`: use "
                "encoder_optimizer=, decoder_optimizer=, discriminator_optimizer=, "
                "latent_discriminator_optimizer=."
            )
    return {name: value for name, value in kwargs.items() if name not in ("optimizer", "loss")}


def check_feature_discriminator(feature_reconstruction_weight, discriminator):
    """Raises if `feature_reconstruction_weight` > 0 but `discriminator` has no `features` method."""
    if feature_reconstruction_weight > 0 and not hasattr(discriminator, "features"):
        raise InputError(
            "`feature_reconstruction_weight` > 0 compares images in d's features, so it needs a "
            "`discriminator` with a `features(images)` method (such as ava_keras.layers.Discriminator, "
            f"built by presets ava1-ava5). Received: discriminator={discriminator!r}"
        )


# === Image files ===


def check_image_size(image_size):
    """Returns `image_size` (an int or a `(height, width)` pair) as a pair of ints."""
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        image_size = (int(image_size), int(image_size))
    try:
        height, width = (int(v) for v in image_size)
        valid = all(
            not isinstance(v, bool) and float(v) == int(v) for v in image_size
        ) and min(height, width) >= 1
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise InputError(
            "`image_size` must be a positive integer or a (height, width) pair of "
            f"positive integers. Received: image_size={image_size!r}"
        )
    return height, width


def check_channels(channels):
    """Returns `channels` if it is 1 or 3."""
    if channels not in (1, 3) or isinstance(channels, bool):
        raise InputError(f"`channels` must be 1 or 3. Received: channels={channels!r}")
    return channels


def check_resize(resize):
    """Returns `resize` if it is one of `RESIZE_MODES`."""
    return check_choice("resize", resize, RESIZE_MODES)


def check_file_not_empty(path):
    """Returns `path` as a string if the file is not empty (0 bytes)."""
    path = os.fspath(path)
    if os.path.getsize(path) == 0:
        raise InputError(f"{path}: empty file (0 bytes)")
    return path


def unreadable_image(path, error):
    """The InputError for an image file Pillow failed to read with `error`, naming the file."""
    reason = " ".join(str(error).replace(repr(path), "").replace(path, "").split())
    return InputError(f"{path}: cannot read image ({reason or type(error).__name__})")


# === Model inputs (the model's methods and the SavedModel export) ===
#
# The messages take their numbers as text and their choices through `where`,
# so the export builds the same words from tensors in the graph
# (`text=tf.strings.as_string`, `where=tf.where`).


def _python_where(condition, yes, no):
    return yes if condition else no


def _python_text(value):
    return str(int(value)) if isinstance(value, (int, np.integer)) else f"{value:g}"


def bad_images_message(nonfinite, low, high, exported=False, text=_python_text, where=_python_where):
    """What is wrong with a batch of images outside [0, 1], and how to fix it.

    Args:
        nonfinite: The number of NaN and inf values.
        low, high: The lowest and highest finite value (inf and -inf if none is finite).
        exported: Advice for the SavedModel export, which takes float32
            images only, instead of the model's methods.
        text, where: Turn a number into text and choose between two texts.
    """
    values = "values from " + text(low) + " to " + text(high)
    finite_values = where(low <= high, " and finite " + values, "")
    problem = where(nonfinite > 0, text(nonfinite) + " non-finite value(s) (NaN or inf)" + finite_values, values)
    if exported:
        fix = "divide 0-255 pixels by 255 or map [-1, 1] data with (x + 1) / 2 (the export takes float32 images)."
    else:
        fix = (
            "divide 0-255 pixels by 255 (uint8 arrays are divided for you) or map [-1, 1] data with (x + 1) / 2; "
            "or load image files with ak.data.image_folder, which scales them for you."
        )
    return (
        "AVA expects images with finite values in [0, 1], but a batch has "
        + problem
        + ". Replace NaN and inf values; "
        + fix
    )


def nonfinite_latents_message(nonfinite, text=_python_text):
    """The message for latent vectors with `nonfinite` NaN or inf values."""
    return (
        "AVA expects latent vectors with finite values, but a batch has "
        + text(nonfinite)
        + " non-finite value(s) (NaN or inf). Replace NaN and inf values."
    )


def image_shape_message(image_shape, received):
    """The message for images of shape `received` (text) where `(batch,) + image_shape` was expected."""
    return (
        f"Expected images of shape (batch, {', '.join(map(str, image_shape))}) (the image_shape of the model), got "
        + received
        + ". Resize the data or build the model with a matching image_shape."
    )


def check_latents(latents, latent_dim):
    """Returns `latents` as a finite float32 array `(n, latent_dim)`."""
    latents = np.asarray(latents, dtype="float32")
    if latents.ndim != 2 or latents.shape[1] != latent_dim:
        raise InputError(latent_shape_message(latent_dim, str(latents.shape)))
    nonfinite = np.count_nonzero(~np.isfinite(latents))
    if nonfinite:
        raise InputError(nonfinite_latents_message(nonfinite))
    return latents


def latent_shape_message(latent_dim, received):
    """The message for latent vectors of shape `received` (text) where `(n, latent_dim)` was expected."""
    return f"Expected latent vectors of shape (n, {latent_dim}), got " + received + "."


def empty_input_message(what):
    """The message for `what` (e.g. "`encode`") getting no images."""
    return f"{what} got no images (the input is empty). Pass at least one image."


# === Class labels (class-conditional models) ===


def check_classes(num_classes, class_names):
    """Returns `(num_classes, class_names)` of a model: None or an int ≥ 2, and None or that many distinct names."""
    if class_names is not None:
        if isinstance(class_names, str) or not all(isinstance(n, str) and n for n in class_names):
            raise InputError(f"`class_names` must be a list of non-empty strings. Received: class_names={class_names!r}")
        class_names = tuple(class_names)
        if len(set(class_names)) != len(class_names):
            raise InputError(f"`class_names` must be distinct. Received: class_names={list(class_names)!r}")
        if num_classes is None:
            num_classes = len(class_names)
    if num_classes is None:
        return None, None
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise InputError(
            "`num_classes` must be None (an unconditional model) or an integer of at least 2. "
            f"Received: num_classes={num_classes!r}"
        )
    if class_names is not None and len(class_names) != num_classes:
        raise InputError(
            f"`class_names` must have one name per class ({num_classes}). Received: {len(class_names)} names"
        )
    return int(num_classes), class_names


def missing_labels_message(what, num_classes):
    """The message for a class-conditional model's `what` (e.g. "`encode`") called without labels."""
    return (
        f"This model is class-conditional ({num_classes} classes), so {what} needs the labels: pass "
        "`labels=` (class indices or class names) to the helpers, and `fit(images, labels)` or (images, labels) "
        "batches, e.g. from ak.data.image_folder(..., labels='inferred'), to fit and evaluate."
    )


def unconditional_labels_message(what):
    """The message for an unconditional model's `what` called with labels."""
    return (
        f"This model is not class-conditional, so {what} takes no `labels`. Drop them, or build the model with "
        "`num_classes=` (e.g. AVA.from_preset(..., num_classes=10)) to train on labels."
    )


def label_range_message(low, high, num_classes, text=_python_text):
    """The message for labels from `low` to `high` where `0 .. num_classes - 1` was expected."""
    return (
        f"Expected class labels in 0..{num_classes - 1} (the model has num_classes={num_classes}), but a batch has "
        "labels from " + text(low) + " to " + text(high) + ". Pass integer class indices, or build the model "
        "with as many classes as the data has."
    )


def label_shape_message(received, exported=False):
    """The message for labels of shape `received` (text) that are not one integer per image.

    `exported`: advice for the SavedModel export, whose `label` is a flat int32 vector.
    """
    if exported:
        fix = "Send `label` as a flat list of int32 class indices, e.g. [0, 2, 1], not [[0], [2], [1]]."
    else:
        fix = "Pass integer labels (for one-hot labels, their argmax; image_dataset_from_directory: label_mode='int')."
    return "Expected one integer class index per image, shape (batch,), got labels of shape " + received + ". " + fix


def label_count_message(labels, images, text=_python_text):
    """The message for `labels` class labels given with `images` images (the export: one label per image)."""
    return (
        "Expected one class label per image, but got " + text(labels) + " labels for " + text(images)
        + " images. Pass the class index of each image."
    )


def generate_labels_message(received, maximum, text=_python_text):
    """The message for the export's `generate` given `received` labels where 1 to `maximum` are allowed."""
    return (
        f"`generate` draws one image per class label: pass 1 to {maximum} labels (int32 class indices). "
        "Received: " + text(received) + " labels."
    )


def dataset_labels_message(what):
    """The message for `what` given `labels=` beside a tf.data.Dataset, which brings its own."""
    return (
        f"{what} takes `labels` with an array of images only: a tf.data.Dataset brings its own, as "
        "(images, labels) batches. Drop `labels=`, or pass the images as an array."
    )


def unknown_class_message(name, class_names, num_classes):
    """The message for a class the model does not know (`class_names` None: the model has no names)."""
    indices = f"0-{num_classes - 1}"
    if class_names is None:
        return (
            f"Unknown class {name!r}: this model has no class names; pass a class index {indices}, or build it "
            "with `class_names=`."
        )
    return f"Unknown class {name!r}. This model's classes: {', '.join(class_names)} (or their indices {indices})."


# === Arrays (the metrics) ===


def check_images(name, images):
    """Returns `images` as float64 `(n, height, width, channels)` with values in [0, 1]."""
    try:
        array = np.asarray(images, dtype="float64")
    except (TypeError, ValueError):
        raise InputError(f"`{name}` must be a numeric array. Received: {type(images).__name__}") from None
    if array.ndim != 4:
        raise InputError(
            f"`{name}` must have shape (n, height, width, channels) (NHWC). Received: shape {array.shape}"
        )
    if array.shape[0] == 0 or 0 in array.shape[1:]:
        raise InputError(f"`{name}` must hold at least one non-empty image. Received: shape {array.shape}")
    _check_finite(name, array)
    low, high = float(array.min()), float(array.max())
    if low < 0.0 or high > 1.0:
        raise InputError(f"`{name}` must have values in [0, 1]. Received: values in [{low:g}, {high:g}]")
    return array


def check_image_pair(x, y, names=("x", "y")):
    """Checks two image batches of the same shape (e.g. originals and reconstructions)."""
    x, y = check_images(names[0], x), check_images(names[1], y)
    if x.shape != y.shape:
        raise InputError(
            f"`{names[0]}` and `{names[1]}` must have the same shape. Received: {x.shape} and {y.shape}"
        )
    return x, y


def check_features(name, features, min_rows=2):
    """Returns `features` as a finite float64 `(n, dim)` array with at least `min_rows` rows."""
    try:
        array = np.asarray(features, dtype="float64")
    except (TypeError, ValueError):
        raise InputError(f"`{name}` must be a numeric array. Received: {type(features).__name__}") from None
    if array.ndim != 2 or array.shape[1] == 0:
        raise InputError(f"`{name}` must have shape (n, dim). Received: shape {array.shape}")
    if array.shape[0] < min_rows:
        raise InputError(f"`{name}` must hold at least {min_rows} rows. Received: {array.shape[0]}")
    _check_finite(name, array)
    return array


def check_feature_pair(a, b, names, min_rows=2):
    """Checks two feature sets with the same dimension."""
    a, b = check_features(names[0], a, min_rows), check_features(names[1], b, min_rows)
    if a.shape[1] != b.shape[1]:
        raise InputError(
            f"`{names[0]}` and `{names[1]}` must have the same feature dimension. "
            f"Received: {a.shape[1]} and {b.shape[1]}"
        )
    return a, b


def _check_finite(name, array):
    if not np.all(np.isfinite(array)):
        raise InputError(f"`{name}` contains NaN or infinite values ({int(np.sum(~np.isfinite(array)))} of them)")
