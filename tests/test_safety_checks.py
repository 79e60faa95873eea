"""Bad input through every entry point, uint8 images, and the divergence stop (issue #15)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import ava_keras as ak
from tests._tiny import sgd_compile, tiny_images, tiny_model

KERAS_METHODS = ("fit", "evaluate", "predict")
HELPERS = ("encode", "reconstruct", "discriminate")


def _with_pixel(images, value):
    images = images.copy()
    images[1, 2, 3, 0] = value
    return images


# The table: each bad input and a fragment of the error it must give.
BAD_INPUTS = {
    "float_0_255": (lambda x: x * 255.0, r"values from 0\.\d+ to 2\d\d\.\d+\. .*divide 0-255 pixels by 255"),
    "one_nan": (lambda x: _with_pixel(x, np.nan), r"1 non-finite value\(s\) \(NaN or inf\)"),
    "one_inf": (lambda x: _with_pixel(x, np.inf), r"1 non-finite value\(s\) \(NaN or inf\)"),
    "minus_one_to_one": (lambda x: x * 2.0 - 1.0, r"values from -0\.\d+ to 0\.\d+\. .*\(x \+ 1\) / 2"),
    "empty": (lambda x: x[:0], r"got no images \(the input is empty\)"),
    "wrong_channels": (lambda x: np.repeat(x, 3, axis=-1), r"Expected images of shape \(batch, 8, 8, 1\)"),
    "wrong_rank": (lambda x: x[..., 0], r"Expected images of shape \(batch, 8, 8, 1\)"),
}
FIX = "ak.data.image_folder, which scales them for you"


def _state(model):
    """Every trainable weight, switch and optimizer variable, as numpy arrays."""
    optimizers = [getattr(model, f"{b}_optimizer") for b in ("encoder", "decoder", "discriminator",
                                                              "latent_discriminator")]
    variables = list(model.weights) + [v for o in optimizers if o is not None for v in o.variables]
    return [np.array(v.numpy()) for v in variables]


def _assert_same_finite_state(before, after):
    assert len(before) == len(after)
    for a, b in zip(before, after):
        assert np.all(np.isfinite(b))
        np.testing.assert_array_equal(b, a)


@pytest.fixture(scope="module")
def trained_ava5():
    """An AVA5 that trained one epoch (so the optimizers have state), shared by the bad-input tests."""
    keras.utils.set_random_seed(0)
    model = tiny_model("ava5")
    model.compile()
    model.fit(tiny_images(8), batch_size=4, epochs=1, verbose=0)
    return model


def _call(model, method, images, as_dataset):
    if method in HELPERS:
        return getattr(model, method)(images)
    data = tf.data.Dataset.from_tensor_slices(images).batch(4) if as_dataset else images
    kwargs = {} if as_dataset else {"batch_size": 4}
    if method == "fit" and not as_dataset:
        kwargs["shuffle"] = False  # the first batch is bad: no step may run before the error
    return getattr(model, method)(data, verbose=0, **kwargs)


# Every row through every entry point as numpy arrays, and through fit, evaluate and predict as tf.data (in the
# full tier; the fast tier takes tf.data through all three in test_empty_dataset_of_unknown_length_is_refused).
CASES = [(row, method, False) for row in sorted(BAD_INPUTS) for method in KERAS_METHODS + HELPERS] + [
    pytest.param(row, method, True, marks=pytest.mark.integration)
    for row in ("float_0_255", "one_inf", "wrong_channels") for method in KERAS_METHODS
]


@pytest.mark.parametrize("row, method, as_dataset", CASES)
def test_bad_input_is_refused_naming_problem_and_fix_and_changes_nothing(trained_ava5, row, method, as_dataset):
    make, fragment = BAD_INPUTS[row]
    images = make(tiny_images(8))
    before = _state(trained_ava5)
    with pytest.raises(ValueError, match=fragment) as error:
        _call(trained_ava5, method, images, as_dataset)
    if row not in ("empty", "wrong_channels", "wrong_rank"):
        assert FIX in str(error.value)
    _assert_same_finite_state(before, _state(trained_ava5))


def test_empty_dataset_of_unknown_length_is_refused(trained_ava5):
    empty = tf.data.Dataset.from_tensor_slices(tiny_images(8)).filter(lambda x: False).batch(4)
    assert int(empty.cardinality()) == tf.data.UNKNOWN_CARDINALITY
    before = _state(trained_ava5)
    for method in KERAS_METHODS:
        with pytest.raises(ValueError, match=f"`{method}` got no batches: the input is empty"):
            getattr(trained_ava5, method)(empty, verbose=0)
    _assert_same_finite_state(before, _state(trained_ava5))


def test_a_bad_batch_after_good_ones_stops_fit_before_its_step():
    """Only the third batch has a NaN: two steps train, the third changes nothing."""
    model = tiny_model("ava5")
    model.compile()
    images = _with_pixel(tiny_images(12), np.nan)[[4, 5, 6, 7, 8, 9, 10, 11, 0, 1, 2, 3]]
    states = []
    record = keras.callbacks.LambdaCallback(on_train_batch_begin=lambda batch, logs: states.append(_state(model)))
    with pytest.raises(ValueError, match="non-finite"):
        model.fit(images, batch_size=4, shuffle=False, epochs=1, verbose=0, callbacks=[record])
    assert len(states) == 3 and model.encoder_optimizer.iterations.numpy() == 2
    _assert_same_finite_state(states[-1], _state(model))


@pytest.mark.integration
def test_uint8_images_train_exactly_as_images_divided_by_255():
    images = (tiny_images(8) * 255).round().astype("uint8")
    results = []
    for data in (images, images / 255):
        keras.utils.set_random_seed(0)
        model = tiny_model("ava5")
        model.compile()
        history = model.fit(data, batch_size=4, epochs=2, shuffle=False, verbose=0).history
        evaluation = model.evaluate(data, batch_size=4, verbose=0, return_dict=True)
        outputs = [model.predict(data, verbose=0), model.reconstruct(data), model.encode(data)[0],
                   model.discriminate(data)]
        results.append((_state(model), history, evaluation, outputs))
    (uint8_state, *uint8_rest), (float_state, *float_rest) = results
    assert uint8_state[0].dtype == "float32"
    _assert_same_finite_state(float_state, uint8_state)
    # The weights and optimizer states above are equal to the bit. The logged `loss` sum may differ
    # in the last bit: the two graphs differ (a table lookup for uint8), and Grappler may fuse
    # reconstruction_weight·R + kl_weight·K differently (seen once in CI: 11.3918877 vs 11.3918886).
    for uint8_logs, float_logs in zip(uint8_rest[:2], float_rest[:2]):
        assert uint8_logs.keys() == float_logs.keys()
        for key in uint8_logs:
            np.testing.assert_allclose(uint8_logs[key], float_logs[key], rtol=1e-6, atol=0, err_msg=key)
    for a, b in zip(uint8_rest[2], float_rest[2]):
        np.testing.assert_array_equal(a, b)


def _diverging_fit(model):
    """fit with SGD(1e6, momentum 0.9); returns (the error, the state at the start of every step)."""
    states = []
    record = keras.callbacks.LambdaCallback(on_train_batch_begin=lambda batch, logs: states.append(_state(model)))
    with pytest.raises(FloatingPointError) as error:
        model.fit(tiny_images(8), batch_size=2, shuffle=False, epochs=50, verbose=0, callbacks=[record])
    return error.value, states


def test_divergence_stops_fit_naming_step_and_term_and_keeps_the_last_finite_state():
    model = tiny_model("ava5")
    initial = model.get_weights()
    optimizer = lambda: keras.optimizers.SGD(1e6, momentum=0.9)  # noqa: E731
    model.compile(encoder_optimizer=optimizer(), decoder_optimizer=optimizer(),
                  discriminator_optimizer=optimizer(), latent_discriminator_optimizer=optimizer())
    error, states = _diverging_fit(model)
    step = len(states)
    assert step >= 2 and model.encoder_optimizer.iterations.numpy() == step - 1
    assert f"Training diverged at step {step}: the " in str(error)
    assert "became nan" in str(error) or "became inf" in str(error)
    assert "keeps its weights and optimizer states from before that step" in str(error)
    # The weights, the switches and every optimizer's momenta and iterations are those before the failing step.
    _assert_same_finite_state(states[-1], _state(model))
    # Nothing sticks: from sane weights and learning rate, fit runs again.
    model.set_weights(initial)
    sgd_compile(model, 1e-3)
    history = model.fit(tiny_images(8), batch_size=4, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])


def test_a_non_finite_loss_term_is_named():
    """Means of 1e20: μ² overflows in the KL term while z = μ + σ·ε stays finite."""
    model = sgd_compile(tiny_model("vae"), 1e-3)
    model.encoder.mean_head.bias.assign(np.full(model.latent_dim, 1e20, "float32"))
    before = _state(model)
    with pytest.raises(FloatingPointError, match=r"at step 1: the kl term became inf\."):
        model.fit(tiny_images(4), batch_size=4, verbose=0)
    for a, b in zip(before, _state(model)):
        np.testing.assert_array_equal(b, a)


def test_safety_checks_off_lets_bad_data_through_and_round_trips_in_the_config():
    model = tiny_model("vae", safety_checks=False)
    model.compile()
    history = model.fit(tiny_images(4) * 255.0, batch_size=4, verbose=0).history
    assert history["loss"][0] > 1000.0
    assert ak.AVA.from_config(model.get_config()).safety_checks is False
    assert tiny_model("vae").get_config()["safety_checks"] is True


@pytest.mark.integration
def test_bad_input_is_refused_under_a_mirrored_strategy():
    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
    strategy = tf.distribute.MirroredStrategy(devices)
    with strategy.scope():
        # ava5, as in tests/test_distributed.py: two MirroredStrategy objects in one process were
        # seen to reuse collective instance keys, which fails when the reduced shapes differ.
        model = tiny_model("ava5")
        model.compile()
    images = tiny_images(8)
    images[5, 2, 3, 0] = np.nan  # in the second replica's half of the batch
    weights = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=r"1 non-finite value\(s\)"):
        model.fit(images, batch_size=8, shuffle=False, verbose=0)
    # Under several replicas the step applies zero gradients (see AVA._apply_if_on): a fresh
    # Adam has no momentum yet, so the weights do not move.
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(b, a)
    model.fit(tiny_images(8), batch_size=8, verbose=0)
    assert np.all([np.isfinite(w).all() for w in model.get_weights()])
