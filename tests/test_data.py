"""ava_keras.data: messy real image folders -> clean tf.data batches, bad files named."""

import concurrent.futures
import importlib
import inspect
import os
import warnings

import numpy as np
import pytest
from PIL import Image

import ava_keras as ak
from ava_keras.data import find_image_files, image_folder, images_per_second, load_image


def _photo(rng, size=(20, 30)):
    """An RGB test picture with structure (a gradient plus noise)."""
    h, w = size
    base = np.linspace(0, 255, w)[None, :, None] * np.ones((h, 1, 3))
    return np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)


def _write_good_images(folder, rng):
    """Writes one valid file of every supported kind; returns their names."""
    (folder / "nested" / "deeper").mkdir(parents=True)
    Image.fromarray(_photo(rng)).save(folder / "rgb.png")
    Image.fromarray(_photo(rng)).save(folder / "photo.JPG", quality=90)
    Image.fromarray(_photo(rng)).convert("L").save(folder / "nested" / "gray.jpeg")
    Image.fromarray(_photo(rng)).convert("CMYK").save(folder / "cmyk.jpg")
    rgba = Image.fromarray(_photo(rng)).convert("RGBA")
    rgba.putalpha(128)
    rgba.save(folder / "nested" / "rgba.png")
    Image.fromarray(_photo(rng)).convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "palette.gif")
    Image.fromarray(_photo(rng)).save(folder / "nested" / "deeper" / "photo.webp")
    Image.fromarray(_photo(rng)).save(folder / "photo.bmp")
    Image.fromarray(np.full((8, 8), 40000, np.uint16)).save(folder / "sixteen_bit.png")
    Image.new("RGB", (1, 1), (200, 10, 10)).save(folder / "one_pixel.png")
    return 10


