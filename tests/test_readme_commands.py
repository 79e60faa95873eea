"""Every `ava-keras` command README.md shows, run exactly as the README writes it.

The commands are read from README.md's shell blocks and run in a shell, in an
empty working folder, with no flag added: an edited command is what gets
tested (tests/_readme.py). The folder a command names (e.g. `path/to/photos`)
is created there with the bundled photographs. The experiments and `bench`
run once per test process (the `readme_run` fixture), and the tests of their
outputs in test_bench.py and test_*_experiment.py read the same run. A fast
test checks that every command the README shows is one these tests know how
to run.
"""

import csv
import shlex
from pathlib import Path

import pytest

from tests._readme import ON_THE_TRAINED_MODEL, kind, readme_commands, run, shared_run_group, the_command

def folder_of(command):
    """The image folder a `train` command names (its positional argument)."""
    words = shlex.split(command, comments=True)
    return words[2]


PHOTOS = 42  # the 14 bundled photographs, as they are and mirrored both ways: more than one default batch (32)


def make_photo_folder(cwd, folder):
    """Writes `PHOTOS` images (64x64) into `cwd/folder`, a user's folder of photographs."""
    import numpy as np

    from ava_keras.datasets import load_photos, write_image_folder

    photos = load_photos(image_size=64)
    write_image_folder(np.concatenate([photos, photos[:, :, ::-1], photos[:, ::-1]]), Path(cwd) / folder)


def model_dir(cwd, command):
    """The folder `ava-keras train` writes by default: saved_models/<folder name>-<preset>."""
    words = shlex.split(command, comments=True)
    preset = words[words.index("--preset") + 1] if "--preset" in words else "ava5"
    return Path(cwd) / "saved_models" / f"{Path(folder_of(command)).name}-{preset}"


# === Each kind of command, run as the README writes it ===


def check_main_command(tmp_path, readme_run):
    run(the_command("train --dataset"), tmp_path)
    out = tmp_path / "saved_models" / "digits-ava5"
    for name in ("model.keras", "saved_model", "grids/final.png", "loss.png", "history.json"):
        assert (out / name).exists(), name


def check_own_folder_recipe(tmp_path, readme_run):
    """`train FOLDER`, then every command on its model, in the README's order."""
    train = the_command("train FOLDER")
    make_photo_folder(tmp_path, folder_of(train))
    run(train, tmp_path)
    model = model_dir(tmp_path, train)
    assert (model / "model.keras").exists() and (model / "saved_model").is_dir()
    outputs = {}
    for which in ON_THE_TRAINED_MODEL:
        command = the_command(which)
        assert str(model.relative_to(tmp_path) / "model.keras") in command, (command, model)
        outputs[which] = run(command, tmp_path).stdout
    words = {which: shlex.split(the_command(which), comments=True) for which in ON_THE_TRAINED_MODEL}
    assert (tmp_path / words["sample"][words["sample"].index("--out") + 1]).stat().st_size > 1000
    recon = tmp_path / words["reconstruct"][words["reconstruct"].index("--out") + 1]
    assert len(list(recon.iterdir())) >= PHOTOS
    assert any((tmp_path / words["export"][3]).rglob("saved_model.pb"))
    assert model.name.rsplit("-", 1)[1] in outputs["info"]  # the preset
    with open(tmp_path / words["score"][words["score"].index("--out") + 1], newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == PHOTOS and "anomaly" in rows[0]
    assert (tmp_path / words["score"][words["score"].index("--grid") + 1]).stat().st_size > 1000


DIGITS_PER_CLASS = 12  # bundled digits of each class in the labelled folder: more than the latent mixture's 10 components


def make_labelled_digit_folder(cwd, folder):
    """Writes `DIGITS_PER_CLASS` bundled digits of each class into `cwd/folder/<digit>/`, a user's labelled folder."""
    from ava_keras.datasets import load_digits, write_image_folder

    images, labels = load_digits(image_size=28, return_labels=True)
    for digit in range(10):
        write_image_folder(images[labels == digit][:DIGITS_PER_CLASS], Path(cwd) / folder / str(digit))


def check_labelled_folder_recipe(tmp_path, readme_run):
    """`train FOLDER --labels inferred` on a folder of class sub-folders, then `sample --label` on its model."""
    train = the_command("train FOLDER --labels")
    make_labelled_digit_folder(tmp_path, folder_of(train))
    run(train, tmp_path)
    model = model_dir(tmp_path, train)
    sample = the_command("sample --label")
    assert str(model.relative_to(tmp_path) / "model.keras") in sample, (sample, model)
    words = shlex.split(sample, comments=True)
    label = words[words.index("--label") + 1]
    assert f"of class {label!r}" in run(sample, tmp_path).stdout
    assert (tmp_path / words[words.index("--out") + 1]).stat().st_size > 1000


def check_mirrored(tmp_path, readme_run):
    train = the_command("train FOLDER --strategy")
    make_photo_folder(tmp_path, folder_of(train))
    run(train, tmp_path)
    assert (model_dir(tmp_path, train) / "model.keras").exists()


def check_experiment(name, outputs):
    def check(tmp_path, readme_run):
        folder = readme_run(f"experiment {name}")
        for output in outputs:
            assert (folder / f"{name}_results" / output).stat().st_size > 0, output

    return check


def check_paper(tmp_path, readme_run):
    check_experiment("paper", ("paper_tables.md", "paper_summary.json", "paper_figure5.png"))(tmp_path, readme_run)
    with open(readme_run("experiment paper") / "paper_results" / "paper_runs.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    # γ = 1 diverges within --quick's steps: recorded with its step and term, and the sweep went on.
    diverged = [r for r in rows if r["status"] == "diverged"]
    assert diverged and all(int(r["diverged_at_step"]) >= 1 and r["diverged_term"] for r in diverged)
    assert [r for r in rows if r["status"] == "ok"]


def check_bench(tmp_path, readme_run):
    assert any((readme_run("bench") / "benchmark_results").iterdir())


RECIPES = {
    "train --dataset": check_main_command,
    "train FOLDER": check_own_folder_recipe,  # and every command on its model
    "train FOLDER --strategy": check_mirrored,
    "train FOLDER --labels": check_labelled_folder_recipe,  # and `sample --label` on its model
    "experiment paper": check_paper,
    "experiment quality": check_experiment("quality", ("quality_summary.json",)),
    "experiment anomaly": check_experiment("anomaly", ("anomaly_summary.json", "anomaly_table.md")),
    "bench": check_bench,
}
COVERED = set(RECIPES) | set(ON_THE_TRAINED_MODEL) | {"sample --label"}


def test_every_readme_command_is_covered_here():
    shown = {kind(command): command for command in readme_commands()}
    assert not set(shown) - COVERED, f"README.md shows commands these tests do not run: {set(shown) - COVERED}"
    assert not COVERED - set(shown), f"these tests cover commands README.md no longer shows: {COVERED - set(shown)}"


# The commands whose run other tests read too: their tests share one test process under `--dist loadgroup`.
SHARED_RUNS = ("experiment paper", "experiment anomaly", "bench")


@pytest.mark.integration
@pytest.mark.parametrize("which", [
    pytest.param(which, marks=[pytest.mark.xdist_group(shared_run_group(which))] if which in SHARED_RUNS else [])
    for which in RECIPES
])
def test_readme_command_runs_as_written(which, tmp_path, readme_run):
    RECIPES[which](tmp_path, readme_run)
