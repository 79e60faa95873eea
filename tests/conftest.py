"""Shared test setup: quiet TensorFlow, seed everything, the slowest tests first, shared README runs."""

import os
import types

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def pytest_configure(config):
    """Two logical CPU devices in every process that runs tests, before TensorFlow initialises its devices.

    tests/test_distributed.py runs a real two-replica MirroredStrategy on them;
    every other test keeps running on the first one. pytest-xdist's controller
    (`-n 2`) runs no test, so it does not import TensorFlow: the test processes
    start that much sooner.
    """
    if config.getoption("numprocesses", None) and not hasattr(config, "workerinput"):
        return
    import tensorflow as tf

    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2
    )


# The slowest tests and groups of the full tier (nodeid fragments, slowest first; CPU seconds of one run in the
# comments). pytest-xdist hands tests out in collection order, so starting these first keeps one long test from
# running alone at the end (longest processing time first).
SLOWEST_FIRST = (
    "test_readme_command_runs_as_written[train FOLDER]",  # 166: six commands, each its own process
    "test_readme_command_runs_as_written[train --dataset]",  # 143: the README's main command, 20 epochs
    "test_readme_command_runs_as_written[bench]",  # 140: eight measurements, each its own process
    "test_distributed.py::test_killed_worker_then_restart",  # 89 in all: two clusters of two worker processes
    "test_readme_command_runs_as_written[train FOLDER --labels]",  # 63
    "test_export_labels.py",  # 66 in all: a client in a fresh process, a TFLite conversion
    "test_bench_precision_axis",  # 55
    "test_runaway.py",  # 53
    "test_photos_at_64_with_scaled_networks",  # 47
    "test_readme_command_runs_as_written[experiment anomaly]",  # 46
    "test_readme_command_runs_as_written[train FOLDER --strategy]",  # 46
    "test_readme_command_runs_as_written[experiment paper]",  # 38
    "test_export_checks.py",  # 35 in all: a client in a fresh process
    "test_readme_command_runs_as_written[experiment quality]",  # 34
    "test_every_endpoint_runs_in_litert_and_matches",  # 25: the tflite_ava5 conversion
    "test_safety_checks.py",  # 19 in the fast tier's largest group (its module fixture)
)


def _slowness_rank(item):
    return next((rank for rank, fragment in enumerate(SLOWEST_FIRST) if fragment in item.nodeid), len(SLOWEST_FIRST))


# Session fixtures whose tests carry their own xdist_group marks (one group per README command).
GROUPED_BY_MARKS = ("readme_run",)


def _sharing_group(item):
    """The xdist group of a test that uses a fixture made once, or None.

    A module-scoped fixture (a trained model, an export, a cluster run) groups
    its module's tests; a session-scoped fixture defined here groups the tests
    of every module that use it.
    """
    groups = set()
    for name, definitions in item._fixtureinfo.name2fixturedefs.items():
        definition = definitions[-1]
        if definition.scope == "module":
            groups.add(f"{item.module.__name__} module fixtures")
        elif definition.scope == "session" and definition.func.__module__ == __name__ and name not in GROUPED_BY_MARKS:
            groups.add(f"{name} fixture")
    assert len(groups) <= 1, f"{item.nodeid} uses fixtures of the groups {sorted(groups)}: one would be made twice"
    return next(iter(groups), None)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks
def pytest_collection_modifyitems(items):
    """Runs the known slowest tests first (the rest keep their order); shares the fixtures made once.

    A test that uses such a fixture joins its xdist group (`_sharing_group`),
    so with `--dist loadgroup` the fixture is made once rather than once per
    worker process.
    """
    for item in items:
        group = _sharing_group(item) if hasattr(item, "_fixtureinfo") else None
        if group and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=_slowness_rank)


@pytest.fixture(scope="session")
def readme_run(tmp_path_factory):
    """`readme_run(which)`: the folder in which README.md's `which` command ran as written, once per process."""
    from tests._readme import run, the_command

    folders = {}

    def run_once(which):
        if which not in folders:
            folder = tmp_path_factory.mktemp(which.replace(" ", "_"))
            run(the_command(which), folder)
            folders[which] = folder
        return folders[which]

    return run_once


@pytest.fixture(scope="session")
def tflite_ava5(tmp_path_factory):
    """A tiny AVA5 with a fitted latent mixture (`.model`) and its TFLite files (`.files`, `.max_generate`).

    One conversion (about 20 s) for the LiteRT tests of tests/test_export.py and tests/test_export_checks.py.
    """
    import ava_keras as ak
    from tests._tiny import tiny_images, tiny_model

    model = tiny_model()
    model.fit_latent_sampler(tiny_images(40, seed=3))  # generate goes through the fitted mixture
    max_generate = 4
    files = ak.export_tflite(model, tmp_path_factory.mktemp("tflite") / "ava5", max_generate=max_generate)
    return types.SimpleNamespace(model=model, files=files, max_generate=max_generate)


@pytest.fixture(autouse=True)
def seed_everything():
    """Every test starts from the same global seeds."""
    import keras

    keras.utils.set_random_seed(1234)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)
