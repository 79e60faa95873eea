"""ava_keras.datasets: bundled digits and photographs, and writing them out as folders."""

import numpy as np
import pytest

from ava_keras.data import find_image_files, image_folder
from ava_keras.datasets import PHOTO_NAMES, load_digits, load_photos, write_image_folder


def test_digits_shape_range_and_labels():
    images, labels = load_digits(return_labels=True)
    assert images.shape == (1797, 8, 8, 1) and images.dtype == np.float32
    assert images.min() == 0.0 and images.max() == 1.0
    assert sorted(set(labels.tolist())) == list(range(10))
    assert load_digits(image_size=28).shape == (1797, 28, 28, 1)
    big = load_digits(image_size=32)
    assert 0.0 <= big.min() and big.max() <= 1.0
    # Upscaling keeps the picture: 4x4 block means of the 32x32 digits match the 8x8 ones.
    shrunk = big.reshape(1797, 8, 4, 8, 4).mean(axis=(2, 4))
    assert np.corrcoef(shrunk.ravel(), images.ravel())[0, 1] > 0.95


def test_photos_are_distinct_real_photographs():
    photos = load_photos(image_size=(24, 32))
    assert photos.shape == (len(PHOTO_NAMES), 24, 32, 3) and photos.dtype == np.float32
    assert 0.0 <= photos.min() and photos.max() <= 1.0
    flat = photos.reshape(len(photos), -1)
    assert np.all(flat.std(axis=1) > 0.02)  # no blank images
    distances = np.abs(flat[:, None] - flat[None]).mean(-1) + np.eye(len(flat))
    assert distances.min() > 0.01  # no duplicates
    gray = load_photos(image_size=16, channels=1, names=["astronaut", "camera"])
    assert gray.shape == (2, 16, 16, 1)
    with pytest.raises(ValueError, match="lena"):
        load_photos(names=["lena"])


def test_write_image_folder_round_trips_through_image_folder(tmp_path):
    digits = load_digits()[:20]
    paths = write_image_folder(digits, tmp_path / "digits")
    assert len(paths) == 20 and paths == find_image_files(tmp_path / "digits")
    dataset = image_folder(tmp_path / "digits", image_size=8, channels=1, batch_size=20, shuffle=False)
    np.testing.assert_allclose(next(iter(dataset)).numpy(), digits, atol=0.5 / 255)
    photos = load_photos(image_size=8, names=["coffee", "rocket"])
    written = write_image_folder(photos, tmp_path / "photos", names=["coffee", "nested/rocket.png"])
    assert [p[len(str(tmp_path)) + 1 :] for p in written] == ["photos/coffee.png", "photos/nested/rocket.png"]


@pytest.mark.parametrize(
    "images, fragment",
    [
        (np.full((2, 4, 4, 3), 1.5, np.float32), r"in \[0, 1\]"),
        (np.zeros((2, 4, 4, 2), np.float32), "shape"),
        (np.zeros((4, 4), np.float32), "shape"),
    ],
)
def test_write_image_folder_rejects_bad_arrays(tmp_path, images, fragment):
    with pytest.raises(ValueError, match=fragment):
        write_image_folder(images, tmp_path / "out")
