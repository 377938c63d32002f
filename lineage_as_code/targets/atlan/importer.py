"""Import reader for Atlan: ``Process`` and ``ColumnProcess`` entities found by index search.

Searches go through the Atlan target's own client (retries, 429 ``Retry-After``, redaction), one
page of ``search_page_size`` entities at a time, sorted by guid, optionally narrowed to one
connection (``--filter connection=<connection qualifiedName>``). A qualifiedName maps back to
``platform:database.schema.name`` through the inverse of the target's ``connections`` setting; where
that cannot be inverted (an unmapped connection, a name with more or fewer parts), the asset keeps
its qualifiedName as an ``ids: {atlan: ...}`` override, and so does a process whose qualifiedName
the target would not derive from its id. Atlan carries no ownership marker of this tool.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ...compile.writer import build_process_id
from ...config import TargetConfig
from ...model import Asset, ColumnMapping, ColumnRef, Lineage, Process, SourceLocation, freeze_mapping
from ...plan.contract import Current
from ..importers import PARSED_FILTER_KEYS, Advance, HeldProcess, ImportedLineage, ImportSelection
from .client import AtlanTarget
from .translate import COLUMN_PROCESS, PROCESS, AtlanNaming, connector_of

FILTER_KEYS = PARSED_FILTER_KEYS | {"connection"}
_TYPES = {"MaterialisedView": "materialized_view"}
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_ATTRIBUTES = ["qualifiedName", "name", "connectionQualifiedName", "sql", "description", "additionalEtlContext",
               "code", "inputs", "outputs", "process"]
Entity = dict[str, Any]


def read_entities(target: AtlanTarget, type_name: str, connection: str, advance: Advance) -> list[Entity]:
    """Every ACTIVE entity of ``type_name`` (in ``connection`` when given), page by page."""
    query: list[dict[str, Any]] = [{"term": {"__state": "ACTIVE"}}, {"term": {"__typeName": type_name}}]
    if connection:
        query.append({"term": {"connectionQualifiedName": connection}})
    return target.search_all(query, _ATTRIBUTES, advance)


def _refs(entity: Entity, key: str) -> list[tuple[str, str]]:
    refs = (entity.get("attributes") or {}).get(key) or []
    return [(str((r.get("uniqueAttributes") or {}).get("qualifiedName", "")), str(r.get("typeName", "")))
            for r in ([refs] if isinstance(refs, dict) else refs)]


class _AssetNames:
    """qualifiedName -> Asset, inverting the target's ``connections`` (the shortest key wins)."""

    def __init__(self, naming: AtlanNaming) -> None:
        self.naming = naming
        self.keys: dict[str, str] = {}
        for key, conn in sorted(naming.connections.items(), key=lambda kv: (len(kv[0]), kv[0])):
            self.keys.setdefault(conn, key)

    def asset(self, qn: str, type_name: str) -> Asset:
        parts = qn.split("/")
        conn, rest = "/".join(parts[:3]), parts[3:]
        # the inverse of the target's type_name: Table -> table, DbtModel -> dbt_model
        asset_type = _TYPES.get(type_name) or _CAMEL.sub("_", type_name).lower() or "table"
        key = self.keys.get(conn)
        if key and len(rest) == 3 and all(rest):
            platform, _, connection = key.partition("/")
            asset = Asset(platform, rest[0], rest[1], rest[2], asset_type, connection)
            if self.naming.asset(asset, "")[0] == qn:
                return asset
        padded = ["", "", *rest] if len(rest) <= 3 else [rest[0], rest[1], "/".join(rest[2:])]
        return Asset(connector_of(conn, "atlan"), padded[-3], padded[-2], padded[-1] or qn, asset_type, "",
                     (("atlan", qn),))


