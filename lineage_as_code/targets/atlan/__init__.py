"""The Atlan target: ``settings`` (typed, validated once), ``translate`` (pure: qualifiedNames, asset,
Process and ColumnProcess bodies, bulk entities), ``client`` (the target and its requests),
``importer`` (``lac import``)."""

from __future__ import annotations

from .client import AtlanTarget

__all__ = ["AtlanTarget"]
