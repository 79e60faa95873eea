"""Metrics: the paper's eq. 17 and standard image-quality measures."""

from ava_keras.evaluation.auroc import auroc
from ava_keras.evaluation.digit_classifier import (
    DigitClassifier,
    classifier_features,
    classifier_fid,
    classifier_kid,
    classifier_precision_recall,
    default_cache_dir,
    digits_split,
)
from ava_keras.evaluation.distribution_metrics import frechet_distance, kernel_distance, precision_recall
from ava_keras.evaluation.image_metrics import mse, psnr, ssim
from ava_keras.evaluation.random_features import RandomFeatures, random_feature_fid
from ava_keras.evaluation.paper_metric import best_generated_image, paper_rmse, paper_rmse_per_image

__all__ = [
    "DigitClassifier",
    "RandomFeatures",
    "auroc",
    "best_generated_image",
    "classifier_features",
    "classifier_fid",
    "classifier_kid",
    "classifier_precision_recall",
    "default_cache_dir",
    "digits_split",
    "frechet_distance",
    "kernel_distance",
    "mse",
    "paper_rmse",
    "paper_rmse_per_image",
    "precision_recall",
    "psnr",
    "random_feature_fid",
    "ssim",
]
