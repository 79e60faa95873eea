"""The checks on every batch of an AVA and the stop of a diverging `fit` (docs/design_choices.md).

Each step records the first fault of a `fit`, `evaluate` or `predict` call in
a variable: images that are not finite or not in [0, 1], or a training step
whose loss terms or gradients are not finite (that step changes nothing).
The train, test and predict functions raise it after the step.
"""

import contextlib

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from ava_keras._validation import (
    bad_images_message,
    check_image_batch_shape,
    empty_input_message,
    label_range_message,
    missing_labels_message,
)
from ava_keras.distribute import reduce_across_replicas
from ava_keras.errors import InputError, TrainingDivergedError

# What `_fault` records first in a fit, evaluate or predict call: [kind, step,
# term, value, low, high]; kind is _NO_FAULT, _BAD_IMAGES, _DIVERGED or _BAD_LABELS.
_NO_FAULT, _BAD_IMAGES, _DIVERGED, _BAD_LABELS = 0.0, 1.0, 2.0, 3.0
_FAULT_SIZE = 6
# uint8 pixel value -> float32 `value / 255`, looked up so that the graph
# gives exactly numpy's `x / 255` (a graph may turn the division into a
# multiplication by 1/255, which rounds differently).
_UINT8_TO_UNIT = (np.arange(256) / 255).astype("float32")


