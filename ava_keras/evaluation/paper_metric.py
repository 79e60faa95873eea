"""The paper's evaluation score (eq. 17) and its choice of "imageBest"."""

import numpy as np

from ava_keras.errors import InputError


def _as_images(name, value, ndim):
    array = np.asarray(value, dtype="float64")
    if array.ndim != ndim:
        shape = "(height, width, channels)" if ndim == 3 else "(n, height, width, channels)"
        raise InputError(f"`{name}` must have shape {shape}. Received: shape {array.shape}")
    return array


def paper_rmse_per_image(best_image, images):
    """RMSE[i] of Section 3: (1/nᵢ) Σⱼ ½‖imageBest[j] − image[i][j]‖ for each i.

    Args:
        best_image: One image, `(height, width, channels)`.
        images: `(N, height, width, channels)`, same pixel size as `best_image`.

    Returns:
        Float64 numpy array of shape `(N,)`.
    """
    best_image = _as_images("best_image", best_image, 3)
    images = _as_images("images", images, 4)
    if images.shape[1:] != best_image.shape:
        raise InputError(
            f"`best_image` of shape {best_image.shape} does not match `images` "
            f"of shape {images.shape}: every image must be {best_image.shape}."
        )
    if len(images) == 0:
        raise InputError("`images` must hold at least one image. Received: 0 images")
    pixel_norms = np.sqrt(np.sum((images - best_image[None]) ** 2, axis=-1))
    return 0.5 * pixel_norms.reshape(len(images), -1).mean(axis=1)


def paper_rmse(best_image, images):
    """The paper's "RMSE" (eq. 17) of one image against a set of images.

    RMSE = (1/N) Σᵢ (1/nᵢ) Σⱼ ½‖imageBest[j] − image[i][j]‖, where j runs
    over the nᵢ pixels and ‖·‖ is the Euclidean norm of a pixel's channel
    vector (√(r² + g² + b²) for RGB). Despite its name it is a mean of half
    pixel distances, not a root mean square. For pixels in [0, 1] it lies in
    [0, ½√channels].

    Args:
        best_image: The generated image, `(height, width, channels)`.
        images: The N dataset images, `(N, height, width, channels)`.

    Returns:
        The score as a Python float; lower is better.

    Example:

    >>> paper_rmse(np.zeros((1, 1, 3)), np.full((1, 1, 1, 3), 1.0))  # ½·√3
    0.8660254037844386

    Reference:
        Nguyen (2023), Section 3, eq. 17.
    """
    return float(np.mean(paper_rmse_per_image(best_image, images)))


def best_generated_image(model, images, return_score=False):
    """The paper's "imageBest": the best of `model`'s reconstructions of `images`.

    The paper scores "the best image generated" by a trained model without
    saying how it is chosen. This takes the deterministic reconstructions
    g(μ(xᵢ)) of the N images (`model.reconstruct`) and returns the one with
    the lowest eq.-17 score against all N images.

    Args:
        model: A trained model with a `reconstruct(images)` method, such as `AVA`.
        images: `(N, height, width, channels)` images in [0, 1].
        return_score: Also return the image's `paper_rmse`.

    Returns:
        The best reconstruction, `(height, width, channels)`, or
        `(image, score)` when `return_score` is true.
    """
    images = _as_images("images", images, 4)
    reconstructions = np.asarray(model.reconstruct(images.astype("float32")), dtype="float64")
    scores = [paper_rmse(reconstruction, images) for reconstruction in reconstructions]
    best = int(np.argmin(scores))  # argmin returns a NaN score if any: diverged stays visible.
    if return_score:
        return reconstructions[best], scores[best]
    return reconstructions[best]
