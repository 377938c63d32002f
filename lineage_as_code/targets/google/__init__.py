"""The Google Cloud Data Lineage target: ``settings`` (typed, validated once), ``translate`` (the pure
Process/Run/LineageEvent shapes and FQNs), ``openlineage`` (the pure run events of the OpenLineage
write mode), ``client`` (the target and its requests), ``importer`` (``lac import``)."""

from __future__ import annotations

from .client import GoogleTarget

__all__ = ["GoogleTarget"]
