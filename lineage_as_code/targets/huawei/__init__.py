"""The DataArts Studio target: ``settings`` (typed, validated once), ``translate`` (pure requests),
``client`` (the target and its requests)."""

from __future__ import annotations

from .client import HuaweiTarget

__all__ = ["HuaweiTarget"]
