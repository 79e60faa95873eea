"""Callbacks for training AVA models."""

from ava_keras.callbacks.sample_grid import SampleGrid
from ava_keras.callbacks.variant_schedule import VariantSchedule

__all__ = ["SampleGrid", "VariantSchedule"]
