"""Native CSV manifests: one row per edge, source -> target through a process.

Columns (header case and spacing are ignored): ``process_id`` and/or ``process_name``, ``source``,
``target``, optional ``source_column``/``target_column``, ``transform``, ``description``, ``sql``,
``owner``. Rows of one process merge into one Process; column rows with the same target column and
transform merge into one mapping with several sources. Any other column becomes a process attribute.

Built for millions of rows, on integer codes as the Atlan parser is: each column is read once into
its distinct values and each row's code into them (``source`` and ``target`` share one set of values,
so a reference has one code whichever end it is), rows are validated, grouped and deduplicated as
arrays of codes, each distinct reference is parsed once, and Python objects are made once per asset,
process and column mapping, never per row. Processes come out sorted by id and the assets they touch
sorted by key, so a Lineage is built from them as they are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import compress
from operator import attrgetter, itemgetter
from typing import cast

import numpy as np
import pandas as pd

from ..display import excerpt
from ..errors import Problem
from ..model import Asset, AssetTable, ColumnBlock, ColumnMapping, ColumnSlice, ProcessBlock, freeze_mapping
from .csv_common import (
    NATIVE_COLUMNS,
    Cells,
    Layout,
    Table,
    column_slices,
    first_rows,
    grouped,
    missing_columns,
    normalise_native,
    small_codes,
)
from .refs import parse_assets, plain_parts
from .rows import Unsupported, invalid_rows
from .validate import load_schema, schema_problems
from .yaml_format import ParsedFile

_DETAILS = ("process_name", "description", "sql", "owner")
_PAIRED = (("source", "target"), ("source_column", "target_column"))  # each pair read into one set of values


def _renamed(names: list[str]) -> dict[str, str]:
    """Each header cell that names a known field, and the field it names."""
    return {c: normalise_native(c) for c in names if normalise_native(c) in NATIVE_COLUMNS}


def _fields(names: list[str]) -> tuple[dict[str, int], dict[str, int]]:
    """The known fields of a header (by field name) and its extra columns (by header name), each at its
    position; a name written twice keeps its last position."""
    rename = _renamed(names)
    return ({rename[c]: i for i, c in enumerate(names) if c in rename},
            {c: i for i, c in enumerate(names) if c not in rename})


def native_layout(name: str, names: list[str]) -> Layout | Problem:
    """How the native parser reads a file with this header: every known field and extra column as
    its exact text, ``source`` with ``target`` and ``source_column`` with ``target_column`` each over
    one set of values; or the header's Problem (a field named twice, or a required one missing)."""
    rename = _renamed(names)
    problem = _repeated_column(name, rename) or _missing_column(name, names, set(rename.values()))
    if problem is not None:
        return problem
    fields, extras = _fields(names)
    groups = [paired for pair in _PAIRED if (paired := tuple(fields[f] for f in pair if f in fields))]
    in_pairs = {p for group in groups for p in group}
    groups += [(p,) for p in (*fields.values(), *extras.values()) if p not in in_pairs]
    return Layout(tuple(groups), strip=False)


def _value(cells: Cells, row: int) -> str:
    """The text of one row's cell."""
    return str(cells.values[row if cells.codes is None else cells.codes[row]])


def _codes(cells: Cells | None, rows: int) -> tuple[np.ndarray, list[str]]:
    """A column's per-row codes, as int64 (callers multiply them), and its values; an absent column
    reads as empty on every row."""
    if cells is None:
        return np.zeros(rows, dtype=np.int64), [""]
    assert cells.codes is not None  # every column ``native_layout`` reads is coded
    return cells.codes.astype(np.int64, copy=False), cells.values.tolist()


def _row_problems(name: str, known: dict[str, Cells], rows: int, lines: np.ndarray) -> tuple[list[Problem], np.ndarray]:
    """Schema problems of every row, in row order, and the mask of rows without one. The checks run
    vectorised; the rows they reject are run through jsonschema, which writes the exact messages."""
    try:
        suspects = np.nonzero(invalid_rows(known, rows, load_schema("lineage-row")))[0].tolist()
    except Unsupported:
        suspects = list(range(rows))
    problems: list[Problem] = []
    keep = np.ones(rows, dtype=bool)
    for index in suspects:
        line = int(lines[index])

        def at_row(_path: Sequence[str | int], line: int = line) -> int:
            return line

        raw = {field: _value(cells, index) for field, cells in known.items()}
        found = schema_problems({k: v for k, v in raw.items() if v != ""}, "lineage-row", name, at_row)
        if found:
            problems.extend(found)
            keep[index] = False
    return problems, keep


