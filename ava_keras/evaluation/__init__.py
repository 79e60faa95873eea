"""Metrics: the paper's eq. 17 and standard image-quality measures."""
