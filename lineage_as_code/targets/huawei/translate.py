"""DataArts Studio requests from lineage, pure: nodes within the documented list sizes, and the
exact ``lineage-info`` body each node is posted as. No I/O; the same lineage gives the same requests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...model import Asset, Lineage, Process
from ..base import Resource
from .settings import HuaweiSettings

LIMIT = 100  # every list in TableLineageV2 / ColumnLineageV2 holds at most 100 items


def _chunks(items: Sequence[Any], size: int = LIMIT) -> list[list[Any]]:
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


@dataclass
class _ColumnLineage:
    """One ColumnLineageV2 and the assets it names, placed in the (input chunk, output chunk) cell
    whose tables it reads and writes."""

    sources: list[tuple[Asset, str]]
    target: tuple[Asset, str]


@dataclass
class _Node:
    """One request: the tables it carries, its column lineages, and whether it holds table edges
    (a continuation node only carries column lineages that overflowed the 100 of its cell)."""

    inputs: list[Asset]
    outputs: list[Asset]
    columns: list[_ColumnLineage] = field(default_factory=list)
    draws_edges: bool = True


def _cell_columns(process: Process, in_chunk: Mapping[str, int], out_chunk: Mapping[str, int],
                  assets: Mapping[str, Asset]) -> dict[tuple[int, int], list[_ColumnLineage]]:
    """Split every column mapping into ColumnLineageV2 pieces that each read tables of one input
    chunk (at most 100 columns), keyed by the cell they belong to. A mapping whose columns span
    input chunks becomes one piece per chunk, all writing the same output column."""
    cells: dict[tuple[int, int], list[_ColumnLineage]] = {}
    for mapping in process.columns:
        target = (assets[mapping.target.asset], mapping.target.column)
        j = out_chunk.get(mapping.target.asset, 0)
        by_chunk: dict[int, list[tuple[Asset, str]]] = {}
        for ref in mapping.sources:
            by_chunk.setdefault(in_chunk.get(ref.asset, 0), []).append((assets[ref.asset], ref.column))
        for i, sources in sorted(by_chunk.items()):
            for piece in _chunks(sources):
                cells.setdefault((i, j), []).append(_ColumnLineage(piece, target))
    return cells


def split_process(process: Process, assets: Mapping[str, Asset]) -> list[_Node]:
    """Return the nodes ``process`` needs: one per (input chunk, output chunk) cell, plus one per
    further 100 column lineages of a cell, carrying a single table a side. Deterministic: same
    process, same nodes, same order."""
    ins, outs = _chunks(process.inputs), _chunks(process.outputs)
    if not ins or not outs:  # manifests refuse this; DataArts would answer 400, surfaced as is
        return [_Node(list(process.inputs), list(process.outputs))]
    in_chunk = {a.key: i for i, chunk in enumerate(ins) for a in chunk}
    out_chunk = {a.key: j for j, chunk in enumerate(outs) for a in chunk}
    cells = _cell_columns(process, in_chunk, out_chunk, assets)
    nodes: list[_Node] = []
    overflow: list[_Node] = []
    for i, in_tables in enumerate(ins):
        for j, out_tables in enumerate(outs):
            pieces = _chunks(cells.get((i, j), [])) or [[]]
            nodes.append(_Node(in_tables, out_tables, pieces[0]))
            for rest in pieces[1:]:
                # TableLineageV2 needs one table a side; the column lineages name their own tables, so
                # a further node repeats one pair of the process's tables, not every table its columns touch.
                overflow.append(_Node([rest[0].sources[0][0]], [rest[0].target[0]], rest, draws_edges=False))
    return nodes + overflow


def _table(settings: HuaweiSettings, asset: Asset) -> dict[str, str]:
    catalog = settings.catalogs.get(asset.platform, asset.platform)
    return {"catalog": catalog, "database": asset.database, "schema": asset.schema, "table": asset.name}


def _column(asset: Asset, column: str) -> dict[str, str]:
    return {"database": asset.database, "schema": asset.schema, "table": asset.name, "column": column}


def build_job_id(settings: HuaweiSettings, target: str, process: Process) -> str:
    """The job id a process's nodes carry: a fixed ``job_id``, a per-process override, or prefix + id."""
    if settings.job_id:
        return settings.job_id
    return process.id_for(target) or process.id_for("huawei") or f"{settings.job_id_prefix}{process.id}"


def build_request(settings: HuaweiSettings, job_id: str, node: _Node, node_name: str) -> dict[str, Any]:
    """The ``lineage-info`` body of one node."""
    lineage: dict[str, Any] = {
        "input_tables": [_table(settings, a) for a in node.inputs],
        "output_tables": [_table(settings, a) for a in node.outputs],
    }
    if node.columns:
        lineage["column_lineages"] = [
            {"input_columns": [_column(a, c) for a, c in cl.sources],
             "output_columns": [_column(*cl.target)]} for cl in node.columns]
    return {**settings.body, "workspace_id": settings.workspace, "job_id": job_id, "node_name": node_name,
            "table_lineage": lineage}


def build_resources(settings: HuaweiSettings, target: str, lineage: Lineage) -> list[Resource]:
    """One ``process`` resource per node; the body holds the exact request and, for plans, the asset
    keys it links. Only a process's first nodes draw table edges (further nodes repeat one pair)."""
    resources = []
    for process in lineage.processes:
        job_id = build_job_id(settings, target, process)
        for n, node in enumerate(split_process(process, lineage.assets), start=1):
            suffix = "" if n == 1 else f"#{n}"
            body: dict[str, Any] = {"inputs": [a.key for a in node.inputs], "outputs": [a.key for a in node.outputs],
                                    "request": build_request(settings, job_id, node, process.id + suffix)}
            edges = tuple((i.key, o.key) for i in node.inputs for o in node.outputs) if node.draws_edges else ()
            resources.append(Resource(f"process.{process.id}{suffix}", "process", body, str(process.source),
                                      edges=edges))
    return resources
