"""`ava-keras` on labelled images: train --labels inferred, then sample, info, reconstruct and score by class."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

import ava_keras as ak
from ava_keras import cli
from ava_keras.datasets import load_digits, write_image_folder
from tests._tiny import tiny_model

CLASSES = {"one": 1, "seven": 7, "zero": 0}  # sub-folder: digit; sorted names: one, seven, zero
PER_CLASS = 6
TRAIN_FLAGS = ["--image-size", "16", "--channels", "1", "--latent-dim", "4", "--batch-size", "6", "--epochs", "1",
               "--seed", "1", "--verbose", "0"]


def _run_cli(argv, capsys):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_error_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ava-keras: error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def digits_folder(tmp_path_factory):
    """digits/{one,seven,zero}/: six bundled digits of each class at 16x16."""
    root = tmp_path_factory.mktemp("labelled") / "digits"
    images, labels = load_digits(image_size=16, return_labels=True)
    for name, digit in CLASSES.items():
        write_image_folder(images[labels == digit][:PER_CLASS], root / name)
    return root


@pytest.fixture(scope="module")
def trained(digits_folder, tmp_path_factory):
    """`ava-keras train DIGITS --labels inferred` for one epoch; returns the model's path."""
    out = tmp_path_factory.mktemp("run") / "out"
    code = cli.main(["train", str(digits_folder), "--labels", "inferred", "--out", str(out), *TRAIN_FLAGS])
    assert code == 0
    return out / "model.keras"


@pytest.mark.integration
def test_train_labels_inferred_keeps_the_class_names_with_the_model(trained):
    model = ak.saving.load_model(trained)
    assert model.conditional and model.num_classes == 3 and model.class_names == ("one", "seven", "zero")
    assert all(sampler.is_fitted for sampler in model.class_latent_samplers)  # one mixture per class
    with Image.open(trained.parent / "grids" / "final.png") as grid:
        # 8 columns; rows: originals, reconstructions, one row of samples per class (16 px tiles shown at 64)
        assert grid.size == (8 * (64 + 2) + 2, 5 * (64 + 2) + 2)
    with open(trained.parent / "saved_model" / "assets.extra" / "ava_keras.json", encoding="utf-8") as file:
        metadata = json.load(file)
    assert metadata["num_classes"] == 3 and metadata["class_names"] == ["one", "seven", "zero"]


@pytest.mark.integration
def test_sample_by_class_name_index_and_one_row_per_class(trained, tmp_path, capsys):
    model = ak.saving.load_model(trained)
    code, out, _ = _run_cli(["sample", trained, "--label", "seven", "-n", "4", "--out", tmp_path / "a.png"], capsys)
    assert code == 0 and "4 samples of class 'seven'" in out
    code, out, _ = _run_cli(["sample", trained, "--label", "1", "-n", "4", "--out", tmp_path / "b.png"], capsys)
    assert code == 0 and "class 'seven'" in out  # index 1 of the sorted names
    by_name, by_index = (np.asarray(Image.open(tmp_path / f"{name}.png")) for name in "ab")
    np.testing.assert_array_equal(by_name, by_index)
    expected = ak.callbacks.sample_grid.image_grid(model.sample(4, seed=0, labels="seven"), min_tile=64)
    np.testing.assert_array_equal(by_name, expected[..., 0])  # a grey PNG has no channel axis

    code, out, _ = _run_cli(["sample", trained, "-n", "5", "--out", tmp_path / "all.png"], capsys)
    assert code == 0 and "one row per class: one, seven, zero" in out
    with Image.open(tmp_path / "all.png") as grid:
        assert grid.size == (5 * (64 + 2) + 2, 3 * (64 + 2) + 2)


@pytest.mark.integration
def test_info_lists_the_classes(trained, capsys):
    code, out, _ = _run_cli(["info", trained], capsys)
    assert code == 0 and "class-conditional, 3 classes: one, seven, zero" in out
    code, out, _ = _run_cli(["info", trained, "--json"], capsys)
    info = json.loads(out)
    assert code == 0 and info["num_classes"] == 3 and info["class_names"] == ["one", "seven", "zero"]


