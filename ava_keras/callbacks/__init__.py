"""Callbacks for training AVA models."""

from ava_keras.callbacks.history_file import HistoryFile
from ava_keras.callbacks.sample_grid import SampleGrid
from ava_keras.callbacks.variant_schedule import VariantSchedule

__all__ = ["HistoryFile", "SampleGrid", "VariantSchedule"]
