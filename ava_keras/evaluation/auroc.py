"""Area under the ROC curve of an anomaly score, in numpy."""

import numpy as np

from ava_keras.errors import InputError


def auroc(normal_scores, anomalous_scores):
    """P(score of an anomalous item > score of a normal one), ties counted ½.

    The area under the ROC curve with the anomalous items as positives,
    computed from ranks (the Mann-Whitney U statistic divided by the number
    of pairs), with tied scores given their average rank; equal to
    `sklearn.metrics.roc_auc_score` on the concatenated scores. 1 is a
    perfect detector, 0.5 chance.

    Args:
        normal_scores: 1-D array of the normal items' scores (higher = more anomalous).
        anomalous_scores: 1-D array of the anomalous items' scores.

    Returns:
        A float in [0, 1].
    """
    normal = np.asarray(normal_scores, dtype="float64").ravel()
    anomalous = np.asarray(anomalous_scores, dtype="float64").ravel()
    if len(normal) == 0 or len(anomalous) == 0:
        raise InputError(
            f"AUROC needs at least one normal and one anomalous score. Received: {len(normal)} normal, "
            f"{len(anomalous)} anomalous."
        )
    scores = np.concatenate([normal, anomalous])
    if not np.all(np.isfinite(scores)):
        raise InputError("AUROC needs finite scores; some are NaN or infinite.")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # Average rank (1-based) of each run of tied scores.
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], len(scores)]
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    rank_sum = ranks[len(normal):].sum()
    u = rank_sum - len(anomalous) * (len(anomalous) + 1) / 2.0
    return float(u / (len(normal) * len(anomalous)))
