"""`import ava_keras` gives the same package under any program name, and the command line's
`--help` answers without TensorFlow."""

import os
import subprocess
import sys
import textwrap
import warnings

import pytest

import ava_keras as ak
from ava_keras import cli
from tests._imports import import_cycles, package_imports


def _python(code, argv0="ava-keras"):
    """Runs `code` in a fresh interpreter whose sys.argv[0] is `argv0`; returns the completed process."""
    program = f"import sys\nsys.argv[0] = {argv0!r}\n" + textwrap.dedent(code)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.integration
@pytest.mark.parametrize("argv0", ["ava-keras", "ava-keras-my-script", "train.py"])
def test_star_import_gives_the_full_package_under_any_program_name(argv0):
    result = _python("""
        import ava_keras
        assert "tensorflow" not in sys.modules, "import ava_keras alone loaded TensorFlow"
        from ava_keras import *
        print(AVA.__name__, layers.ConvEncoder.__name__, sorted(PRESETS)[0], callable(export_saved_model))
    """, argv0)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["AVA", "ConvEncoder", "ava1", "True"]


def test_every_public_name_resolves():
    for name in ak.__all__:
        assert getattr(ak, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        ak.nonsense  # noqa: B018


def test_the_errors_users_catch_are_top_level_names():
    from ava_keras import errors

    assert ak.InputError is errors.InputError and ak.TrainingDivergedError is errors.TrainingDivergedError


@pytest.mark.integration
@pytest.mark.parametrize("module", ["ava_keras.export", "ava_keras.tflite", "ava_keras.models.anomaly_scoring"])
def test_a_submodule_imported_first_imports_without_a_cycle(module):
    result = _python(f"import {module}\nimport ava_keras\nprint(ava_keras.AVA.__name__)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["AVA"]


# Each command's --help, with TensorFlow and Keras made unimportable.
HELPS = [["--help"], ["train", "--help"], ["sample", "--help"], ["reconstruct", "--help"], ["export", "--help"],
         ["info", "--help"], ["experiment", "paper", "--help"], ["experiment", "quality", "--help"],
         ["bench", "--help"], ["bench", "data-scale", "--help"]]


@pytest.mark.integration
def test_help_runs_without_tensorflow_importable():
    result = _python(f"""
        for name in ("tensorflow", "keras"):
            sys.modules[name] = None  # `import tensorflow` now raises ImportError
        import contextlib, io
        from ava_keras import cli
        for argv in {HELPS!r}:
            with contextlib.redirect_stdout(io.StringIO()) as out:
                code = cli.main(argv)
            assert code == 0 and "usage: ava-keras" in out.getvalue(), (argv, code)
        print("ok")
    """)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_load_all_warns_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ak.load_all()


@pytest.mark.integration
def test_keras_load_model_finds_the_classes_when_keras_came_first(tmp_path):
    path = tmp_path / "vae.keras"
    model = ak.AVA.from_preset("vae", image_shape=(8, 8, 1), latent_dim=2, encoder_filters=(4,),
                               decoder_filters=(4,), hidden_units=8, seed=0)
    model.save(path)
    result = _python(f"""
        import keras
        import ava_keras
        print(type(keras.models.load_model({str(path)!r})).__name__)
    """, argv0="load.py")
    assert result.returncode == 0 and result.stdout.split() == ["AVA"], result.stderr


def test_the_package_has_no_import_cycles_and_constants_is_at_the_bottom():
    graph = package_imports(os.path.dirname(ak.__file__))
    assert "ava_keras.models.ava" in graph and "ava_keras.models.objectives" in graph["ava_keras.models.ava"]
    assert import_cycles(graph) == []
    assert graph["ava_keras.constants"] == set()
    # The check sees a cycle through a lazy importlib call, as the old data.images shim made.
    assert import_cycles({"a.x": {"a.y"}, "a.y": {"a.x"}}) == [["a.x", "a.y", "a.x"]]
