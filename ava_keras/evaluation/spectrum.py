"""Sharpness: the radially averaged power spectrum (Durall et al. 2020) and the blur effect.

A blurry generator keeps the low spatial frequencies of its training images
and loses the high ones. `radial_power_spectrum` shows where the energy of a
set of images lies, from the mean (0 cycles per pixel) to the Nyquist
frequency (0.5); `high_frequency_ratio` condenses it into one number, the
energy above half the Nyquist frequency of samples relative to real images
(1: as much fine detail as the real images; a blurry generator is far
below 1). `blur_effect` is a second, spatial view (Crété-Roffet et al.
2007, via scikit-image).
"""

import numpy as np

from ava_keras._validation import check_images
from ava_keras.errors import InputError, import_optional

NYQUIST = 0.5  # cycles per pixel
# `high_frequency_energy` counts the frequencies above this (half the Nyquist frequency).
HALF_NYQUIST = NYQUIST / 2


def _power_spectra(images, name):
    """Per-image power |F(u, v)|² / (H·W)² of the channel-averaged images, and each frequency's radius.

    Returns `(power (n, H, W), radius (H, W))`, radius in cycles per pixel.
    With this scaling the powers of an image sum to its mean squared value
    (Parseval), so they are comparable across image sizes.
    """
    images = check_images(name, images)
    gray = images.mean(axis=-1)
    height, width = gray.shape[1:]
    power = np.abs(np.fft.fft2(gray)) ** 2 / float(height * width) ** 2
    radius = np.hypot(*np.meshgrid(np.fft.fftfreq(height), np.fft.fftfreq(width), indexing="ij"))
    return power, radius


def radial_power_spectrum(images, bins=None):
    """The radially averaged power spectrum of `images`, averaged over images (Durall et al. 2020).

    Each image is averaged over its channels, Fourier transformed, and the
    power |F|² / (H·W)² is averaged over the frequencies in each ring of
    radius between 0 and the Nyquist frequency (frequencies in the corners,
    beyond it, are left out of the rings).

    Args:
        images: `(n, height, width, channels)` in [0, 1].
        bins: Number of rings (default `min(height, width) // 2`).

    Returns:
        `(frequencies, power)`: float64 arrays `(bins,)`, the rings' centres
        in cycles per pixel and their mean power.

    Example:

    >>> frequencies, power = radial_power_spectrum(np.random.rand(8, 32, 32, 3))
    >>> frequencies.shape, power.shape
    ((16,), (16,))
    """
    power, radius = _power_spectra(images, "images")
    bins = min(radius.shape) // 2 if bins is None else bins
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise InputError(f"`bins` must be a positive integer. Received: bins={bins!r}")
    edges = np.linspace(0.0, NYQUIST, bins + 1)
    ring = np.digitize(radius, edges[1:-1])  # 0 ... bins - 1
    inside = radius <= NYQUIST
    mean_power = power.mean(axis=0)
    totals = np.bincount(ring[inside], weights=mean_power[inside], minlength=bins)
    counts = np.bincount(ring[inside], minlength=bins)
    with np.errstate(invalid="ignore"):
        profile = totals / counts  # NaN for a ring with no frequency (more bins than pixels allow)
    return (edges[:-1] + edges[1:]) / 2, profile


def high_frequency_energy(images, cutoff=HALF_NYQUIST, per_image=False):
    """Mean squared value of the images' components above `cutoff` cycles per pixel.

    The sum of the power spectrum (as in `radial_power_spectrum`) over every
    frequency of radius ≥ `cutoff`, corners included: by Parseval, the mean
    square of the high-pass filtered image.

    Args:
        images: `(n, height, width, channels)` in [0, 1].
        cutoff: Radius in cycles per pixel, in (0, √2 / 2] (default half the Nyquist frequency).
        per_image: Return a float64 array `(n,)` instead of the mean.
    """
    if not 0.0 < cutoff <= np.sqrt(2) * NYQUIST:
        raise InputError(f"`cutoff` must be in (0, {np.sqrt(2) * NYQUIST:.4f}] cycles per pixel. Received: {cutoff!r}")
    power, radius = _power_spectra(images, "images")
    energy = power[:, radius >= cutoff].sum(axis=1)
    return energy if per_image else float(energy.mean())


def high_frequency_ratio(samples, real, cutoff=HALF_NYQUIST):
    """High-frequency energy of `samples` over that of `real` images (`high_frequency_energy`).

    1 when the samples carry as much fine detail as the real images; a
    blurry generator scores far below 1, a noisy one can exceed it.

    Example:

    >>> sharp = np.random.default_rng(0).random((4, 32, 32, 1))
    >>> high_frequency_ratio(sharp, sharp)
    1.0
    """
    real_energy = high_frequency_energy(real, cutoff)
    if real_energy == 0.0:
        raise InputError("`real` has no energy above the cutoff (flat images): the ratio is undefined.")
    return high_frequency_energy(samples, cutoff) / real_energy


def blur_effect(images, per_image=False):
    """Mean blur effect of `images` (Crété-Roffet et al. 2007): 0 for sharp, towards 1 for blurry.

    `skimage.measure.blur_effect` (with its default 11-pixel re-blurring
    filter) per image, over the channels for RGB. Needs scikit-image
    (`pip install 'ava_keras[datasets]'`).

    Args:
        images: `(n, height, width, channels)` in [0, 1].
        per_image: Return a float64 array `(n,)` instead of the mean.
    """
    images = check_images("images", images)
    measure = import_optional("skimage.measure", "blur_effect()")
    channel_axis = -1 if images.shape[-1] > 1 else None
    values = np.array(
        [measure.blur_effect(image if channel_axis is not None else image[..., 0], channel_axis=channel_axis)
         for image in images]
    )
    return values if per_image else float(values.mean())
