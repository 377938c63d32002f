"""Import reader for the embedded DuckDB store: every process it holds, with edges and column edges.

The store is opened read-only (a plan or another reader may have it open). The order of a process's
inputs, outputs and column mappings is part of its content hash, so it is recovered from the order
the rows were written in (``rowid``); a process whose recovered content does not hash to what the
store recorded is still imported, and named in a note, because the next plan will rewrite it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb

from ..config import TargetConfig
from ..errors import ConfigError, TerminalTargetError
from ..manifest.refs import RefError, split_ref
from ..model import Asset, ColumnMapping, ColumnRef, Lineage, Process, SourceLocation, freeze_mapping
from .base import content_hash
from .duckdb import DuckDBTarget
from .importers import PARSED_FILTER_KEYS, Advance, HeldProcess, ImportedLineage, ImportSelection
from .lineage_resources import process_body

_ASSETS = "SELECT key, platform, database, schema, name, type, coalesce(connection, '') FROM assets"
_PROCESSES = ("SELECT id, coalesce(name, ''), coalesce(description, ''), coalesce(sql, ''), coalesce(owner, ''), "
              "coalesce(attributes, '{}'), content_hash, {marker} FROM processes ORDER BY id")
_EDGES = "SELECT process_id, source, target FROM edges ORDER BY process_id, rowid"
_COLUMNS = ("SELECT process_id, source, source_column, target, target_column, coalesce(transform, '') "
            "FROM column_edges ORDER BY process_id, rowid")


def _asset_of_key(key: str) -> Asset:
    """An asset an edge names that the assets table lacks (a store edited by hand), from its key."""
    try:
        platform, segments = split_ref(key)
    except RefError:
        platform, segments = None, [key]
    padded = ["", "", *segments][-3:] if len(segments) <= 3 else [segments[0], segments[1], ".".join(segments[2:])]
    return Asset(platform or "", padded[0], padded[1], padded[2])


def _group(rows: Iterable[tuple[Any, ...]]) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        out.setdefault(row[0], []).append(row[1:])
    return out


def _mappings(rows: list[tuple[Any, ...]]) -> tuple[ColumnMapping, ...]:
    """Column rows back into mappings: a mapping with n sources was written as n consecutive rows
    sharing its target column and transform."""
    mappings: list[ColumnMapping] = []
    for source, source_column, target, target_column, transform in rows:
        tgt = ColumnRef(target, target_column)
        last = mappings[-1] if mappings else None
        src = ColumnRef(source, source_column)
        if last is not None and last.target == tgt and last.transform == transform and src not in last.sources:
            mappings[-1] = ColumnMapping((*last.sources, src), tgt, transform)
        else:
            mappings.append(ColumnMapping((src,), tgt, transform))
    return tuple(mappings)


def _read_rows(path: str) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    try:
        db = duckdb.connect(path, read_only=True)
    except duckdb.Error as exc:
        raise TerminalTargetError(f"cannot read {path}: {exc}") from exc
    try:
        columns = {c for (c,) in db.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = "
                                            "'processes'").fetchall()}
        marker = "coalesce(managed_by, '')" if "managed_by" in columns else "''"
        return (db.execute(_ASSETS).fetchall(), db.execute(_PROCESSES.replace("{marker}", marker)).fetchall(),
                db.execute(_EDGES).fetchall(), db.execute(_COLUMNS).fetchall())
    except duckdb.CatalogException:
        return [], [], [], []  # a file without the tables yet holds nothing
    finally:
        db.close()


def read_duckdb_lineage(config: TargetConfig, selection: ImportSelection, advance: Advance) -> ImportedLineage:
    """Every process the store at the target's ``path`` holds that ``selection`` keeps; ConfigError for a
    filter key this reader does not know, TerminalTargetError when the file cannot be read."""
    unknown = sorted(set(selection.filters) - PARSED_FILTER_KEYS)
    if unknown:
        raise ConfigError(f"target {config.name!r} (duckdb): unknown filter {', '.join(unknown)}; "
                          f"it filters on {', '.join(sorted(PARSED_FILTER_KEYS))}")
    path = DuckDBTarget(config).path
    if not Path(path).exists():
        raise ConfigError(f"target {config.name!r} (duckdb): {path} does not exist; nothing to import")
    asset_rows, process_rows, edge_rows, column_rows = _read_rows(path)
    assets = {row[0]: Asset(*row[1:]) for row in asset_rows}
    edges, columns = _group(edge_rows), _group(column_rows)
    processes: list[Process] = []
    held: dict[str, HeldProcess] = {}
    drifted: list[str] = []
    for done, (pid, name, description, sql, owner, attributes, digest, marker) in enumerate(process_rows, 1):
        pairs = edges.get(pid, [])
        proc = Process(
            id=pid, name=name or pid, description=description, sql=sql, owner=owner,
            attributes=freeze_mapping({str(k): str(v) for k, v in json.loads(attributes).items()}),
            inputs=tuple(assets.get(k) or _asset_of_key(k) for k in dict.fromkeys(s for s, _ in pairs)),
            outputs=tuple(assets.get(k) or _asset_of_key(k) for k in dict.fromkeys(t for _, t in pairs)),
            columns=_mappings(columns.get(pid, [])), source=SourceLocation(f"{config.name}:process.{pid}"))
        advance(done, len(process_rows))
        if not selection.keeps(proc):
            continue
        if content_hash(process_body(proc)) != digest:
            drifted.append(pid)
        processes.append(proc)
        held[pid] = HeldProcess(f"process.{pid}", marker)
    notes: tuple[str, ...] = ()
    if drifted:
        notes = (f"{len(drifted)} process(es) could not be read back exactly as written (e.g. {drifted[0]}); "
                 "the next plan will update them"),
    return ImportedLineage(Lineage.build(processes), held, notes)
