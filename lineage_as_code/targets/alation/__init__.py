"""The Alation target: ``settings`` (typed, validated once), ``translate`` (the pure wire shapes), ``client``
(the target and its requests)."""

from __future__ import annotations

from .client import AlationTarget

__all__ = ["AlationTarget"]
