"""Atlan Lineage Builder CSV, read as-is: the 14 standard columns plus pass-through extras.

Each row is one lineage process from one source asset to one target asset. An asset's
``<Side> Identity`` is its partial path inside its connection (``db/schema/table``), so the
asset's qualifiedName in Atlan is ``<connection qualifiedName>/<Identity>``; ``Connector`` becomes
the platform and ``Connection`` the connection name. A row whose two ends are of type ``Column``
(identity ``db/schema/table/column``) is column lineage: its tables become the process's input and
output and the columns one column mapping of that process; a row with one Column end and one
table end is an error at its line. Rows sharing a ``Transformation Identity`` merge into one
process; a row without one gets a stable id from its name and its two tables, so the table and
column rows of one table pair meet in one process. Extra header columns become attributes of the
row's process, as Lineage Builder does.

Built for millions of rows: every step is a pandas column operation over the whole file (cells
stripped and checked once per distinct value, identities split and keys quoted once per distinct
identity, assets deduplicated by key); Python objects are made once per asset, process and column
mapping, never per row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import Problem
from ..model import Asset, ColumnMapping, ColumnRef, Process, SourceLocation, freeze_mapping, quote_segment
from .csv_common import ATLAN_COLUMNS
from .yaml_format import ParsedFile

_REQUIRED = [c for c in ATLAN_COLUMNS if not c.endswith(("Identity", "Name"))] + [
    "Source Identity", "Target Identity", "Transformation Name"]
_SIDES = ("Source", "Target")
_UNUSED = ("Source Name", "Target Name")  # an asset's name comes from its identity


def _per_distinct(column: pd.Series | np.ndarray, build: Callable[[Any], Any]) -> np.ndarray:
    """``build`` applied to each distinct value of ``column`` once, spread back over the rows.

    A missing cell (code -1: a row shorter than the header) is built from NaN, on the extra last slot.
    """
    codes, found = pd.factorize(np.asarray(column, dtype=object), use_na_sentinel=True)
    uniques = found.tolist()
    built = np.empty(len(uniques) + 1, dtype=object)
    built[:] = [build(v) for v in uniques] + [build(float("nan")) if (codes < 0).any() else None]
    return built[codes]


def _stripped(column: pd.Series) -> pd.Series:
    """The column as stripped text (a cell pandas left empty reads ``nan``, as ``str()`` does)."""
    return pd.Series(_per_distinct(column, lambda v: str(v).strip()), index=column.index, dtype=object)


@dataclass
class _Ends:
    """One side of the kept rows, as columns: the table's key and parts, and the column ('' on table rows)."""

    key: np.ndarray
    platform: np.ndarray
    database: np.ndarray
    schema: np.ndarray
    name: np.ndarray
    type: np.ndarray
    connection: np.ndarray
    column: np.ndarray


def _split_identity(identity: str, is_column: bool) -> tuple[str, str, str, str, str]:
    """(key tail, database, schema, name, column) of one identity: ``db/schema/name...`` with three or
    more parts, ``schema/name`` with two, ``name`` alone with one; a Column identity ends in its column."""
    parts = identity.strip("/").split("/")
    column = parts.pop() if is_column else ""
    if len(parts) >= 3:
        database, schema, name = parts[0], parts[1], "/".join(parts[2:])
    else:
        database, schema, name = "", "/".join(parts[:-1]), parts[-1]
    tail = ".".join(quote_segment(p) for p in (database, schema) if p)
    tail = f"{tail}.{quote_segment(name)}" if tail else quote_segment(name)
    return tail, database, schema, name, column


def _build_ends(cells: dict[str, pd.Series], side: str, is_column: np.ndarray) -> _Ends:
    """Parse one side's identities and connectors into columns (one row per kept row), each
    distinct (identity, row type) pair once."""
    codes, uniques = pd.factorize(cells[f"{side} Identity"])
    pairs, inverse = np.unique(codes.astype(np.int64) * 2 + is_column, return_inverse=True)
    identities = uniques.tolist()
    split = list(zip(*(_split_identity(identities[p >> 1], bool(p & 1)) for p in pairs.tolist()), strict=True))
    tail, database, schema, name, column = (np.array(values, dtype=object)[inverse] for values in split)
    platform = _per_distinct(cells[f"{side} Connector"], str.lower)
    prefix = _per_distinct(platform, lambda p: f"{quote_segment(p)}:")
    return _Ends(key=prefix + tail, platform=platform, database=database, schema=schema, name=name,
                 type=cells[f"{side} Type"].to_numpy(), connection=cells[f"{side} Connection"].to_numpy(),
                 column=column)


