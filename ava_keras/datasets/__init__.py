"""Bundled real datasets that need no download (loaded from installed packages)."""
