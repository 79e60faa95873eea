"""Eq. 17 against hand-computed values, the choice of imageBest, and ten_images()."""

import numpy as np
import pytest

from ava_keras.datasets import ten_images
from ava_keras.evaluation import best_generated_image, paper_rmse, paper_rmse_per_image


def test_paper_rmse_one_pixel_half_rgb_norm():
    # ½ · ‖(0.3, 0.4, 0) − (0, 0, 0)‖ = ½ · 0.5 = 0.25
    best = np.array([[[0.3, 0.4, 0.0]]])
    images = np.zeros((1, 1, 1, 3))
    assert paper_rmse(best, images) == pytest.approx(0.25)


def test_paper_rmse_hand_computed_two_images_two_pixels():
    best = np.zeros((1, 2, 3))
    images = np.zeros((2, 1, 2, 3))
    images[0, 0, 0] = [0.6, 0.8, 0.0]  # norm 1.0
    images[0, 0, 1] = [0.0, 0.0, 0.0]  # norm 0.0
    images[1, 0, 0] = [0.0, 0.3, 0.4]  # norm 0.5
    images[1, 0, 1] = [1.0, 1.0, 1.0]  # norm √3
    # RMSE[0] = ½ (½·1 + ½·0) = 0.25; RMSE[1] = ½ (½·0.5 + ½·√3) = 0.125 + √3/4
    expected_per_image = [0.25, 0.125 + np.sqrt(3) / 4]
    np.testing.assert_allclose(paper_rmse_per_image(best, images), expected_per_image)
    assert paper_rmse(best, images) == pytest.approx(np.mean(expected_per_image))


def test_paper_rmse_is_not_a_root_mean_square():
    # Pixel differences 0 and 1 in one channel: eq. 17 gives ½ · mean(0, 1) = 0.25,
    # a true RMSE would give √(mean(0, 1)) = 0.707.
    best = np.zeros((1, 2, 3))
    images = np.zeros((1, 1, 2, 3))
    images[0, 0, 1, 0] = 1.0
    assert paper_rmse(best, images) == pytest.approx(0.25)


def test_paper_rmse_bounds_and_identity():
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(4, 5, 6, 3))
    assert paper_rmse(images[2], images[2:3]) == 0.0
    assert paper_rmse(np.zeros((5, 6, 3)), np.ones((3, 5, 6, 3))) == pytest.approx(np.sqrt(3) / 2)


@pytest.mark.parametrize(
    "best_shape, images_shape, culprit",
    [((5, 6, 3), (4, 5, 7, 3), "does not match"), ((5, 6), (4, 5, 6, 3), "best_image"), ((5, 6, 3), (5, 6, 3), "images")],
)
def test_paper_rmse_rejects_bad_shapes(best_shape, images_shape, culprit):
    with pytest.raises(ValueError, match=culprit):
        paper_rmse(np.zeros(best_shape), np.zeros(images_shape))


class _FixedReconstructions:
    """Stands in for a model: reconstruct() returns preset images."""

    def __init__(self, reconstructions):
        self.reconstructions = reconstructions

    def reconstruct(self, images):
        return self.reconstructions


def test_best_generated_image_picks_lowest_eq17_reconstruction():
    images = np.zeros((3, 2, 2, 3), "float32")
    images[1] = 1.0
    reconstructions = np.stack([np.full((2, 2, 3), v, "float32") for v in (0.9, 0.4, 0.0)])
    best, score = best_generated_image(_FixedReconstructions(reconstructions), images, return_score=True)
    # Grey level v scores ½√3 · mean(v, 1 − v, v): 0.9 -> 0.5485, 0.4 -> 0.4041, 0.0 -> 0.2887.
    np.testing.assert_array_equal(best, reconstructions[2])
    assert score == pytest.approx(np.sqrt(3) / 2 / 3)
    np.testing.assert_array_equal(best_generated_image(_FixedReconstructions(reconstructions), images), best)


def test_best_generated_image_keeps_nan_visible():
    images = np.zeros((2, 2, 2, 3), "float32")
    reconstructions = np.stack([np.zeros((2, 2, 3)), np.full((2, 2, 3), np.nan)])
    _, score = best_generated_image(_FixedReconstructions(reconstructions), images, return_score=True)
    assert np.isnan(score)


def test_ten_images_shapes_range_and_determinism():
    small = ten_images(shrink=3)
    assert small.shape == (10, 83, 60, 3) and small.dtype == np.float32
    assert small.min() >= 0.0 and small.max() <= 1.0
    np.testing.assert_array_equal(small, ten_images(shrink=3))
    # Ten distinct images; the last two are grayscale photographs (equal channels).
    assert len({img.tobytes() for img in small}) == 10
    assert np.array_equal(small[-1, ..., 0], small[-1, ..., 2])
    assert not np.array_equal(small[0, ..., 0], small[0, ..., 2])


def test_ten_images_full_size_and_bad_shrink():
    assert ten_images().shape == (10, 250, 180, 3)
    with pytest.raises(ValueError, match="shrink"):
        ten_images(shrink=0)


def test_ten_image_names_are_pinned():
    # The committed experiment results were computed on exactly these photographs.
    from ava_keras.datasets.ten_images import TEN_IMAGE_NAMES

    assert TEN_IMAGE_NAMES == (
        "astronaut", "chelsea", "coffee", "hubble_deep_field", "immunohistochemistry",
        "retina", "rocket", "stereo_motorcycle", "camera", "coins",
    )
