"""Native CSV manifests: one row per edge, source -> target through a process.

Columns (header case and spacing are ignored): ``process_id`` and/or ``process_name``, ``source``,
``target``, optional ``source_column``/``target_column``, ``transform``, ``description``, ``sql``,
``owner``. Rows of one process merge into one Process; column rows with the same target column and
transform merge into one mapping with several sources. Any other column becomes a process attribute.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..errors import Problem
from ..model import Asset, ColumnMapping, ColumnRef, Process, SourceLocation, freeze_mapping
from .csv_common import NATIVE_COLUMNS, normalise_native
from .refs import RefError, parse_asset
from .validate import schema_problems
from .yaml_format import ParsedFile


def _process_key(row: Mapping[str, str]) -> str:
    if row.get("process_id"):
        return row["process_id"]
    digest = hashlib.sha1(row["process_name"].encode()).hexdigest()[:12]
    return f"csv-{digest}"


class _Draft:
    def __init__(self, pid: str, row: Mapping[str, str], location: SourceLocation, extras: dict[str, str]) -> None:
        self.pid = pid
        self.row = dict(row)
        self.location = location
        self.inputs: dict[str, Asset] = {}
        self.outputs: dict[str, Asset] = {}
        self.columns: dict[tuple[ColumnRef, str], list[ColumnRef]] = {}
        self.attributes = extras

    def build(self) -> Process:
        mappings = tuple(ColumnMapping(tuple(dict.fromkeys(srcs)), tgt, transform)
                         for (tgt, transform), srcs in self.columns.items())
        return Process(
            id=self.pid, name=self.row.get("process_name") or self.pid,
            inputs=tuple(self.inputs.values()), outputs=tuple(self.outputs.values()),
            description=self.row.get("description", ""), sql=self.row.get("sql", ""),
            owner=self.row.get("owner", ""), attributes=freeze_mapping(self.attributes),
            columns=mappings, source=self.location,
        )


def parse_native_csv(name: str, frame: pd.DataFrame, lines: pd.Series,
                     defaults: Mapping[str, str] | None = None) -> ParsedFile:
    """Turn a native CSV frame into processes; every bad cell becomes a Problem at its row's line."""
    out = ParsedFile()
    rename = {c: normalise_native(c) for c in frame.columns if normalise_native(c) in NATIVE_COLUMNS}
    extra_columns = [c for c in frame.columns if c not in rename]
    known = frame[list(rename)].rename(columns=rename)
    defaults = defaults or {}
    drafts: dict[str, _Draft] = {}
    records = known.to_dict("records")
    extras = frame[extra_columns].to_dict("records") if extra_columns else None
    for index, raw in enumerate(records):
        line = int(lines.iloc[index])
        row: dict[str, Any] = {k: v for k, v in raw.items() if v != ""}
        problems = schema_problems(row, "lineage-row", name, lambda _p, line=line: line)
        if problems:
            out.problems.extend(problems)
            continue
        try:
            source = parse_asset(row["source"], defaults)
        except RefError as exc:
            out.problems.append(Problem(name, line, "source", str(exc)))
            source = None
        try:
            target = parse_asset(row["target"], defaults)
        except RefError as exc:
            out.problems.append(Problem(name, line, "target", str(exc)))
            target = None
        if source is None or target is None:
            continue
        pid = _process_key(row)
        draft = drafts.get(pid)
        if draft is None:
            attrs = {k: v for k, v in (extras[index] if extras else {}).items() if v != ""}
            draft = drafts[pid] = _Draft(pid, row, SourceLocation(name, line), attrs)
        else:
            for key in ("process_name", "description", "sql", "owner"):
                if row.get(key) and not draft.row.get(key):
                    draft.row[key] = row[key]
        draft.inputs.setdefault(source.key, source)
        draft.outputs.setdefault(target.key, target)
        if "source_column" in row:
            tgt = ColumnRef(target.key, row["target_column"])
            draft.columns.setdefault((tgt, row.get("transform", "")), []).append(ColumnRef(source.key, row["source_column"]))
    out.processes.extend(d.build() for d in drafts.values())
    return out
