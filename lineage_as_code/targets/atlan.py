"""Atlan: lineage as Process and ColumnProcess entities, written through the metastore bulk API.

Every asset becomes ``<connection qualifiedName>/<database>/<schema>/<name>`` (a per-asset
``ids.atlan`` override wins), with connection qualifiedNames taken from the target's
``connections`` setting (keys ``<platform>`` or ``<platform>/<connection name>``). A process is a
``Process`` whose qualifiedName is ``<process connection>/<process id>``: an explicit id, never the
SDK's hash of name and input guids, which collides for refs by qualifiedName. Column mappings become
``ColumnProcess`` entities under ``<process qualifiedName>/column/<column>``. Addresses carry the
qualifiedName, so renaming one is a delete plus a create the plan shows, never an orphan.

Writes upsert by qualifiedName (``POST /api/meta/entity/bulk``, ``batch_size`` entities per
request), so resending a batch after an ambiguous failure cannot duplicate anything. Existing
assets are found with the index search (``POST /api/meta/search/indexsearch``), case-insensitively
when ``case_sensitive_match`` is false; deletes go by guid (``DELETE /api/meta/entity/bulk``). Every request (search included: it is a
POST) is spaced by ``rate_limit_per_minute``, 400 by default, Atlan's documented per-instance limit.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ..config import TargetConfig
from ..errors import ConfigError, TerminalTargetError
from ..model import Asset, ColumnMapping, Lineage, Process
from ..plan.contract import AmbiguousFailure
from ..plan.model import Action, Change
from .base import ASSET, Capabilities, Current, ItemResult, Resource, content_hash
from .http import HttpClient, client_for, secret_from_env

BULK = "/api/meta/entity/bulk"
SEARCH = "/api/meta/search/indexsearch"
PROCESS = "process"
COLUMN_PROCESS = "column_process"
DEFAULT_TOKEN_ENV = "ATLAN_API_KEY"
DEFAULT_BASE_URL_ENV = "ATLAN_BASE_URL"
DEFAULT_BATCH_SIZE = 20
# "400 requests/minute: the global limit on programmatic API calls ... global per instance"
# (Atlan, API limits, batching, and automation reference).
DEFAULT_RATE_LIMIT = 400
NO_MARKER_NOTE = ("atlan: no ownership marker: the placeholder assets this target creates have no documented free "
                  "attribute to carry one, so a lost state is recovered by adopting what exists (upserts by "
                  "qualifiedName), not rebuilt with 'lac state rebuild'")
DELETE_TYPES = ("SOFT", "HARD", "PURGE")
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


def _names(target: str, settings: Mapping[str, Any], key: str) -> dict[str, str]:
    """A settings mapping of names (``connections``, ``asset_types``); ConfigError when it is not one."""
    value = settings.get(key) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"target {target!r}: {key} must be a mapping (keys '<platform>' or "
                          f"'<platform>/<connection name>'), not {value!r}")
    return {str(k): str(v) for k, v in value.items()}


class AtlanNaming:
    """qualifiedNames from the target's settings; collects every missing connection before failing."""

    def __init__(self, target: str, settings: Mapping[str, Any]) -> None:
        self.target = target
        self.connections = _names(target, settings, "connections")
        self.process_connection = str(settings.get("process_connection") or "")
        self.types = _names(target, settings, "asset_types")
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


