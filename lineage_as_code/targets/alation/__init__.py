"""The Alation target: ``translate`` holds the pure wire shapes, ``client`` the target and its requests."""

from __future__ import annotations

from .client import AlationTarget

__all__ = ["AlationTarget"]