_ASSET_FIELDS = ("platform", "database", "schema", "name", "type", "connection")  # AssetTable's, after the keys


@dataclass
class _Refs:
    """The distinct texts of ``source`` and ``target``, parsed: per text code, its key's code (-1 when
    the text is empty or malformed); the distinct keys, sorted; why each malformed text is; and the assets, as
    ``fields`` (per key code its platform, database, schema, name, type and connection) when every text of
    a key gives an equal Asset, else as ``asset_of`` (per text code its Asset, None for no asset)."""

    key_of: np.ndarray
    keys: list[str]
    reasons: dict[int, str]
    fields: tuple[list[str], ...] | None  # (``_ASSET_FIELDS``, each a list by key code)
    asset_of: list[Asset | None] | None = None


def _parse_refs(texts: list[str], defaults: Mapping[str, str]) -> _Refs:
    """Parse each distinct reference once; texts that name one key share one key code and, when
    their Assets are equal (always, unless a reference quotes an empty segment), one set of fields.
    Keys are numbered in sorted order. A file whose every reference is plain (``platform:database.
    schema.name``, its own key: most large ones) is split in one scan, and no Asset is made."""
    by_text = sorted(range(len(texts)), key=texts.__getitem__)
    if by_text and not texts[by_text[0]]:  # the empty text (distinct texts: once at most) sorts first
        del by_text[0]
    keys = list(map(texts.__getitem__, by_text))
    parts = plain_parts(keys)
    if parts is not None:
        key_of = np.full(len(texts), -1, dtype=np.int64)
        key_of[by_text] = np.arange(len(by_text))
        # a column at a time (zip(*parts) of a million tuples took a second); a few platforms, databases and
        # schemas, each held once, not once per asset
        platforms, databases, schemas, names = (list(map(itemgetter(i), parts)) for i in range(4))
        held: dict[str, str] = {}
        platforms, databases, schemas = (list(map(held.setdefault, c, c)) for c in (platforms, databases, schemas))
        kind, connection = str(defaults.get("type") or "table"), str(defaults.get("connection") or "")
        return _Refs(key_of, keys, {}, (platforms, databases, schemas, names, [kind] * len(keys),
                                        [connection] * len(keys)))
    assets: list[Asset | None] = [None] * len(texts)
    reasons: dict[int, str] = {}
    for i, found in zip(by_text, parse_assets(keys, defaults), strict=True):
        if isinstance(found, str):
            reasons[i] = found
        else:
            assets[i] = found
    found_keys = sorted({a.key for a in assets if a is not None})
    code_of = {key: code for code, key in enumerate(found_keys)}
    key_of = np.array([code_of[a.key] if a is not None else -1 for a in assets], dtype=np.int64)
    by_key: dict[int, Asset] = {}
    shared = True
    for code, asset in zip(key_of.tolist(), assets, strict=True):
        if asset is not None:
            first = by_key.setdefault(code, asset)
            shared = shared and (first is asset or first == asset)
    if not shared:  # each process then keeps the Asset of its own first row naming the key
        return _Refs(key_of, found_keys, reasons, None, assets)
    one = [by_key[k] for k in range(len(found_keys))]
    return _Refs(key_of, found_keys, reasons, tuple(list(map(attrgetter(f), one)) for f in _ASSET_FIELDS))


def _ref_problems(name: str, ends: tuple[Cells, Cells], refs: _Refs, keep: np.ndarray,
                  lines: np.ndarray) -> list[Problem]:
    """A Problem per kept row with a malformed reference (and the row dropped from ``keep``): reference
    by reference in the order first seen (sources before targets), then row by row; a row with two
    is named once, for the one seen first."""
    if not refs.reasons:
        return []
    bad = np.zeros(len(refs.key_of) + 1, dtype=bool)
    bad[list(refs.reasons)] = True
    source, target = (cells.codes for cells in ends)
    assert source is not None and target is not None
    rows = np.nonzero(keep & (bad[source] | bad[target]))[0]
    none = len(refs.key_of)
    chosen = np.minimum(np.where(bad[source[rows]], source[rows], none), np.where(bad[target[rows]], target[rows], none))
    order = np.lexsort((rows, chosen))
    keep[rows] = False
    return [Problem(name, int(lines[r]), "source" if source[r] == c else "target", refs.reasons[c])
            for r, c in zip(rows[order].tolist(), chosen[order].tolist(), strict=True)]


