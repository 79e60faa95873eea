"""Layers: shapes, seeded numerics, config and `.keras` round trips, use in user models."""

import keras
import numpy as np
import pytest
from keras.src import testing

from ava_keras import layers

LAYER_CASES = [
    (lambda: layers.ConvEncoder(latent_dim=4, filters=(4, 8), hidden_units=8), (2, 12, 10, 3)),
    (lambda: layers.ConvDecoder(image_shape=(83, 60, 3), filters=(4, 4)), (2, 5)),
    (lambda: layers.Discriminator(filters=(4,)), (2, 9, 7, 1)),
    (lambda: layers.LatentDiscriminator(units=(6,)), (2, 5)),
]


# (class, constructor arguments, input shape, output shape) for Keras' own layer harness.
HARNESS_CASES = [
    (layers.ConvEncoder, {"latent_dim": 4, "filters": (4, 8), "hidden_units": 8}, (2, 83, 60, 3), ((2, 4), (2, 4))),
    (layers.ConvEncoder, {"latent_dim": 3, "filters": (4,), "hidden_units": 0}, (2, 9, 7, 1), ((2, 3), (2, 3))),
    (layers.ConvDecoder, {"image_shape": (83, 60, 3), "filters": (4, 4)}, (2, 5), (2, 83, 60, 3)),
    (layers.ConvDecoder, {"image_shape": (9, 7, 1), "filters": ()}, (2, 5), (2, 9, 7, 1)),
    (layers.Discriminator, {"filters": (4, 8), "dropout": 0.25}, (2, 83, 60, 3), (2, 1)),
    (layers.LatentDiscriminator, {"units": (6,)}, (2, 5), (2, 1)),
    (layers.LatentDiscriminator, {"units": ()}, (2, 5), (2, 1)),
    (layers.Sampling, {"seed": 0}, ((2, 5), (2, 5)), (2, 5)),
    (layers.GaussianMixture, {"dim": 5, "num_components": 3}, ((2,), (2, 5)), (2, 5)),
    (layers.DiffAugment, {"seed": 0}, (2, 9, 7, 3), (2, 9, 7, 3)),
    (layers.Discriminator, {"filters": (4,), "spectral_normalization": True}, (2, 9, 7, 1), (2, 1)),
    (layers.PatchDiscriminator, {"filters": (4, 8)}, (2, 83, 60, 3), (2, 21, 15, 1)),
    (layers.PatchDiscriminator, {"filters": (4,), "dropout": 0.25, "spectral_normalization": True}, (2, 9, 7, 1),
     (2, 5, 4, 1)),
    (layers.ConvEncoder, {"latent_dim": 4, "filters": (4, 8), "hidden_units": 0, "normalization": "group"},
     (2, 83, 60, 3), ((2, 4), (2, 4))),
    (layers.ConvDecoder, {"image_shape": (83, 60, 3), "filters": (8, 4), "upsampling": "resize",
                          "normalization": "group"}, (2, 5), (2, 83, 60, 3)),
    (layers.AnomalyScorer, {"terms": ["reconstruction", "kl"]}, (4, 2), (4,)),
]


class _KerasHarness(testing.TestCase):
    """Keras' own layer test case, driven from pytest."""

    def runTest(self):
        pass


def test_harness_cases_cover_every_layer():
    assert {case[0] for case in HARNESS_CASES} == {getattr(layers, name) for name in layers.__all__}


@pytest.mark.parametrize("layer_class,init_kwargs,input_shape,output_shape", HARNESS_CASES)
def test_layer_passes_keras_layer_harness_with_mixed_precision_check(
    layer_class, init_kwargs, input_shape, output_shape
):
    """Serialization, symbolic and eager calls, a training step, and the
    mixed_float16 check: float16 outputs as the compute dtype says, float32 weights."""
    _KerasHarness().run_layer_test(
        layer_class,
        init_kwargs=init_kwargs,
        input_shape=input_shape,
        expected_output_shape=output_shape,
        run_training_check=True,
        run_mixed_precision_check=True,
    )


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("layer_class,init_kwargs,input_shape,output_shape", HARNESS_CASES)
def test_sub_layers_follow_the_parents_dtype_policy(policy, layer_class, init_kwargs, input_shape, output_shape):
    layer = layer_class(**init_kwargs, dtype=policy)
    rng = np.random.default_rng(0)
    if isinstance(input_shape[0], tuple):
        inputs = [rng.random(shape).astype("float32") for shape in input_shape]
    else:
        inputs = rng.random(input_shape).astype("float32")
    outputs = _as_list(layer(inputs))
    compute_dtype = policy.removeprefix("mixed_")
    assert [keras.backend.standardize_dtype(o.dtype) for o in outputs] == [compute_dtype] * len(outputs)
    assert all(np.isfinite(keras.ops.convert_to_numpy(keras.ops.cast(o, "float32"))).all() for o in outputs)
    sub_layers = layer._flatten_layers(include_self=False)
    assert all(sub.dtype_policy.name == policy for sub in sub_layers), [
        (sub.name, sub.dtype_policy.name) for sub in sub_layers
    ]
    assert {v.dtype for v in layer.weights} <= {"float32"}


def _as_list(outputs):
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


@pytest.mark.parametrize("height,width,channels", [(83, 60, 3), (60, 83, 3), (28, 28, 1), (1, 1, 1), (33, 17, 3)])
def test_decoder_returns_exactly_the_requested_shape(height, width, channels):
    decoder = layers.ConvDecoder(image_shape=(height, width, channels), filters=(8, 4))
    images = keras.ops.convert_to_numpy(decoder(np.zeros((3, 6), "float32")))
    assert images.shape == (3, height, width, channels)
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert decoder.compute_output_shape((3, 6)) == (3, height, width, channels)


