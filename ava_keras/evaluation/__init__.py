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
from ava_keras.evaluation.spectrum import (
    blur_effect,
    high_frequency_energy,
    high_frequency_ratio,
    radial_power_spectrum,
)

__all__ = [
    "DigitClassifier",
    "RandomFeatures",
    "auroc",
    "best_generated_image",
    "blur_effect",
    "classifier_features",
    "classifier_fid",
    "classifier_kid",
    "classifier_precision_recall",
    "default_cache_dir",
    "digits_split",
    "frechet_distance",
    "high_frequency_energy",
    "high_frequency_ratio",
    "kernel_distance",
    "mse",
    "paper_rmse",
    "paper_rmse_per_image",
    "precision_recall",
    "psnr",
    "radial_power_spectrum",
    "random_feature_fid",
    "ssim",
]
