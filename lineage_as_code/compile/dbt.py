"""dbt ``manifest.json`` (schema v7 to v12, dbt 1.3 onwards) -> processes: one per model, snapshot,
seed and exposure, with inputs from ``depends_on`` and column lineage read from each model's
``compiled_code`` by sqlglot in the adapter's dialect.

Assets are named from ``database``/``schema``/``alias`` (``identifier`` for sources) on the adapter's
platform. Ephemeral models have no relation: their dependents read what they read. A node's or
exposure's ``meta.lineage_as_code`` may name its catalog identity (``ids``) and, for exposures, the
platform, database, schema, name and type of the dashboard or notebook. Everything here is pure
except ``read_dbt_artifact``; the per-model SQL work is a picklable function so it runs in a process
pool (``build_column_flows``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..errors import CompileError
from ..model import Asset, ColumnMapping, ColumnRef, Process, freeze_mapping
from .sql import DERIVED_BY, ColumnFlow, SqlLineageError, TableName, build_sql_lineage, dialect_for
from .writer import build_process_id

SUPPORTED_VERSIONS = range(7, 13)
META_KEY = "lineage_as_code"
_PROCESS_TYPES = ("model", "snapshot", "seed")

# (model id, compiled SQL, dialect, schema) -> the flows, or the reason there are none
ColumnJob = tuple[str, str, str | None, dict[str, Any]]
ColumnResult = tuple[str, tuple[ColumnFlow, ...], str]
Mapper = Callable[[Callable[[ColumnJob], ColumnResult], Iterable[ColumnJob]], Iterable[ColumnResult]]


@dataclass(frozen=True)
class CompiledProject:
    """What a compile produced: processes per output file name, and notes for the user."""

    files: Mapping[str, tuple[Process, ...]]
    compiled_from: str
    notes: tuple[str, ...]

    @property
    def process_count(self) -> int:
        return sum(len(procs) for procs in self.files.values())

    @property
    def column_edge_count(self) -> int:
        return sum(len(m.sources) for procs in self.files.values() for p in procs for m in p.columns)


def read_dbt_artifact(path: str, what: str) -> dict[str, Any]:
    """Load a dbt JSON artifact; raise CompileError naming the file when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            value = json.load(handle)
    except OSError as exc:
        raise CompileError(f"cannot read the dbt {what} {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise CompileError(f"{path} is not JSON ({exc}); expected dbt's target/{what}.json") from exc
    if not isinstance(value, dict):
        raise CompileError(f"{path} is not a dbt {what}: expected a JSON object")
    return value


def manifest_version(manifest: Mapping[str, Any]) -> int:
    """The manifest schema version (7..12); raise CompileError naming the version found otherwise."""
    meta = manifest.get("metadata") or {}
    url = str(meta.get("dbt_schema_version", ""))
    found = re.search(r"/manifest/v(\d+)\.json$", url)
    if not found:
        raise CompileError(f"not a dbt manifest: metadata.dbt_schema_version is {url or 'missing'!r}")
    version = int(found.group(1))
    if version not in SUPPORTED_VERSIONS:
        raise CompileError(
            f"this is a dbt manifest of schema v{version} (written by dbt {meta.get('dbt_version', '?')}); "
            f"lac compile reads v{SUPPORTED_VERSIONS[0]} to v{SUPPORTED_VERSIONS[-1]} (dbt 1.3 and later): "
            "regenerate it with a supported dbt (dbt compile or dbt docs generate)")
    return version


def _meta(node: Mapping[str, Any]) -> dict[str, Any]:
    meta = node.get("meta") or (node.get("config") or {}).get("meta") or {}
    value = meta.get(META_KEY) if isinstance(meta, dict) else None
    return value if isinstance(value, dict) else {}


def _ids(node: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    ids = _meta(node).get("ids")
    return freeze_mapping({str(k): str(v) for k, v in ids.items()}) if isinstance(ids, dict) else ()


def _relation(node: Mapping[str, Any], platform: str) -> Asset | None:
    kind = node.get("resource_type")
    materialized = str((node.get("config") or {}).get("materialized", ""))
    if kind == "model" and materialized == "ephemeral":
        return None
    name = node.get("identifier") if kind == "source" else (node.get("alias") or node.get("name"))
    return Asset(platform=platform, database=str(node.get("database") or ""), schema=str(node.get("schema") or ""),
                 name=str(name or node.get("name")), type="view" if materialized == "view" else "table",
                 ids=_ids(node))


def _exposure_asset(exposure: Mapping[str, Any]) -> Asset:
    meta = _meta(exposure)
    return Asset(platform=str(meta.get("platform") or "dbt"),
                 database=str(meta.get("database", exposure.get("package_name") or "")),
                 schema=str(meta.get("schema", "exposures")),
                 name=str(meta.get("name") or exposure.get("name")),
                 type=str(meta.get("type") or exposure.get("type") or "dashboard"),
                 ids=_ids(exposure))


class _Graph:
    """The manifest's relations, with ephemeral models resolved to what they read."""

    def __init__(self, manifest: Mapping[str, Any], platform: str) -> None:
        self.nodes: dict[str, Mapping[str, Any]] = {**(manifest.get("nodes") or {}), **(manifest.get("sources") or {})}
        self.assets = {uid: _relation(node, platform) for uid, node in self.nodes.items()
                       if node.get("resource_type") in (*_PROCESS_TYPES, "source")}

    def inputs(self, depends_on: Iterable[str], seen: frozenset[str] = frozenset()) -> Iterator[tuple[str, Asset]]:
        for uid in depends_on:
            if uid in seen or uid not in self.assets:
                continue  # tests, macros, metrics and cycles name no relation
            asset = self.assets[uid]
            if asset is not None:
                yield uid, asset
            else:
                yield from self.inputs(_depends_on(self.nodes[uid]), seen | {uid})


def _depends_on(node: Mapping[str, Any]) -> list[str]:
    return list((node.get("depends_on") or {}).get("nodes") or [])


def _seed_file(node: Mapping[str, Any]) -> Asset:
    return Asset(platform="file", database=str(node.get("package_name") or ""), schema="",
                 name=str(node.get("original_file_path") or node.get("name")), type="file")


def _process(uid: str, node: Mapping[str, Any], inputs: list[Asset], output: Asset) -> Process:
    owner = node.get("owner") if isinstance(node.get("owner"), dict) else {}
    attributes = {"dbt_unique_id": uid, "dbt_resource_type": str(node.get("resource_type"))}
    if node.get("url"):
        attributes["url"] = str(node["url"])
    return Process(
        id=build_process_id(uid), name=str(node.get("label") or node.get("name") or uid),
        inputs=tuple(sorted(set(inputs), key=lambda a: a.key)), outputs=(output,),
        description=str(node.get("description") or ""),
        sql=str(node.get("compiled_code") or "") if node.get("resource_type") in ("model", "snapshot") else "",
        owner=str((owner or {}).get("email") or (owner or {}).get("name") or ""),
        attributes=freeze_mapping(attributes),
    )


def _catalog_columns(catalog: Mapping[str, Any] | None) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for section in ("nodes", "sources"):
        for uid, entry in ((catalog or {}).get(section) or {}).items():
            out[uid] = {str(c.get("name", n)): str(c.get("type") or "UNKNOWN")
                        for n, c in (entry.get("columns") or {}).items()}
    return out


def _schema_for(graph: _Graph, parents: list[tuple[str, Asset]], columns: dict[str, dict[str, str]]) -> dict[str, Any]:
    schema: dict[str, Any] = {}
    for uid, asset in parents:
        known = columns.get(uid) or {str(c.get("name", n)): str(c.get("data_type") or "UNKNOWN")
                                     for n, c in (graph.nodes[uid].get("columns") or {}).items()}
        if known and asset.database and asset.schema:
            schema.setdefault(asset.database, {}).setdefault(asset.schema, {})[asset.name] = known
    return schema


def build_column_flows(job: ColumnJob) -> ColumnResult:
    """Column flows of one model's compiled SQL; a model whose SQL sqlglot cannot read gets a reason."""
    uid, sql, dialect, schema = job
    try:
        try:
            return uid, build_sql_lineage(sql, dialect, schema).columns, ""
        except SqlLineageError:
            if not schema:
                raise
            # a catalog that disagrees with the SQL (renamed or stale columns) must not cost every column
            return uid, build_sql_lineage(sql, dialect).columns, ""
    except SqlLineageError as exc:
        return uid, (), str(exc)
    except RecursionError:
        return uid, (), "the SQL nests too deeply to trace"


def _match(table: TableName, inputs: tuple[Asset, ...]) -> Asset | None:
    wanted = [p.lower() for p in table]
    found = [a for a in inputs
             if [p.lower() for p in (a.database, a.schema, a.name) if p][-len(wanted):] == wanted]
    return found[0] if len(found) == 1 else None


def build_mappings(proc: Process, flows: tuple[ColumnFlow, ...]) -> tuple[ColumnMapping, ...]:
    """Column mappings for ``proc`` from SQL flows; sources outside the process's inputs are dropped."""
    mappings = []
    target = proc.outputs[0]
    for flow in flows:
        sources = []
        for table, column in flow.sources:
            asset = _match(table, proc.inputs)
            if asset is not None:
                sources.append(ColumnRef(asset.key, column))
        if sources:
            mappings.append(ColumnMapping(tuple(dict.fromkeys(sources)), ColumnRef(target.key, flow.target),
                                          flow.transform))
    return tuple(mappings)


def build_dbt_project(manifest: Mapping[str, Any], catalog: Mapping[str, Any] | None = None,
                      columns: bool = True, mapper: Mapper | None = None) -> CompiledProject:
    """Compile a dbt manifest (and catalog) into processes grouped by output file.

    ``mapper`` runs the per-model SQL work (``map`` by default; a process pool's ``map`` to use every
    core). Raises CompileError for a manifest version outside v7..v12.
    """
    version = manifest_version(manifest)
    meta = manifest.get("metadata") or {}
    platform = str(meta.get("adapter_type") or "dbt")
    graph = _Graph(manifest, platform)
    processes: dict[str, Process] = {}
    jobs: list[ColumnJob] = []
    notes = []
    dialect = dialect_for(platform)
    catalog_columns = _catalog_columns(catalog)
    for uid, node in sorted(graph.nodes.items()):
        output = graph.assets.get(uid)
        if node.get("resource_type") not in _PROCESS_TYPES or output is None:
            continue
        parents = list(graph.inputs(_depends_on(node)))
        inputs = [a for _, a in parents] or ([_seed_file(node)] if node.get("resource_type") == "seed" else [])
        if not inputs:
            notes.append(f"{uid}: depends on no model, seed or source; left out")
            continue
        processes[uid] = _process(uid, node, inputs, output)
        if columns and processes[uid].sql and node.get("resource_type") == "model":
            jobs.append((uid, processes[uid].sql, dialect, _schema_for(graph, parents, catalog_columns)))
    for uid, flows, reason in (mapper or map)(build_column_flows, jobs):
        if reason:
            notes.append(f"{uid}: no column lineage: {reason}")
            continue
        mappings = build_mappings(processes[uid], flows)
        if mappings:
            processes[uid] = replace(processes[uid], columns=mappings, derived_by=DERIVED_BY)
    for uid, exposure in sorted((manifest.get("exposures") or {}).items()):
        inputs = [a for _, a in graph.inputs(_depends_on(exposure))]
        if inputs:
            processes[uid] = _process(uid, exposure, inputs, _exposure_asset(exposure))
        else:
            notes.append(f"{uid}: exposure depends on no model or source; left out")
    files: dict[str, list[Process]] = {}
    for uid, proc in processes.items():
        package = graph.nodes[uid]["package_name"] if uid in graph.nodes else manifest["exposures"][uid]["package_name"]
        files.setdefault(f"dbt_{package}.yaml", []).append(proc)
    compiled_from = f"dbt manifest v{version} (dbt {meta.get('dbt_version', '?')}, {platform})"
    return CompiledProject({k: tuple(sorted(v, key=lambda p: p.id)) for k, v in sorted(files.items())},
                           compiled_from, tuple(sorted(notes)))
