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

Built for millions of rows: each column is read once into its distinct stripped values and each
row's integer code into them (a source and a target column share one set of values, so an asset
has one code whichever end it is), and from then on rows are handled as arrays of codes: identities
are split and keys quoted once per distinct (identity, platform), assets deduplicated by key and
processes grouped by integer keys. No Python object is made per row: assets come out as columns (an
``AssetTable``), processes too (a ``ProcessBlock``), each Asset and Process made only when one is read,
and column mappings as a ``ColumnBlock``; assets come out sorted by key and processes by id, so the Lineage is built from
them without sorting or walking them again.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from itertools import compress

import numpy as np
import pandas as pd

from ..errors import Problem
from ..model import (
    NEEDS_QUOTE,
    AssetTable,
    ColumnBlock,
    ColumnMapping,
    ColumnSlice,
    ProcessBlock,
    freeze_mapping,
    quote_segment,
)
from .csv_common import ATLAN_COLUMNS, Cells, Layout, Table, column_slices, first_rows, grouped, small_codes
from .yaml_format import ParsedFile

_REQUIRED = [c for c in ATLAN_COLUMNS if not c.endswith(("Identity", "Name"))] + [
    "Source Identity", "Target Identity", "Transformation Name"]
_SIDES = ("Source", "Target")
_UNUSED = ("Source Name", "Target Name")  # an asset's name comes from its identity
_PAIRED = ("Type", "Connector", "Connection", "Identity")  # read for both sides into one set of values
_PER_ROW = ("Transformation Name",)  # about one value per process: stripped cell by cell, never hashed
_QUOTED = re.compile(rf"{NEEDS_QUOTE.pattern}|//")  # in a table path: a part to quote, or an empty one


def _columns(names: list[str]) -> dict[str, int]:
    """Every column the parser reads, by header name, at its position, in header order; a name written
    twice keeps its last position, as dict records did."""
    return {c: i for i, c in enumerate(names) if c not in _UNUSED}


def atlan_layout(names: list[str]) -> Layout:
    """How the Lineage Builder parser reads a file with this header: each column's stripped text, the
    source and target of each part over one set of values, the transformation's name row by row."""
    columns = _columns(names)
    paired = [tuple(columns[f"{side} {part}"] for side in _SIDES) for part in _PAIRED]
    per_row = tuple(columns[c] for c in _PER_ROW)
    taken = {p for group in paired for p in group} | set(per_row)
    return Layout((*paired, *((p,) for p in columns.values() if p not in taken)), per_row, strip=True)


def _row_problems(name: str, cells: dict[str, Cells], lines: np.ndarray,
                  is_column: dict[str, np.ndarray]) -> tuple[list[Problem], np.ndarray]:
    """Every problem of every row, in row order; and the mask of rows that have none."""
    empty = np.column_stack([cells[c].empty() for c in _REQUIRED])
    missing = empty.any(axis=1)
    mixed = (is_column["Source"] != is_column["Target"]) & ~missing
    found: list[tuple[int, int, Problem]] = []
    for row, col in zip(*(a.tolist() for a in np.nonzero(empty)), strict=True):
        found.append((row, col, Problem(name, int(lines[row]), _REQUIRED[col], "is required and empty")))
    for row in np.nonzero(mixed)[0].tolist():
        src, tgt = (cells[f"{side} Type"].at(np.array([row]))[0] for side in _SIDES)
        found.append((row, 0, Problem(
            name, int(lines[row]), "Target Type",
            f"is {tgt!r} where Source Type is {src!r}: a row is column lineage (both ends Column, identity "
            "DB/SCHEMA/TABLE/COLUMN) or table lineage (neither end Column), never both")))
    bad = missing | mixed
    for side in _SIDES:
        identity = cells[f"{side} Identity"]
        suspects = is_column[side] & ~bad
        if not suspects.any():
            continue
        no_table = suspects & identity.test(lambda v: "/" not in v.strip("/"))
        for row in np.nonzero(no_table)[0].tolist():
            found.append((row, 1, Problem(
                name, int(lines[row]), f"{side} Identity",
                f"{identity.at(np.array([row]))[0]!r} names no table: a Column identity is DB/SCHEMA/TABLE/COLUMN")))
        bad = bad | no_table
    found.sort(key=lambda item: (item[0], item[1]))
    return [p for _, _, p in found], ~bad


