"""Reproductions of published experiments (`ava-keras experiment ...`)."""

from ava_keras.experiments import paper

__all__ = ["paper"]
