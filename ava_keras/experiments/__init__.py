"""Reproductions of published experiments (`ava-keras experiment ...`)."""

from ava_keras.experiments import anomaly, paper, quality

__all__ = ["anomaly", "paper", "quality"]
