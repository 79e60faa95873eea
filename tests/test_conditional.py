"""Class-conditional AVA (`num_classes=K`): every block takes the label y as an extra input (docs/design_choices.md)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import ava_keras as ak
from tests.test_layers import _KerasHarness
from tests._tiny import IMAGE_SHAPE, LATENT_DIM, block_weights, peek_noise, sgd_compile, tiny_images, tiny_model
from tests.test_model_gradients import PAPER_TERMS, PRESETS, TOLERANCE, reference_objectives, trained_blocks

CLASSES = ["cat", "dog", "fox"]
LABELS = np.array([0, 1, 2, 1])


def conditional_model(preset="ava5", **kwargs):
    return tiny_model(preset, num_classes=3, class_names=CLASSES, **kwargs)


class _HandConditionedBlocks:
    """The model's blocks given y, written by hand in raw TF: one-hot channels for f, one-hot vector for g and D,
    and d's projection, logit = ψ(φ(x)) + ⟨embed(y), φ(x)⟩ (Miyato & Koyama 2018) at every position of φ."""

    def __init__(self, model, labels):
        one_hot = tf.one_hot(labels, model.num_classes)

        def channels(images):
            shape = tf.concat([tf.shape(images)[:3], [model.num_classes]], axis=0)
            return tf.concat([images, tf.broadcast_to(one_hot[:, None, None, :], shape)], axis=-1)

        def projection_discriminator(images):
            d = model.discriminator
            features = images
            for conv in d.conv_layers:
                features = tf.nn.leaky_relu(conv(features), alpha=0.2)
            if not isinstance(d, ak.layers.PatchDiscriminator):
                features = tf.reshape(features, [tf.shape(features)[0], -1])
            embedded = tf.gather(d.class_embeddings, labels)
            embedded = tf.reshape(embedded, [-1] + [1] * (len(features.shape) - 2) + [features.shape[-1]])
            return d.logit(features) + tf.reduce_sum(embedded * features, axis=-1, keepdims=True)

        self.variant = model.variant
        self.encoder = lambda images: model.encoder(channels(images))
        self.decoder = lambda z: model.decoder(tf.concat([z, one_hot], axis=-1))
        self.discriminator = projection_discriminator
        self.latent_discriminator = lambda means: model.latent_discriminator(tf.concat([means, one_hot], axis=-1))


# The patch discriminator's class projection is in the fast tier through test_conditioning_shapes_for_every_network.
@pytest.mark.parametrize("discriminator", ["global", pytest.param("patch", marks=pytest.mark.integration)])
@pytest.mark.parametrize("routing", ["joint", "paper"])
def test_one_step_with_labels_updates_each_block_by_its_own_gradient(routing, discriminator):
    model = sgd_compile(conditional_model(routing=routing, discriminator=discriminator, **PAPER_TERMS))
    initial_weights = model.get_weights()
    images = tiny_images()
    for preset in PRESETS:
        model.set_weights(initial_weights)
        model.set_variant(preset)
        noise = peek_noise(model, len(images))
        with tf.GradientTape(persistent=True) as tape:
            objectives = reference_objectives(
                _HandConditionedBlocks(model, LABELS), tf.constant(images), noise, routing
            )
        before = block_weights(model)
        model.train_on_batch(images, LABELS)
        after = block_weights(model)
        for block in before:
            variables = getattr(model, block).trainable_variables
            gradients = tape.gradient(objectives[block], variables)
            where = f"{preset}/{routing}/{discriminator}: {block}"
            for old, new, gradient in zip(before[block], after[block], gradients):
                trained = gradient is not None and block in trained_blocks(preset)
                expected = tf.convert_to_tensor(gradient).numpy() if trained else np.zeros_like(old)  # gather: sparse
                np.testing.assert_allclose(old - new, expected, **TOLERANCE, err_msg=where)
            if block in trained_blocks(preset):
                assert any(np.abs(o - n).max() > 0 for o, n in zip(before[block], after[block])), where


def test_the_label_changes_every_block_output():
    model = conditional_model()
    images = tiny_images()
    outputs = [
        (model.encode(images, k)[0], model.reconstruct(images, k), model.discriminate(images, k),
         model.anomaly_scores(images, k)["latent_realism"])
        for k in (0, 1)
    ]
    for first, second in zip(*outputs):
        assert np.abs(first - second).max() > 1e-6


