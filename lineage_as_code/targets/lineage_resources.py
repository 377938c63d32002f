"""The resource shapes most targets start from: one ``asset.<key>`` per asset and one
``process.<id>`` per process, with the process's inputs, outputs and column mappings in its body.
Vendor targets that need other shapes build their own; this is shared, not imposed."""

from __future__ import annotations

from typing import Any

from ..model import Asset, Lineage, Process
from .base import ASSET, Resource


def asset_address(asset: Asset) -> str:
    return f"asset.{asset.key}"


def process_address(process: Process) -> str:
    return f"process.{process.id}"


def asset_body(asset: Asset) -> dict[str, Any]:
    return {"key": asset.key, "platform": asset.platform, "database": asset.database, "schema": asset.schema,
            "name": asset.name, "type": asset.type, "connection": asset.connection}


def process_body(process: Process) -> dict[str, Any]:
    """A process's content. ``derived_by`` (the tool that read its inputs or columns from its SQL) is
    present only for derived processes, so declared ones keep the content hash they always had."""
    body = {
        "id": process.id, "name": process.name, "description": process.description, "sql": process.sql,
        "owner": process.owner, "attributes": dict(process.attributes),
        "inputs": [a.key for a in process.inputs], "outputs": [a.key for a in process.outputs],
        "columns": [{"sources": [[s.asset, s.column] for s in m.sources], "target": [m.target.asset, m.target.column],
                     "transform": m.transform} for m in process.columns],
    }
    if process.derived_by:
        body["derived_by"] = process.derived_by
    return body


def lineage_resources(lineage: Lineage) -> list[Resource]:
    """Assets first, then processes, each process requiring its assets. An asset's source is the
    first process (in id order) that references it."""
    first_use: dict[str, str] = {}
    for p in lineage.processes:
        for a in (*p.inputs, *p.outputs):
            first_use.setdefault(a.key, str(p.source))
    resources = [Resource(asset_address(a), ASSET, asset_body(a), first_use.get(a.key, ""))
                 for a in lineage.assets.values()]
    for p in lineage.processes:
        requires = tuple(dict.fromkeys(asset_address(a) for a in (*p.inputs, *p.outputs)))
        resources.append(Resource(process_address(p), "process", process_body(p), str(p.source), requires,
                                  tuple(p.edges)))
    return resources
