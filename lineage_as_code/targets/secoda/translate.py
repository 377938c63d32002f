"""Pure translation of the Lineage into Secoda's terms: edge ends as catalog lookups, and one
resource per distinct table pair and column pair. No I/O here; ``client.py`` does the talking."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...model import Asset, ColumnRef, Lineage
from ..base import ASSET, Resource
from ..lineage_resources import asset_address

EDGE = "edge"
COLUMN_EDGE = "column_edge"
Pair = tuple[str, str]


def column_address(ref: ColumnRef) -> str:
    return f"column.{ref}"


def edge_address(source: str, target: str) -> str:
    return f"{EDGE}.{source} -> {target}"


def column_edge_address(source: ColumnRef, target: ColumnRef) -> str:
    return f"{COLUMN_EDGE}.{source} -> {target}"


def end_body(asset: Asset, target_name: str, column: str = "") -> dict[str, Any]:
    """How one end of an edge is found in Secoda: its ``title_full`` (``db.schema.name``), its title,
    its platform (to tell integrations apart) and the per-asset override, which wins."""
    body: dict[str, Any] = {
        "key": asset.key, "platform": asset.platform, "title": asset.name,
        "path": ".".join(p for p in (asset.database, asset.schema, asset.name) if p),
        "id": asset.id_for(target_name) or asset.id_for("secoda") or "",
    }
    if column:
        body["column"] = column
    return body


def build_resources(lineage: Lineage, target_name: str, columns: bool = True) -> list[Resource]:
    """Table and column identities (kind ``asset``), one edge per distinct table pair and one
    column edge per distinct column pair, each attributed to the first process that declares it."""
    resources: dict[str, Resource] = {}
    for asset in lineage.assets.values():
        resources[asset_address(asset)] = Resource(asset_address(asset), ASSET, end_body(asset, target_name))
    for p in lineage.processes:
        for src, dst in p.edges:
            address = edge_address(src, dst)
            if address not in resources:
                body = {"from": resources[f"asset.{src}"].body, "to": resources[f"asset.{dst}"].body,
                        "direction": "DOWNSTREAM"}
                resources[address] = Resource(address, EDGE, body, str(p.source), (f"asset.{src}", f"asset.{dst}"),
                                              ((src, dst),))
        if not columns:
            continue
        for mapping in p.columns:
            for ref in (*mapping.sources, mapping.target):
                if column_address(ref) not in resources:
                    body = end_body(lineage.assets[ref.asset], target_name, ref.column)
                    resources[column_address(ref)] = Resource(column_address(ref), ASSET, body, str(p.source))
            for src_ref in mapping.sources:
                address = column_edge_address(src_ref, mapping.target)
                if address not in resources:
                    body = {"from": resources[column_address(src_ref)].body,
                            "to": resources[column_address(mapping.target)].body, "direction": "DOWNSTREAM"}
                    requires = (column_address(src_ref), column_address(mapping.target))
                    resources[address] = Resource(address, COLUMN_EDGE, body, str(p.source), requires)
    return [resources[a] for a in sorted(resources)]


def row_pair(row: Mapping[str, Any]) -> Pair | None:
    """The data-flow (upstream, downstream) pair of a lineage row, whichever schema spelled it."""
    ends = []
    for side in ("from", "to"):
        value = row.get(f"{side}_entity_id") or row.get(f"{side}_entity")
        if isinstance(value, Mapping):
            value = value.get("id")
        if not value:
            return None
        ends.append(str(value))
    # an UPSTREAM row states the same flow from the other end
    if str(row.get("direction", "")).upper() == "UPSTREAM":
        return ends[1], ends[0]
    return ends[0], ends[1]


def chunked(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i:i + size]) for i in range(0, len(items), size)]