def test_sampling_is_eq_8_and_seedable():
    mean = np.full((20000, 2), [1.0, -3.0], "float32")
    log_var = np.full((20000, 2), [np.log(4.0), 0.0], "float32")
    z = keras.ops.convert_to_numpy(layers.Sampling(seed=3)([mean, log_var]))
    np.testing.assert_allclose(z.mean(axis=0), [1.0, -3.0], atol=0.05)
    np.testing.assert_allclose(z.std(axis=0), [2.0, 1.0], atol=0.05)
    again = keras.ops.convert_to_numpy(layers.Sampling(seed=3)([mean, log_var]))
    np.testing.assert_array_equal(z, again)
    # With zero variance the noise vanishes: z = μ exactly.
    exact = layers.Sampling(seed=0)([mean[:3], np.full((3, 2), -80.0, "float32")])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(exact), mean[:3], atol=1e-12)


@pytest.mark.parametrize("make_layer,input_shape", LAYER_CASES)
def test_layer_config_round_trip_gives_identical_outputs(make_layer, input_shape):
    layer = make_layer()
    inputs = np.random.default_rng(0).random(input_shape).astype("float32")
    outputs = _as_list(layer(inputs))
    clone = layer.__class__.from_config(layer.get_config())
    clone(inputs)
    clone.set_weights(layer.get_weights())
    for a, b in zip(outputs, _as_list(clone(inputs))):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    assert clone.get_config() == layer.get_config()


@pytest.mark.parametrize("make_layer,input_shape", LAYER_CASES)
def test_layer_inside_functional_model_survives_keras_file(make_layer, input_shape, tmp_path):
    inputs = keras.Input(shape=input_shape[1:])
    model = keras.Model(inputs, make_layer()(inputs))
    data = np.random.default_rng(1).random(input_shape).astype("float32")
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)  # no custom_objects: classes are registered
    for a, b in zip(_as_list(model.predict(data, verbose=0)), _as_list(loaded.predict(data, verbose=0))):
        np.testing.assert_array_equal(a, b)


def test_sampling_round_trips_with_its_noise_state(tmp_path):
    mean, log_var = keras.Input((3,)), keras.Input((3,))
    model = keras.Model([mean, log_var], layers.Sampling(seed=5)([mean, log_var]))
    zeros = [np.zeros((2, 3), "float32")] * 2
    model.predict(zeros, verbose=0)  # advance the noise state
    model.save(tmp_path / "s.keras")
    loaded = keras.models.load_model(tmp_path / "s.keras")
    np.testing.assert_array_equal(model.predict(zeros, verbose=0), loaded.predict(zeros, verbose=0))


def test_layers_compose_in_a_sequential_model():
    discriminator = layers.Discriminator(filters=(4, 4))
    model = keras.Sequential([keras.Input((8, 8, 1)), discriminator, keras.layers.Activation("sigmoid")])
    # The model is the layer followed by a sigmoid, and it tracks every weight of the layer.
    images = np.random.default_rng(0).random((16, 8, 8, 1)).astype("float32") * 0.5
    images[8:] += 0.5  # dark images (label 0) and bright ones (label 1)
    labels = np.repeat([[0.0], [1.0]], 8, axis=0)
    np.testing.assert_allclose(
        model.predict(images, verbose=0),
        keras.ops.convert_to_numpy(keras.ops.sigmoid(discriminator(images))), rtol=1e-6, atol=1e-6,
    )
    assert {id(v) for v in model.trainable_weights} == {id(v) for v in discriminator.trainable_weights}
    before = [w.copy() for w in discriminator.get_weights()]
    # Training through the model trains every weight of the layer and learns the easy task.
    model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    first_loss = model.evaluate(images, labels, verbose=0)[0]
    model.fit(images, labels, epochs=30, batch_size=16, verbose=0)
    loss, accuracy = model.evaluate(images, labels, verbose=0)
    assert all(not np.array_equal(a, b) for a, b in zip(before, discriminator.get_weights()))
    assert loss < 0.5 * first_loss and accuracy == 1.0


@pytest.mark.parametrize(
    "make_layer,message",
    [
        (lambda: layers.ConvEncoder(latent_dim=0), "latent_dim=0"),
        (lambda: layers.ConvEncoder(latent_dim=4, activation="nope"), "nope"),
        (lambda: layers.ConvDecoder(image_shape=(8, 8, 2)), "image_shape"),
        (lambda: layers.ConvDecoder(image_shape=(8, 8)), "image_shape"),
        (lambda: layers.Discriminator(filters=(4, -1)), "filters=-1"),
        (lambda: layers.Discriminator(dropout=1.5), "dropout=1.5"),
        (lambda: layers.ConvEncoder(latent_dim=4, normalization="batch"), "normalization='batch'"),
        (lambda: layers.ConvDecoder(image_shape=(8, 8, 1), upsampling="bilinear"), "upsampling='bilinear'"),
        (lambda: layers.Sampling(seed="x"), "seed='x'"),
    ],
)
def test_bad_arguments_raise_value_error_quoting_the_value(make_layer, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_layer()


def test_discriminator_features_are_what_its_logit_reads():
    discriminator = layers.Discriminator(filters=(4, 6))
    images = np.random.default_rng(0).random((3, 9, 7, 1)).astype("float32")
    logits = discriminator(images)  # builds the layer
    features = discriminator.features(images)
    assert tuple(features.shape) == (3, 3 * 2 * 6)  # two "same" stride-2 convolutions: 9x7 -> 5x4 -> 3x2
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(discriminator.logit(features)),
        keras.ops.convert_to_numpy(logits), rtol=1e-6, atol=1e-6,
    )