def _table_parts(table: str) -> tuple[str, str, str]:
    """(database, schema, name) of a table path: ``db/schema/name...`` with three or more parts,
    ``schema/name`` with two, ``name`` alone with one."""
    parts = table.split("/", 2)
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    return ("", parts[0], parts[1]) if len(parts) == 2 else ("", "", table)


def _quoted_tail(table: str) -> str:
    """The key of a table path after its platform: its parts, quoted where they must be, joined by dots."""
    database, schema, name = _table_parts(table)
    tail = ".".join(quote_segment(p) for p in (database, schema) if p)
    return f"{tail}.{quote_segment(name)}" if tail else quote_segment(name)


def _plain(tables: list[str]) -> np.ndarray:
    """Per table path, whether no part of it is quoted in a key (then its key tail is the path with
    its first two slashes as dots, if no part is empty either). One regex scan over all of them."""
    plain = np.ones(len(tables), dtype=bool)
    hits = [m.start() for m in _QUOTED.finditer("\0".join(tables))]  # NUL: neither quoted nor a slash
    if hits:
        starts = np.zeros(len(tables) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, tables), dtype=np.int64, count=len(tables)) + 1, out=starts[1:])
        plain[np.searchsorted(starts, hits, side="right") - 1] = False
    return plain


def _key_tails(tables: list[str], table_rows: np.ndarray) -> list[str]:
    """The key of each table path after its platform (``table_rows``: whether a path is a whole
    identity, stripped of slashes, so it neither starts nor ends with one)."""
    plain = (_plain(tables) & table_rows).tolist()
    return [t.replace("/", ".", 2) if ok and t else _quoted_tail(t) for t, ok in zip(tables, plain, strict=True)]


@dataclass
class _Ends:
    """The assets of the kept rows: one per distinct key, sorted by key, and per row its source's and
    target's index into them and the code of each end's column (into ``columns``; '' on table rows)."""

    assets: AssetTable
    keys: list[str]
    source: np.ndarray
    target: np.ndarray
    source_column: np.ndarray
    target_column: np.ndarray
    columns: np.ndarray


def _occurrences(cells: dict[str, Cells], part: str) -> np.ndarray:
    """The codes of a paired column, row by row, source before target: row r's ends at 2r and 2r + 1."""
    return np.column_stack([cells[f"{side} {part}"].codes for side in _SIDES]).ravel()  # type: ignore[misc]


