"""The `ava-keras` command line, in-process (README.md's commands run as processes in test_readme_commands.py)."""

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

import ava_keras as ak
from ava_keras import cli, cli_parser
from ava_keras.datasets import load_photos, write_image_folder

ENTRY_POINT = shutil.which("ava-keras")
TRAIN_FLAGS = ["--image-size", "16", "--latent-dim", "4", "--batch-size", "4", "--samples", "4", "--seed", "1"]


def _run_cli(argv, capsys):
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Ten real photographs at 20x24 in nested folders, plus one broken file."""
    root = tmp_path_factory.mktemp("cli") / "pictures"
    names = [f"{'nested/' if i % 3 == 0 else ''}photo_{i}" for i in range(10)]
    write_image_folder(load_photos(image_size=(20, 24))[:10], root, names=names)
    (root / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return root


@pytest.fixture(scope="module")
def trained(folder, tmp_path_factory):
    """Runs `ava-keras train` for one epoch; returns (out dir, log dir, exit status, stderr)."""
    out = tmp_path_factory.mktemp("run") / "out"
    log_dir = out.parent / "logs"
    with contextlib.redirect_stderr(io.StringIO()) as stderr, contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["train", str(folder), "--epochs", "1", "--out", str(out), "--log-dir", str(log_dir),
                         "--preset", "ava1", "--verbose", "2", *TRAIN_FLAGS])
    return out, log_dir, code, stderr.getvalue()


@pytest.mark.integration
def test_train_writes_every_output_and_each_loads(trained):
    out, log_dir, code, stderr = trained
    assert code == 0, stderr[-3000:]
    assert "ava-keras: warning: Skipped 1 unreadable image file(s)" in stderr
    assert "broken.jpg" in stderr and "Traceback" not in stderr
    model = ak.saving.load_model(out / "model.keras")
    assert model.image_shape == (16, 16, 3) and model.latent_dim == 4 and model.preset == "ava1"
    assert model.encoder_optimizer.iterations.numpy() == 3  # ceil(10 good images / batch 4)
    import tensorflow as tf

    served = tf.saved_model.load(str(out / "saved_model"))
    generated = served.generate(n=tf.constant(2), seed=tf.constant(0))
    generated = generated["images"] if isinstance(generated, dict) else generated
    assert tuple(generated.shape) == (2, 16, 16, 3)
    with Image.open(out / "grids" / "epoch_001.png") as grid:
        # 4 rows of 64x64 tiles (16 px enlarged 4x): originals, reconstructions, 4 samples
        assert grid.size[0] > 64 * 4 and grid.size[1] > 64 * 3
    with Image.open(out / "loss.png") as plot:
        assert plot.size[0] > 200
    history = json.loads((out / "history.json").read_text())
    assert history["epochs_completed"] == 1 and not history["interrupted"]
    assert np.isfinite(history["history"]["loss"][0])
    assert any(name.startswith("events.out.tfevents") for _, _, files in os.walk(log_dir) for name in files)


def test_the_users_tf_cpp_min_log_level_is_kept(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")
    cli._import_tensorflow_quietly()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"


@pytest.mark.integration
def test_sample_reconstruct_export_info_on_the_trained_model(trained, folder, tmp_path, capsys):
    out, _, code, stderr = trained
    assert code == 0, stderr[-3000:]
    model_path = str(out / "model.keras")

    code, stdout, _ = _run_cli(["sample", model_path, "-n", "6", "--out", str(tmp_path / "grid.png")], capsys)
    assert code == 0 and "6 samples" in stdout
    with Image.open(tmp_path / "grid.png") as grid:
        assert grid.size == (3 * (64 + 2) + 2, 2 * (64 + 2) + 2)  # 3 columns, 2 rows of 64-px tiles

    code, stdout, err = _run_cli(["reconstruct", model_path, str(folder), "--out", str(tmp_path / "rec")], capsys)
    assert code == 0 and "10 reconstructions" in stdout and "broken.jpg" in err
    written = sorted(os.path.relpath(os.path.join(r, f), tmp_path / "rec")
                     for r, _, files in os.walk(tmp_path / "rec") for f in files)
    assert len(written) == 10 and os.path.join("nested", "photo_0.png") in written
    with Image.open(tmp_path / "rec" / "photo_1.png") as image:
        assert image.size == (16, 16) and image.mode == "RGB"

    code, stdout, _ = _run_cli(["export", model_path, str(tmp_path / "export")], capsys)
    assert code == 0 and (tmp_path / "export" / "saved_model.pb").exists()
    code, _, err = _run_cli(["export", model_path, str(tmp_path / "export")], capsys)
    assert code == 2 and "overwrite" in err

    code, stdout, _ = _run_cli(["info", model_path, "--json"], capsys)
    info = json.loads(stdout)
    assert code == 0 and info["preset"] == "ava1" and info["image_shape"] == [16, 16, 3]
    assert info["blocks"]["encoder"]["optimizer"]["iterations"] == 3
    code, stdout, _ = _run_cli(["info", model_path], capsys)
    assert code == 0 and "latent dim 4" in stdout and "discriminator:" in stdout


@pytest.mark.integration
def test_ctrl_c_saves_the_model_trained_so_far(folder, tmp_path, capsys, monkeypatch):
    def interrupt(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(ak.callbacks.SampleGrid, "on_epoch_end", interrupt)
    out = tmp_path / "out"
    code, _, err = _run_cli(
        ["train", str(folder), "--epochs", "5", "--out", str(out), "--preset", "vae", "--verbose", "0",
         *TRAIN_FLAGS], capsys,
    )
    assert code == 130
    assert f"Saved the model trained so far to {out / 'model.keras'}" in " ".join(err.split())
    history = json.loads((out / "history.json").read_text())
    assert history["interrupted"] and history["epochs_completed"] == 2
    model = ak.saving.load_model(out / "model.keras")
    assert model.encoder_optimizer.iterations.numpy() == 6  # two epochs of 3 steps


@pytest.mark.integration
def test_decoder_ema_flag_gives_the_decoder_an_averaging_optimizer(folder, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = _run_cli(
        ["train", str(folder), "--epochs", "1", "--out", str(out), "--preset", "vae", "--verbose", "0",
         "--decoder-ema", "0.9", *TRAIN_FLAGS], capsys,
    )
    assert code == 0, err
    model = ak.saving.load_model(out / "model.keras")
    decoder = model.decoder_optimizer.get_config()
    assert decoder["use_ema"] is True and decoder["ema_momentum"] == 0.9
    assert not model.encoder_optimizer.get_config()["use_ema"]
    # fit ended by putting the average into the decoder, and the .keras file kept both.
    averages = model.decoder_optimizer._model_variables_moving_average
    for weight, average in zip(model.decoder.trainable_variables, averages):
        np.testing.assert_array_equal(weight.numpy(), average.numpy())


@pytest.mark.integration
def test_train_with_scaled_networks_a_patch_discriminator_and_the_adversarial_options(folder, tmp_path, capsys):
    out = tmp_path / "out"
    at = TRAIN_FLAGS.index("--latent-dim")
    flags = TRAIN_FLAGS[:at] + TRAIN_FLAGS[at + 2 :]  # the latent size follows the image size
    code, _, err = _run_cli(
        ["train", str(folder), "--epochs", "1", "--out", str(out), "--preset", "ava2", "--verbose", "0",
         "--networks", "scaled", "--discriminator", "patch", "--adaptive-adversarial-weight",
         "--adversarial-weight", "0.3", "--no-decoder-adversarial-reaches-encoder", "--discriminator-start-step",
         "2", *flags], capsys,
    )
    assert code == 0, err
    model = ak.saving.load_model(out / "model.keras")
    assert model.adaptive_adversarial_weight and not model.discriminator_prior_samples
    assert model.loss_weights_config["adversarial_weight"] == 0.3
    assert not model.decoder_adversarial_reaches_encoder and model.discriminator_start_step == 2
    # 16x16: two stride-2 levels (a 4x4 map), latent size sqrt(16 * 16) = 16, a one-level patch d.
    assert model.encoder.filters == (16, 32) and model.decoder.upsampling == "resize" and model.latent_dim == 16
    assert type(model.discriminator) is ak.layers.PatchDiscriminator and model.discriminator.filters == (16,)


def _not_a_keras_zip(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "not a model")
    return path


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["train"], "give a folder of images"),
        (["train", "{tmp}", "--dataset", "digits"], "not both or neither"),
        (["train", "{tmp}/missing"], "not found: '{tmp}/missing'"),
        (["train", "{tmp}/file.png"], "is a file, not a folder"),
        (["train", "{tmp}/empty"], "no image files found in '{tmp}/empty'"),
        (["train", "--dataset", "mnist"], "invalid choice: 'mnist'"),
        (["train", "--dataset", "digits", "--image-size", "2"], "between 4"),
        (["train", "--dataset", "digits", "--image-size", "64x"], "HEIGHTxWIDTH"),
        (["train", "--dataset", "digits", "--epochs", "0"], "at least 1"),
        (["train", "--dataset", "digits", "--learning-rate", "-1"], "--learning-rate"),
        (["train", "--dataset", "digits", "--validation-split", "1"], "--validation-split"),
        (["train", "--dataset", "digits", "--decoder-ema", "1"], "--decoder-ema: must be in (0, 1), got 1"),
        (["train", "--dataset", "digits", "--decoder-ema", "0"], "--decoder-ema: must be in (0, 1), got 0"),
        (["train", "--dataset", "digits", "--decoder-ema", "fast"], "--decoder-ema: expected a number, got 'fast'"),
        (["experiment", "quality", "--decoder-ema", "-0.5"], "--decoder-ema: must be in (0, 1), got -0.5"),
        (["train", "--dataset", "digits", "--adversarial-weight", "-1"], "--adversarial-weight: must be in [0, "),
        (["train", "--dataset", "digits", "--discriminator-start-step", "-1"], "must be at least 0, got -1"),
        (["train", "--dataset", "digits", "--paper-settings", "--adversarial-weight", "0.3"],
         "--adversarial-weight 0.3 conflicts with --paper-settings"),
        (["train", "--dataset", "digits", "--out", "{tmp}/file.png"], "--out"),
        (["train", "{tmp}/few", "--batch-size", "8", "--image-size", "8"], "fewer than one batch"),
        (["sample", "{tmp}/missing.keras"], "model file not found"),
        (["sample", "{tmp}/file.png"], "not a .keras model file"),
        (["info", "{tmp}/archive.keras"], "archive.keras"),
        (["reconstruct", "{tmp}/archive.keras", "{tmp}/empty", "--out", "{tmp}/r"], "no image files"),
        (["score", "{tmp}/archive.keras", "{tmp}/empty"], "no image files"),
        (["export"], "required: MODEL, OUTDIR"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_user_errors_print_one_line_and_exit_2(tmp_path, capsys, argv, fragment):
    (tmp_path / "file.png").write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    (tmp_path / "few").mkdir()
    for i in range(3):
        Image.new("RGB", (9, 9), (i, i, i)).save(tmp_path / "few" / f"{i}.png")
    _not_a_keras_zip(tmp_path / "archive.keras")
    argv = [a.format(tmp=tmp_path) for a in argv]
    code, _, err = _run_cli(argv, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ava-keras: error: "), err
    assert fragment.format(tmp=tmp_path) in lines[0]


@pytest.mark.parametrize("command", ["train", "sample", "reconstruct", "score", "export", "info"])
def test_help_explains_every_flag(command, capsys):
    assert cli.main([command, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    parser = cli.build_parser()
    subparser = parser._subparsers._group_actions[0].choices[command]
    formatter = subparser._get_formatter()
    for action in subparser._actions:
        for flag in action.option_strings:
            assert flag in text
        assert action.help, f"{command} {action.dest} has no help"
        # Every real default (0 and 0.0 included) is stated with its value in the flag's own help.
        if action.default is not None and action.default is not False and action.default != "==SUPPRESS==":
            shown = " ".join(formatter._expand_help(action).split())
            assert f"default: {action.default}" in shown, f"{command} {action.dest}: {shown!r}"
            assert shown in text


def test_choices_match_the_library():
    assert cli_parser.PRESETS == tuple(ak.PRESETS)
    from ava_keras.constants import ROUTINGS

    assert cli_parser.ROUTINGS == ROUTINGS
    assert set(cli_parser.RESIZE_MODES) == set(ak.data.RESIZE_MODES)


@pytest.mark.integration
def test_help_and_errors_do_not_import_tensorflow():
    if ENTRY_POINT is None:
        pytest.skip("the ava-keras console script is not installed")
    env = dict(os.environ, PYTHONPROFILEIMPORTTIME="1")
    for argv, code in ((["--help"], 0), (["train", "--dataset", "digits", "--epochs", "0"], 2)):
        result = subprocess.run([ENTRY_POINT, *argv], capture_output=True, text=True, timeout=120, env=env)
        assert result.returncode == code
        imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "import time:" in line]
        assert "argparse" in imported  # the import log works
        assert "tensorflow" not in imported and "keras" not in imported


def test_sample_grid_callback_in_a_users_fit(tmp_path):
    images = load_photos(image_size=8, names=["coffee", "rocket", "astronaut", "chelsea"])
    model = ak.AVA.from_preset("vae", image_shape=(8, 8, 3), latent_dim=2, encoder_filters=(4,),
                               decoder_filters=(4,), hidden_units=8, seed=0)
    model.compile()
    grid = ak.callbacks.SampleGrid(tmp_path / "grids", images=images[:2], num_samples=3, columns=3, every=2)
    model.fit(images, epochs=3, batch_size=2, callbacks=[grid], verbose=0)
    # every=2 writes epoch 2 and the last epoch (3); rows: 2 originals, 2 reconstructions, 3 samples.
    assert [os.path.basename(p) for p in grid.paths] == ["epoch_002.png", "epoch_003.png"]
    picture = np.asarray(Image.open(grid.paths[-1]))
    assert picture.shape == (3 * (64 + 2) + 2, 3 * (64 + 2) + 2, 3)
    np.testing.assert_array_equal(grid.picture(), picture)  # samples use a fixed seed
    with pytest.raises(ValueError, match="nothing to draw"):
        ak.callbacks.SampleGrid(tmp_path, num_samples=0)


@pytest.mark.integration
def test_diverging_training_saves_the_last_finite_model_and_exits_2(folder, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = _run_cli(
        ["train", str(folder), "--epochs", "5", "--out", str(out), "--preset", "vae", "--verbose", "0",
         "--optimizer", "sgd", "--learning-rate", "1e6", *TRAIN_FLAGS], capsys,
    )
    errors = [line for line in err.splitlines() if line.startswith("ava-keras: error:")]
    assert code == 2 and len(errors) == 1 and errors[0] == err.strip().splitlines()[-1], err
    err = errors[0]
    assert err.startswith("ava-keras: error: Training diverged at step ")
    assert f"Saved the model as it was before that step to {out / 'model.keras'}." in err
    assert json.loads((out / "history.json").read_text())["interrupted"]
    model = ak.saving.load_model(out / "model.keras")
    assert all(np.isfinite(w).all() for w in model.get_weights())
    step = int(err.split("diverged at step ")[1].split(":")[0])
    assert model.encoder_optimizer.iterations.numpy() == step - 1


@pytest.mark.parametrize("error", [ValueError("a bug deep inside fit"), ImportError("No module named 'internal'"),
                                   KeyError("layer")])
def test_an_internal_error_exits_1_with_a_hint_not_2(tmp_path, capsys, monkeypatch, error):
    def broken(args):
        raise error

    monkeypatch.setattr(cli, "_training_data", broken)
    monkeypatch.delenv("AVA_KERAS_DEBUG", raising=False)
    code, _, err = _run_cli(["train", "--dataset", "digits", "--out", str(tmp_path / "out")], capsys)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ava-keras: internal error: "), err
    assert type(error).__name__ in lines[0] and "AVA_KERAS_DEBUG=1" in lines[0]
    monkeypatch.setenv("AVA_KERAS_DEBUG", "1")  # the traceback: the exception itself propagates
    with pytest.raises(type(error)):
        cli.main(["train", "--dataset", "digits", "--out", str(tmp_path / "out")])


def test_a_check_inside_a_command_is_a_user_error(tmp_path, capsys, monkeypatch):
    # Passes the command line's own checks; ava_keras.saving.load_model's check refuses it.
    path = tmp_path / "other.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps({"class_name": "Sequential", "registered_name": None}))
    monkeypatch.delenv("AVA_KERAS_DEBUG", raising=False)
    code, _, err = _run_cli(["info", str(path)], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "not an ava_keras AVA model" in lines[0], err


def test_a_missing_optional_dependency_names_its_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # `import sklearn.datasets` raises ImportError
    code, _, err = _run_cli(["train", "--dataset", "digits", "--out", str(tmp_path / "out")], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "needs scikit-learn" in lines[0], err
    assert "pip install 'ava_keras[datasets]'" in lines[0]
