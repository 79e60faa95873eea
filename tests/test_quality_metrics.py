"""Quality metrics against hand-computed and reference values; the cached digit classifier."""

import math

import numpy as np
import pytest

from ava_keras import evaluation
from ava_keras.evaluation import digit_classifier
from tests._quality import shared_classifier

# === MSE, PSNR, SSIM ===


def test_mse_and_psnr_hand_values():
    x = np.zeros((2, 3, 3, 1))
    y = np.stack([np.full((3, 3, 1), 0.1), np.full((3, 3, 1), 0.2)])
    assert evaluation.mse(x, y, per_image=True) == pytest.approx([0.01, 0.04])
    assert evaluation.mse(x, y) == pytest.approx(0.025)
    # Per image 10·log10(1/0.01) = 20 and 10·log10(1/0.04) = 13.9794; PSNR averages them.
    assert evaluation.psnr(x, y, per_image=True) == pytest.approx([20.0, 10 * math.log10(25.0)])
    assert evaluation.psnr(x, y) == pytest.approx((20.0 + 10 * math.log10(25.0)) / 2)
    assert evaluation.psnr(y, y) == math.inf and evaluation.mse(y, y) == 0.0


def test_ssim_is_one_for_identical_images_and_matches_skimage(rng):
    structural_similarity = pytest.importorskip("skimage.metrics").structural_similarity
    for channels in (1, 3):
        x = rng.random((3, 28, 20, channels))
        y = np.clip(x + 0.2 * rng.standard_normal(x.shape), 0.0, 1.0)
        assert evaluation.ssim(x, x) == pytest.approx(1.0, abs=1e-12)
        expected = [
            structural_similarity(
                a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=-1
            )
            for a, b in zip(x, y)
        ]
        assert evaluation.ssim(x, y, per_image=True) == pytest.approx(expected, abs=1e-6)
        assert evaluation.ssim(x, y) == pytest.approx(np.mean(expected), abs=1e-6)
        assert evaluation.ssim(x, y) < 0.95


@pytest.mark.parametrize(
    "x, y, match",
    [
        (np.zeros((2, 12, 12)), np.zeros((2, 12, 12)), "`x` must have shape"),
        (np.zeros((2, 12, 12, 1)), np.full((2, 12, 12, 1), 1.5), r"`y` must have values in \[0, 1\]"),
        (np.zeros((2, 12, 12, 1)), np.full((2, 12, 12, 1), np.nan), "`y` contains NaN"),
        (np.zeros((2, 12, 12, 1)), np.zeros((3, 12, 12, 1)), "same shape"),
        (np.zeros((0, 12, 12, 1)), np.zeros((0, 12, 12, 1)), "at least one"),
        (np.zeros((1, 8, 12, 1)), np.zeros((1, 8, 12, 1)), "at least 11x11"),
    ],
)
def test_image_metrics_reject_bad_input(x, y, match):
    metrics = (evaluation.ssim,) if "11x11" in match else (evaluation.mse, evaluation.psnr, evaluation.ssim)
    for metric in metrics:
        with pytest.raises(ValueError, match=match):
            metric(x, y)


# === Fréchet distance ===


def _axis_points(mean, scales):
    """2·dim points mean ± s_i·e_i: sample mean exactly `mean`, covariance exactly diag(2 s_i² / (n − 1))."""
    dim = len(mean)
    offsets = np.concatenate([np.diag(scales), -np.diag(scales)])
    return np.asarray(mean) + offsets, 2 * np.asarray(scales) ** 2 / (2 * dim - 1)


def test_frechet_distance_of_diagonal_gaussians_by_hand():
    a, var_a = _axis_points([0.0, 1.0, 2.0], [1.0, 2.0, 0.5])
    b, var_b = _axis_points([1.0, -1.0, 2.0], [3.0, 0.5, 0.5])
    # ‖μa − μb‖² + Σᵢ (σa² + σb² − 2σaσb) = 1 + 4 + 0 + Σᵢ (σa − σb)² for diagonal covariances.
    expected = 5.0 + np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2)
    assert evaluation.frechet_distance(a, b) == pytest.approx(expected, rel=1e-10)
    assert evaluation.frechet_distance(b, a) == pytest.approx(expected, rel=1e-10)
    assert evaluation.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-10)


