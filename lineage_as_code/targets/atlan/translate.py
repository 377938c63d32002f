"""Pure translation of the Lineage into Atlan's terms: qualifiedNames from the target's settings,
asset, Process and ColumnProcess bodies, the bulk-API entities they are written as, and bodies
rebuilt from what a search returns (so a hash shows drift). No I/O here; ``client.py`` does the talking."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from ...errors import ConfigError
from ...model import Asset, ColumnMapping, Lineage, Process
from ...plan.model import Change
from ..base import ASSET, Resource

PROCESS = "process"
COLUMN_PROCESS = "column_process"
TYPE_NAMES = {"table": "Table", "view": "View", "materialized_view": "MaterialisedView",
              "materialised_view": "MaterialisedView", "column": "Column"}
# The attributes a process body holds, in the order they are read back for drift detection.
PROCESS_KEYS = ("typeName", "qualifiedName", "name", "connectorName", "connectionQualifiedName", "sql",
                "description", "additionalEtlContext")
COLUMN_PROCESS_KEYS = ("typeName", "qualifiedName", "name", "connectorName", "connectionQualifiedName", "code")
REF_KEYS = ("inputs", "outputs", "process")


def connector_of(connection_qn: str, fallback: str = "") -> str:
    """``default/snowflake/123`` -> ``snowflake``, as Atlan derives connectorName."""
    parts = connection_qn.split("/")
    return parts[1] if len(parts) >= 3 else fallback


def type_name(asset_type: str, overrides: Mapping[str, str]) -> str:
    """The Atlan typeName for a manifest asset type: ``asset_types`` setting, known names, else as written."""
    if asset_type in overrides:
        return str(overrides[asset_type])
    if asset_type.lower() in TYPE_NAMES:
        return TYPE_NAMES[asset_type.lower()]
    if asset_type[:1].isupper():
        return asset_type  # Lineage Builder rows already carry Atlan type names
    return "".join(word.capitalize() for word in asset_type.replace("-", "_").split("_"))


class AtlanNaming:
    """qualifiedNames from the target's settings; collects every missing connection before failing."""

    def __init__(self, target: str, connections: Mapping[str, str], process_connection: str = "",
                 types: Mapping[str, str] | None = None) -> None:
        self.target = target
        self.connections = dict(connections)
        self.process_connection = process_connection
        self.types = dict(types or {})
        self.missing: dict[str, str] = {}

    def _override(self, ids: Iterable[tuple[str, str]]) -> str | None:
        found = dict(ids)
        return found.get(self.target) or found.get("atlan")

    def connection(self, platform: str, name: str, where: str) -> str:
        """The qualifiedName of connection ``platform/name`` (or of ``platform``); '' and noted when unknown."""
        for key in (f"{platform}/{name}" if name else "", platform):
            if key and key in self.connections:
                return self.connections[key]
        self.missing.setdefault(f"{platform}/{name}" if name else platform, where)
        return ""

    def asset(self, asset: Asset, where: str) -> tuple[str, str]:
        """``(qualifiedName, connection qualifiedName)`` of an asset."""
        override = self._override(asset.ids)
        if override:
            return override, "/".join(override.split("/")[:3])
        conn = self.connection(asset.platform, asset.connection, where)
        return "/".join(p for p in (conn, asset.database, asset.schema, asset.name) if p), conn

    def process(self, process: Process, first_output_connection: str) -> tuple[str, str]:
        """``(qualifiedName, connection qualifiedName)`` of a process.

        The connection is the Lineage Builder row's transformation connection, else the
        ``process_connection`` setting (a key of ``connections`` or a qualifiedName), else the first
        output's connection (Atlan's "pull" pattern)."""
        override = self._override(process.ids)
        if override:
            return override, override.rsplit("/", 1)[0]
        attrs = dict(process.attributes)
        if attrs.get("transformation_connector"):
            conn = self.connection(attrs["transformation_connector"], attrs.get("transformation_connection", ""),
                                   str(process.source))
        elif self.process_connection:
            conn = self.connections.get(self.process_connection, self.process_connection)
        else:
            conn = first_output_connection
        return f"{conn}/{process.id}", conn

    def check(self) -> None:
        if self.missing:
            lines = "\n".join(f"  {key}: first used at {where}" for key, where in sorted(self.missing.items()))
            raise ConfigError(
                f"target {self.target!r}: no Atlan connection qualifiedName for:\n{lines}\n"
                "Add them under 'connections' for this target in lac.yaml (keys '<platform>' or "
                "'<platform>/<connection name>', values like 'default/snowflake/1657025257'), "
                "or give the assets an 'ids: {atlan: <qualifiedName>}' override.")


