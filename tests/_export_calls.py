"""Runs calls of an export through tests/_export_client.py, in a fresh process that cannot import ava_keras."""

import json
import os
import subprocess
import sys

import numpy as np

CLIENT = os.path.join(os.path.dirname(__file__), "_export_client.py")


def call_export(export, folder, calls, arrays):
    """Makes `calls` (see tests/_export_client.py) on `export` with `arrays`; returns `(report, outputs)`.

    The calls, arrays and outputs are files in `folder`.
    """
    np.savez(os.path.join(folder, "calls.npz"), **arrays)
    with open(os.path.join(folder, "calls.json"), "w", encoding="utf-8") as file:
        json.dump(calls, file)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [sys.executable, CLIENT, export, os.path.join(folder, "calls.json"), os.path.join(folder, "outputs.npz")],
        cwd=folder, env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), dict(np.load(os.path.join(folder, "outputs.npz")))