def test_frechet_distance_matches_scipy_sqrtm_for_full_covariances(rng):
    sqrtm = pytest.importorskip("scipy.linalg").sqrtm
    a = rng.standard_normal((200, 5)) @ rng.standard_normal((5, 5))
    b = rng.standard_normal((150, 5)) @ rng.standard_normal((5, 5)) + 0.5
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(cov_a + cov_b - 2 * np.real(sqrtm(cov_a @ cov_b)))
    assert evaluation.frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_of_shifted_samples_approaches_the_shift(rng):
    a = rng.standard_normal((4000, 4))
    shift = np.array([1.0, -2.0, 0.0, 0.5])
    # Same covariance: the distance is ‖shift‖² = 5.25 (up to sampling noise).
    assert evaluation.frechet_distance(a, a + shift) == pytest.approx(5.25, rel=1e-9)
    assert evaluation.frechet_distance(a, rng.standard_normal((4000, 4)) + shift) == pytest.approx(5.25, abs=0.15)


# === Kernel distance (KID) ===


def test_kernel_distance_hand_values():
    # d = 1, k(x, y) = (xy + 1)³: k(0,1) = 1, k(2,3) = 343; cross terms 1, 1, 27, 64 (mean 23.25).
    assert evaluation.kernel_distance([[0.0], [1.0]], [[2.0], [3.0]]) == pytest.approx(1 + 343 - 2 * 23.25)
    # d = 2: k(a1,a2) = 1, k(b1,b2) = (2/2 + 1)³ = 8; cross (1.5)³, 2³, (1.5)³, 1 -> mean 3.9375.
    a, b = [[1.0, 0.0], [0.0, 1.0]], [[1.0, 1.0], [2.0, 0.0]]
    assert evaluation.kernel_distance(a, b) == pytest.approx(1 + 8 - 2 * 3.9375)


def test_kernel_distance_near_zero_for_one_distribution_and_subsets(rng):
    a, b = rng.standard_normal((400, 8)), rng.standard_normal((400, 8))
    same = evaluation.kernel_distance(a, b)
    shifted = evaluation.kernel_distance(a, b + 1.0)
    assert abs(same) < 0.02 * shifted
    mean, std = evaluation.kernel_distance(a, b + 1.0, num_subsets=20, subset_size=100, seed=3, return_std=True)
    assert mean == pytest.approx(shifted, rel=0.2) and std > 0
    assert evaluation.kernel_distance(a, b, num_subsets=5, subset_size=50, seed=1) == evaluation.kernel_distance(
        a, b, num_subsets=5, subset_size=50, seed=1
    )
    with pytest.raises(ValueError, match="subset_size"):
        evaluation.kernel_distance(a, b, subset_size=401)
    with pytest.raises(ValueError, match="num_subsets"):
        evaluation.kernel_distance(a, b, num_subsets=0)


# === Precision and recall ===


def test_precision_recall_identical_disjoint_and_half(rng):
    real = rng.standard_normal((50, 4))
    assert evaluation.precision_recall(real, real.copy()) == (1.0, 1.0)
    assert evaluation.precision_recall(real, rng.standard_normal((60, 4)) + 100.0) == (0.0, 0.0)
    # Half the samples are the real points, half are far away: precision ½, and the real data is covered.
    generated = np.concatenate([real, rng.standard_normal((50, 4)) + 100.0])
    assert evaluation.precision_recall(real, generated) == (0.5, 1.0)


@pytest.mark.parametrize(
    "function", [evaluation.frechet_distance, evaluation.kernel_distance, evaluation.precision_recall]
)
def test_distribution_metrics_reject_bad_input(function):
    good = np.zeros((10, 3))
    for bad, match in (
        (np.zeros(10), "must have shape \\(n, dim\\)"),
        (np.zeros((1, 3)), "at least"),
        (np.full((10, 3), np.inf), "NaN or infinite"),
        (np.zeros((10, 4)), "same feature dimension"),
    ):
        with pytest.raises(ValueError, match=match):
            function(good, bad)