def _etl_context(process: Process) -> str:
    """Manifest attributes and owner as JSON: Process has no free-form attributes, and unknown ones
    would be dropped by the metastore, so they travel in ``additionalEtlContext``."""
    context = {k: v for k, v in process.attributes if not k.startswith("transformation_")}
    if process.owner:
        context["owner"] = process.owner
    return json.dumps(context, sort_keys=True) if context else ""


class _Builder:
    """Turns a Lineage into Atlan resources; pure."""

    def __init__(self, naming: AtlanNaming, lineage: Lineage) -> None:
        self.naming = naming
        self.lineage = lineage
        self.assets: dict[str, Resource] = {}
        self.qns: dict[str, tuple[str, str, str]] = {}  # asset key -> (qn, connection qn, typeName)

    def asset(self, asset: Asset, where: str) -> tuple[str, str, str]:
        canonical = self.lineage.assets.get(asset.key, asset)
        if asset.key not in self.qns:
            qn, conn = self.naming.asset(canonical, where)
            tname = type_name(canonical.type, self.naming.types)
            body = {"typeName": tname, "qualifiedName": qn, "name": canonical.name, "connectionQualifiedName": conn,
                    "connectorName": connector_of(conn, canonical.platform), "databaseName": canonical.database,
                    "schemaName": canonical.schema}
            self.assets[f"asset.{qn}"] = Resource(f"asset.{qn}", ASSET, body, where)
            self.qns[asset.key] = (qn, conn, tname)
        return self.qns[asset.key]

    def column(self, asset_key: str, column: str, where: str) -> str:
        table_qn, conn, tname = self.qns[asset_key]
        qn = f"{table_qn}/{column}"
        if f"asset.{qn}" not in self.assets:
            parent = "viewQualifiedName" if tname in ("View", "MaterialisedView") else "tableQualifiedName"
            body = {"typeName": "Column", "qualifiedName": qn, "name": column, "connectionQualifiedName": conn,
                    "connectorName": connector_of(conn), parent: table_qn}
            self.assets[f"asset.{qn}"] = Resource(f"asset.{qn}", ASSET, body, where)
        return qn

    def process(self, p: Process) -> list[Resource]:
        where = str(p.source)
        ins = [self.asset(a, where) for a in p.inputs]
        outs = [self.asset(a, where) for a in p.outputs]
        qn, conn = self.naming.process(p, outs[0][1] if outs else "")
        body: dict[str, Any] = {
            "typeName": "Process", "qualifiedName": qn, "name": p.name, "connectorName": connector_of(conn),
            "connectionQualifiedName": conn, "sql": p.sql, "description": p.description,
            "additionalEtlContext": _etl_context(p),
            "inputs": sorted({a[0] for a in ins}), "outputs": sorted({a[0] for a in outs}),
            "types": {a[0]: a[2] for a in (*ins, *outs)},
        }
        requires = tuple(dict.fromkeys(f"asset.{a[0]}" for a in (*ins, *outs)))
        out = [Resource(f"{PROCESS}.{qn}", PROCESS, body, where, requires, tuple(p.edges))]
        out += self.column_processes(p, qn, conn, where)
        return out

    def column_processes(self, p: Process, process_qn: str, conn: str, where: str) -> list[Resource]:
        merged: dict[tuple[str, str], list[ColumnMapping]] = {}
        for m in p.columns:
            merged.setdefault((m.target.asset, m.target.column), []).append(m)
        names = [column for _, column in merged]
        out = []
        for (asset_key, column), mappings in merged.items():
            sources = list(dict.fromkeys(s for m in mappings for s in m.sources))
            ins = [self.column(s.asset, s.column, where) for s in sources]
            target = self.column(asset_key, column, where)
            # Atlan's convention is <process>/column/<column>; qualify only when two outputs share a column name.
            suffix = column if names.count(column) == 1 else f"{self.lineage.assets[asset_key].name}.{column}"
            qn = f"{process_qn}/column/{suffix}"
            body = {"typeName": "ColumnProcess", "qualifiedName": qn, "name": f"{', '.join(ins)} -> {target}",
                    "connectorName": connector_of(conn), "connectionQualifiedName": conn,
                    "code": "; ".join(m.transform for m in mappings if m.transform),
                    "process": [process_qn], "inputs": sorted(set(ins)), "outputs": [target],
                    "types": {process_qn: "Process", **{c: "Column" for c in (*ins, target)}}}
            requires = (f"{PROCESS}.{process_qn}", *dict.fromkeys(f"asset.{c}" for c in (*ins, target)))
            out.append(Resource(f"{COLUMN_PROCESS}.{qn}", COLUMN_PROCESS, body, where, requires))
        return out