def _process_ids(known: dict[str, Cells], kept: np.ndarray, rows: int) -> tuple[np.ndarray, list[str]]:
    """The process ids, sorted, and each kept row's index into them: ``process_id``, or ``csv-`` and a
    digest of ``process_name``. Each distinct (id, name) pair is looked at once."""
    ids, id_values = _codes(known.get("process_id"), rows)
    names, name_values = _codes(known.get("process_name"), rows)
    pair_of, pairs = pd.factorize(ids[kept] * len(name_values) + names[kept])
    derived: dict[int, str] = {}
    texts = []
    for pair in pairs.tolist():
        given, named = divmod(pair, len(name_values))
        if id_values[given]:
            texts.append(id_values[given])
        elif (text := derived.get(named)) is not None:
            texts.append(text)
        else:
            digest = hashlib.sha1(name_values[named].encode()).hexdigest()[:12]
            texts.append(derived.setdefault(named, f"csv-{digest}"))
    text_of, found = pd.factorize(np.array(texts, dtype=object))
    distinct_ids = found.tolist()
    in_order = sorted(range(len(distinct_ids)), key=distinct_ids.__getitem__)
    rank = np.empty(len(in_order), dtype=np.int64)
    rank[in_order] = np.arange(len(in_order))
    return rank[text_of][pair_of], [distinct_ids[i] for i in in_order]


def _combined(*columns: np.ndarray) -> tuple[np.ndarray, int]:
    """Per row, a code for its combination of the columns' codes (each >= 0), numbered in first-seen
    order; and how many combinations there are. Codes are multiplied together while they fit in 62
    bits, and renumbered only when the next would not."""
    code, bound = columns[0].astype(np.int64), int(columns[0].max(initial=0)) + 1
    for column in columns[1:]:
        width = int(column.max(initial=0)) + 1
        if bound * width >= 1 << 62:
            code, found = pd.factorize(code)
            bound = len(found)
        code, bound = code * width + column, bound * width
    code, found = pd.factorize(code)
    return code.astype(np.int64, copy=False), len(found)


