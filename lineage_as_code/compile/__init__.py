"""Compilers from what teams already have into native manifests: dbt's manifest.json
(``dbt``), OpenLineage events (``openlineage``) and SQL (``sql``, ``derive``), written by ``writer``.

This package imports nothing at import time, so loading a manifest that derives nothing never pays
for sqlglot.
"""
