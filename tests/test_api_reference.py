"""The API reference builds from the docstrings with pdoc, as the README says, without warnings or gaps."""

import inspect
import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration  # the full tier (README: Tests)

ROOT = os.path.join(os.path.dirname(__file__), os.pardir)


def _public_names(module):
    """What pdoc documents for `module`: its `__all__`, else the public names it defines."""
    if hasattr(module, "__all__"):
        return [name for name in module.__all__ if not name.startswith("__")]
    return [name for name, value in vars(module).items()
            if not name.startswith("_") and getattr(value, "__module__", None) == module.__name__
            and (inspect.isclass(value) or inspect.isfunction(value))]


def test_api_reference_builds_without_warnings_and_documents_every_public_name(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow",
               PYTHONPATH=os.path.abspath(ROOT), PYTHONWARNINGS="always")
    result = subprocess.run([sys.executable, "-m", "pdoc", "-o", str(tmp_path), "ava_keras"],
                            capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    warnings = [line for line in result.stderr.splitlines() if re.search(r"\w+Warning: ", line)]
    assert not warnings, "pdoc warned:\n" + "\n".join(warnings)

    import ava_keras as ak

    ak.load_all()
    missing, undocumented = [], []
    modules = [ak] + [getattr(ak, name) for name in ak.__all__ if inspect.ismodule(getattr(ak, name, None))]
    for module in modules:
        page = tmp_path.joinpath(*module.__name__.split(".")).with_suffix(".html")
        if not page.exists():
            missing.append(module.__name__)
            continue
        html = page.read_text(encoding="utf-8")
        for name in _public_names(module):
            value = getattr(module, name)
            if inspect.ismodule(value):
                continue  # a subpackage has its own page, checked in this loop
            if f'id="{name}"' not in html:
                missing.append(f"{module.__name__}.{name}")
            if (inspect.isclass(value) or inspect.isfunction(value)) and not inspect.getdoc(value):
                undocumented.append(f"{module.__name__}.{name}")
    assert not missing, "missing from the API reference: " + ", ".join(missing)
    assert not undocumented, "public names without a docstring: " + ", ".join(undocumented)
