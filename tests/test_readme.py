"""The README's API tour runs, and every `ak.…` name the docs cite exists after `import ava_keras as ak`.

The snippets are read from README.md when the tests run, so editing the tour
edits the test. They run as written, on tiny stand-ins: names a snippet uses
but does not define (`x`, `z`, `my_encoder`, ...) come from `STAND_INS`, a
folder `photos/` of small pictures is in the working directory, presets get
small networks and `fit` runs one epoch.
"""

import builtins
import json
import os
import pathlib
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

import ava_keras as ak
from ava_keras.evaluation import digit_classifier
from tests._quality import shared_classifier

pytestmark = pytest.mark.integration  # the full tier (README: Tests)

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOUR_HEADING = "## API tour"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TINY_NETWORKS = dict(encoder_filters=(4,), decoder_filters=(4,), discriminator_filters=(4,),
                     latent_discriminator_units=(4,), hidden_units=8)


def tour_snippets(text):
    """`(first line number, code)` of every ```python block under the API tour heading."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == TOUR_HEADING), None)
    if start is None:
        return []
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    snippets, i = [], start + 1
    while i < end:
        if lines[i].strip() == "```python":
            close = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
            snippets.append((i + 2, "\n".join(lines[i + 1 : close])))
            i = close
        i += 1
    return snippets


SNIPPETS = tour_snippets((ROOT / "README.md").read_text())


# === Stand-ins: each builds a name from what the snippet has defined so far ===


def _images_for(namespace, n=4):
    if "model" not in namespace:
        raise LookupError("it stands for images of the snippet's `model`, and no `model` is defined before it")
    shape = namespace["model"].image_shape
    return np.random.default_rng(0).random((n,) + tuple(shape)).astype("float32")


def _like_held_out(namespace):
    """Images the shape of the snippet's `held_out` (e.g. reconstructions or samples of it), else of `x`."""
    if "held_out" in namespace:
        reference = np.asarray(namespace["held_out"])
    else:
        reference = _images_for(namespace)
    noise = np.random.default_rng(1).normal(0, 0.1, reference.shape)
    return np.clip(reference + noise, 0.0, 1.0).astype("float32")


class _StandInDecoder:
    """`my_decoder`: becomes a small ConvDecoder for the `image_shape` the AVA is built with."""


STAND_INS = {
    "x": _images_for,
    "images": lambda ns: _images_for(ns, n=8),
    "z": lambda ns: np.random.default_rng(2).normal(size=(4, ns["model"].latent_dim)).astype("float32"),
    "x_rec": _like_held_out,
    "samples": _like_held_out,
    "features_a": lambda ns: np.random.default_rng(3).normal(size=(60, 8)),
    "features_b": lambda ns: np.random.default_rng(4).normal(0.5, 1.0, size=(60, 8)),
    "my_encoder": lambda ns: ak.layers.ConvEncoder(latent_dim=4, filters=(4,), hidden_units=8),
    "my_decoder": lambda ns: _StandInDecoder(),
}
PREDEFINED = {"ak": ak, "keras": keras, "np": np}


class _Namespace(dict):
    """The snippet's module namespace; a name it never defined comes from `STAND_INS`.

    Names are mirrored into `shared` (the exec globals), so functions and
    comprehensions inside the snippet see them too.
    """

    def __init__(self, shared, label):
        super().__init__()
        self.shared, self.label = shared, label

    def __setitem__(self, name, value):
        super().__setitem__(name, value)
        self.shared[name] = value

    def __missing__(self, name):
        if name in self.shared:
            return self.shared[name]
        if hasattr(builtins, name):
            raise KeyError(name)  # let Python find the builtin
        if name not in STAND_INS:
            raise NameError(
                f"{self.label} uses `{name}`, which it does not define and tests/test_readme.py has no "
                "stand-in for: define it in the snippet or add a stand-in to STAND_INS."
            )
        try:
            value = STAND_INS[name](self)
        except LookupError as error:
            raise NameError(f"{self.label}: cannot make a stand-in for `{name}`: {error}") from None
        self[name] = value
        return value


@pytest.fixture
def tiny_world(tmp_path, tmp_path_factory, monkeypatch):
    """A working directory with `photos/`, small presets, one-epoch fits and the session's digit classifier."""
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(32):  # one batch of image_folder's default size
        Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(photos / f"{i}.png")
    monkeypatch.chdir(tmp_path)

    from_preset = ak.AVA.from_preset.__func__
    monkeypatch.setattr(ak.AVA, "from_preset",
                        classmethod(lambda cls, *args, **kwargs: from_preset(cls, *args, **{**TINY_NETWORKS, **kwargs})))
    fit = ak.AVA.fit
    monkeypatch.setattr(ak.AVA, "fit", lambda self, *args, **kwargs: fit(self, *args, **{**kwargs, "epochs": 1}))
    init = ak.AVA.__init__

    def init_with_stand_in_decoder(self, encoder, decoder, image_shape, *args, **kwargs):
        if isinstance(decoder, _StandInDecoder):
            decoder = ak.layers.ConvDecoder(image_shape=image_shape, filters=(4,))
        init(self, encoder, decoder, image_shape, *args, **kwargs)

    monkeypatch.setattr(ak.AVA, "__init__", init_with_stand_in_decoder)
    # The scores' digit classifier: the one the quality tests train once per session.
    _, cache_dir = shared_classifier(tmp_path_factory)
    monkeypatch.setenv(digit_classifier.CACHE_ENV, cache_dir)


def test_readme_has_an_api_tour():
    assert SNIPPETS, f"README.md has no ```python blocks under a '{TOUR_HEADING}' heading"


@pytest.mark.parametrize("line, code", SNIPPETS, ids=[f"README.md-line-{line}" for line, _ in SNIPPETS])
def test_api_tour_snippet_runs(line, code, tiny_world):
    label = f"README.md API tour snippet at line {line} (`{code.strip().splitlines()[0]}`)"
    shared = dict(PREDEFINED)
    try:
        exec(compile(code, f"<{label}>", "exec"), shared, _Namespace(shared, label))
    except Exception as error:
        raise AssertionError(f"{label} failed: {type(error).__name__}: {error}") from error


# === Names the docs cite ===

_RESOLVE = """
import importlib, json, sys
import ava_keras as ak
missing = []
for name in json.loads(sys.argv[1]):
    parts = name.split(".")
    if parts[0] == "ak":  # what `import ava_keras as ak` gives, with no other import
        value, rest = ak, parts[1:]
    else:  # a module path: import the longest importable prefix
        for cut in range(len(parts), 0, -1):
            try:
                value, rest = importlib.import_module(".".join(parts[:cut])), parts[cut:]
                break
            except ImportError:
                continue
    try:
        for part in rest:
            value = getattr(value, part)
    except AttributeError:
        missing.append(name)
print(json.dumps(missing))
"""


def test_every_name_the_docs_cite_exists_after_importing_ava_keras():
    cited = {}
    for path in DOCS:
        for name in re.findall(r"\b(?:ak|ava_keras)(?:\.[A-Za-z_]\w*)+", path.read_text()):
            cited.setdefault(name, path.relative_to(ROOT).as_posix())
    assert "ak.evaluation.classifier_fid" in cited  # the extraction works
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow", PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", _RESOLVE, json.dumps(sorted(cited))],  # a fresh process
                            capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    missing = json.loads(result.stdout.strip().splitlines()[-1])
    assert not missing, "cited but missing after `import ava_keras as ak`: " + ", ".join(
        f"{name} ({cited[name]})" for name in missing
    )