class AtlanTarget:
    """Lineage in Atlan (settings: ``base_url``, ``token_env``, ``connections``, ``process_connection``,
    ``asset_types``, ``batch_size``, ``delete_type``, ``search_page_size``, ``max_parallel``,
    ``rate_limit_per_minute``)."""

    def __init__(self, config: TargetConfig) -> None:
        self.name = config.name
        self.config = config
        s = config.settings
        self.batch_size = int(s.get("batch_size") or DEFAULT_BATCH_SIZE)
        self.page_size = int(s.get("search_page_size") or 100)
        self.delete_type = str(s.get("delete_type") or "SOFT").upper()
        if self.delete_type not in DELETE_TYPES:
            raise ConfigError(f"target {self.name!r}: delete_type must be one of {', '.join(DELETE_TYPES)}, "
                              f"not {s.get('delete_type')!r}")
        self.token_env = str(s.get("token_env", DEFAULT_TOKEN_ENV))
        self.case_sensitive = config.policy.case_sensitive_match
        limit = s.get("rate_limit_per_minute", DEFAULT_RATE_LIMIT)  # the documented limit unless set (0: off)
        self.rate_limit = float(limit) if limit else None
        self._client: HttpClient | None = None
        # What the catalog holds, by exact and by case-folded qualifiedName: (qualifiedName, typeName).
        self._found: dict[str, tuple[str, str]] = {}
        self._folded: dict[str, tuple[str, str]] = {}
        self._read_done = False

    @property
    def capabilities(self) -> Capabilities:
        # The engine hands over batch_size x max_parallel changes; apply() sends them as parallel
        # requests of batch_size entities each, so max_parallel speeds up writes, not only reads.
        parallel = int(self.config.settings.get("max_parallel", 4))
        return Capabilities(max_batch_size=self.batch_size * parallel, max_parallel=parallel,
                            kind_order=(ASSET, PROCESS, COLUMN_PROCESS), notes=(NO_MARKER_NOTE,),
                            ambiguous_failure=AmbiguousFailure.RETRY,  # upserts by qualifiedName
                            adopt_by_hash=True,  # an entity is one write: found as declared, it is whole
                            # an engine batch is batch_size entities a request, parallel requests unless
                            # the policy's batch_size makes it one request
                            requests_per_batch=1 if self.config.policy.batch_size else parallel,
                            rate_limit_per_minute=self.rate_limit)

    def _http(self) -> HttpClient:
        if self._client is None:
            base = str(self.config.settings.get("base_url") or os.environ.get(DEFAULT_BASE_URL_ENV, ""))
            if not base:
                raise ConfigError(f"target {self.name!r}: set base_url (https://<tenant>.atlan.com) for this target "
                                  f"in lac.yaml, or the {DEFAULT_BASE_URL_ENV} environment variable")
            token = secret_from_env(self.config, DEFAULT_TOKEN_ENV)
            hint = (f"put a valid Atlan API token in the environment variable {self.token_env} (token_env); a 403 "
                    "means its persona or API-token role needs access to the connections in lac.yaml")
            self._client = client_for(self.config, base, {"Authorization": f"Bearer {token}"}, auth_hint=hint,
                                      rate_limit_per_minute=self.rate_limit)
        return self._client

    def _vendor_error(self, doc: Any, status: int) -> str:
        """Atlan's words for a failure, token redacted: an error body may quote the request back."""
        return self._http().redact(atlan_error(doc, status))

    def _call(self, method: str, path: str, *, tolerate: Sequence[int] = (), **kwargs: Any) -> tuple[int, Any]:
        """One API call; returns (status, JSON body). A 401/403 stops the run in the HTTP client."""
        response = self._http().request(method, path, ok=(200, 204, *tolerate), **kwargs)
        status = response.status_code
        try:
            return status, response.json() if response.content else None
        except ValueError as exc:
            raise TerminalTargetError(f"target {self.name!r}: {method} {path} returned HTTP {status} "
                                      "with a body that is not JSON") from exc

    def translate(self, lineage: Lineage) -> list[Resource]:
        return build_atlan_resources(lineage, AtlanNaming(self.name, self.config.settings))

    # -- reading ---------------------------------------------------------------------------------

    def _search_chunk(self, field: str, values: list[str], attributes: list[str]) -> list[dict[str, Any]]:
        if field == "qualifiedName" and not self.case_sensitive:
            match: dict[str, Any] = {"bool": {"minimum_should_match": 1, "should": [
                {"term": {field: {"value": v, "case_insensitive": True}}} for v in values]}}
        else:
            match = {"terms": {field: values}}
        return self.search_all([{"term": {"__state": "ACTIVE"}}, match], attributes)

    def search_all(self, filters: list[dict[str, Any]], attributes: Sequence[str],
                   advance: Callable[[int, int], None] = lambda _done, _total: None) -> list[dict[str, Any]]:
        """Every entity an index search with ``filters`` finds, page by page (``page_size``), in guid
        order; ``advance(found, total)`` after each page. Used by plans and by ``lac import``."""
        found: list[dict[str, Any]] = []
        while True:
            request = {"dsl": {"from": len(found), "size": self.page_size, "query": {"bool": {"filter": filters}},
                               "track_total_hits": True, "sort": [{"__guid": {"order": "asc"}}]},
                       "attributes": list(attributes), "suppressLogs": True}
            status, doc = self._call("POST", SEARCH, json=request, idempotent=True, tolerate=(400,))
            if status != 200:
                raise TerminalTargetError(f"target {self.name!r}: search refused: {self._vendor_error(doc, status)}")
            page = list((doc or {}).get("entities") or [])
            found += page
            total = int((doc or {}).get("approximateCount") or 0)
            advance(len(found), max(total, len(found)))
            if len(page) < self.page_size or len(found) >= total:
                return found

    def _search(self, field: str, values: Iterable[str], attributes: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Every ACTIVE entity whose ``field`` is one of ``values``, ``page_size`` values per query."""
        unique = sorted(set(values))
        chunks = [unique[i:i + self.page_size] for i in range(0, len(unique), self.page_size)]
        pages = self._http().map(lambda chunk: self._search_chunk(field, chunk, ["qualifiedName", *attributes]),
                                 chunks)
        return [entity for page in pages for entity in page]

    def _remember(self, qn: str, tname: str) -> None:
        self._found[qn] = (qn, tname)
        self._folded.setdefault(qn.casefold(), (qn, tname))

    def _lookup_assets(self, qns: Iterable[str]) -> list[dict[str, Any]]:
        entities = self._search("qualifiedName", qns, ["isPartial"])
        for e in entities:
            self._remember(str(e["attributes"]["qualifiedName"]), str(e.get("typeName", "")))
        return entities

    def read(self, desired: Sequence[Resource], known: Mapping[str, Current], refresh: bool) -> dict[str, Current]:
        out: dict[str, Current] = {}
        for e in self._lookup_assets(r.body["qualifiedName"] for r in desired if r.kind == ASSET):
            address = f"asset.{e['attributes']['qualifiedName']}"
            out[address] = Current(address, ASSET, str(e["guid"]), None, bool(e["attributes"].get("isPartial")))
        self._read_done = True
        if refresh:
            managed = {c.id: c for c in known.values() if c.kind != ASSET and c.id}
            bodies = {r.address: r.body for r in desired}
            attributes = [*PROCESS_KEYS[2:], "code", *REF_KEYS]
            for e in self._search("__guid", managed, attributes):
                held = managed[str(e["guid"])]
                digest = content_hash(body_from_entity(e, held.kind, bodies.get(held.address, {})))
                out[held.address] = Current(held.address, held.kind, held.id, digest)
        return out

    # -- writing ---------------------------------------------------------------------------------

    def _ref(self, qn: str, tname: str) -> dict[str, Any]:
        hit = self._found.get(qn) or (None if self.case_sensitive else self._folded.get(qn.casefold()))
        if hit:
            qn, tname = hit
        return {"typeName": tname, "uniqueAttributes": {"qualifiedName": qn}}

    def apply(self, batch: Sequence[Change]) -> list[ItemResult]:
        writes = [c for c in batch if c.action is not Action.DELETE]
        deletes = [c for c in batch if c.action is Action.DELETE]
        results: dict[str, ItemResult] = {}
        if writes:
            if not self._read_done and not self.case_sensitive:
                # a saved plan skips read(): find the catalog's spelling of what the refs name
                self._lookup_assets(qn for c in writes for qn in (c.after or {}).get("types", {}))
            for part in self._http().map(self._write, self._chunks(writes)):
                results.update(part)
        if deletes:
            for part in self._http().map(self._delete, self._chunks(deletes)):
                results.update(part)
        return [results[c.address] for c in batch]

    def _chunks(self, changes: list[Change]) -> list[list[Change]]:
        """Requests of at most ``batch_size`` entities (Lineage Builder's per-request limit)."""
        return [changes[i:i + self.batch_size] for i in range(0, len(changes), self.batch_size)]

    def _write(self, changes: Sequence[Change]) -> dict[str, ItemResult]:
        entities = [entity_for(c, str(-(i + 1)), self._ref) for i, c in enumerate(changes)]
        # Upsert by qualifiedName makes resending safe, so the bulk POST is retried like a PUT.
        status, doc = self._call("POST", BULK, json={"entities": entities}, idempotent=True, tolerate=(400, 404, 409))
        if status == 200:
            return self._written(changes, entities, doc or {})
        if len(changes) > 1:
            # The bulk call is all-or-nothing: isolate the bad items so the rest still land.
            merged: dict[str, ItemResult] = {}
            for part in self._http().map(lambda c: self._write([c]), changes):
                merged.update(part)
            return merged
        return {changes[0].address: ItemResult(changes[0].address, False, error=self._vendor_error(doc, status))}

    def _written(self, changes: Sequence[Change], entities: list[dict[str, Any]],
                 doc: Mapping[str, Any]) -> dict[str, ItemResult]:
        assigned = dict(doc.get("guidAssignments") or {})
        by_qn = {(e.get("attributes") or {}).get("qualifiedName"): e.get("guid")
                 for kind in ("CREATE", "UPDATE", "PARTIAL_UPDATE") for e in (doc.get("mutatedEntities") or {}).get(kind, [])}
        results = {}
        for change, entity in zip(changes, entities, strict=True):
            qn = entity["attributes"]["qualifiedName"]
            guid = assigned.get(entity["guid"]) or by_qn.get(qn)
            if not guid:
                results[change.address] = ItemResult(change.address, False, error="Atlan reported no guid for it")
                continue
            if change.kind == ASSET:
                self._remember(qn, entity["typeName"])
            results[change.address] = ItemResult(change.address, True, id=str(guid))
        return results

    def _delete(self, changes: Sequence[Change]) -> dict[str, ItemResult]:
        guids = {c.address: str((c.before or {}).get("id") or "") for c in changes}
        unknown = {c.address.split(".", 1)[1]: c.address for c in changes if not guids[c.address]}
        if unknown:
            folded = {qn.casefold(): address for qn, address in unknown.items()}
            for e in self._search("qualifiedName", unknown):
                qn = str(e["attributes"]["qualifiedName"])
                address = unknown.get(qn) or folded.get(qn.casefold())
                if address:
                    guids[address] = str(e["guid"])
        targets = sorted({g for g in guids.values() if g})
        error = self._delete_guids(targets) if targets else ""
        return {c.address: ItemResult(c.address, not error, id=guids[c.address], error=error) for c in changes}

    def _delete_guids(self, guids: list[str]) -> str:
        """Delete by guid; '' when done (an entity already gone counts as done), else Atlan's error."""
        params = [("guid", g) for g in guids] + [("deleteType", self.delete_type)]
        status, doc = self._call("DELETE", BULK, params=params, tolerate=(400, 404))
        if status in (200, 204):
            return ""
        if status == 404:
            if len(guids) == 1:
                return ""
            errors = [e for e in self._http().map(lambda g: self._delete_guids([g]), guids) if e]
            return errors[0] if errors else ""
        return self._vendor_error(doc, status)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