def _build_ends(cells: dict[str, Cells], column_rows: np.ndarray) -> _Ends:
    """One Asset per distinct key; its fields come from its first end, table rows before column rows
    (which carry no table type: theirs is the type a table row gives the same table, else ``Table``).

    Each distinct (identity, row type, platform) is split and its key built once.
    """
    rows = len(column_rows)
    column = np.repeat(column_rows, 2)
    platform_of, found = pd.factorize(np.array([v.lower() for v in cells["Source Connector"].values.tolist()],
                                               dtype=object))
    platforms: list[str] = found.tolist()
    width = max(len(platforms), 1)
    combined = (_occurrences(cells, "Identity").astype(np.int64) * 2 + column) * width
    triple_of, distinct = pd.factorize(combined + platform_of[_occurrences(cells, "Connector")])
    pair, platform_at = np.divmod(distinct, width)
    at: list[int] = platform_at.tolist()
    tables = [v.strip("/") for v in cells["Source Identity"].values[pair >> 1].tolist()]
    columns = [""] * len(tables)
    for i in np.nonzero(pair & 1)[0].tolist():  # a Column identity ends in its column
        tables[i], _, columns[i] = tables[i].rpartition("/")
    prefixes = [f"{quote_segment(p)}:" for p in platforms]
    keys = [prefixes[a] + tail for a, tail in zip(at, _key_tails(tables, (pair & 1) == 0), strict=True)]
    asset_of, found = pd.factorize(np.array(keys, dtype=object))
    unique_keys = found.tolist()
    at_end = asset_of[triple_of]
    # each asset's first end: table ends rank before column ends, then row by row, source before target
    rank = np.arange(2 * rows) + column * (2 * rows)
    first = np.full(len(unique_keys), 4 * rows)
    np.minimum.at(first, at_end, rank)
    first %= max(2 * rows, 1)
    by_key = sorted(range(len(unique_keys)), key=unique_keys.__getitem__)
    sorted_keys = list(map(unique_keys.__getitem__, by_key))
    order = np.array(by_key, dtype=np.int64)  # (a list as an index is converted at each use)
    del by_key
    firsts = first[order]
    types = cells["Source Type"].values[_occurrences(cells, "Type")[firsts]].tolist()
    connections = cells["Source Connection"].values[_occurrences(cells, "Connection")[firsts]].tolist()
    ends = triple_of[firsts].tolist()
    split = list(map(_table_parts, map(tables.__getitem__, ends)))
    shared: dict[str, str] = {}  # a few databases and schemas, each held once, not once per asset (60 MB at 600k)
    parts = ([shared.setdefault(d, d) for d, _, _ in split], [shared.setdefault(s, s) for _, s, _ in split],
             [n for _, _, n in split])
    del split
    kinds = ["Table" if is_column else kind for kind, is_column in zip(types, column[firsts].tolist(), strict=True)]
    # each key already built per distinct identity (a test holds them equal to the model's own)
    assets = AssetTable(sorted_keys, [platforms[at[end]] for end in ends], *parts, kinds, connections)
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    at_end = position[at_end]
    column_of, names = pd.factorize(np.array(columns, dtype=object))
    column_end = column_of[triple_of]
    return _Ends(assets, sorted_keys, at_end[0::2], at_end[1::2], column_end[0::2], column_end[1::2], names)


def _process_ids(cells: dict[str, Cells], ends: _Ends) -> tuple[np.ndarray, list[str]]:
    """The process ids, sorted, and each row's index into them: ``Transformation Identity``, or ``lb-``
    and a digest of the name and the two tables."""
    named = cells["Transformation Identity"]
    label, ids = named.codes.astype(np.int64), named.values.tolist()  # type: ignore[union-attr]
    unnamed = np.nonzero(named.empty())[0]
    if len(unnamed):
        tables = len(ends.keys)
        names, name = pd.factorize(cells["Transformation Name"].at(unnamed))
        pairs, pair = pd.factorize(ends.source[unnamed] * tables + ends.target[unnamed])
        triples, triple = pd.factorize(names.astype(np.int64) * len(pair) + pairs)
        for code in triple.tolist():
            n, p = divmod(code, len(pair))
            s, t = divmod(int(pair[p]), tables)
            ids.append(f"lb-{hashlib.sha1(f'{name[n]}|{ends.keys[s]}|{ends.keys[t]}'.encode()).hexdigest()[:16]}")
        label[unnamed] = len(named.values) + triples
    used = sorted(np.nonzero(np.bincount(label, minlength=len(ids)))[0].tolist(), key=ids.__getitem__)
    in_order = [ids[u] for u in used]
    fresh = [True, *map(str.__ne__, in_order[1:], in_order[:-1])]  # a digest may equal a given id: one process
    to_process = np.zeros(len(ids), dtype=np.int64)
    to_process[used] = np.cumsum(fresh) - 1
    return to_process[label], list(compress(in_order, fresh))


