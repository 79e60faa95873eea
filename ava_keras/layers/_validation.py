"""Argument checks shared by the layers: each raises a ValueError quoting the value."""

import keras

from ava_keras.errors import InputError


def check_positive_int(name, value, allow_zero=False):
    lowest = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
        kind = "a non-negative" if allow_zero else "a positive"
        raise InputError(f"`{name}` must be {kind} integer. Received: {name}={value!r}")
    return value


def check_filters(name, filters, allow_empty=False):
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


def check_activation(activation):
    try:
        keras.activations.get(activation)
    except ValueError as error:
        raise InputError(f"Unknown activation: activation={activation!r}") from error
    if not isinstance(activation, str):
        raise InputError(
            "`activation` must be the name of a Keras activation, such as 'relu'. "
            f"Received: activation={activation!r}"
        )
    return activation


def check_image_shape(image_shape):
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