@pytest.mark.parametrize("networks", ["small", "scaled"])
@pytest.mark.parametrize("discriminator", ["global", "patch"])
def test_conditioning_shapes_for_every_network(networks, discriminator):
    shape = (16, 16, 3)
    model = ak.AVA.from_preset("ava5", shape, networks=networks, discriminator=discriminator, num_classes=4, seed=0)
    unconditional = ak.AVA.from_preset("ava5", shape, networks=networks, discriminator=discriminator, seed=0)
    latent_dim = model.latent_dim
    # f reads 3 + 4 channels, g and D read latent_dim + 4 values, d has one embedding per class of its features.
    assert model.encoder.conv_layers[0].kernel.shape[2] == 3 + 4
    assert model.decoder.seed_dense.kernel.shape[0] == latent_dim + 4
    assert model.latent_discriminator.hidden_layers[0].kernel.shape[0] == latent_dim + 4
    d = model.discriminator
    features = d.features(np.zeros((1,) + shape, "float32")).shape[-1] if discriminator == "global" else d.filters[-1]
    assert tuple(d.class_embeddings.shape) == (4, features)
    # Nothing else changes: the extra weights are exactly those.
    first_layers = (model.encoder.conv_layers[0], model.decoder.seed_dense, model.latent_discriminator.hidden_layers[0])
    extra = sum(4 * int(np.prod(layer.kernel.shape)) // layer.kernel.shape[-2 if layer.kernel.ndim == 4 else 0]
                for layer in first_layers) + 4 * features
    trainable = [sum(int(np.prod(v.shape)) for v in m.trainable_variables) for m in (model, unconditional)]
    assert trainable[0] - trainable[1] == extra
    images = np.random.default_rng(0).random((5,) + shape).astype("float32")
    labels = [0, 1, 2, 3, 0]
    mean, log_var = model.encode(images, labels)
    assert mean.shape == log_var.shape == (5, latent_dim)
    assert model.decode(mean, labels).shape == (5,) + shape
    single = model.discriminate(images, labels)
    per_class = model.discriminate(images)
    assert per_class.shape == single.shape[:-1] + (4,)
    np.testing.assert_allclose(np.take_along_axis(per_class, np.reshape(labels, (5,) + (1,) * (single.ndim - 1)),
                                                  axis=-1), single, rtol=1e-5, atol=1e-6)


@pytest.mark.integration  # Keras's fit, evaluate and predict on datasets; the fast tier trains with labels above
def test_fit_takes_arrays_datasets_and_variant_schedules():
    model = conditional_model("ava5")
    model.compile()
    images = tiny_images(8)
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    history = model.fit(images, labels, batch_size=4, epochs=2, verbose=0,
                        callbacks=[ak.callbacks.VariantSchedule({0: "vae", 1: "ava5"})])
    assert np.isfinite(history.history["loss"]).all()
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)
    assert np.isfinite(model.fit(dataset, epochs=1, verbose=0).history["loss"]).all()
    assert np.isfinite(model.evaluate(dataset, verbose=0, return_dict=True)["loss"])
    np.testing.assert_allclose(model.predict(dataset, verbose=0), model.reconstruct(images, labels), atol=1e-5)


