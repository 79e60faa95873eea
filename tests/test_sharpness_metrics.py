"""Sharpness metrics: the radially averaged power spectrum, the high-frequency ratio, the blur effect."""

import numpy as np
import pytest
from PIL import Image, ImageFilter

from ava_keras.errors import InputError
from ava_keras.evaluation import spectrum
from ava_keras.datasets import photo_crops


def _blurred(images, radius=1.5):
    """Each image through Pillow's Gaussian blur: the same pictures without their fine detail."""
    out = []
    for image in images:
        pil = Image.fromarray(np.round(image * 255).astype("uint8"))
        out.append(np.asarray(pil.filter(ImageFilter.GaussianBlur(radius)), "float32") / 255)
    return np.stack(out)


@pytest.fixture(scope="module")
def crops():
    return photo_crops(16, image_size=64, seed=0)


def test_a_sinusoid_puts_its_power_in_its_own_ring():
    # cos(2π·0.25·x) on 32 columns: power only at ±0.25 cycles per pixel (and the mean at 0).
    x = np.arange(32)
    image = np.tile(0.5 + 0.25 * np.cos(2 * np.pi * 0.25 * x), (32, 1))[None, :, :, None]
    frequencies, power = spectrum.radial_power_spectrum(image)
    assert frequencies.shape == power.shape == (16,)
    np.testing.assert_allclose(frequencies[[0, -1]], [1 / 64, 0.5 - 1 / 64])
    ring = 8  # rings are 1/32 wide, [lower, upper): 0.25 opens the ninth
    assert frequencies[ring] - 1 / 64 == pytest.approx(0.25)
    others = np.delete(power, [0, ring])
    np.testing.assert_allclose(others, 0.0, atol=1e-12)
    assert power[ring] > 0 and power[0] > 0
    # Parseval: the two ±0.25 peaks carry the sinusoid's mean square, 0.25² / 2.
    np.testing.assert_allclose(spectrum.high_frequency_energy(image, cutoff=0.2), 0.25**2 / 2, rtol=1e-9)
    assert spectrum.high_frequency_energy(image, cutoff=0.3) == pytest.approx(0.0, abs=1e-12)


def test_blurring_lowers_the_high_frequency_ratio_and_raises_the_blur_effect(crops):
    blurred = _blurred(crops)
    assert spectrum.high_frequency_ratio(crops, crops) == pytest.approx(1.0)
    ratio = spectrum.high_frequency_ratio(blurred, crops)
    assert 0 < ratio < 0.2, ratio  # a 1.5-pixel Gaussian blur removes most energy above half Nyquist
    assert spectrum.high_frequency_ratio(_blurred(crops, 0.6), crops) > ratio  # less blur keeps more
    _, sharp_power = spectrum.radial_power_spectrum(crops)
    _, blurred_power = spectrum.radial_power_spectrum(blurred)
    assert np.all(blurred_power[-8:] < 0.5 * sharp_power[-8:])  # the top quarter of the rings loses most
    np.testing.assert_allclose(blurred_power[0], sharp_power[0], rtol=0.05)  # the mean stays
    assert spectrum.blur_effect(blurred) > spectrum.blur_effect(crops) + 0.1
    per_image = spectrum.blur_effect(crops, per_image=True)
    assert per_image.shape == (16,) and np.all((0 <= per_image) & (per_image <= 1))


def test_noise_has_more_high_frequency_energy_than_photographs(crops, rng):
    noise = rng.random(crops.shape).astype("float32")
    assert spectrum.high_frequency_ratio(noise, crops) > 1.0


def test_non_square_and_grayscale_images(rng):
    images = rng.random((3, 83, 60, 1))
    frequencies, power = spectrum.radial_power_spectrum(images, bins=10)
    assert frequencies.shape == (10,) and np.all(np.isfinite(power)) and np.all(power > 0)
    assert np.isfinite(spectrum.blur_effect(images))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: spectrum.radial_power_spectrum(np.zeros((2, 8, 8))), "shape"),
        (lambda: spectrum.radial_power_spectrum(np.full((1, 8, 8, 1), 2.0)), r"\[0, 1\]"),
        (lambda: spectrum.radial_power_spectrum(np.zeros((1, 8, 8, 1)), bins=0), "bins=0"),
        (lambda: spectrum.high_frequency_energy(np.zeros((1, 8, 8, 1)), cutoff=0.9), "cutoff"),
        (lambda: spectrum.high_frequency_ratio(np.zeros((1, 8, 8, 1)), np.full((1, 8, 8, 1), 0.5)), "flat"),
    ],
)
def test_bad_input_names_the_culprit(call, match):
    with pytest.raises(InputError, match=match):
        call()


def test_spectra_plot_draws_a_quality_runs_spectra(tmp_path, crops, rng):
    import importlib.util
    import json
    import os

    path = os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks", "spectra_plot.py")
    module_spec = importlib.util.spec_from_file_location("spectra_plot", path)
    spectra_plot = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(spectra_plot)
    frequencies, real = spectrum.radial_power_spectrum(crops)
    _, blurred = spectrum.radial_power_spectrum(_blurred(crops))
    summary = tmp_path / "run_summary.json"
    summary.write_text(json.dumps({"spectra": {"frequencies": frequencies.tolist(), "power": {
        "held-out images": real.tolist(), "vae": blurred.tolist()}}}))
    out = tmp_path / "spectra.png"
    assert spectra_plot.main([str(summary), "--out", str(out)]) == 0
    assert Image.open(out).size == (600, 400)
    old = tmp_path / "old_summary.json"
    old.write_text(json.dumps({"config": {}}))
    with pytest.raises(InputError, match="no spectra"):
        spectra_plot.plot_spectra([str(old)], str(tmp_path / "x.png"))
