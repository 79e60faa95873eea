"""Metrics: the paper's eq. 17 and standard image-quality measures."""

from ava_keras.evaluation.paper_metric import best_generated_image, paper_rmse, paper_rmse_per_image

__all__ = ["best_generated_image", "paper_rmse", "paper_rmse_per_image"]