def _process(entity: Entity, names: _AssetNames, config: TargetConfig) -> Process | None:
    attrs = entity.get("attributes") or {}
    qn, conn = str(attrs.get("qualifiedName", "")), str(attrs.get("connectionQualifiedName", ""))
    inputs = tuple(names.asset(q, t) for q, t in sorted(_refs(entity, "inputs")))
    outputs = tuple(names.asset(q, t) for q, t in sorted(_refs(entity, "outputs")))
    if not inputs or not outputs:
        return None
    pid = qn[len(conn) + 1:] if conn and qn.startswith(conn + "/") else qn.rsplit("/", 1)[-1]
    try:
        context = json.loads(attrs.get("additionalEtlContext") or "{}")
    except ValueError:
        context = {"additionalEtlContext": str(attrs.get("additionalEtlContext"))}
    owner = str(context.pop("owner", "")) if isinstance(context, dict) else ""
    proc = Process(id=pid, name=str(attrs.get("name") or pid), inputs=inputs, outputs=outputs,
                   description=str(attrs.get("description") or ""), sql=str(attrs.get("sql") or ""), owner=owner,
                   attributes=freeze_mapping({str(k): str(v) for k, v in context.items()}
                                             if isinstance(context, dict) else {}),
                   source=SourceLocation(f"{config.name}:{qn}"))
    if names.naming.process(proc, names.naming.asset(outputs[0], "")[1])[0] != qn:
        proc = replace(proc, ids=(("atlan", qn),))
    return proc


def _mapping(entity: Entity, assets: Mapping[str, Asset]) -> ColumnMapping | None:
    """One ColumnProcess as a column mapping; None when a column's table is not one of the process's."""
    attrs = entity.get("attributes") or {}
    label = str(attrs.get("name") or "")
    columns = []
    for qn, _ in [*sorted(_refs(entity, "inputs"), key=lambda r: (label.find(r[0]), r[0])), *_refs(entity, "outputs")]:
        table, _, column = qn.rpartition("/")
        if table not in assets:
            return None
        columns.append(ColumnRef(assets[table].key, column))
    if len(columns) < 2:
        return None
    return ColumnMapping(tuple(columns[:-1]), columns[-1], str(attrs.get("code") or ""))


def read_atlan_lineage(config: TargetConfig, selection: ImportSelection, advance: Advance) -> ImportedLineage:
    """The processes and column processes Atlan holds that ``selection`` keeps, with their guids."""
    selection.check(config, FILTER_KEYS)
    target = AtlanTarget(config)
    try:
        connection = selection.filters.get("connection", "")
        processes = read_entities(target, "Process", connection, advance)
        column_processes = read_entities(target, "ColumnProcess", connection, advance)
    finally:
        target.close()
    names = _AssetNames(target.naming())
    by_qn: dict[str, tuple[Process, Entity]] = {}
    ids: set[str] = set()
    skipped = 0
    for entity in processes:
        proc = _process(entity, names, config)
        if proc is None or not selection.keeps(proc):
            skipped += proc is None
            continue
        if proc.id in ids:  # the same id in two connections: the second keeps its qualifiedName
            qn = str(entity["attributes"]["qualifiedName"])
            proc = replace(proc, id=build_process_id(qn), ids=(("atlan", qn),))
        ids.add(proc.id)
        by_qn[str(entity["attributes"]["qualifiedName"])] = (proc, entity)
    columns: dict[str, list[tuple[ColumnMapping, Entity]]] = {}
    for entity in column_processes:
        parent = _refs(entity, "process")
        if parent and parent[0][0] in by_qn:
            proc = by_qn[parent[0][0]][0]
            assets = {names.naming.asset(a, "")[0]: a for a in (*proc.inputs, *proc.outputs)}
            mapping = _mapping(entity, assets)
            if mapping is None:
                skipped += 1
                continue
            columns.setdefault(parent[0][0], []).append((mapping, entity))
    return _assemble(by_qn, columns, skipped)


def _assemble(by_qn: Mapping[str, tuple[Process, Entity]], columns: Mapping[str, list[tuple[ColumnMapping, Entity]]],
              skipped: int) -> ImportedLineage:
    procs: list[Process] = []
    held: dict[str, HeldProcess] = {}
    resources: dict[str, Current] = {}
    for qn, (proc, entity) in by_qn.items():
        mine = sorted(columns.get(qn, []), key=lambda pair: str(pair[1]["attributes"]["qualifiedName"]))
        procs.append(replace(proc, columns=tuple(m for m, _ in mine)))
        held[proc.id] = HeldProcess(str(entity["guid"]))
        resources[f"{PROCESS}.{qn}"] = Current(f"{PROCESS}.{qn}", PROCESS, str(entity["guid"]))
        for _, cp in mine:
            address = f"{COLUMN_PROCESS}.{cp['attributes']['qualifiedName']}"
            resources[address] = Current(address, COLUMN_PROCESS, str(cp["guid"]))
    left_out = (f"{skipped} process(es) or column process(es) left out: no inputs or outputs, or a column of a "
                "table the process does not read or write")
    notes = (left_out,) if skipped else ()
    return ImportedLineage(Lineage.build(procs), held, notes, resources)
