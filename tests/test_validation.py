"""The shared argument checks (ava_keras._validation): one module, InputError messages, callable activations."""

import keras
import numpy as np
import pytest

import ava_keras as ak
from ava_keras import _validation
from ava_keras.errors import InputError


@keras.saving.register_keras_serializable(package="test_validation")
def scaled_tanh(x):
    return 2.0 * keras.ops.tanh(x)


def test_check_activation_accepts_names_and_serializable_callables():
    assert _validation.check_activation("relu") == "relu"
    assert _validation.check_activation(keras.activations.gelu) == "gelu"
    assert keras.activations.get(_validation.check_activation(scaled_tanh)) is scaled_tanh
    with pytest.raises(InputError, match="nope"):
        _validation.check_activation("nope")
    with pytest.raises(InputError, match="register_keras_serializable"):
        _validation.check_activation(lambda x: x)


@pytest.mark.parametrize("activation, expected", [(keras.activations.gelu, keras.activations.gelu),
                                                  (scaled_tanh, scaled_tanh)])
def test_layers_take_callable_activations_and_round_trip_them(activation, expected):
    encoder = ak.layers.ConvEncoder(latent_dim=2, filters=(4,), hidden_units=4, activation=activation)
    encoder(np.zeros((1, 8, 8, 1), "float32"))
    config = encoder.get_config()
    restored = ak.layers.ConvEncoder.from_config(config)
    assert keras.activations.get(restored.activation) is expected
    assert restored.get_config() == config


def test_checks_raise_input_errors_that_are_value_errors():
    assert issubclass(InputError, ValueError)
    for call in (lambda: _validation.check_positive_int("n", 0), lambda: _validation.check_channels(2),
                 lambda: _validation.check_image_size((4, 0)), lambda: _validation.check_resize("zoom"),
                 lambda: _validation.check_images("x", np.full((1, 2, 2, 1), 2.0))):
        with pytest.raises(InputError):
            call()
    assert _validation.check_positive_int("n", np.int64(3)) == 3
    assert _validation.check_positive_int("n", 0, allow_zero=True) == 0