def _row_problems(name: str, cells: dict[str, pd.Series], lines: np.ndarray,
                  is_column: dict[str, np.ndarray]) -> tuple[list[Problem], np.ndarray]:
    """Every problem of every row, in row order; and the mask of rows that have none."""
    empty = np.column_stack([(cells[c] == "").to_numpy() for c in _REQUIRED])
    missing = empty.any(axis=1)
    mixed = (is_column["Source"] != is_column["Target"]) & ~missing
    found: list[tuple[int, int, Problem]] = []
    for row, col in zip(*(a.tolist() for a in np.nonzero(empty)), strict=True):
        found.append((row, col, Problem(name, int(lines[row]), _REQUIRED[col], "is required and empty")))
    for row in np.nonzero(mixed)[0].tolist():
        src = cells["Source Type"].iat[row]
        tgt = cells["Target Type"].iat[row]
        found.append((row, 0, Problem(
            name, int(lines[row]), "Target Type",
            f"is {tgt!r} where Source Type is {src!r}: a row is column lineage (both ends Column, identity "
            "DB/SCHEMA/TABLE/COLUMN) or table lineage (neither end Column), never both")))
    bad = missing | mixed
    for side in _SIDES:
        identity = cells[f"{side} Identity"]
        no_table = is_column[side] & ~bad & _per_distinct(identity, lambda v: "/" not in v.strip("/")).astype(bool)
        for row in np.nonzero(no_table)[0].tolist():
            found.append((row, 1, Problem(
                name, int(lines[row]), f"{side} Identity",
                f"{identity.iat[row]!r} names no table: a Column identity is DB/SCHEMA/TABLE/COLUMN")))
        bad = bad | no_table
    found.sort(key=lambda item: (item[0], item[1]))
    return [p for _, _, p in found], ~bad


def _build_assets(ends: list[_Ends], is_column: np.ndarray
                  ) -> tuple[list[Asset], np.ndarray, np.ndarray, np.ndarray]:
    """One Asset per distinct key, first seen wins, table rows before column rows (which carry no
    table type: theirs is the type a table row gives the same table, else ``Table``).

    Returns the assets, their keys and, per side, each row's index into them.
    """
    rows = len(is_column)
    column_rows = np.concatenate([is_column, is_column])
    seen_at = np.concatenate([np.arange(rows) * 2, np.arange(rows) * 2 + 1])  # row by row, source before target
    order = np.lexsort((seen_at, column_rows))
    keys = np.concatenate([e.key for e in ends])
    codes, uniques = pd.factorize(keys[order])
    firsts = order[np.unique(codes, return_index=True)[1]]
    fields = {f: np.concatenate([getattr(e, f) for e in ends])[firsts].tolist()
              for f in ("platform", "database", "schema", "name", "type", "connection")}
    assets = []
    for i, key in enumerate(uniques.tolist()):
        asset = Asset(platform=fields["platform"][i], database=fields["database"][i], schema=fields["schema"][i],
                      name=fields["name"][i], type="Table" if column_rows[firsts[i]] else fields["type"][i],
                      connection=fields["connection"][i])
        assets.append(asset.with_key(key))  # already built per distinct identity (a test holds them equal)
    index = np.empty(len(keys), dtype=np.int64)
    index[order] = codes
    return assets, np.asarray(uniques, dtype=object), index[:rows], index[rows:]


def _process_ids(cells: dict[str, pd.Series], source_key: np.ndarray, target_key: np.ndarray) -> np.ndarray:
    """``Transformation Identity``, or ``lb-`` and a digest of the name and the two tables."""
    ids = cells["Transformation Identity"].to_numpy().copy()
    unnamed = np.nonzero(ids == "")[0]
    if len(unnamed):
        triples = pd.DataFrame({"n": cells["Transformation Name"].to_numpy()[unnamed],
                                "s": source_key[unnamed], "t": target_key[unnamed]})
        codes, uniques = pd.factorize(pd.MultiIndex.from_frame(triples))
        digests = np.array([f"lb-{hashlib.sha1(f'{n}|{s}|{t}'.encode()).hexdigest()[:16]}" for n, s, t in uniques],
                           dtype=object)
        ids[unnamed] = digests[codes]
    return ids


def _grouped(group: np.ndarray, values: np.ndarray, groups: int) -> list[list[int]]:
    """Per group (0..groups-1), its distinct values in first-seen order."""
    pairs = pd.DataFrame({"g": group, "v": values}).drop_duplicates()
    pairs = pairs.iloc[np.argsort(pairs["g"].to_numpy(), kind="stable")]
    flat = pairs["v"].tolist()
    out, start = [], 0
    for count in np.bincount(pairs["g"].to_numpy(), minlength=groups).tolist():
        out.append(flat[start:start + count])
        start += count
    return out