# === Digit classifier ===


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(digit_classifier.CACHE_ENV, str(tmp_path / "here"))
    assert evaluation.default_cache_dir() == str(tmp_path / "here")
    monkeypatch.delenv(digit_classifier.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert evaluation.default_cache_dir() == str(tmp_path / "ava_keras")


def test_classifier_trains_once_then_loads_from_cache(tmp_path_factory):
    trained, cache_dir = shared_classifier(tmp_path_factory)
    assert not trained.from_cache  # a fresh session folder: trained here
    assert trained.held_out_accuracy > 0.95  # measured 0.975
    _, _, held_out, labels = evaluation.digits_split()
    # The recorded accuracy is the share of held-out digits whose largest logit
    # is the true label, computed here from the network's raw outputs.
    logits = np.concatenate([np.asarray(trained.network(held_out[i : i + 256], training=False)[1])
                             for i in range(0, len(held_out), 256)])
    assert trained.held_out_accuracy == np.mean(np.argmax(logits, axis=1) == labels)
    # accuracy() counts matches: all ten of the predicted labels, seven of ten after changing three.
    predicted = np.argmax(logits[:10], axis=1)
    assert trained.accuracy(held_out[:10], predicted) == 1.0
    assert trained.accuracy(held_out[:10], np.where(np.arange(10) < 3, (predicted + 1) % 10, predicted)) == 0.7
    loaded = evaluation.DigitClassifier(cache_dir=cache_dir)
    assert loaded.from_cache and loaded.path == trained.path
    assert loaded.held_out_accuracy == trained.held_out_accuracy
    np.testing.assert_array_equal(loaded.features(held_out[:50]), trained.features(held_out[:50]))
    # The default-classifier helpers reuse the same loaded instance (no second load or training).
    assert digit_classifier.get_classifier(cache_dir=cache_dir) is trained


def test_classifier_fid_kid_and_features(tmp_path_factory, rng):
    classifier, cache_dir = shared_classifier(tmp_path_factory)
    train, _, held_out, _ = evaluation.digits_split()
    features = evaluation.classifier_features(held_out, cache_dir=cache_dir)
    assert features.shape == (len(held_out), digit_classifier.FEATURE_DIM) and np.all(np.isfinite(features))
    real_fid = evaluation.classifier_fid(held_out, train[:397], classifier=classifier)
    noise_fid = evaluation.classifier_fid(held_out, rng.random(held_out.shape), classifier=classifier)
    assert evaluation.classifier_fid(held_out, held_out, classifier=classifier) == pytest.approx(0.0, abs=1e-6)
    assert 0 < real_fid < 0.1 * noise_fid
    assert evaluation.classifier_kid(held_out, train[:397], classifier=classifier) < 0.1 * evaluation.classifier_kid(
        held_out, rng.random(held_out.shape), classifier=classifier
    )
    precision, recall = evaluation.classifier_precision_recall(held_out, train[:397], classifier=classifier)
    assert precision > 0.8 and recall > 0.8
    # Other sizes are resized and RGB is averaged to gray; other channel counts are refused.
    assert classifier.features(np.repeat(held_out[:4], 3, axis=-1)).shape == (4, digit_classifier.FEATURE_DIM)
    assert classifier.features(rng.random((2, 32, 32, 1))).shape == (2, digit_classifier.FEATURE_DIM)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        classifier.features(np.zeros((2, 28, 28, 2)))
    with pytest.raises(ValueError, match="`images` must have values"):
        classifier.features(np.full((2, 28, 28, 1), 2.0))


def test_classifier_refuses_bad_arguments(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="cache_dir"):
        evaluation.DigitClassifier(cache_dir=str(tmp_path / "file"))
    with pytest.raises(ValueError, match="seed"):
        evaluation.DigitClassifier(seed=-1, cache_dir=str(tmp_path))