def _build_columns(pid: np.ndarray, processes: int, ends: _Ends, column_rows: np.ndarray
                   ) -> list[tuple[ColumnMapping, ...] | ColumnSlice]:
    """Per process, its column mappings (a slice of one ColumnBlock): sources grouped by target column,
    in first-seen order. Rows are deduplicated as integer codes; no object is made per mapping."""
    rows = np.nonzero(column_rows)[0]
    if not len(rows):
        return [()] * processes
    edges = pd.DataFrame({"p": pid[rows], "t": ends.target[rows], "tc": ends.target_column[rows],
                          "s": ends.source[rows], "sc": ends.source_column[rows]}).drop_duplicates()
    mapping = edges.groupby(["p", "t", "tc"], sort=False).ngroup().to_numpy()  # numbered in first-seen order
    firsts = np.unique(mapping, return_index=True)[1]
    owner = edges["p"].to_numpy()[firsts]
    order = np.argsort(owner, kind="stable")  # the mappings process by process, each in first-seen order
    rank = np.empty(len(firsts), dtype=np.int64)
    rank[order] = np.arange(len(firsts))
    members, bounds = grouped(rank[mapping], np.arange(len(edges)), len(firsts), max(len(edges), 1))
    heads = firsts[order]
    block = ColumnBlock(ends.keys, ends.columns.tolist(), [""],
                        source_key=small_codes(edges["s"].to_numpy()[members]),
                        source_column=small_codes(edges["sc"].to_numpy()[members]),
                        source_at=None if len(members) == len(firsts) else np.asarray(bounds, dtype=np.int64),
                        target_key=small_codes(edges["t"].to_numpy()[heads]),
                        target_column=small_codes(edges["tc"].to_numpy()[heads]),
                        transform_of=np.zeros(len(firsts), dtype=np.int8))
    return column_slices(block, np.bincount(owner, minlength=processes))


def _attributes(cells: dict[str, Cells], extras: list[str], firsts: np.ndarray) -> list[tuple[tuple[str, str], ...]]:
    """Per process (by its first row), its attributes: the extra columns' non-empty cells and the
    transformation's connector and connection; built once per distinct set, which most processes share."""
    read = (*extras, "Transformation Connector", "Transformation Connection")
    combination = np.zeros(len(firsts), dtype=np.int64)
    for column in read:
        column_codes = cells[column].codes[firsts]  # type: ignore[index]
        combination = pd.factorize(combination * len(cells[column].values) + column_codes)[0]
    rows = first_rows(combination, int(combination.max(initial=-1)) + 1)
    built = []
    for row in firsts[rows].tolist():
        values = [str(cells[c].values[cells[c].codes[row]]) for c in read]  # type: ignore[index]
        found = {c: v for c, v in zip(extras, values, strict=False) if v}
        found["transformation_connector"] = values[-2].lower()
        found["transformation_connection"] = values[-1]
        built.append(freeze_mapping(found))
    return list(map(built.__getitem__, combination.tolist()))


def parse_atlan_csv(name: str, table: Table) -> ParsedFile:
    """Turn a Lineage Builder file, read by ``atlan_layout``, into processes, sorted by id; every bad row
    becomes a Problem at its line. ``table`` is consumed (its Cells are taken from it)."""
    cells = {c: table.cells.pop(p) for c, p in _columns(table.names).items()}
    line_numbers = table.lines
    is_column = {side: cells[f"{side} Type"].test(lambda v: v.lower() == "column") for side in _SIDES}
    problems, keep = _row_problems(name, cells, line_numbers, is_column)
    out = ParsedFile(problems=problems)
    if not keep.any():
        return out
    kept = cells if keep.all() else {c: s.kept(keep) for c, s in cells.items()}
    column_rows = is_column["Source"][keep]
    ends = _build_ends(kept, column_rows)
    pid, ids = _process_ids(kept, ends)
    firsts = first_rows(pid, len(ids))
    tables = max(len(ends.keys), 1)
    inputs, outputs = (grouped(pid, at, len(ids), tables) for at in (ends.source, ends.target))
    columns = _build_columns(pid, len(ids), ends, column_rows)
    extras = [c for c in cells if c not in ATLAN_COLUMNS]
    attributes = _attributes(kept, extras, firsts)
    names = kept["Transformation Name"].at(firsts).tolist()
    first_lines = line_numbers[keep][firsts].tolist()
    (ins, in_at), (outs, out_at) = inputs, outputs
    out.processes = ProcessBlock(ids, names, ends.assets.positions(), ins, np.asarray(in_at, dtype=np.int64), outs,
                                 np.asarray(out_at, dtype=np.int64), attributes=attributes, columns=columns, file=name,
                                 lines=first_lines)
    out.touched = ends.assets
    return out