def _build_columns(pid: np.ndarray, processes: int, ends: list[_Ends], at: tuple[np.ndarray, np.ndarray],
                   asset_keys: np.ndarray, column_rows: np.ndarray) -> list[tuple[ColumnMapping, ...]]:
    """Per process, its column mappings: sources grouped by target column, in first-seen order.

    ``at`` holds each row's source and target index into ``asset_keys``; rows are deduplicated as
    integer codes, and a ColumnRef is made once per distinct column edge.
    """
    out: list[tuple[ColumnMapping, ...]] = [()] * processes
    rows = np.nonzero(column_rows)[0]
    if not len(rows):
        return out
    (source, target), (source_at, target_at) = ends, at
    sc, s_names = pd.factorize(source.column[rows])
    tc, t_names = pd.factorize(target.column[rows])
    edges = pd.DataFrame({"p": pid[rows], "t": target_at[rows], "tc": tc, "s": source_at[rows], "sc": sc})
    edges = edges.drop_duplicates()
    mapping = edges.groupby(["p", "t", "tc"], sort=False).ngroup().to_numpy()
    firsts = np.unique(mapping, return_index=True)[1]
    s_refs = list(map(ColumnRef, asset_keys[edges["s"].to_numpy()].tolist(), s_names[edges["sc"].to_numpy()].tolist()))
    t_refs = list(map(ColumnRef, asset_keys[edges["t"].to_numpy()[firsts]].tolist(),
                      t_names[edges["tc"].to_numpy()[firsts]].tolist()))
    members = _grouped(mapping, np.arange(len(edges)), len(firsts))
    per_process: dict[int, list[ColumnMapping]] = {}
    for p, target_ref, group in zip(edges["p"].to_numpy()[firsts].tolist(), t_refs, members, strict=True):
        per_process.setdefault(p, []).append(ColumnMapping(tuple(s_refs[i] for i in group), target_ref))
    for p, mappings in per_process.items():
        out[p] = tuple(mappings)
    return out


def parse_atlan_csv(name: str, frame: pd.DataFrame, lines: pd.Series) -> ParsedFile:
    """Turn a Lineage Builder frame into processes; every bad row becomes a Problem at its line."""
    # a repeated header name (two cells stripping to one) keeps its last column, as dict records did
    cells = {c: _stripped(frame.iloc[:, i]) for i, c in enumerate(frame.columns) if c not in _UNUSED}
    line_numbers = lines.to_numpy()
    is_column = {side: _per_distinct(cells[f"{side} Type"], lambda v: v.lower() == "column").astype(bool)
                 for side in _SIDES}
    problems, keep = _row_problems(name, cells, line_numbers, is_column)
    out = ParsedFile(problems=problems)
    if not keep.any():
        return out
    kept = cells if keep.all() else {c: s[keep].reset_index(drop=True) for c, s in cells.items()}
    column_rows = is_column["Source"][keep]
    ends = [_build_ends(kept, side, column_rows) for side in _SIDES]
    assets, asset_keys, source_at, target_at = _build_assets(ends, column_rows)
    pid, ids = pd.factorize(_process_ids(kept, ends[0].key, ends[1].key))
    firsts = np.unique(pid, return_index=True)[1]
    inputs = _grouped(pid, source_at, len(ids))
    outputs = _grouped(pid, target_at, len(ids))
    columns = _build_columns(pid, len(ids), ends, (source_at, target_at), asset_keys, column_rows)
    extras = [c for c in cells if c not in ATLAN_COLUMNS]
    first = {c: kept[c].to_numpy()[firsts].tolist() for c in (*extras, "Transformation Name",
                                                             "Transformation Connector", "Transformation Connection")}
    first_lines = line_numbers[keep][firsts].tolist()
    del cells, kept, ends  # the per-row columns: dropped before a million processes are built
    frozen: dict[tuple[str, ...], tuple[tuple[str, str], ...]] = {}  # most processes share their attributes
    get = assets.__getitem__
    for p, identity in enumerate(ids.tolist()):
        values = tuple(first[c][p] for c in (*extras, "Transformation Connector", "Transformation Connection"))
        attrs = frozen.get(values)
        if attrs is None:
            found = {c: v for c, v in zip(extras, values, strict=False) if v}
            found["transformation_connector"] = values[-2].lower()
            found["transformation_connection"] = values[-1]
            attrs = frozen[values] = freeze_mapping(found)
        out.processes.append(Process(
            id=identity, name=first["Transformation Name"][p], inputs=tuple(map(get, inputs[p])),
            outputs=tuple(map(get, outputs[p])), attributes=attrs, columns=columns[p],
            source=SourceLocation(name, first_lines[p]),
        ))
    return out
