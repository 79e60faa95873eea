"""Reproductions of published experiments (`ava-keras experiment ...`)."""

from ava_keras.experiments import paper, quality

__all__ = ["paper", "quality"]
