"""ava_keras.data at scale: the mode follows the memory estimate, one copy of the data, late bad files, shards."""

import json
import os
import re
import tracemalloc
import warnings

import numpy as np
import pytest
from PIL import Image

from ava_keras.data import image_folder, read_images, shard_files
from ava_keras.data.image_folder import choose_cache
from ava_keras.data.memory import MEMORY_SHARE, fits_in_memory
from ava_keras.distribute import read_tf_config, worker_shard

pytestmark = pytest.mark.integration  # the full tier (README: Tests)

SIZE = 8
IMAGE_BYTES = SIZE * SIZE * 3


@pytest.fixture
def folder(tmp_path, rng):
    """14 small JPEG and PNG files in two sub-folders."""
    root = tmp_path / "photos"
    for i in range(14):
        path = root / f"part{i % 2}" / (f"{i:02d}.png" if i % 3 else f"{i:02d}.jpg")
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(path)
    return root


def _all(dataset):
    return np.concatenate([batch.numpy() for batch in dataset])


def _quiet(**kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return image_folder(**kwargs)


def test_auto_mode_follows_the_memory_estimate(folder, capsys):
    data_bytes = 14 * IMAGE_BYTES
    roomy = int(data_bytes / MEMORY_SHARE) + 1
    tight = int(data_bytes / MEMORY_SHARE) - 1
    in_memory = image_folder(folder, SIZE, batch_size=4, available_memory=roomy)
    assert in_memory.cache is True and capsys.readouterr().out == ""
    streaming = image_folder(folder, SIZE, batch_size=4, available_memory=tight)
    assert streaming.cache is False
    line = capsys.readouterr().out
    assert line.count("\n") == 1 and "Streaming" in line and str(folder) in line
    # An explicit cache= wins over the estimate, both ways.
    assert image_folder(folder, SIZE, batch_size=4, cache=True, available_memory=1).cache is True
    assert image_folder(folder, SIZE, batch_size=4, cache=False, available_memory=10**12).cache is False
    assert capsys.readouterr().out == ""
    assert fits_in_memory(10, available=20) and not fits_in_memory(11, available=20)
    assert choose_cache("auto", 14, (SIZE, SIZE), 3, available_memory=tight) is False
    assert choose_cache("cache-file", 14, (SIZE, SIZE), 3, available_memory=1) == "cache-file"


def test_images_are_identical_across_modes(folder, tmp_path):
    common = {"directory": folder, "image_size": SIZE, "batch_size": 4, "shuffle": False}
    reference = _all(image_folder(**common, cache=True))
    assert reference.shape == (14, SIZE, SIZE, 3)
    others = {
        "auto, roomy": image_folder(**common, available_memory=10**12),
        "auto, tight": image_folder(**common, available_memory=1),
        "stream": image_folder(**common, cache=False),
        "stream, header check": image_folder(**common, cache=False, check="header"),
        "disk cache": image_folder(**common, cache=str(tmp_path / "cache")),
    }
    for name, dataset in others.items():
        np.testing.assert_array_equal(_all(dataset), reference, err_msg=name)
    # Shuffled in memory: the same images each epoch, in a new order.
    shuffled = image_folder(folder, SIZE, batch_size=4, cache=True, seed=1)
    epochs = [_all(shuffled) for _ in range(2)]
    key = lambda a: sorted(map(bytes, a.reshape(len(a), -1)))  # noqa: E731
    assert key(epochs[0]) == key(epochs[1]) == key(reference)
    assert not np.array_equal(epochs[0], epochs[1])


def test_in_memory_batches_run_on_one_private_thread_and_match_the_tf_cast():
    from ava_keras.data.image_folder import in_memory_batches

    # Every uint8 value, gathered out of order as the in-memory mode does.
    images = np.arange(256 * 3, dtype=np.uint32).astype(np.uint8).reshape(256, 1, 1, 3)
    rows = np.random.default_rng(0).permutation(256)
    dataset = in_memory_batches(images, rows, batch_size=100)
    # One thread allocates the float32 batches (glibc then keeps no freed batch per thread).
    assert dataset.options().threading.private_threadpool_size == 1
    batches = [batch.numpy() for batch in dataset]
    assert [len(b) for b in batches] == [100, 100, 56] and batches[0].dtype == np.float32
    np.testing.assert_array_equal(np.concatenate(batches), images[rows] / np.float32(255))
    shuffled = np.concatenate(list(in_memory_batches(images, rows, batch_size=100, reshuffle=True, seed=0)))
    np.testing.assert_array_equal(np.sort(shuffled.ravel()), np.sort(images[rows].ravel() / np.float32(255)))


@pytest.mark.parametrize("cache", [False, "disk"])
def test_a_file_broken_after_the_check_is_skipped_with_a_warning(folder, tmp_path, cache):
    cache = str(tmp_path / "cache") if cache == "disk" else cache
    dataset = image_folder(folder, SIZE, batch_size=4, shuffle=False, cache=cache)
    victim = dataset.file_paths[5]
    data = open(victim, "rb").read()
    with open(victim, "wb") as file:
        file.write(data[: len(data) // 3])
    with pytest.warns(UserWarning, match="Skipped unreadable image file .*" + re.escape(os.path.basename(victim))):
        first = _all(dataset)
    assert len(first) == 13
    assert [path for path, _ in dataset.skipped_files] == [victim]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second epoch neither warns again nor fails
        second = _all(dataset)
    np.testing.assert_array_equal(first, second)


def test_header_check_is_lazy_and_keeps_the_bad_file_guarantee(folder):
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.jpg").write_bytes(b"not an image at all")
    good = (folder / "part1" / "01.png").read_bytes()
    (folder / "truncated.png").write_bytes(good[: len(good) // 2])
    with pytest.warns(UserWarning, match="Skipped 2 unreadable") as record:
        dataset = image_folder(folder, SIZE, batch_size=4, cache=False, check="header", shuffle=False)
    assert "empty.png" in str(record[0].message) and "text.jpg" in str(record[0].message)
    # The truncated file has a valid header: it is found when decoded, and skipped.
    assert any(path.endswith("truncated.png") for path in dataset.file_paths)
    with pytest.warns(UserWarning, match="truncated.png"):
        images = _all(dataset)
    assert len(images) == 14
    # check="decode" (and strict=True) find it up front.
    with pytest.warns(UserWarning, match="Skipped 3 unreadable"):
        image_folder(folder, SIZE, batch_size=4, cache=False, check="decode")
    with pytest.raises(ValueError, match="truncated.png"):
        image_folder(folder, SIZE, batch_size=4, cache=False, check="header", strict=True)
    with pytest.raises(ValueError, match="check"):
        image_folder(folder, SIZE, check="none")


def test_shards_are_disjoint_and_cover_the_folder(folder):
    every = image_folder(folder, SIZE, batch_size=1, shuffle=False).file_paths
    for workers in (1, 2, 3, 5):
        shards = [shard_files(every, workers, i) for i in range(workers)]
        assert sorted(sum(shards, [])) == sorted(every)
        assert max(map(len, shards)) - min(map(len, shards)) <= 1
    datasets = [image_folder(folder, SIZE, batch_size=1, shuffle=False, shard=(3, i)) for i in range(3)]
    read = [set(d.file_paths) for d in datasets]
    assert not (read[0] & read[1] or read[0] & read[2] or read[1] & read[2])
    assert set().union(*read) == set(every)
    assert sum(len(_all(d)) for d in datasets) == len(every)
    policy = datasets[0].options().experimental_distribute.auto_shard_policy
    assert policy.name == "OFF"  # tf.distribute must not shard the shard again
    # Unknown cardinality: Keras iterates each worker's shard to its end, not for a fixed step count.
    assert int(datasets[0].cardinality()) == -2
    with pytest.raises(ValueError, match="shard index"):
        image_folder(folder, SIZE, shard=(2, 2))


def test_worker_shard_numbers_the_workers_from_tf_config(monkeypatch):
    def config(task, index, chief=True):
        cluster = {"worker": ["a:1", "b:1"], **({"chief": ["c:1"]} if chief else {})}
        return read_tf_config(json.dumps({"cluster": cluster, "task": {"type": task, "index": index}}))

    assert worker_shard(config("chief", 0)) == (3, 0)
    assert [worker_shard(config("worker", i)) for i in (0, 1)] == [(3, 1), (3, 2)]
    assert [worker_shard(config("worker", i, chief=False)) for i in (0, 1)] == [(2, 0), (2, 1)]
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert worker_shard() == (1, 0)


def test_read_images_holds_one_copy_of_the_data(tmp_path, rng):
    # 300 images of 32x32x3 (0.9 MB). A list of decoded images followed by
    # np.stack peaks at twice the data; decoding into one preallocated array
    # peaks at the data plus one image per thread.
    root = tmp_path / "many"
    root.mkdir()
    for i in range(300):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / f"{i:03d}.png")
    paths = sorted(str(p) for p in root.iterdir())
    (root / "bad.png").write_bytes(b"")
    paths.insert(7, str(root / "bad.png"))
    tracemalloc.start()
    try:
        images, good, bad = read_images(paths, 32)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert images.shape == (300, 32, 32, 3) and len(good) == 300 and len(bad) == 1
    assert peak < 1.2 * images.nbytes, (peak, images.nbytes)
    # The bad file's slot was closed up in place: the images are in file order.
    np.testing.assert_array_equal(images[7], np.asarray(Image.open(paths[8])))
    np.testing.assert_array_equal(images[299], np.asarray(Image.open(paths[-1])))


def test_verbose_shows_progress(folder, capsys):
    image_folder(folder, SIZE, batch_size=4, verbose=1)
    out = capsys.readouterr().out
    assert "Decoding images: 14 file(s)" in out and "14/14" in out
    image_folder(folder, SIZE, batch_size=4, cache=False, check="header", verbose=1)
    assert "Checking image headers: 14 file(s)" in capsys.readouterr().out
    image_folder(folder, SIZE, batch_size=4)
    assert capsys.readouterr().out == ""
    assert os.path.isdir(folder)


def test_a_batch_whose_every_file_broke_is_replaced_not_empty(folder):
    dataset = image_folder(folder, SIZE, batch_size=2, shuffle=False, cache=False)
    for victim in dataset.file_paths[:4]:  # the first two batches
        open(victim, "wb").close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        batches = [batch.numpy() for batch in dataset]
    assert len(batches) == 7 and min(len(batch) for batch in batches) >= 1
    assert len(dataset.skipped_files) == 4
    # Batches 0 and 1 hold readable images repeated from elsewhere (the first readable file or
    # a batch decoded before them, depending on which parallel call ran first).
    readable = {image.tobytes() for batch in batches[2:] for image in batch}
    assert all(image.tobytes() in readable for batch in batches[:2] for image in batch)


@pytest.mark.parametrize("flags, expected", [
    (["--cache", "memory"], True), (["--cache", "stream"], False), (["--cache-file", "CACHE"], "CACHE"),
])
def test_cli_cache_flags_and_progress(folder, tmp_path, capsys, flags, expected):
    from ava_keras import cli

    flags = [str(tmp_path / "cache") if flag == "CACHE" else flag for flag in flags]
    args = cli.build_parser().parse_args(
        ["train", str(folder), "--image-size", "8", "--batch-size", "4", "--out", str(tmp_path / "out"), *flags])
    cli.check_arguments(args)
    train, validation, reference, reference_labels, class_names, _ = cli._training_data(args)
    assert train.cache == (str(tmp_path / "cache") if expected == "CACHE" else expected)
    assert validation is None and reference.shape == (8, 8, 8, 3)
    assert reference_labels is None and class_names is None  # no --labels: an unconditional run
    out = capsys.readouterr().out
    assert "file(s)" in out and "14/14" in out and "Found 14 images" in out


def test_data_scale_bench_measures_every_mode_and_reports_growth(tmp_path):
    from ava_keras.benchmarks import data_scale

    directory = data_scale.synthetic_folder(str(tmp_path), 40, 16)
    assert len(os.listdir(os.path.join(directory, "00"))) == 40
    results = []
    for mode in data_scale.MODES:
        result = data_scale.measure(directory, 16, mode, batch_size=8)
        assert result["files"] == result["first_epoch_images"] == 40
        assert result["upfront_seconds"] > 0 and result["first_epoch_images_per_second"] > 0
        assert result["peak_mib"] >= result["baseline_mib"] > 0
        results.append({"files_requested": 40, **result})
    report = data_scale.format_report(results + [{"files_requested": 80, "side": 16, "mode": "disk", "error": "x"}])
    assert report.count("| 16×16 |") == 9 and "40 files | 80 files" in report
    assert "not run" in report and "failed: x" in report


def test_data_scale_report_regenerates_from_the_committed_run_and_the_doc_quotes_it(tmp_path, capsys, monkeypatch):
    from ava_keras import cli
    from tests._drift import ROOT, assert_doc_quotes, assert_matches_committed

    command = "ava-keras bench data-scale --report-from docs/performance/data_scale.jsonl --out docs/performance"
    monkeypatch.chdir(ROOT)  # the report names its input by this relative path
    out = tmp_path / "performance"
    assert cli.main(["bench", "data-scale", "--report-from", "docs/performance/data_scale.jsonl",
                     "--out", str(out)]) == 0
    capsys.readouterr()
    generated = (out / "data_scale.md").read_text().replace(str(out), "docs/performance")
    assert_matches_committed(generated, "docs/performance/data_scale.md", command)
    tables = generated.split("\n\n", 2)[2]
    assert_doc_quotes(tables, "docs/performance.md", "docs/performance/data_scale.md", command)
