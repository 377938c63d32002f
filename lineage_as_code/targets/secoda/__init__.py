"""The Secoda target: ``settings`` (typed, validated once), ``translate`` (pure: edge ends and edges),
``client`` (the target, its catalog lookups and requests), ``importer`` (``lac import``)."""

from __future__ import annotations

from .client import SecodaTarget

__all__ = ["SecodaTarget"]
