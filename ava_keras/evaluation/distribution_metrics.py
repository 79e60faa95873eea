"""Distances between two sets of feature vectors: Fréchet, kernel (KID) and k-NN precision/recall.

Each function takes two arrays `(n, dim)` of features (e.g. from
`classifier_features`) and needs no model. In the feature space of
`DigitClassifier` the Fréchet distance is a "classifier FID": the same formula
as FID, but not comparable with FID values computed with Inception-v3.
"""

import numpy as np

from ava_keras._validation import check_feature_pair, check_positive_int
from ava_keras.errors import InputError


def _sqrt_psd(matrix):
    """Symmetric square root of a symmetric positive semi-definite matrix (negative round-off clipped)."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(features_a, features_b):
    """Fréchet distance between Gaussians fitted to two feature sets (the FID formula).

    d² = ‖μ_a − μ_b‖² + Tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^½), with sample means and
    sample covariances (ddof 1). The trace of (Σ_a Σ_b)^½ is computed as the
    sum of square roots of the eigenvalues of the symmetric PSD matrix
    Σ_a^½ Σ_b Σ_a^½, which has the same eigenvalues as Σ_a Σ_b; so no
    non-symmetric matrix square root is taken and no imaginary parts arise.
    Tiny negative eigenvalues from round-off are clipped to 0.

    Args:
        features_a: `(n, dim)` array, n ≥ 2.
        features_b: `(m, dim)` array, m ≥ 2, same `dim`.

    Returns:
        A non-negative Python float; 0 for identical sets. Lower is better.
        With few samples per dimension it is biased upwards: compare values
        only at equal sample sizes.

    Example:

    >>> a = np.random.default_rng(0).normal(size=(500, 4))
    >>> frechet_distance(a, a + 1.0)  # ‖μ_a − μ_b‖² = 4, equal covariances
    4.0...

    Reference:
        Dowson and Landau (1982); Heusel et al. (2017), "GANs trained by a
        two time-scale update rule converge to a local Nash equilibrium".
    """
    a, b = check_feature_pair(features_a, features_b, ("features_a", "features_b"))
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root_a = _sqrt_psd(cov_a)
    cross = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_sqrt = float(np.sum(np.sqrt(np.clip(cross, 0.0, None))))
    distance = float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt)
    return max(distance, 0.0)


def _mmd2_unbiased(x, y):
    dim = x.shape[1]
    k_xx = (x @ x.T / dim + 1.0) ** 3
    k_yy = (y @ y.T / dim + 1.0) ** 3
    k_xy = (x @ y.T / dim + 1.0) ** 3
    n, m = len(x), len(y)
    term_xx = (k_xx.sum() - np.trace(k_xx)) / (n * (n - 1))
    term_yy = (k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return term_xx + term_yy - 2.0 * k_xy.mean()


def kernel_distance(features_a, features_b, num_subsets=1, subset_size=None, seed=0, return_std=False):
    """Kernel distance (KID): unbiased MMD² with the cubic polynomial kernel.

    k(x, y) = (x·y / dim + 1)³ and
    MMD² = Σ_{i≠j} k(aᵢ, aⱼ) / (n(n−1)) + Σ_{i≠j} k(bᵢ, bⱼ) / (m(m−1))
           − 2 Σ_{i,j} k(aᵢ, bⱼ) / (nm).
    Unbiased, so it can be slightly negative when both sets come from the
    same distribution. With `subset_size`, it is averaged over `num_subsets`
    random subsets of that size drawn without replacement from each set
    (Bińkowski et al. use 100 subsets of 1,000).

    Args:
        features_a: `(n, dim)` array, n ≥ 2.
        features_b: `(m, dim)` array, m ≥ 2, same `dim`.
        num_subsets: Number of subsets to average over (1 with all samples
            when `subset_size` is None).
        subset_size: Samples per subset (≤ min(n, m)); None uses every sample.
        seed: Seed of the subset draws.
        return_std: Also return the SD of the subset values (0 for one subset).

    Returns:
        A Python float (or `(mean, std)`); ≈ 0 for sets from one distribution.

    Reference:
        Bińkowski, Sutherland, Arbel and Gretton (2018), "Demystifying MMD
        GANs", Section 4 (KID).
    """
    a, b = check_feature_pair(features_a, features_b, ("features_a", "features_b"))
    num_subsets = check_positive_int("num_subsets", num_subsets)
    if subset_size is None:
        values = [_mmd2_unbiased(a, b)]
    else:
        subset_size = check_positive_int("subset_size", subset_size)
        if not 2 <= subset_size <= min(len(a), len(b)):
            raise InputError(
                f"`subset_size` must be between 2 and the smaller set size {min(len(a), len(b))}. "
                f"Received: subset_size={subset_size}"
            )
        rng = np.random.default_rng(seed)
        values = [
            _mmd2_unbiased(
                a[rng.choice(len(a), subset_size, replace=False)],
                b[rng.choice(len(b), subset_size, replace=False)],
            )
            for _ in range(num_subsets)
        ]
    mean = float(np.mean(values))
    return (mean, float(np.std(values))) if return_std else mean


def _distance_blocks(x, y, chunk=1024):
    """Yields Euclidean distances from row blocks of `x` to all rows of `y` (bounded memory)."""
    for start in range(0, len(x), chunk):
        block = x[start : start + chunk]
        squared = (block**2).sum(1)[:, None] + (y**2).sum(1)[None, :] - 2.0 * block @ y.T
        yield np.sqrt(np.clip(squared, 0.0, None))


def _knn_radii(x, k):
    """Distance from each row of x to its k-th nearest other row (index 0 is the row itself)."""
    return np.concatenate([np.partition(d, k, axis=1)[:, k] for d in _distance_blocks(x, x)])


def _coverage(centres, radii, queries):
    """Fraction of `queries` inside at least one ball (centre, radius)."""
    inside = [np.any(d <= radii[None, :], axis=1) for d in _distance_blocks(queries, centres)]
    return float(np.mean(np.concatenate(inside)))


def precision_recall(real_features, generated_features, k=3):
    """k-NN manifold precision and recall (Kynkäänniemi et al., 2019).

    Each set's manifold is the union of balls around its points with radius
    the distance to the point's k-th nearest neighbour in the same set.
    Precision is the fraction of generated points inside the real manifold
    (are samples realistic?); recall the fraction of real points inside the
    generated manifold (is the real data covered?).

    Args:
        real_features: `(n, dim)` array, n > k.
        generated_features: `(m, dim)` array, m > k, same `dim`.
        k: Neighbour rank of the radii (the paper's default 3).

    Returns:
        `(precision, recall)`, two Python floats in [0, 1]; `(1.0, 1.0)` for
        identical sets.

    Reference:
        Kynkäänniemi, Karras, Laine, Lehtinen and Aila (2019), "Improved
        precision and recall metric for assessing generative models", eqs. 1-3.
    """
    k = check_positive_int("k", k)
    real, generated = check_feature_pair(
        real_features, generated_features, ("real_features", "generated_features"), min_rows=k + 1
    )
    precision = _coverage(real, _knn_radii(real, k), generated)
    recall = _coverage(generated, _knn_radii(generated, k), real)
    return precision, recall
