"""README.md's `ava-keras` commands: read from its shell blocks, run as written, once per test process.

`readme_commands()` reads every command; `the_command(which)` is the one of a
kind (e.g. `"experiment paper"`); `run(command, cwd)` runs it in a shell
with no flag added, so an edited command is what gets tested. The session
fixture `readme_run` (tests/conftest.py) runs a command once per test process
and shares its folder: the tests that check that command's outputs carry the
mark `shared_run_group(which)`, so that with `--dist loadgroup` they share one
test process and one run.
"""

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
ENTRY_POINT = shutil.which("ava-keras")
# A TensorFlow C++ log line, e.g. "E0000 00:00:1796268824.157135 2198 cuda_platform.cc:52] failed call to cuInit",
# or absl's notice before them.
TENSORFLOW_LOG_LINE = re.compile(r"[IWEF]\d{4} \d\d:\d\d:[\d.]+ +\d+ [\w.]+:\d+\] |WARNING: All log messages before absl")
# The commands that use the model `train FOLDER` writes, in the README's order.
ON_THE_TRAINED_MODEL = ("sample", "reconstruct", "export", "info", "score")


def readme_commands():
    """Every `ava-keras ...` command in README.md's shell blocks, as written (comments included)."""
    commands = []
    for language, block in re.findall(r"^```(\w*)\n(.*?)^```", README.read_text(), flags=re.M | re.S):
        if language not in ("", "bash", "sh", "console"):
            continue
        for line in block.splitlines():
            if "ava-keras " in line:
                commands.append(line[line.index("ava-keras "):])
    return commands


def kind(command):
    """What a command does, the key of tests/test_readme_commands.py's `RECIPES`: e.g. `"experiment paper"` or `"train FOLDER"`."""
    words = shlex.split(command, comments=True)[1:]
    if words[0] == "experiment":
        return " ".join(words[:2])
    if words[0] == "train":
        if "--dataset" in words:
            return "train --dataset"
        if "--labels" in words:
            return "train FOLDER --labels"
        return "train FOLDER --strategy" if "--strategy" in words else "train FOLDER"
    if words[0] == "sample" and "--label" in words:
        return "sample --label"
    return words[0]


def the_command(which):
    """The one README command of kind `which`."""
    found = [c for c in readme_commands() if kind(c) == which]
    assert len(found) == 1, f"README.md should show one `{which}` command, found {found}"
    return found[0]


def run(command, cwd):
    """Runs `command` in a shell in `cwd`; returns the CompletedProcess. TensorFlow's logging is left as is."""
    if ENTRY_POINT is None:
        pytest.skip("the ava-keras console script is not installed (pip install -e .)")
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the user's default: the command keeps TensorFlow quiet itself
    result = subprocess.run(command, shell=True, cwd=cwd, capture_output=True, text=True, timeout=1800, env=env)
    assert result.returncode == 0, f"{command} exited {result.returncode}:\n{result.stderr[-3000:]}"
    assert not [line for line in result.stderr.splitlines() if TENSORFLOW_LOG_LINE.match(line)], result.stderr
    return result


def shared_run_group(which):
    """The xdist group of the tests that share the run of README.md's `which` command."""
    return f"readme {which}"
