"""Native CSV manifests: one row per edge, source -> target through a process.

Columns (header case and spacing are ignored): ``process_id`` and/or ``process_name``, ``source``,
``target``, optional ``source_column``/``target_column``, ``transform``, ``description``, ``sql``,
``owner``. Rows of one process merge into one Process; column rows with the same target column and
transform merge into one mapping with several sources. Any other column becomes a process attribute.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import replace

import pandas as pd

from ..display import excerpt
from ..errors import Problem
from ..model import Asset, ColumnMapping, ColumnRef, Process, SourceLocation, freeze_mapping
from .csv_common import NATIVE_COLUMNS, missing_columns, normalise_native
from .refs import RefError, parse_asset
from .rows import Unsupported, invalid_rows
from .validate import load_schema, schema_problems
from .yaml_format import ParsedFile

_DETAILS = ("process_name", "description", "sql", "owner")


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
        self.columns: dict[tuple[ColumnRef, str], dict[ColumnRef, None]] = {}
        self.attributes = extras

    def build(self) -> Process:
        mappings = tuple(ColumnMapping(tuple(srcs), tgt, transform)
                         for (tgt, transform), srcs in self.columns.items())
        return Process(
            id=self.pid, name=self.row.get("process_name") or self.pid,
            inputs=tuple(self.inputs.values()), outputs=tuple(self.outputs.values()),
            description=self.row.get("description", ""), sql=self.row.get("sql", ""),
            owner=self.row.get("owner", ""), attributes=freeze_mapping(self.attributes),
            columns=mappings, source=self.location,
        )


def _column(frame: pd.DataFrame, name: str) -> list[str]:
    return frame[name].tolist() if name in frame.columns else [""] * len(frame)


def _row_problems(name: str, known: pd.DataFrame, lines: pd.Series) -> tuple[list[Problem], set[int]]:
    """Schema problems of every row, checked vectorised; exact messages come from jsonschema."""
    schema = load_schema("lineage-row")
    try:
        suspects = [int(i) for i in invalid_rows(known, schema).to_numpy().nonzero()[0]]
    except Unsupported:
        suspects = list(range(len(known)))
    problems: list[Problem] = []
    broken: set[int] = set()
    records = known.iloc[suspects].to_dict("records") if suspects else []
    for index, raw in zip(suspects, records, strict=True):
        line = int(lines.iloc[index])

        def at_row(_path: Sequence[str | int], line: int = line) -> int:
            return line

        found = schema_problems({k: v for k, v in raw.items() if v != ""}, "lineage-row", name, at_row)
        if found:
            problems.extend(found)
            broken.add(index)
    return problems, broken


def _parse_refs(values: list[str], defaults: Mapping[str, str]) -> dict[str, Asset | str]:
    """Parse each distinct reference once: an Asset, or the error message."""
    parsed: dict[str, Asset | str] = {}
    for text in dict.fromkeys(values):
        if text:
            try:
                parsed[text] = parse_asset(text, defaults)
            except RefError as exc:
                parsed[text] = str(exc)
    return parsed


def _process_ids(cols: dict[str, list[str]]) -> list[str]:
    """Each row's process id: ``process_id``, or a stable id derived from ``process_name``."""
    named: dict[str, str] = {}
    out = []
    for pid, pname in zip(cols["process_id"], cols["process_name"], strict=True):
        if not pid:
            pid = named.get(pname) or named.setdefault(pname, _process_key({"process_name": pname}))
        out.append(pid)
    return out


def _details(known: pd.DataFrame, pids: list[str], keep: pd.Series) -> dict[str, dict[str, str]]:
    """Per process, the first non-empty name/description/sql/owner over its rows."""
    present = [k for k in _DETAILS if k in known.columns]
    if not present:
        return {}
    frame = known.loc[keep, present].replace("", None)
    firsts = frame.groupby(pd.Series(pids, index=known.index)[keep], sort=False).first()
    columns = {k: firsts[k].tolist() for k in present}
    return {pid: {k: columns[k][i] for k in present if isinstance(columns[k][i], str)}
            for i, pid in enumerate(firsts.index.tolist())}


