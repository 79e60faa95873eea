"""Callbacks for training AVA models."""

from ava_keras.callbacks.variant_schedule import VariantSchedule

__all__ = ["VariantSchedule"]
