"""`ak.data.image_folder(labels="inferred")`: one class per sub-folder, as keras.utils.image_dataset_from_directory."""

import os

import numpy as np
import pytest
from PIL import Image

import ava_keras as ak


def _write(path, rng):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray((rng.random((8, 8, 3)) * 255).astype("uint8")).save(path)


@pytest.fixture
def pets(tmp_path, rng):
    """pets/dog: 3 images; pets/cat: 2 images, 1 in a nested folder, and one unreadable file; 1 image at the root."""
    for name in ("dog/a.png", "dog/b.png", "dog/c.png", "cat/a.png", "cat/nested/b.png", "root.png"):
        _write(str(tmp_path / name), rng)
    (tmp_path / "cat" / "broken.png").write_bytes(b"not an image")
    return tmp_path


@pytest.mark.parametrize("cache", [True, False, "disk"])
def test_inferred_labels_are_sorted_sub_folder_indices(pets, tmp_path_factory, cache):
    if cache == "disk":
        cache = str(tmp_path_factory.mktemp("cache") / "images")
    with pytest.warns(UserWarning, match=r"Skipped 1 unreadable.*broken\.png"):
        dataset = ak.data.image_folder(pets, 8, batch_size=2, labels="inferred", cache=cache, shuffle=False)
    assert dataset.class_names == ["cat", "dog"]
    assert dataset.element_spec[1].dtype.name == "int64"
    files = [os.path.relpath(p, pets) for p in dataset.file_paths]
    assert files == ["cat/a.png", "cat/nested/b.png", "dog/a.png", "dog/b.png", "dog/c.png"]  # root.png: no class
    labels = np.concatenate([y.numpy() for _, y in dataset])
    np.testing.assert_array_equal(labels, [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(dataset.file_labels, labels)  # the label of each of file_paths
    # Each label travels with its own image.
    images = np.concatenate([x.numpy() for x, _ in dataset])
    expected = np.stack([np.asarray(Image.open(pets / f), "float32") / 255.0 for f in files])
    np.testing.assert_allclose(images, expected, atol=1e-6)


def test_shuffled_split_keeps_images_and_labels_together(pets):
    with pytest.warns(UserWarning):
        train, validation = ak.data.image_folder(pets, 8, batch_size=1, labels="inferred", validation_split=0.4,
                                                 seed=1)
    assert train.class_names == validation.class_names == ["cat", "dog"]
    for dataset in (train, validation):
        for _ in range(2):  # reshuffled each epoch: a label must still match its image's folder
            pairs = [(x.numpy(), int(y.numpy()[0])) for x, y in dataset]
            for image, label in pairs:
                folder = dataset.class_names[label]
                candidates = [np.asarray(Image.open(p), "float32") / 255.0 for p in dataset.file_paths
                              if os.path.relpath(p, pets).startswith(folder)]
                assert any(np.allclose(image[0], c, atol=1e-6) for c in candidates)


def test_without_labels_the_dataset_is_unchanged(pets):
    with pytest.warns(UserWarning):
        dataset = ak.data.image_folder(pets, 8, batch_size=2, shuffle=False)
    assert dataset.class_names is None and dataset.file_labels is None
    assert not isinstance(dataset.element_spec, tuple)
    assert len(dataset.file_paths) == 6  # the root image too, recursively


def test_a_folder_without_sub_folders_names_the_fix(tmp_path, rng):
    for i in range(3):
        _write(str(tmp_path / f"{i}.png"), rng)
    with pytest.raises(ValueError, match=r"no sub-folders.*<class name>.*labels=None"):
        ak.data.image_folder(tmp_path, 8, batch_size=1, labels="inferred")


def test_an_empty_class_is_named(pets):
    os.makedirs(pets / "bird")
    with pytest.raises(ValueError, match=r"'bird' have no image files"):
        ak.data.image_folder(pets, 8, batch_size=1, labels="inferred")


def test_a_class_of_unreadable_files_is_named(pets):
    (pets / "fish").mkdir()
    (pets / "fish" / "x.png").write_bytes(b"")
    with pytest.warns(UserWarning), pytest.raises(ValueError, match=r"'fish' have no readable image files"):
        ak.data.image_folder(pets, 8, batch_size=1, labels="inferred")


def test_bad_labels_argument(pets):
    with pytest.raises(ValueError, match=r"`labels` must be None or 'inferred'. Received: labels='int'"):
        ak.data.image_folder(pets, 8, labels="int")


def test_digits_come_with_the_split_labels():
    train, train_labels, held_out, held_out_labels = ak.evaluation.digits_split()
    assert len(train_labels) == len(train) and len(held_out_labels) == len(held_out)
    assert sorted(set(train_labels.tolist())) == list(range(10))