def _conflicts(name: str, known: pd.DataFrame, pids: list[str], keep: pd.Series, lines: pd.Series) -> list[Problem]:
    """A Problem per process whose rows give two different non-empty names, descriptions, sql or
    owners, naming both rows: the first would otherwise win without a word."""
    problems = []
    ids = pd.Series(pids, index=known.index)[keep]
    for column in (k for k in _DETAILS if k in known.columns):
        cells = known.loc[keep, column]
        given = cells != ""
        distinct = pd.DataFrame({"pid": ids[given], "value": cells[given]}).drop_duplicates()
        clash = distinct[distinct["pid"].duplicated(keep=False)]
        for pid, rows in clash.groupby("pid", sort=False):
            (first, a), (second, b) = list(rows["value"].items())[:2]
            here, there = int(lines.loc[second]), int(lines.loc[first])
            problems.append(Problem(name, here, column, (
                f"process {pid!r} has {column} {excerpt(repr(b))} here but {excerpt(repr(a))} on line {there}; "
                "the rows of one process must agree (leave the cell empty to inherit)")))
    return problems


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


def parse_native_csv(name: str, frame: pd.DataFrame, lines: pd.Series,
                     defaults: Mapping[str, str] | None = None) -> ParsedFile:
    """Turn a native CSV frame into processes; every bad cell becomes a Problem at its row's line.

    Built for millions of rows: validation is vectorised, each distinct asset reference is parsed
    once, per-process details are grouped by pandas, and the rows are walked once over plain lists.
    """
    rename = {c: normalise_native(c) for c in frame.columns if normalise_native(c) in NATIVE_COLUMNS}
    repeated = _repeated_column(name, rename) or _missing_column(name, list(frame.columns), set(rename.values()))
    if repeated is not None:
        return ParsedFile(problems=[repeated])
    extra_columns = [c for c in frame.columns if c not in rename]
    known = frame[list(rename)].rename(columns=rename)
    problems, broken = _row_problems(name, known, lines)
    out = ParsedFile(problems=problems)
    cols = {c: _column(known, c) for c in NATIVE_COLUMNS}
    refs = _parse_refs(cols["source"] + cols["target"], defaults or {})
    keys = {text: a.key for text, a in refs.items() if isinstance(a, Asset)}
    for text, error in refs.items():
        if isinstance(error, str):
            for i, (src, tgt) in enumerate(zip(cols["source"], cols["target"], strict=True)):
                if i not in broken and text in (src, tgt):
                    out.problems.append(Problem(name, int(lines.iloc[i]), "source" if src == text else "target", error))
                    broken.add(i)
    pids = _process_ids(cols)
    keep = pd.Series(True, index=known.index)
    if broken:
        keep.iloc[sorted(broken)] = False
    out.problems.extend(_conflicts(name, known, pids, keep, lines))
    details = _details(known, pids, keep)
    line_numbers = lines.tolist()
    drafts: dict[str, _Draft] = {}
    sources, targets = cols["source"], cols["target"]
    src_cols, tgt_cols, transforms = cols["source_column"], cols["target_column"], cols["transform"]
    for i, pid in enumerate(pids):
        if broken and i in broken:
            continue
        draft = drafts.get(pid)
        if draft is None:
            attrs = {c: frame[c].iat[i] for c in extra_columns if frame[c].iat[i] != ""}
            draft = drafts[pid] = _Draft(pid, details.get(pid, {}), SourceLocation(name, int(line_numbers[i])), attrs)
        src, tgt = sources[i], targets[i]
        src_key, tgt_key = keys[src], keys[tgt]
        if src_key not in draft.inputs:
            draft.inputs[src_key] = refs[src]  # type: ignore[assignment]
        if tgt_key not in draft.outputs:
            draft.outputs[tgt_key] = refs[tgt]  # type: ignore[assignment]
        if src_cols[i]:
            group = (ColumnRef(tgt_key, tgt_cols[i]), transforms[i])
            column = ColumnRef(src_key, src_cols[i])
            mapping = draft.columns.get(group)
            if mapping is None:
                draft.columns[group] = {column: None}
            else:
                mapping[column] = None
    out.processes.extend(d.build() for d in drafts.values())
    return out