class SafetyChecks:
    """The image checks and the divergence stop of `ava_keras.AVA` (a mixin of `keras.Model`).

    Needs `image_shape`, `safety_checks`, one optimizer per block,
    `_optimizer(block)` and `finalize_variable_values`
    (`ava_keras.models.training.BlockTrainer`).
    """

    def _create_fault_state(self):
        # A plain tf.Variable, not a model weight: saved models do not change.
        # All replicas write the same values (see `reduce_across_replicas`).
        self._fault = tf.Variable(
            tf.zeros([_FAULT_SIZE]),
            trainable=False,
            name="fault",
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
        )
        self._fault_terms = ()
        self._batches_run = 0

    # === Images ===

    def _check_image_shape(self, shape):
        """Raises a ValueError unless `shape` is `(batch,) + image_shape`."""
        check_image_batch_shape(shape, self.image_shape)

    def _check_images(self, images):
        """Checks the shape; uint8 images become float32 `x / 255`."""
        self._check_image_shape(images.shape)
        if keras.backend.standardize_dtype(images.dtype) == "uint8":
            return tf.gather(_UINT8_TO_UNIT, ops.cast(images, "int32"))
        return ops.cast(images, "float32")  # the loss target; the blocks cast to their compute dtype

    def _inputs_from(self, data, method):
        """The batch's images as float32 (the loss target; each block casts them to its compute
        dtype), its labels (int32 `(batch,)`, None for an unconditional model) and a scalar bool:
        whether they pass the checks."""
        labels = self._label_batch(data, method)
        images = self._check_images(data[0] if isinstance(data, (tuple, list)) else data)
        valid = tf.constant(True)
        if self.safety_checks:
            valid = self._record_bad_images(images)
            if labels is not None:
                valid = valid & self._record_bad_labels(labels)
                # In range, so the refused step still runs (d's embedding cannot gather outside it).
                labels = ops.clip(labels, 0, self.num_classes - 1)
        return images, labels, valid

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
                raise InputError(bad_images_message(np.count_nonzero(~finite), low, high))
        return images

    # === Faults recorded by the steps ===

    def _record_fault(self, fault, kind, details):
        """Records `[kind, *details]` if `fault` and nothing was recorded before."""
        values = tf.stack([tf.constant(kind)] + [tf.cast(d, "float32") for d in details])
        first = fault & tf.equal(self._fault[0], _NO_FAULT)
        self._fault.assign(tf.where(first, values, self._fault))

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
        nonfinite = reduce_across_replicas(nonfinite[None], "sum")[0]
        low = reduce_across_replicas(low[None], "min")[0]
        high = reduce_across_replicas(high[None], "max")[0]
        valid = tf.equal(nonfinite, 0.0) & (low >= 0.0) & (high <= 1.0)
        self._record_fault(~valid, _BAD_IMAGES, [0.0, 0.0, nonfinite, low, high])
        return valid

    def _record_bad_labels(self, labels):
        """Whether every label of the batch is in 0 .. num_classes - 1; records a fault if not."""
        low = reduce_across_replicas(ops.cast(ops.min(labels), "float32")[None], "min")[0]
        high = reduce_across_replicas(ops.cast(ops.max(labels), "float32")[None], "max")[0]
        valid = (low >= 0.0) & (high < self.num_classes)
        self._record_fault(~valid, _BAD_LABELS, [0.0, 0.0, 0.0, low, high])
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
        values = reduce_across_replicas(tf.stack(values), "sum")
        finite = tf.math.is_finite(values)
        first = tf.argmin(tf.cast(finite, "int32"))
        step = self.encoder_optimizer.iterations + 1
        self._record_fault(valid & ~tf.reduce_all(finite), _DIVERGED, [step, first, values[first], 0.0, 0.0])
        return tf.equal(self._fault[0], _NO_FAULT)

    # === Raising them ===

    def _fault_error(self):
        """The exception for the fault `_fault` holds."""
        kind, step, term, value, low, high = self._fault.numpy().tolist()
        if kind == _BAD_IMAGES:
            return ValueError(bad_images_message(int(value), low, high))
        if kind == _BAD_LABELS:
            return InputError(label_range_message(int(low), int(high), self.num_classes))
        term = self._fault_terms[int(term)]
        return TrainingDivergedError(
            f"Training diverged at step {int(step)}: {term} became {value}. "
            "The model keeps its weights and optimizer states from before that step; lower the "
            "learning rate or check the data.",
            step=int(step), term=term.removeprefix("the "), value=value,
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
    def _checked_run(self, method, x, y=None):
        """Around fit, evaluate and predict: refuses empty input, the wrong shape or (class-conditional
        model) missing or bad labels `y`; clears the fault record.

        The shape is also checked when each step is traced, but a retraced
        step may have generalised the shape to `(None, None, None, None)`.
        """
        _check_not_empty(x, f"`{method}`")
        if isinstance(x, tf.data.Dataset):
            paired = isinstance(x.element_spec, (tuple, list))
            spec = x.element_spec[0] if paired else x.element_spec
            if isinstance(spec, tf.TensorSpec):
                self._check_image_shape(spec.shape)
            if self.conditional and not paired:
                raise InputError(missing_labels_message(f"`{method}`", self.num_classes))
        elif getattr(x, "shape", None) is not None:
            self._check_image_shape((None,) + tuple(x.shape)[1:])  # as the traced step reports it
            if self.conditional:
                self.labels_array(y, len(x), method)
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
        if isinstance(x, tf.data.Dataset) and len(args) < 7:  # `shuffle` is fit's 8th argument
            kwargs.setdefault("shuffle", False)  # a Dataset shuffles in its own pipeline; Keras would only warn
        with self._checked_run("fit", x, args[0] if args else kwargs.get("y")):
            history = super().fit(x, *args, **kwargs)
        self.finalize_variable_values()  # a fit that raised (e.g. on divergence) keeps its trained weights
        return history

    def evaluate(self, x=None, *args, **kwargs):
        with self._checked_run("evaluate", x, args[0] if args else kwargs.get("y")):
            return super().evaluate(x, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        with self._checked_run("predict", x):
            return super().predict(x, *args, **kwargs)


def _check_not_empty(x, what):
    """Raises a ValueError if `x` is an array or a tf.data.Dataset with no images."""
    if isinstance(x, tf.data.Dataset):
        empty = int(x.cardinality()) == 0
    else:
        shape = getattr(x, "shape", None)
        empty = (len(shape) > 0 and shape[0] == 0) if shape is not None else isinstance(x, (list, tuple)) and not x
    if empty:
        raise InputError(empty_input_message(what))

