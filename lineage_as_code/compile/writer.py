"""Compiled lineage -> ordinary native YAML manifests, byte-stable: the same processes always give
the same bytes, so a re-compile of unchanged input leaves Git with nothing to commit.

Processes are written sorted by id with keys in a fixed order; assets as shorthand references when
they carry nothing but a name, as objects when they carry a type, a connection or identity overrides;
column mappings name their assets by ``database.schema.name``. The file says what it was compiled
from (``compiled_from``), which is how a hand-written process with the same id knows it may win.

The native CSV form (``build_manifest_csv``) is just as stable: processes sorted by id, one row per
table edge (every input with every output, in their order), then one row per column source in the
order of the mappings, the name, description, SQL, owner and attributes on a process's first row
only. It carries less than YAML: ``csv_limit`` says why a process cannot be written as CSV exactly.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

import yaml

from ..model import Asset, ColumnRef, Process, quote_segment

_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _represent_str(dumper: Any, value: str) -> Any:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


class _ManifestDumper(_Dumper):  # type: ignore[misc,valid-type]
    """A dumper that writes multi-line SQL as literal blocks instead of one escaped line."""


_ManifestDumper.add_representer(str, _represent_str)


def build_process_id(text: str) -> str:
    """A valid process id for ``text`` (a dbt unique_id, an OpenLineage job): unsafe characters become
    ``_``; past 200 characters the tail is a hash, so distinct long names stay distinct."""
    safe = _ID_UNSAFE.sub("_", text).lstrip(".:-") or "_"
    if len(safe) <= 200:
        return safe
    return safe[:183] + "-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def build_asset_ref(asset: Asset) -> str | dict[str, Any]:
    """The reference a manifest uses for ``asset``: shorthand when that says everything, else an object."""
    if asset.database and asset.schema and asset.type == "table" and not asset.connection and not asset.ids:
        return asset.key
    out: dict[str, Any] = {"platform": asset.platform, "database": asset.database, "schema": asset.schema,
                           "name": asset.name}
    if asset.type != "table":
        out["type"] = asset.type
    if asset.connection:
        out["connection"] = asset.connection
    if asset.ids:
        out["ids"] = dict(asset.ids)
    return out


def _column_text(ref: ColumnRef, assets: dict[str, Asset]) -> str:
    asset = assets[ref.asset]
    parts = [quote_segment(p) for p in (asset.database, asset.schema, asset.name) if p]
    return ".".join([*parts, quote_segment(ref.column)])


def build_process_entry(proc: Process, verbatim: bool = False) -> dict[str, Any]:
    """One process as the manifest schema writes it, keys in a fixed order, empty fields left out.
    ``verbatim`` keeps the column mappings in their order and the SQL as it is (an import writes them
    as the catalog holds them: both are part of what a target hashes)."""
    entry: dict[str, Any] = {"id": proc.id}
    if proc.name and proc.name != proc.id:
        entry["name"] = proc.name
    for key in ("description", "owner", "derived_by"):
        value = getattr(proc, key)
        if value:
            entry[key] = value
    if proc.attributes:
        entry["attributes"] = dict(proc.attributes)
    if proc.ids:
        entry["ids"] = dict(proc.ids)
    entry["inputs"] = [build_asset_ref(a) for a in proc.inputs]
    entry["outputs"] = [build_asset_ref(a) for a in proc.outputs]
    if proc.columns:
        ins = {a.key: a for a in proc.inputs}
        outs = {a.key: a for a in proc.outputs}
        columns = []
        ordered = proc.columns if verbatim else sorted(proc.columns, key=lambda m: (m.target, m.sources))
        for mapping in ordered:
            col: dict[str, Any] = {"from": [_column_text(s, ins) for s in mapping.sources],
                                   "to": _column_text(mapping.target, outs)}
            if mapping.transform:
                col["transform"] = mapping.transform
            columns.append(col)
        entry["columns"] = columns
    if proc.sql and verbatim:
        entry["sql"] = proc.sql
    elif proc.sql:
        # trailing blanks on a line would force PyYAML out of the readable literal block style
        entry["sql"] = "\n".join(line.rstrip() for line in proc.sql.strip().splitlines()) + "\n"
    return entry


def build_manifest_yaml(processes: Iterable[Process], compiled_from: str, verbatim: bool = False) -> bytes:
    """A whole manifest file (``version: 1``) holding ``processes`` sorted by id."""
    document = {
        "version": 1,
        "compiled_from": compiled_from,
        "processes": [build_process_entry(p, verbatim) for p in sorted(processes, key=lambda p: p.id)],
    }
    text: str = yaml.dump(document, Dumper=_ManifestDumper, sort_keys=False, allow_unicode=True, width=120)
    return text.encode("utf-8")


# The native CSV columns (manifest/csv_common.py NATIVE_COLUMNS; not imported: that module loads pandas).
CSV_COLUMNS = ("process_id", "process_name", "source", "target", "source_column", "target_column", "transform",
               "description", "sql", "owner")


def _native(header: str) -> str:
    return re.sub(r"[\s\-]+", "_", header.strip().lower())


def _mapping_limit(proc: Process) -> str:
    ins, outs = {a.key for a in proc.inputs}, {a.key for a in proc.outputs}
    groups = set()
    for m in proc.columns:
        if m.target.asset not in outs or any(s.asset not in ins for s in m.sources):
            return "a column mapping between assets that are not its input and output"
        if len(set(m.sources)) != len(m.sources) or (m.target, m.transform) in groups:
            return "two column mappings to one column with one transform, or a source named twice"
        groups.add((m.target, m.transform))
    return ""


def csv_limit(proc: Process) -> str:
    """Why the native CSV format cannot carry ``proc`` so that it reads back equal ('' when it can):
    CSV names assets by key alone (type table, no connection, no ``ids``, database and schema given),
    has no process ``ids`` or ``derived_by``, and holds attributes in extra columns of non-empty cells."""
    if proc.ids:
        return "identity overrides (ids)"
    if proc.derived_by:
        return "derived_by"
    for asset in (*proc.inputs, *proc.outputs):
        if asset.type != "table" or asset.connection or asset.ids or not (asset.database and asset.schema):
            return f"asset {asset.key}: a type, connection, ids or missing database or schema"
    for key, value in proc.attributes:
        if not value or not key or key != key.strip() or _native(key) in CSV_COLUMNS:
            return f"attribute {key!r}: an empty value, or a name a CSV header cannot hold"
    return _mapping_limit(proc)


def _csv_rows(proc: Process) -> list[dict[str, str]]:
    details = {"process_name": proc.name if proc.name != proc.id else "", "description": proc.description,
               "sql": proc.sql, "owner": proc.owner, **dict(proc.attributes)}
    rows = [{"source": i.key, "target": o.key} for i in proc.inputs for o in proc.outputs]
    rows += [{"source": s.asset, "target": m.target.asset, "source_column": s.column,
              "target_column": m.target.column, "transform": m.transform} for m in proc.columns for s in m.sources]
    rows[0].update(details)
    return [{"process_id": proc.id, **row} for row in rows]


def build_manifest_csv(processes: Iterable[Process], separator: str = ",") -> bytes:
    """A native CSV manifest of ``processes`` (each one ``csv_limit`` passes) sorted by id: the native
    columns, then one column per attribute name, sorted."""
    procs: Sequence[Process] = sorted(processes, key=lambda p: p.id)
    extra = sorted({k for p in procs for k, _ in p.attributes})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, [*CSV_COLUMNS, *extra], delimiter=separator, lineterminator="\n",
                            restval="")
    writer.writeheader()
    for proc in procs:
        writer.writerows(_csv_rows(proc))
    return buffer.getvalue().encode("utf-8")