def test_an_unconditional_model_ignores_labels_in_fit_as_before():
    images, labels = tiny_images(8), np.arange(8) % 3
    with_labels, without = tiny_model("ava5"), tiny_model("ava5")
    without.set_weights(with_labels.get_weights())
    for model in (with_labels, without):
        sgd_compile(model, 0.01)
    with_labels.fit(images, labels, batch_size=4, epochs=1, shuffle=False, verbose=0)
    without.fit(images, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(with_labels.get_weights(), without.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "call,fragment",
    [
        (lambda m, x: m.fit(x, epochs=1, verbose=0), r"class-conditional \(3 classes\), so `fit` needs the labels"),
        (lambda m, x: m.fit(tf.data.Dataset.from_tensor_slices(x).batch(2), epochs=1, verbose=0),
         "`fit` needs the labels"),
        (lambda m, x: m.fit(x, np.array([0, 1, 3, 0]), epochs=1, verbose=0), r"labels in 0..2 .* from 0 to 3"),
        (lambda m, x: m.fit(tf.data.Dataset.from_tensor_slices((x, np.array([0, 1, 5, 0]))).batch(2), epochs=1,
                            verbose=0), r"labels in 0..2 .* from 0 to 5"),
        (lambda m, x: m.fit(x, np.eye(3)[[0, 1, 2, 0]], epochs=1, verbose=0), r"one integer class index per image"),
        (lambda m, x: m.encode(x), "`encode` needs the labels"),
        (lambda m, x: m.sample(2), "`sample` needs the labels"),
        (lambda m, x: m.sample(2, labels="wolf"),
         r"Unknown class 'wolf'. This model's classes: cat, dog, fox \(or their indices 0-2\)"),
        (lambda m, x: m.sample(2, labels="3"), "Unknown class '3'"),
        (lambda m, x: m.reconstruct(x, [0, 1]), "got 2 labels for 4 images"),
        (lambda m, x: m.anomaly_scores(x, -1), r"labels in 0..2 .* from -1 to -1"),
    ],
)
def test_label_errors_name_the_fix(call, fragment):
    model = conditional_model()
    model.compile()
    with pytest.raises(ValueError, match=fragment):
        call(model, tiny_images())


def test_an_unconditional_model_refuses_labels_in_the_helpers():
    with pytest.raises(ValueError, match=r"not class-conditional, so `sample` takes no `labels`.*num_classes="):
        tiny_model().sample(2, labels=1)


@pytest.mark.parametrize(
    "kwargs,fragment",
    [
        ({"num_classes": 1}, "at least 2"),
        ({"num_classes": 3, "class_names": ["a", "b"]}, "one name per class"),
        ({"class_names": ["a", "a"]}, "distinct"),
        ({"class_names": "ab"}, "list of non-empty strings"),
    ],
)
def test_bad_class_arguments(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        tiny_model(**kwargs)


def test_sample_by_name_and_by_index():
    model = conditional_model()
    by_name = model.sample(3, seed=7, labels=["fox", "cat", "dog"])
    np.testing.assert_array_equal(by_name, model.sample(3, seed=7, labels=[2, 0, 1]))
    np.testing.assert_array_equal(model.sample(2, seed=7, labels="dog"), model.sample(2, seed=7, labels=[1, 1]))
    # Text that is no class name is an index given as digits (numpy turns a mixed list into text).
    np.testing.assert_array_equal(by_name, model.sample(3, seed=7, labels=["fox", 0, "1"]))
    # Draw i depends on the seed, i and its own label only.
    np.testing.assert_array_equal(by_name[1], model.sample(3, seed=7, labels="cat")[1])
    assert np.abs(by_name[0] - model.sample(3, seed=7, labels="cat")[0]).max() > 1e-6


def test_the_latent_sampler_is_fitted_per_class():
    model = conditional_model(latent_sampler_components=2)
    rng = np.random.default_rng(0)
    images = rng.random((60,) + IMAGE_SHAPE).astype("float32")
    labels = np.repeat([0, 1, 2], 20)
    log_likelihood = model.fit_latent_sampler(images, labels)
    assert np.isfinite(log_likelihood)
    means = model.encode(images, labels)[0]
    for k, sampler in enumerate(model.class_latent_samplers):
        assert sampler.is_fitted
        # Each class's mixture sits on that class's means, not on the others'.
        weights = keras.ops.convert_to_numpy(keras.ops.softmax(sampler.logits))
        np.testing.assert_allclose(weights @ sampler.means.numpy(), means[labels == k].mean(axis=0), atol=1e-4)
    assert model.latent_sampler is None
    # Sampling class k transforms the shared noise with class k's mixture.
    noise = model.class_latent_samplers[0].noise(5, 3)
    for k, sampler in enumerate(model.class_latent_samplers):
        np.testing.assert_allclose(model.sample_latents(5, 3, np.full(5, k)), sampler(noise), atol=1e-6)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)
    np.testing.assert_allclose(model.fit_latent_sampler(dataset), log_likelihood, rtol=1e-5)
    with pytest.raises(ValueError, match=r"1 image\(s\) of class 2 \('fox'\).*latent_sampler_components"):
        model.fit_latent_sampler(images[:41], labels[:41])


@pytest.mark.integration  # a .keras file; the fast tier's round trip is tests/test_model.py's
def test_keras_round_trip_keeps_classes_and_samplers(tmp_path):
    model = conditional_model(latent_sampler_components=2)
    model.compile()
    images = np.random.default_rng(0).random((30,) + IMAGE_SHAPE).astype("float32")
    labels = np.repeat([0, 1, 2], 10)
    model.fit(images, labels, batch_size=10, epochs=1, verbose=0)
    model.fit_latent_sampler(images, labels)
    model.fit_anomaly_scores(images, labels)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert (loaded.num_classes, loaded.class_names) == (3, tuple(CLASSES))
    np.testing.assert_array_equal(loaded.sample(4, seed=1, labels="dog"), model.sample(4, seed=1, labels="dog"))
    for key, value in model.anomaly_scores(images, labels).items():
        np.testing.assert_allclose(loaded.anomaly_scores(images, labels)[key], value, rtol=1e-5, atol=1e-6)
    loaded.fit(images, labels, batch_size=10, epochs=1, verbose=0)  # optimizer states restored, training continues


def test_anomaly_scores_ask_whether_an_image_is_typical_of_its_class():
    model = conditional_model()
    images = tiny_images()
    scores = model.anomaly_scores(images, LABELS)
    assert set(scores) == {"reconstruction", "kl", "realism", "latent_realism", "anomaly"}
    for k in range(3):
        one = model.anomaly_scores(images[LABELS == k], k)
        np.testing.assert_allclose(one["realism"], scores["realism"][LABELS == k], rtol=1e-5, atol=1e-6)


def test_sample_grid_has_one_row_per_class(tmp_path):
    model = conditional_model()
    grid = ak.callbacks.SampleGrid(tmp_path, images=tiny_images(), labels=LABELS, columns=4)
    grid.set_model(model)
    picture = grid.picture()
    tile = 64 + 2  # 8 px images enlarged to 64 px, 2 px padding
    assert picture.shape[0] == 2 + (2 + 3) * tile  # images, reconstructions, one row per class


@pytest.mark.parametrize(
    "layer_class,input_shape,output_shape",
    [(ak.layers.Discriminator, (2, 9, 7, 1), (2, 1)), (ak.layers.PatchDiscriminator, (2, 9, 7, 1), (2, 5, 4, 1))],
)
def test_projection_discriminators_pass_keras_layer_harness(layer_class, input_shape, output_shape):
    _KerasHarness().run_layer_test(
        layer_class,
        init_kwargs={"filters": (4,), "num_classes": 3},
        input_shape={"inputs_shape": input_shape, "labels_shape": (2,)},
        input_dtype={"inputs_shape": "float32", "labels_shape": "int32"},
        expected_output_shape=output_shape,
        # The harness's training check feeds a dict of inputs as one list (Keras 3.15), which a layer with two
        # call arguments cannot take; the gradient tests above train d with labels instead.
        run_training_check=False,
        run_mixed_precision_check=True,
    )


def test_projection_discriminator_needs_labels_and_a_matching_model():
    d = ak.layers.Discriminator(filters=(4,), num_classes=3)
    with pytest.raises(ValueError, match=r"class-conditional \(num_classes=3\): pass `labels`"):
        d(np.zeros((2, 8, 8, 1), "float32"))
    with pytest.raises(ValueError, match="has no num_classes, so it takes no `labels`"):
        ak.layers.Discriminator(filters=(4,))(np.zeros((2, 8, 8, 1), "float32"), np.zeros(2, "int32"))
    blocks = ak.build_networks(IMAGE_SHAPE, latent_dim=LATENT_DIM, num_classes=3)
    with pytest.raises(ValueError, match=r"num_classes=4, but the discriminator has num_classes=3"):
        ak.AVA(image_shape=IMAGE_SHAPE, num_classes=4, **blocks)



def test_a_dataset_brings_its_own_labels():
    model = conditional_model(latent_sampler_components=1)
    images, labels = tiny_images(6), np.array([0, 1, 2, 0, 1, 2])
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(3)
    for method in (model.fit_latent_sampler, model.fit_anomaly_scores):
        with pytest.raises(ValueError, match="takes `labels` with an array of images only"):
            method(dataset, labels=labels)
    model.fit_anomaly_scores(dataset)
    expected = model.anomaly_scores(images, labels)["anomaly"]
    model.fit_anomaly_scores(images, labels)
    np.testing.assert_allclose(model.anomaly_scores(images, labels)["anomaly"], expected, rtol=1e-5)