def _details(name: str, known: dict[str, Cells], kept: np.ndarray, proc: np.ndarray, ids: list[str],
             lines: np.ndarray) -> tuple[dict[str, list[str]], list[Problem]]:
    """Per detail field (name, description, sql, owner), each process's first non-empty value over its
    kept rows; and a Problem per process whose rows give two different ones, naming both rows: the
    first would otherwise win without a word."""
    details: dict[str, list[str]] = {}
    problems: list[Problem] = []
    for field in (f for f in _DETAILS if f in known):
        codes, values = _codes(known[field], len(lines))
        codes = codes[kept]
        given = np.array([v != "" for v in values], dtype=bool)[codes]
        at = np.nonzero(given)[0]
        pair_of, pairs = pd.factorize(proc[at] * len(values) + codes[at])  # (process, value), first seen first
        first = at[first_rows(pair_of, len(pairs))]
        owner, value = (pairs // len(values)).tolist(), (pairs % len(values)).tolist()
        column = details[field] = [""] * len(ids)
        seen: dict[int, list[int]] = {}
        for i, p in enumerate(owner):
            if p not in seen:
                column[p] = values[value[i]]
                seen[p] = [i]
            elif len(seen[p]) == 1:
                seen[p].append(i)
        for p, pair in seen.items():
            if len(pair) == 2:
                (a, b), (there, here) = ((values[value[i]] for i in pair), (int(lines[kept[first[i]]]) for i in pair))
                problems.append(Problem(name, here, field, (
                    f"process {ids[p]!r} has {field} {excerpt(repr(b))} here but {excerpt(repr(a))} on line {there}; "
                    "the rows of one process must agree (leave the cell empty to inherit)")))
    return details, problems


def _ends(proc: np.ndarray, processes: int, text: np.ndarray, refs: _Refs) -> tuple[np.ndarray, np.ndarray]:
    """Per process, the assets at one end of its rows, each key once in first-seen order, each as the
    text code of the first row naming its key: all of them, process after process, and the bounds."""
    width = max(len(refs.keys), 1)
    pair_of, pairs = pd.factorize(proc * width + refs.key_of[text])
    by_process = np.argsort(pairs // width, kind="stable")
    first = text[first_rows(pair_of, len(pairs))[by_process]]
    return first, np.concatenate([[0], np.cumsum(np.bincount(pairs // width, minlength=processes))])


def _asset_table(refs: _Refs, ends: tuple[np.ndarray, np.ndarray], ins: np.ndarray, outs: np.ndarray
                 ) -> tuple[AssetTable, np.ndarray, np.ndarray]:
    """The assets the kept rows' ``ends`` (text codes) name, as columns sorted by key (the Lineage Builder
    parser's shape: no Asset is made until one is read); and the processes' inputs and outputs (text
    codes, ``_ends``) as positions into them."""
    assert refs.fields is not None
    used = np.bincount(np.concatenate([refs.key_of[end] for end in ends]), minlength=len(refs.keys)) > 0
    kept = used.tolist()
    table = AssetTable(*(list(compress(column, kept)) for column in (refs.keys, *refs.fields)))
    position = np.cumsum(used) - 1  # (keys are numbered in sorted order)
    return table, position[refs.key_of[ins]], position[refs.key_of[outs]]


def _find_columns(proc: np.ndarray, processes: int, known: dict[str, Cells], kept: np.ndarray, rows: int,
                  ends: tuple[np.ndarray, np.ndarray], refs: _Refs) -> tuple[ColumnBlock, np.ndarray] | None:
    """The column mappings, as a ColumnBlock, process by process, each process's in the order first seen;
    and per process its number of mappings. Rows are grouped by (process, target column, transform), each
    with its distinct source columns in first-seen order; no object is made per mapping or per column.
    None when no kept row names a column."""
    if "source_column" not in known:
        return None
    source_column = known["source_column"]
    at = np.nonzero(~source_column.empty()[kept])[0]
    if not len(at):
        return None
    target_column = known["target_column"]  # a kept row with a source column has a target column
    transform = known.get("transform") or Cells(np.array([""], dtype=object), np.zeros(rows, dtype=np.int64))
    picked, owner = kept[at], proc[at]
    source_key, target_key = (refs.key_of[end[at]] for end in ends)
    target_col, how = (cells.codes[picked] for cells in (target_column, transform))  # type: ignore[index]
    mapping, mappings = _combined(owner, target_key, target_col, how)
    heads = first_rows(mapping, mappings)
    order = np.argsort(owner[heads], kind="stable")  # the mappings process by process, each in first-seen order
    rank = np.empty(mappings, dtype=np.int64)
    rank[order] = np.arange(mappings)
    source_col = source_column.codes[picked]  # type: ignore[index]
    ref_of, distinct_refs = _combined(source_key, source_col)  # each distinct (key, column) read once
    heads_of_refs = first_rows(ref_of, distinct_refs)
    ref_key, ref_col = source_key[heads_of_refs], source_col[heads_of_refs]
    members, bounds = grouped(rank[mapping], ref_of, mappings, max(distinct_refs, 1))
    single = len(members) == mappings  # every mapping has one source
    heads = heads[order]
    del at, picked, source_key, source_col, mapping, ref_of  # row by row: done with
    columns, target_col = source_column.values.tolist(), target_col[heads]
    if target_column.values is not source_column.values:  # one table of column names for both ends
        target_col, columns = target_col + len(columns), columns + target_column.values.tolist()
    block = ColumnBlock(refs.keys, columns, transform.values.tolist(),
                        source_key=small_codes(ref_key[members]), source_column=small_codes(ref_col[members]),
                        source_at=None if single else np.asarray(bounds, dtype=np.int64),
                        target_key=small_codes(target_key[heads]), target_column=small_codes(target_col),
                        transform_of=small_codes(how[heads]))
    owner = owner[heads]
    return block, np.bincount(owner, minlength=processes)


def _attributes(extras: dict[str, Cells], heads: np.ndarray) -> list[tuple[tuple[str, str], ...]]:
    """Per process, the non-empty cells of the extra columns on its first row."""
    if not extras:
        return [()] * len(heads)
    columns = [cells.at(heads).tolist() for cells in extras.values()]
    return [freeze_mapping({c: v for c, v in zip(extras, values, strict=True) if v != ""}) for values in zip(*columns)]


def _repeated_column(name: str, rename: Mapping[str, str]) -> Problem | None:
    """A header Problem when two cells name one field ('target' and 'Target'): pandas would
    otherwise hand a two-column frame where one column is expected."""
    seen: dict[str, str] = {}
    for column, field in rename.items():
        if field in seen:
            return Problem(name, 1, "(header)", f"columns {seen[field]!r} and {column!r} name the same field "
                                                f"{field!r}; keep one")
        seen[field] = column
    return None


def _missing_column(name: str, cells: list[str], present: set[str]) -> Problem | None:
    """The header Problem when ``source``, ``target``, or both ``process_id`` and ``process_name``
    are missing: said once on line 1, not as a schema error on every row."""
    missing = [c for c in ("source", "target") if c not in present]
    if not present & {"process_id", "process_name"}:
        missing.append("process_id")
    if not missing:
        return None
    problem = missing_columns(name, missing, cells, "native CSV")
    if "process_id" in missing:
        problem = replace(problem, message=problem.message + " ('process_name' may stand in for 'process_id')")
    return problem


def parse_native_csv(name: str, table: Table, defaults: Mapping[str, str] | None = None) -> ParsedFile:
    """Turn a native CSV, read by ``native_layout``, into processes, sorted by id; every bad cell becomes
    a Problem at its row's line (schema problems row by row, then malformed references, then
    conflicting details). ``table`` is consumed (its Cells are taken from it)."""
    fields, extra_columns = _fields(table.names)
    known = {f: table.cells.pop(p) for f, p in fields.items()}
    extras = {c: table.cells.pop(p) for c, p in extra_columns.items()}
    line_numbers = table.lines
    rows = len(line_numbers)
    problems, keep = _row_problems(name, known, rows, line_numbers)
    out = ParsedFile(problems=problems)
    refs = _parse_refs(known["source"].values.tolist(), defaults or {})
    out.problems.extend(_ref_problems(name, (known["source"], known["target"]), refs, keep, line_numbers))
    kept = np.nonzero(keep)[0]
    proc, ids = _process_ids(known, kept, rows)
    details, conflicts = _details(name, known, kept, proc, ids, line_numbers)
    out.problems.extend(conflicts)
    if not len(ids):
        return out
    ends = (_codes(known["source"], rows)[0][kept], _codes(known["target"], rows)[0][kept])
    (ins, in_at), (outs, out_at) = (_ends(proc, len(ids), end, refs) for end in ends)
    heads = kept[first_rows(proc, len(ids))]
    attributes = _attributes(extras, heads)
    first_lines = line_numbers[heads].tolist()
    assets: Sequence[Asset] = cast("list[Asset]", refs.asset_of)
    if refs.fields is not None:  # one Asset per key: the file's assets, sorted by key, are those of its Lineage
        touched, ins, outs = _asset_table(refs, ends, ins, outs)
        out.touched, assets = touched, touched.positions()
    del extras, line_numbers, keep
    for field in ("process_id", "source", "target", *_DETAILS):  # read: their codes are let go
        known.pop(field, None)
    found = _find_columns(proc, len(ids), known, kept, rows, ends, refs)
    del known, proc, ends, kept  # the per-row codes: gone before the objects are built
    columns: list[tuple[ColumnMapping, ...] | ColumnSlice] = [()] * len(ids) if found is None else column_slices(*found)
    del found
    names = details.get("process_name", [""] * len(ids))
    out.processes = ProcessBlock(ids, [n or pid for n, pid in zip(names, ids, strict=True)],
                                 assets, ins, in_at, outs, out_at,
                                 attributes=attributes, columns=columns, file=name, lines=first_lines,
                                 descriptions=details.get("description"), sqls=details.get("sql"),
                                 owners=details.get("owner"))
    return out