@pytest.mark.integration
def test_reconstruct_and_score_take_the_labels_of_the_sub_folders(trained, digits_folder, tmp_path, capsys):
    model = ak.saving.load_model(trained)
    code, out, _ = _run_cli(["reconstruct", trained, digits_folder, "--labels", "inferred", "--out",
                             tmp_path / "rec"], capsys)
    assert code == 0 and f"{3 * PER_CLASS} reconstructions" in out
    sevens, _, _ = ak.data.read_images(sorted((digits_folder / "seven").iterdir()), (16, 16), 1, "crop")
    written = np.asarray(Image.open(tmp_path / "rec" / "seven" / "image_00000.png"), "float32")[..., None]
    expected = model.reconstruct(sevens[:1] / 255.0, labels="seven")[0]
    assert np.abs(written / 255.0 - expected).max() <= 1 / 255 + 1e-6

    code, _, _ = _run_cli(["score", trained, digits_folder, "--labels", "inferred", "--out", tmp_path / "s.csv"],
                          capsys)
    assert code == 0
    with open(tmp_path / "s.csv", newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 3 * PER_CLASS and all(row["file"].split("/")[0] == row["class"] for row in rows)
    # `realism` is the logit of d(x, y) under the file's own class: that class's column of `discriminate`.
    images, _, _ = ak.data.read_images([digits_folder / row["file"] for row in rows], (16, 16), 1, "crop")
    every_class = model.discriminate(images / 255.0)  # (n, 3): d(x, k) for each class k
    own_class = every_class[np.arange(len(rows)), [model.class_index(row["class"]) for row in rows]]
    np.testing.assert_allclose(1 / (1 + np.exp(-np.array([float(row["realism"]) for row in rows]))), own_class,
                               atol=1e-5)
    assert np.abs(every_class - own_class[:, None]).max() > 1e-3  # another class's column would not match
    code, _, _ = _run_cli(["score", trained, digits_folder / "seven", "--label", "seven", "--out",
                           tmp_path / "sevens.csv"], capsys)
    with open(tmp_path / "sevens.csv", newline="", encoding="utf-8") as file:
        as_sevens = {row["file"]: float(row["anomaly"]) for row in csv.DictReader(file)}
    assert code == 0 and len(as_sevens) == PER_CLASS
    # The same images scored under their own class, by either flag, get the same scores.
    for row in rows:
        if row["class"] == "seven":
            assert as_sevens[row["file"].split("/")[1]] == pytest.approx(float(row["anomaly"]), rel=1e-5)


@pytest.mark.integration
@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["sample", "{model}", "--label", "cat", "--out", "{tmp}/x.png"],
         "--label cat: Unknown class 'cat'. This model's classes: one, seven, zero (or their indices 0-2)"),
        (["sample", "{model}", "--label", "3", "--out", "{tmp}/x.png"], "--label 3: Unknown class '3'"),
        (["sample", "{model}", "--columns", "3", "--out", "{tmp}/x.png"],
         "--columns does not apply to the one-row-per-class grid"),
        (["reconstruct", "{model}", "{digits}", "--out", "{tmp}/r"], "pass --label CLASS to reconstruct"),
        (["score", "{model}", "{digits}", "--out", "{tmp}/x.csv"], "pass --label CLASS to score"),
        (["score", "{model}", "{digits}/seven", "--labels", "inferred", "--out", "{tmp}/x.csv"],
         "has no sub-folders"),
        (["score", "{model}", "{tmp}/other", "--labels", "inferred", "--out", "{tmp}/x.csv"],
         "sub-folder 'cat' of"),
        (["sample", "{plain}", "--label", "0", "--out", "{tmp}/x.png"], "--label 0 needs a class-conditional model"),
        (["score", "{plain}", "{digits}", "--labels", "inferred", "--out", "{tmp}/x.csv"],
         "--labels inferred needs a class-conditional"),
    ],
)
def test_label_mistakes_print_one_line_and_exit_2(trained, digits_folder, tmp_path, capsys, argv, fragment):
    tiny_model("vae").save(tmp_path / "plain.keras")
    write_image_folder(load_digits(image_size=16)[:2], tmp_path / "other" / "cat")
    paths = {"model": trained, "digits": digits_folder, "plain": tmp_path / "plain.keras", "tmp": tmp_path}
    code, _, err = _run_cli([a.format(**paths) for a in argv], capsys)
    assert code == 2 and fragment in _one_error_line(err)


@pytest.mark.integration
def test_train_on_the_bundled_digits_with_their_labels(tmp_path, capsys):
    # --validation-split 0.9 keeps the run short: 180 training digits, every class among them.
    code, out, _ = _run_cli(["train", "--dataset", "digits", "--labels", "inferred", "--image-size", "8",
                             "--epochs", "1", "--validation-split", "0.9", "--verbose", "0",
                             "--out", tmp_path / "out"], capsys)
    assert code == 0 and "10 classes" in out
    model = ak.saving.load_model(tmp_path / "out" / "model.keras")
    assert model.class_names == tuple(str(digit) for digit in range(10))


@pytest.mark.parametrize(
    "layout, argv, fragment",
    [
        ("flat", ["{dir}", "--labels", "inferred"], "has no sub-folders"),
        ("empty_class", ["{dir}", "--labels", "inferred"], "the class(es) 'empty' have no image files"),
        ("flat", ["--dataset", "photos", "--labels", "inferred"], "the bundled photos have no classes"),
    ],
)
def test_bad_folder_layouts_print_one_line_and_exit_2(tmp_path, capsys, layout, argv, fragment):
    images = load_digits(image_size=8)[:4]
    if layout == "flat":
        write_image_folder(images, tmp_path / "dir")
    else:
        write_image_folder(images, tmp_path / "dir" / "full")
        (tmp_path / "dir" / "empty").mkdir()
    argv = ["train"] + [a.format(dir=tmp_path / "dir") for a in argv] + ["--out", str(tmp_path / "out")]
    code, _, err = _run_cli(argv, capsys)
    assert code == 2 and fragment in _one_error_line(err)