def build_atlan_resources(lineage: Lineage, naming: AtlanNaming) -> list[Resource]:
    """Assets (tables, then the columns column lineage needs), processes, then column processes.
    Raise ConfigError naming every connection the settings do not map."""
    builder = _Builder(naming, lineage)
    lineage_resources = [r for p in lineage.processes for r in builder.process(p)]
    for asset in lineage.assets.values():
        builder.asset(asset, "")  # declared but unused assets: known to the catalog all the same
    naming.check()
    processes = [r for r in lineage_resources if r.kind == PROCESS]
    columns = [r for r in lineage_resources if r.kind == COLUMN_PROCESS]
    return [*builder.assets.values(), *processes, *columns]


def atlan_error(doc: Any, status: int) -> str:
    """Atlan's own words for a failed call (``errorCode: errorMessage``)."""
    if isinstance(doc, dict):
        code = doc.get("errorCode") or doc.get("code") or doc.get("status") or status
        message = doc.get("errorMessage") or doc.get("message") or json.dumps(doc)[:300]
        return f"Atlan {code}: {message}"
    return f"Atlan HTTP {status}"


def entity_for(change: Change, placeholder: str, resolve: Any) -> dict[str, Any]:
    """The bulk-API entity for a create/update: scalar attributes, and relationships as refs by
    typeName + qualifiedName (``resolve(qn, typeName)`` gives the catalog's spelling of a ref)."""
    attributes = dict(change.after or {})
    types = attributes.pop("types", {})
    tname = attributes.pop("typeName")
    partial = attributes.pop("partial", None)
    relationships: dict[str, Any] = {}
    for key in REF_KEYS:
        if key in attributes:
            refs = [resolve(qn, types.get(qn, "Column")) for qn in attributes.pop(key)]
            relationships[key] = refs[0] if key == "process" else refs
    if change.kind == ASSET:
        attributes["isPartial"] = bool(partial)
    entity: dict[str, Any] = {"typeName": tname, "guid": placeholder, "attributes": attributes}
    if relationships:
        entity["relationshipAttributes"] = relationships
    return entity


def body_from_entity(entity: Mapping[str, Any], kind: str, desired: Mapping[str, Any]) -> dict[str, Any]:
    """Rebuild a resource body from what the search returns, so its hash shows drift. Refs that
    match the desired body but for case or typeName (the catalog's spelling, used on write) are
    taken as desired, so matching existing assets loosely never reads as drift."""
    attrs = entity.get("attributes") or {}
    keys = PROCESS_KEYS if kind == PROCESS else COLUMN_PROCESS_KEYS
    body: dict[str, Any] = {k: attrs.get(k) or "" for k in keys}
    body["typeName"] = entity.get("typeName", "")
    wanted = dict(desired.get("types") or {})
    folded = {qn.casefold(): qn for qn in wanted}
    types: dict[str, str] = {}
    for key in REF_KEYS[:2] if kind == PROCESS else REF_KEYS:
        refs = attrs.get(key) or []
        qns = []
        for ref in [refs] if isinstance(refs, dict) else refs:
            qn = str((ref.get("uniqueAttributes") or {}).get("qualifiedName", ""))
            qn = folded.get(qn.casefold(), qn)
            types[qn] = wanted.get(qn, str(ref.get("typeName", "")))
            qns.append(qn)
        body[key] = sorted(set(qns))
    body["types"] = types
    return body
