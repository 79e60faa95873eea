"""Pairwise image metrics for reconstructions: MSE, PSNR and SSIM on images in [0, 1]."""

import numpy as np

from ava_keras._validation import check_image_pair
from ava_keras.errors import InputError

SSIM_SIGMA = 1.5
SSIM_WINDOW = 11  # 2 * int(3.5 * sigma + 0.5) + 1, as skimage's gaussian_weights=True
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _reduce(values, per_image):
    return values if per_image else float(np.mean(values))


def mse(x, y, per_image=False):
    """Mean squared error per pixel and channel, averaged over images.

    Args:
        x: Images `(n, height, width, channels)` in [0, 1], e.g. originals.
        y: Images of the same shape, e.g. reconstructions.
        per_image: Return a float64 array `(n,)` instead of the mean.

    Returns:
        A Python float (or an array with `per_image=True`); 0 for identical images.

    Example:

    >>> mse(np.zeros((1, 2, 2, 1)), np.full((1, 2, 2, 1), 0.5))
    0.25
    """
    x, y = check_image_pair(x, y)
    return _reduce(np.mean((x - y) ** 2, axis=(1, 2, 3)), per_image)


def psnr(x, y, per_image=False):
    """Peak signal-to-noise ratio in dB for data range 1: 10·log10(1 / MSE).

    Computed per image, then averaged over images (so one poor image does not
    dominate, unlike the PSNR of the pooled MSE). An identical pair has
    MSE 0 and PSNR `inf`.

    Args:
        x: Images `(n, height, width, channels)` in [0, 1].
        y: Images of the same shape.
        per_image: Return a float64 array `(n,)` instead of the mean.

    Returns:
        A Python float in dB (or an array with `per_image=True`); higher is better.

    Example:

    >>> psnr(np.zeros((1, 2, 2, 1)), np.full((1, 2, 2, 1), 0.1))  # MSE 0.01
    20.0
    """
    errors = mse(x, y, per_image=True)
    with np.errstate(divide="ignore"):
        values = 10.0 * np.log10(1.0 / errors)
    return _reduce(values, per_image)


def _gaussian_window():
    radius = SSIM_WINDOW // 2
    offsets = np.arange(-radius, radius + 1, dtype="float64")
    weights = np.exp(-0.5 * (offsets / SSIM_SIGMA) ** 2)
    return weights / weights.sum()


def _filter_valid(images):
    """Separable 11x11 Gaussian mean over every window lying fully inside the image."""
    window = _gaussian_window()
    rows = np.lib.stride_tricks.sliding_window_view(images, SSIM_WINDOW, axis=1) @ window
    return np.lib.stride_tricks.sliding_window_view(rows, SSIM_WINDOW, axis=2) @ window


def ssim(x, y, per_image=False):
    """Structural similarity (Wang et al., 2004) with an 11x11 Gaussian window, σ = 1.5.

    The standard SSIM: local means, variances and covariance are Gaussian-
    weighted averages (population, not sample, covariance), C1 = (0.01)²,
    C2 = (0.03)² for data range 1. The SSIM map is averaged over every
    window position lying fully inside the image and over channels, per image;
    images are then averaged. This equals scikit-image's
    `structural_similarity(x, y, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1, channel_axis=-1)` per image
    (which crops the same 5-pixel border). Images must be at least 11x11.

    Args:
        x: Images `(n, height, width, channels)` in [0, 1].
        y: Images of the same shape.
        per_image: Return a float64 array `(n,)` instead of the mean.

    Returns:
        A Python float in [-1, 1] (or an array with `per_image=True`); 1 for
        identical images.

    Reference:
        Wang, Bovik, Sheikh and Simoncelli (2004), "Image quality assessment:
        from error visibility to structural similarity", IEEE TIP 13(4), eq. 13.
    """
    x, y = check_image_pair(x, y)
    if min(x.shape[1:3]) < SSIM_WINDOW:
        raise InputError(
            f"`x` and `y` must be at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels for SSIM. "
            f"Received: {x.shape[1]}x{x.shape[2]}"
        )
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    mean_x, mean_y = _filter_valid(x), _filter_valid(y)
    var_x = _filter_valid(x * x) - mean_x**2
    var_y = _filter_valid(y * y) - mean_y**2
    cov_xy = _filter_valid(x * y) - mean_x * mean_y
    similarity = ((2 * mean_x * mean_y + c1) * (2 * cov_xy + c2)) / (
        (mean_x**2 + mean_y**2 + c1) * (var_x + var_y + c2)
    )
    return _reduce(similarity.mean(axis=(1, 2, 3)), per_image)
