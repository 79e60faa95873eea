"""The Gaussian-mixture latent sampler: density, fitting, sampling, and its use by the model and the export."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src import testing

import ava_keras as ak
from tests._tiny import LATENT_DIM, tiny_images, tiny_model


def _two_clusters(n=600, seed=0):
    rng = np.random.default_rng(seed)
    first = rng.normal(size=(n // 2, 3)) * [1.0, 0.5, 2.0] + [5.0, 0.0, 0.0]
    covariance = np.array([[1.0, 0.8, 0.0], [0.8, 1.0, 0.0], [0.0, 0.0, 0.3]])
    second = rng.multivariate_normal([0.0, 0.0, 0.0], covariance, size=n - n // 2)
    return np.concatenate([first, second])


def _reference_log_density(mixture, vectors):
    """log p(z) from the mixture's weights with scipy's multivariate normal (an independent formula)."""
    from scipy.stats import multivariate_normal

    weights = np.exp(mixture.logits.numpy().astype("float64"))
    weights /= weights.sum()
    tril = mixture.scale_tril.numpy().astype("float64")
    densities = [
        w * multivariate_normal(mean, l @ l.T).pdf(vectors)
        for w, mean, l in zip(weights, mixture.means.numpy().astype("float64"), tril)
    ]
    return np.log(np.sum(densities, axis=0))


class GaussianMixtureLayerTest(testing.TestCase):
    def test_layer_harness(self):
        self.run_layer_test(
            ak.layers.GaussianMixture,
            init_kwargs={"dim": 3, "num_components": 2},
            input_shape=[(4,), (4, 3)],
            expected_output_shape=(4, 3),
            expected_num_trainable_weights=0,
            expected_num_non_trainable_weights=4,
            supports_masking=False,
            run_training_check=False,
        )


def test_density_matches_scipy_and_the_fit_matches_scikit_learn():
    from sklearn.mixture import GaussianMixture as SklearnMixture

    vectors = _two_clusters()
    mixture = ak.layers.GaussianMixture(dim=3, num_components=2)
    mean_log_likelihood = mixture.fit(vectors)
    density = mixture.log_density(vectors).numpy()
    np.testing.assert_allclose(density, _reference_log_density(mixture, vectors), rtol=1e-4, atol=1e-4)
    assert mean_log_likelihood == pytest.approx(density.mean(), abs=1e-4)
    reference = SklearnMixture(2, covariance_type="full", random_state=0).fit(vectors)
    assert mean_log_likelihood == pytest.approx(reference.score(vectors), abs=1e-3)
    means = mixture.means.numpy()[np.argsort(mixture.means.numpy()[:, 0])]
    np.testing.assert_allclose(means, [[0, 0, 0], [5, 0, 0]], atol=0.25)


def test_samples_follow_the_fitted_mixture():
    mixture = ak.layers.GaussianMixture(dim=3, num_components=2)
    mixture.fit(_two_clusters())
    samples = mixture.sample(20_000, seed=1).numpy()
    weights = np.exp(mixture.logits.numpy())
    weights /= weights.sum()
    means = mixture.means.numpy()
    covariances = [l @ l.T for l in mixture.scale_tril.numpy()]
    expected_mean = weights @ means
    expected_covariance = sum(
        w * (c + np.outer(m - expected_mean, m - expected_mean)) for w, m, c in zip(weights, means, covariances)
    )
    np.testing.assert_allclose(samples.mean(0), expected_mean, atol=0.06)
    np.testing.assert_allclose(np.cov(samples.T), expected_covariance, atol=0.15)
    # The same seed gives the same draws; another seed, others.
    np.testing.assert_array_equal(mixture.sample(7, seed=1).numpy(), mixture.sample(7, seed=1).numpy())
    assert not np.allclose(mixture.sample(5, seed=1).numpy(), mixture.sample(5, seed=2).numpy())


def test_unfitted_mixture_is_the_standard_normal_prior():
    mixture = ak.layers.GaussianMixture(dim=4, num_components=3)
    assert not mixture.is_fitted
    np.testing.assert_array_equal(
        mixture.sample(6, seed=3).numpy(), keras.ops.convert_to_numpy(keras.random.normal((6, 4), seed=3))
    )
    reference = -0.5 * np.sum(np.zeros((1, 4)) ** 2) - 2 * np.log(2 * np.pi)
    assert float(mixture.log_density(np.zeros((1, 4), "float32"))[0]) == pytest.approx(reference, rel=1e-6)


def test_fit_refuses_bad_vectors():
    mixture = ak.layers.GaussianMixture(dim=2, num_components=3)
    with pytest.raises(ValueError, match="at least as many vectors"):
        mixture.fit(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="NaN"):
        mixture.fit(np.full((5, 2), np.nan))
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        mixture.fit(np.zeros((5, 3)))


def test_model_samples_from_the_fitted_mixture_and_keeps_it_in_keras_files(tmp_path):
    model = tiny_model("ava1", latent_sampler_components=2)
    images = tiny_images(12)
    prior_samples = model.sample(4, seed=0)
    model.fit_latent_sampler(images)
    assert model.latent_sampler.is_fitted
    samples = model.sample(4, seed=0)
    assert not np.allclose(samples, prior_samples)
    expected = model.decode(model.latent_sampler.sample(4, seed=0).numpy())
    np.testing.assert_allclose(samples, expected, atol=1e-6)
    # The means the mixture was fitted to are the encoder's.
    means, _ = model.encode(images)
    np.testing.assert_allclose(
        model.latent_sampler.log_density(means).numpy().mean(),
        model.fit_latent_sampler(images),
        rtol=1e-4,
    )
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    assert restored.latent_sampler.is_fitted and restored.latent_sampler_components == 2
    np.testing.assert_allclose(restored.sample(4, seed=0), samples, atol=1e-6)


def test_fit_latent_sampler_takes_a_dataset_and_refuses_empty_data():
    model = tiny_model("vae", latent_sampler_components=2)
    images = tiny_images(12)
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(5)
    from_dataset = model.fit_latent_sampler(dataset)
    assert from_dataset == pytest.approx(model.fit_latent_sampler(images), rel=1e-5)
    with pytest.raises(ValueError, match="no images"):
        model.fit_latent_sampler(tf.data.Dataset.from_tensor_slices(images[:0]).batch(5))


@pytest.mark.integration
def test_export_generate_uses_the_fitted_mixture(tmp_path):
    model = tiny_model("ava5", latent_sampler_components=2)
    model.fit_latent_sampler(tiny_images(12))
    path = ak.export_saved_model(model, str(tmp_path / "export"))
    served = tf.saved_model.load(path)
    generated = served.generate(n=tf.constant(5), seed=tf.constant(7))["images"].numpy()
    np.testing.assert_allclose(generated, model.sample(5, seed=7), atol=1e-5)
    assert generated.shape == (5,) + model.image_shape
    assert model.latent_dim == LATENT_DIM