def _write_bad_files(folder, rng):
    """Writes the broken files of a real-world folder; returns their names."""
    good_png = folder / "rgb.png"
    data = good_png.read_bytes()
    (folder / "truncated.png").write_bytes(data[: len(data) // 2])
    jpeg = (folder / "photo.JPG").read_bytes()
    (folder / "nested" / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (folder / "random_bytes.jpg").write_bytes(rng.bytes(2000))
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image, and not an image extension")
    (folder / ".hidden.png").write_bytes(b"")
    return {"truncated.png", os.path.join("nested", "truncated.jpg"), "random_bytes.jpg", "empty.png"}


@pytest.fixture
def messy_folder(tmp_path, rng):
    folder = tmp_path / "messy"
    folder.mkdir()
    n_good = _write_good_images(folder, rng)
    bad = _write_bad_files(folder, rng)
    return folder, n_good, bad


def test_load_image_converts_every_mode(tmp_path, rng):
    folder = tmp_path / "images"
    folder.mkdir()
    _write_good_images(folder, rng)
    for path in find_image_files(folder):
        for channels in (1, 3):
            image = load_image(path, (12, 16), channels=channels)
            assert image.shape == (12, 16, channels) and image.dtype == np.uint8, path
    # 16-bit values are scaled, not clipped: 40000 / 65535 * 255 = 155.6.
    assert np.all(load_image(folder / "sixteen_bit.png", 4, channels=1) == 156)
    # Transparency is composited onto black: half-transparent pixels are darker.
    assert load_image(folder / "nested" / "rgba.png", 4).mean() < load_image(folder / "rgb.png", 4).mean() * 0.7


def test_resize_modes_keep_or_ignore_aspect(tmp_path):
    wide = np.zeros((10, 40, 3), np.uint8)
    wide[:, 15:25] = 255  # a white band in the middle of a wide image
    Image.fromarray(wide).save(tmp_path / "wide.png")
    path = tmp_path / "wide.png"
    crop = load_image(path, 10, resize="crop")
    pad = load_image(path, 10, resize="pad")
    stretch = load_image(path, 10, resize="stretch")
    # crop keeps the central 10x10, which is mostly the band; pad keeps black bars
    # above and below; stretch squeezes the band to a quarter of the width.
    assert crop.mean() > 200
    assert pad[0].max() == 0 and pad[-1].max() == 0
    assert 30 < stretch.mean() < 110
    with pytest.raises(ValueError, match="resize"):
        load_image(path, 10, resize="zoom")


def test_bad_files_are_skipped_with_a_warning_naming_them(messy_folder):
    folder, n_good, bad = messy_folder
    with pytest.warns(UserWarning, match=r"Skipped 4 unreadable") as record:
        dataset = image_folder(folder, image_size=(16, 12), batch_size=4, seed=0)
    message = str(record[0].message)
    for name in bad:
        assert name in message
    assert "empty file (0 bytes)" in message
    assert sorted(os.path.relpath(p, folder) for p, _ in dataset.skipped_files) == sorted(bad)
    assert len(dataset.file_paths) == n_good
    images = np.concatenate([b.numpy() for b in dataset])
    assert images.shape == (n_good, 16, 12, 3) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0 and images.max() > 0.5


def test_strict_raises_naming_the_bad_files(messy_folder):
    folder, _, bad = messy_folder
    with pytest.raises(ValueError, match="4 unreadable") as info:
        image_folder(folder, image_size=8, batch_size=2, strict=True)
    for name in bad:
        assert name in str(info.value)


@pytest.mark.integration
def test_training_completes_on_the_good_files_of_a_messy_folder(messy_folder):
    folder, n_good, _ = messy_folder
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        train, validation = image_folder(
            folder, image_size=16, batch_size=4, channels=1, validation_split=0.2, seed=3
        )
    assert len(train.file_paths) + len(validation.file_paths) == n_good
    assert not set(train.file_paths) & set(validation.file_paths)
    model = ak.AVA.from_preset(
        "ava5", image_shape=(16, 16, 1), latent_dim=4, encoder_filters=(8,), decoder_filters=(8,),
        discriminator_filters=(8,), latent_discriminator_units=(8,), hidden_units=16, seed=1,
    )
    model.compile()
    history = model.fit(train, validation_data=validation, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert np.all(np.isfinite(history.history["val_loss"]))


def test_streaming_and_disk_cache_match_in_memory(messy_folder, tmp_path):
    folder, n_good, _ = messy_folder
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        datasets = [
            image_folder(folder, image_size=8, batch_size=3, shuffle=False, cache=cache)
            for cache in (True, False, str(tmp_path / "cache"))
        ]
    arrays = [np.concatenate([b.numpy() for b in d]) for d in datasets]
    assert arrays[0].shape == (n_good, 8, 8, 3)
    np.testing.assert_array_equal(arrays[0], arrays[1])
    np.testing.assert_array_equal(arrays[0], arrays[2])
    assert np.isfinite(images_per_second(datasets[1], warmup_batches=1))  # runs on a real pipeline
    # Shuffled pipelines (paths shuffled when streaming) hold the same images,
    # in a new order every epoch.
    key = lambda a: sorted(map(bytes, a.reshape(len(a), -1)))  # noqa: E731
    for cache in (True, False, str(tmp_path / "cache-shuffled")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            shuffled = image_folder(folder, image_size=8, batch_size=3, cache=cache, seed=5)
        epochs = [np.concatenate([b.numpy() for b in shuffled]) for _ in range(3)]
        for epoch in epochs:
            assert key(epoch) == key(arrays[0]), cache
        orders = [arrays[0]] + epochs  # unshuffled, then epochs 1-3
        for i in range(1, len(orders)):
            # 10 images: two orders agree by chance with probability 1/10!.
            assert not np.array_equal(orders[i - 1], orders[i]), f"cache={cache!r}: epoch {i} kept the order"


def test_images_per_second_counts_timed_images_over_timed_seconds(monkeypatch):
    # A fake clock that a batch advances by 0.5 s when it is produced: after
    # the warm-up batch (4 images), 3 + 4 + 2 images arrive in 1.5 s.
    throughput = importlib.import_module("ava_keras.data.throughput")
    clock = [100.0]
    monkeypatch.setattr(throughput, "time", type("FakeTime", (), {"perf_counter": staticmethod(lambda: clock[0])}))

    def batches(sizes, labelled=False):
        for size in sizes:
            clock[0] += 0.5
            images = np.zeros((size, 2, 2, 1), "float32")
            yield (images, np.zeros(size)) if labelled else images

    assert images_per_second(batches([4, 3, 4, 2])) == pytest.approx(9 / 1.5)
    assert images_per_second(batches([4, 3, 4, 2], labelled=True)) == pytest.approx(9 / 1.5)
    assert images_per_second(batches([4, 4, 3, 4, 2]), warmup_batches=2) == pytest.approx(9 / 1.5)
    with pytest.raises(ValueError, match="No batches were timed"):
        images_per_second(batches([4]))


def test_streaming_decodes_a_batch_per_python_call_in_plain_python(messy_folder, monkeypatch):
    # cache=False decodes every epoch: one Python call per batch (not per
    # image), and that call runs as plain Python, not rewritten by autograph.
    module = importlib.import_module("ava_keras.data.image_folder")
    folder, n_good, _ = messy_folder
    calls, callers = [], []
    read = module.load_image

    pool = concurrent.futures.ThreadPoolExecutor(2)

    class CountingPool:
        def map(self, function, items):
            calls.append(len(items))
            return pool.map(function, items)

    def traced_load(path, *args, **kwargs):
        callers.append(inspect.stack()[1].frame.f_globals.get("__name__"))
        return read(path, *args, **kwargs)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        dataset = image_folder(folder, image_size=8, batch_size=3, shuffle=False, cache=False)
    monkeypatch.setattr(module, "_decode_pool", CountingPool)
    monkeypatch.setattr(module, "load_image", traced_load)
    images = np.concatenate([b.numpy() for b in dataset])
    assert len(images) == n_good
    assert sorted(calls, reverse=True) == [3] * (n_good // 3) + ([n_good % 3] if n_good % 3 else [])
    # The decoder's caller is image_folder's own code, not an autograph-converted copy of it.
    assert set(callers) == {"ava_keras.data.image_folder"}
    pool.shutdown()


@pytest.mark.parametrize(
    "make, error, fragment",
    [
        (lambda p: p / "missing", FileNotFoundError, "not found"),
        (lambda p: (p / "file.png").write_bytes(b"x") and p / "file.png", NotADirectoryError, "is a file"),
        (lambda p: (p / "empty").mkdir() or p / "empty", ValueError, "No image files found"),
    ],
    ids=["nonexistent", "file-not-folder", "empty-folder"],
)
def test_folder_errors_name_the_path(tmp_path, make, error, fragment):
    path = make(tmp_path)
    with pytest.raises(error, match=fragment) as info:
        image_folder(path, image_size=8)
    assert str(path) in str(info.value)


def test_fewer_images_than_a_batch_and_all_unreadable(tmp_path, rng):
    folder = tmp_path / "few"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(_photo(rng)).save(folder / f"{i}.png")
    with pytest.raises(ValueError, match=r"3 readable training image\(s\), fewer than one batch") as info:
        image_folder(folder, image_size=8, batch_size=4)
    assert str(folder) in str(info.value)
    only_bad = tmp_path / "only_bad"
    only_bad.mkdir()
    (only_bad / "zero.jpg").write_bytes(b"")
    with pytest.warns(UserWarning, match="zero.jpg"), pytest.raises(ValueError, match="None of the 1"):
        image_folder(only_bad, image_size=8, batch_size=1)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"image_size": 0}, "image_size"),
        ({"image_size": (8, 8, 3)}, "image_size"),
        ({"channels": 4}, "channels"),
        ({"batch_size": 0}, "batch_size"),
        ({"validation_split": 1.0}, "validation_split"),
        ({"resize": "zoom"}, "resize"),
    ],
)
def test_bad_arguments_raise_value_error(tmp_path, kwargs, fragment):
    arguments = {"image_size": 8, **kwargs}
    with pytest.raises(ValueError, match=fragment):
        image_folder(tmp_path, **arguments)
