"""Alation: one dataflow per process through the Lineage V2 API, every write a job polled to its end.

Writes: a new process is ``POST /integration/v2/lineage/`` with up to ``max_dataflows_per_request``
dataflow objects (external_id ``api/<external_id_prefix>/<process id>``, content from the process's SQL
or else its description; ``title`` from its name only with ``send_title: true``, since ``title`` is
documented for the Dataflow API alone) and their paths: one table path ``[[inputs], [dataflow],
[outputs]]`` and one column path per column mapping, at most ``max_paths_per_request`` paths (100, as
Alation recommends) per request. A changed process is replaced whole through the Dataflow API's
create-or-replace (``POST /integration/v2/dataflow/``, 202, replaced by ``external_id``): its old
paths go, column paths included, so an update leaves nothing behind. Each call answers a job id,
polled at ``/api/v1/bulk_metadata/job/?id=`` until it ends; per-object errors in the job result fail
only the process they name. Lineage V2 POSTs carry no idempotency key, so an ambiguous failure is
reconciled by reading the dataflows back before anything is sent again (policy ``reconcile``); a
create-or-replace may simply be sent again. A refused token stops the run with one message.

Keys: ``datasource_ids`` maps a platform (or ``platform/database``) to an Alation data source id,
giving ``<ds>.<schema>.<table>`` (``<ds>.<db>.<schema>.<table>`` for multi-database sources); an
asset's ``ids.alation`` override wins (``<otype>:<key>`` for files, BI objects and external ones).

Input handling: a key Alation cannot resolve becomes a TMP object when a path names it, so PARTIAL
needs no catalog lookup at all (the plan takes every key as given). The lineage API cannot create
catalog tables, so UPSERT is refused. Only UPDATE looks the catalog up, with the Relational
Integration API (``/integration/v2/table/`` and ``/integration/v2/column/``, one paged listing per
data source and schema, cached for the run): a process naming a missing table is skipped, and a
column path naming a column the catalog lacks is left out of the request (the plan says which).

Ownership marker: none. The dataflow fields Alation documents (``title``, ``description``,
``content``, ``group_name``) are all text users read and edit in the catalog; none is meant to hold
a machine id, so a lost state cannot be rebuilt from Alation (a Capabilities note says so).

Refresh reads managed dataflows back through the Dataflow API (``GET /integration/v2/dataflow/``,
a batch of external ids per call) and hashes their links, so changes made in Alation show as drift.
A removed process deletes its dataflow (and with it every path attached to it; ``delete_with:
edges`` deletes its table edges instead); an updated process whose table edges shrank deletes each
removed edge with ``DELETE /integration/v2/lineage/``. Alation deletes an edge for every dataflow
that carries it, so desired dataflows sharing a deleted edge are POSTed again in the same apply.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import httpx

from ...config import InputHandling, TargetConfig
from ...errors import AuthError, ConfigError, TargetError, TransientTargetError
from ...model import Lineage, Process
from ...plan.contract import AmbiguousFailure
from ...plan.model import Action, Change
from .. import http
from ..base import ASSET, Capabilities, Current, ItemResult, Resource
from ..http import HttpClient, client_for, secret_from_env
from ..lineage_resources import asset_address, lineage_resources, process_address
from .settings import AlationSettings
from .translate import (
    AUTH_STATUSES,
    COLUMNS,
    CREATE_TOKEN,
    DATAFLOW,
    DEFAULT_TOKEN_ENV,
    JOB,
    JOB_ENDED,
    LINEAGE,
    NO_MARKER_NOTE,
    OK_STATUSES,
    TABLES,
    AlationKeys,
    DataflowView,
    ObjectRef,
    column_ref,
    dataflow_digest,
    job_problems,
    path_links,
    problem_text,
    removed_edges,
    restores,
    split_key,
    strings_in,
)


class AlationTarget:
    """Lineage V2 dataflows in an Alation instance (settings: see the module docstring and README)."""

    def __init__(self, config: TargetConfig) -> None:
        s = config.settings
        self.name = config.name
        self.config = config
        self.keys = AlationKeys(config.name, s)
        self.settings = AlationSettings.parse(config)
        self.prefix = self.settings.external_id_prefix
        self.max_dataflows = self.settings.max_dataflows
        self.max_paths = self.settings.max_paths
        self.poll_interval = self.settings.poll_interval
        self.job_timeout = self.settings.job_timeout
        self.page_size = self.settings.page_size
        self.with_title = self.settings.send_title
        self.delete_with = self.settings.delete_with
        self.case_sensitive = config.policy.case_sensitive_match
        self._http: HttpClient | None = None
        self._tables: dict[tuple[str, str], dict[str, str]] = {}
        self._columns: dict[tuple[str, str], dict[str, str]] = {}
        self._missing_columns: set[str] | None = None  # UPDATE: column keys the catalog lacks (casefolded)
        self._sleep: Callable[[float], None] = time.sleep

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            max_batch_size=self.max_dataflows, max_parallel=self.settings.max_parallel,
            modes=frozenset({InputHandling.PARTIAL, InputHandling.UPDATE}), kind_order=(ASSET, "process"),
            notes=(NO_MARKER_NOTE, *self._column_notes()), ownership_marker=False,
            ambiguous_failure=AmbiguousFailure.RECONCILE, rate_limit_per_minute=self.settings.rate_limit_per_minute,
            # a lineage POST holds at most max_paths paths (one a process, plus one per column mapping);
            # its job polls are not counted
            request_size=self.max_paths, request_units="paths", requests_per_batch=0)

    def _column_notes(self) -> tuple[str, ...]:
        missing = sorted(self._missing_columns or ())
        if not missing:
            return ()
        listed = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        note = (f"{len(missing)} column(s) not found in Alation; their column paths are left out (input_handling "
                f"UPDATE): {listed}")
        return (note,)

    # ----- translate (pure) -------------------------------------------------------------------

    def external_id(self, process: Process) -> str:
        override = process.id_for(self.name) or process.id_for("alation")
        if override:
            return override if override.startswith("api/") else f"api/{override}"
        return f"api/{self.prefix}/{process.id}" if self.prefix else f"api/{process.id}"

    def translate(self, lineage: Lineage) -> list[Resource]:
        refs = {key: self.keys.ref(asset) for key, asset in lineage.assets.items()}
        resources = [Resource(r.address, ASSET, {**r.body, "otype": refs[r.body["key"]].otype,
                                                  "alation_key": refs[r.body["key"]].key}, r.source)
                     for r in lineage_resources(lineage) if r.kind == ASSET]
        resources.extend(self._dataflow_resource(p, refs) for p in lineage.processes)
        return resources

    def _dataflow_resource(self, p: Process, refs: Mapping[str, ObjectRef]) -> Resource:
        eid = self.external_id(p)
        flow = [{"otype": "dataflow", "key": eid}]
        ins = list(dict.fromkeys(refs[a.key] for a in p.inputs))
        outs = list(dict.fromkeys(refs[a.key] for a in p.outputs))
        paths = [[[r.payload() for r in ins], flow, [r.payload() for r in outs]]]
        for m in p.columns:
            sources = [column_ref(refs[s.asset], s.column) for s in m.sources]
            target = column_ref(refs[m.target.asset], m.target.column)
            if target is not None and sources and all(sources):
                paths.append([[s.payload() for s in sources if s], flow, [target.payload()]])
        obj: dict[str, Any] = {"external_id": eid}
        if p.sql or p.description:
            obj["content"] = p.sql or p.description
        if self.with_title:
            obj["title"] = p.name
        body = {"dataflow_object": obj, "paths": paths}
        digest = dataflow_digest(obj, path_links(paths).get(eid.casefold(), set()), self.with_title)
        edges = tuple(dict.fromkeys((str(i), str(o)) for i in ins for o in outs))
        requires = tuple(dict.fromkeys(asset_address(a) for a in (*p.inputs, *p.outputs)))
        return Resource(process_address(p), "process", body, str(p.source), requires, edges, hash=digest)

    # ----- HTTP plumbing --------------------------------------------------------------------------

    def _token_hint(self) -> str:
        s = self.config.settings
        if s.get("refresh_token_env"):
            return f"the refresh token in {s['refresh_token_env']} (user_id {s.get('user_id')})"
        return f"the API access token in {s.get('token_env', DEFAULT_TOKEN_ENV)}"

    def _access_token(self, base_url: str) -> str:
        s = self.config.settings
        env = s.get("refresh_token_env")
        if not env:
            return secret_from_env(self.config, DEFAULT_TOKEN_ENV)
        refresh, user = os.environ.get(str(env), ""), s.get("user_id")
        if not refresh or user is None:
            raise ConfigError(f"target {self.name!r}: refresh_token_env {env} must be set in the environment and "
                              "user_id in lac.yaml to obtain an Alation API access token")
        # The refusal of a refresh token is answered below, without the body (it may echo the token).
        boot = client_for(self.config, base_url, {}, capabilities=self.capabilities, auth_hint="")
        try:
            # Minting a token twice is harmless, so an ambiguous failure may simply be retried.
            response = boot.request("POST", CREATE_TOKEN, json={"refresh_token": refresh, "user_id": int(user)},
                                    ok=(*OK_STATUSES, 400, *AUTH_STATUSES), idempotent=True)
        finally:
            boot.close()
        body = response.json() if response.status_code in OK_STATUSES and response.content else {}
        token = body.get("api_access_token") if isinstance(body, dict) and body.get("status") != "failed" else None
        if not token:
            # The response body is never shown: it may echo the refresh token.
            raise AuthError(
                f"target {self.name!r}: Alation would not create an API access token from {self._token_hint()} "
                f"(HTTP {response.status_code}); create a new refresh token in Alation (Account Settings > "
                "Authentication) and check user_id")
        return str(token)

    def _client(self) -> HttpClient:
        if self._http is None:
            base = str(self.config.settings.get("base_url", "")).rstrip("/")
            if not base:
                raise ConfigError(f"target {self.name!r}: set base_url to your Alation instance URL")
            token = self._access_token(base)
            self._http = client_for(self.config, base, {"TOKEN": token}, capabilities=self.capabilities,
                                    auth_hint=f"Alation refused {self._token_hint()}; put a valid token there")
        return self._http

    def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request with retries; a 401/403 stops the run in the HTTP client, naming where the token comes from."""
        return self._client().request(method, url, ok=OK_STATUSES, **kwargs)

    def _wait(self, job_id: Any) -> dict[str, Any]:
        """Poll a job until it ends; TransientTargetError when it outlives ``job_timeout``."""
        deadline = time.monotonic() + self.job_timeout
        while True:
            self._sleep(self.poll_interval)
            job = self._call("GET", JOB, params={"id": job_id}).json() or {}
            status = str(job.get("status", "")).casefold()
            if status in JOB_ENDED:
                return dict(job)
            if time.monotonic() > deadline:
                raise TransientTargetError(f"target {self.name!r}: Alation job {job_id} is still {status or 'pending'} "
                                           f"after {self.job_timeout:g}s; run apply again (writes are idempotent)")

    def _job_errors(self, job: Mapping[str, Any], named: Mapping[str, str]) -> dict[str, str]:
        """Per-item errors of an ended job: ``named`` maps an external id (casefolded) to an address."""
        errors: dict[str, str] = {}
        for problem in job_problems(job.get("result")):
            for text in strings_in(problem):
                address = named.get(text.casefold())
                if address:
                    errors[address] = f"Alation: {problem_text(problem)}"
        if str(job.get("status", "")).casefold() == "failed" and not errors:
            reason = job.get("msg") or "job failed"
            errors = {address: f"Alation job failed: {reason}" for address in named.values()}
        return errors

    # ----- read -------------------------------------------------------------------------------------

    def held_digest(self, refresh: bool) -> str | None:
        return None  # what the catalog holds is known only by reading it

    def read(self, desired: Sequence[Resource], known: Mapping[str, Current], refresh: bool) -> dict[str, Current]:
        out: dict[str, Current] = {}
        assets = [r for r in desired if r.kind == ASSET]
        lookup = self.config.policy.input_handling is InputHandling.UPDATE
        tables = self._existing_tables([str(r.body["alation_key"]) for r in assets if r.body["otype"] == "table"]) \
            if lookup else {}
        if lookup:
            self._missing_columns = self._absent_columns(desired, tables)
        for r in assets:
            key = str(r.body["alation_key"])
            if r.body["otype"] != "table" or not lookup:
                # PARTIAL: Alation resolves the key or makes a TMP object when a path names it, so
                # nothing needs looking up. Files, BI objects and external objects cannot be listed.
                out[r.address] = Current(r.address, ASSET, key)
            elif (hit := tables.get(key if self.case_sensitive else key.casefold())) is not None:
                out[r.address] = Current(r.address, ASSET, hit)
        for address, cur in known.items():
            # TMP objects exist while lineage names them, but no listing shows them.
            if cur.kind == ASSET and cur.partial and address not in out:
                out[address] = cur
        if refresh:
            managed = {c.id: a for a, c in known.items() if c.kind == "process"}
            for eid, view in self._read_dataflows(list(managed)).items():
                address = managed[eid]
                obj = {**view.obj, "external_id": eid}
                out[address] = Current(address, "process", eid, dataflow_digest(obj, set(view.links), self.with_title))
        return out

    def _existing_tables(self, keys: Sequence[str]) -> dict[str, str]:
        """Existing table keys (casefolded too unless matching is case sensitive) -> Alation table id."""
        found: dict[str, str] = {}
        groups = sorted({(parts[0], ".".join(parts[1:-1])) for parts in map(split_key, keys) if len(parts) >= 3})
        for group in groups:
            if group not in self._tables:
                self._tables[group] = self._list_tables(*group)
            for key, table_id in self._tables[group].items():
                found[key] = table_id
                if not self.case_sensitive:
                    found.setdefault(key.casefold(), table_id)
        return found

    def _absent_columns(self, desired: Sequence[Resource], tables: Mapping[str, str]) -> set[str]:
        """Column keys (casefolded) the process paths name on existing tables that the catalog lacks."""
        named = {o["key"] for r in desired if r.kind == "process" for path in r.body["paths"]
                 for seg in (path[0], path[-1]) for o in seg if o["otype"] == "column"}
        fold = (lambda k: k) if self.case_sensitive else str.casefold
        wanted = [k for k in named if fold(k.rpartition(".")[0]) in tables]
        groups = sorted({(parts[0], ".".join(parts[1:-2])) for parts in map(split_key, wanted) if len(parts) >= 4})
        held: set[str] = set()
        for group in groups:
            if group not in self._columns:
                self._columns[group] = self._list(COLUMNS, *group)
            held.update(fold(k) for k in self._columns[group])
        return {k.casefold() for k in wanted if fold(k) not in held}

    def _list_tables(self, ds_id: str, schema: str) -> dict[str, str]:
        return self._list(TABLES, ds_id, schema)

    def _list(self, listing: str, ds_id: str, schema: str) -> dict[str, str]:
        """Key -> id of every table (or column) of one data source and schema, page by page."""
        url: str | None = listing
        params: dict[str, Any] | None = {"ds_id": ds_id, "schema_name": schema, "limit": self.page_size}
        found: dict[str, str] = {}
        guard = http.PageGuard(f"target {self.name!r}: GET {listing}")
        while url:
            response = self._call("GET", url, params=params)
            for row in http.expect_shape(response.json() or [], list, guard.what):
                row = http.expect_shape(row, dict, guard.what)
                found[str(row.get("key"))] = str(row.get("id"))
            url, params = response.headers.get("X-Next-Page"), None
            if url:
                guard.next(url)
        return found

    def _read_dataflows(self, external_ids: Sequence[str]) -> dict[str, DataflowView]:
        """The dataflows Alation holds among ``external_ids`` (absent ones are left out)."""
        wanted = {eid.casefold(): eid for eid in external_ids}
        views: dict[str, DataflowView] = {}
        for start in range(0, len(external_ids), self.max_dataflows):
            chunk = list(external_ids[start:start + self.max_dataflows])
            what = f"target {self.name!r}: GET {DATAFLOW}"
            body = http.expect_shape(self._call("GET", DATAFLOW, params={"keyField": "external_id"},
                                                json=chunk).json() or {}, dict, what)
            links = path_links(http.expect_shape(body.get("paths") or [], list, what))
            for obj in http.expect_shape(body.get("dataflow_objects") or [], list, what):
                eid = wanted.get(str(obj.get("external_id", "")).casefold())
                if eid is not None:
                    views[eid] = DataflowView(obj, frozenset(links.get(eid.casefold(), set())))
        return views

    # ----- apply ------------------------------------------------------------------------------------

    def apply(self, batch: Sequence[Change]) -> list[ItemResult]:
        results: dict[str, ItemResult] = {}
        for c in batch:
            if c.kind == ASSET:
                # A placeholder is a TMP object Alation makes from the key when a path names it.
                key = (c.after or {}).get("alation_key") or (c.before or {}).get("id", "")
                results[c.address] = ItemResult(c.address, True, id=str(key))
        writes = [c for c in batch if c.kind != ASSET and c.action is not Action.DELETE]
        deletes = [c for c in batch if c.kind != ASSET and c.action is Action.DELETE]
        if writes:
            results.update(self._apply_writes(writes))
        if deletes:
            results.update(self._apply_deletes(deletes))
        return [results.get(c.address) or ItemResult(c.address, False, error="not applied") for c in batch]

    def _apply_writes(self, changes: list[Change]) -> dict[str, ItemResult]:
        """New dataflows through Lineage V2; changed ones replaced whole through the Dataflow API, so
        every path they no longer declare (column paths too) goes with the old version."""
        errors: dict[str, str] = {}
        creates = [c for c in changes if c.action is Action.CREATE]
        updates = [c for c in changes if c.action is not Action.CREATE]
        for post, group in ((self._post, creates), (self._replace, updates)):
            for chunk in self._chunks(group):
                try:
                    errors.update(post(chunk))
                except AuthError:
                    raise  # every further request would be refused the same way: one error stops the run
                except TargetError as exc:
                    errors.update({c.address: str(exc) for c in chunk})
        return {c.address: ItemResult(c.address, c.address not in errors, id=self._eid(c),
                                      error=errors.get(c.address, "")) for c in changes}

    @staticmethod
    def _eid(change: Change) -> str:
        if change.after:
            return str(change.after["dataflow_object"]["external_id"])
        return str((change.before or {}).get("id", ""))

    def _chunks(self, changes: list[Change]) -> Iterator[list[Change]]:
        """Requests of at most ``max_dataflows`` dataflows and, when set, ``max_paths`` paths."""
        chunk: list[Change] = []
        paths = 0
        for c in changes:
            n = len((c.after or {}).get("paths", []))
            if chunk and (len(chunk) >= self.max_dataflows or (self.max_paths and paths + n > self.max_paths)):
                yield chunk
                chunk, paths = [], 0
            chunk.append(c)
            paths += n
        if chunk:
            yield chunk

    def _payload(self, chunk: list[Change]) -> dict[str, Any]:
        """The dataflow objects and paths of ``chunk``, less column paths naming columns UPDATE did not find."""
        missing = self._missing_columns or set()

        def found(path: Any) -> bool:
            return not any(o["otype"] == "column" and o["key"].casefold() in missing
                           for seg in (path[0], path[-1]) for o in seg)
        return {"dataflow_objects": [c.after["dataflow_object"] for c in chunk if c.after],
                "paths": [p for c in chunk if c.after for p in c.after["paths"] if found(p)]}

    def _replace(self, chunk: list[Change]) -> dict[str, str]:
        """Create or replace dataflows through the Dataflow API and wait for the job; per-item errors.
        Replacing by external id twice leaves the same dataflow, so an ambiguous failure is retried."""
        named = {self._eid(c).casefold(): c.address for c in chunk}
        response = self._call("POST", DATAFLOW, json=self._payload(chunk), idempotent=True)
        return self._job_errors(self._wait(response.json()["job_id"]), named)

    def _post(self, chunk: list[Change]) -> dict[str, str]:
        """POST one lineage request and wait for its job; returns the per-item errors."""
        named = {self._eid(c).casefold(): c.address for c in chunk}
        payload = self._payload(chunk)
        response = self._call("POST", LINEAGE, json=payload, reconcile=lambda: self._landed(chunk))
        body = response.json() or {}
        if body.get("job_id") is None:
            # Reconciled: what landed is done; only the rest is sent again, so nothing is written twice.
            missing = {m.casefold() for m in body.get("missing", [])}
            rest = [c for c in chunk if self._eid(c).casefold() in missing]
            return self._post(rest) if rest else {}
        return self._job_errors(self._wait(body["job_id"]), named)

    def _landed(self, chunk: list[Change]) -> httpx.Response | None:
        """After an ambiguous POST failure: None when nothing landed (send it all again), else a
        stand-in response listing the dataflows still missing."""
        views = self._read_dataflows([self._eid(c) for c in chunk])
        missing = [self._eid(c) for c in chunk
                   if not (c.after and (v := views.get(self._eid(c))) and v.holds(c.after, self.with_title))]
        if len(missing) == len(chunk):
            return None
        return httpx.Response(200, json={"job_id": None, "missing": missing})

    def _delete_edge(self, edge: tuple[str, str]) -> str:
        """Delete one table-level edge; returns an error message, or "" when it is gone."""
        source, target = ObjectRef.parse(edge[0]), ObjectRef.parse(edge[1])
        params = {"source_otype": source.otype, "source_key": source.key,
                  "target_otype": target.otype, "target_key": target.key}
        try:
            job = self._wait(self._call("DELETE", LINEAGE, params=params).json()["job_id"])
        except AuthError:
            raise
        except TargetError as exc:
            return str(exc)
        if str(job.get("status", "")).casefold() == "failed":
            return f"Alation could not delete the edge {edge[0]} -> {edge[1]}: {job.get('msg') or 'job failed'}"
        return ""

    def _delete_edges(self, by_address: Mapping[str, set[tuple[str, str]]],
                      changes: Sequence[Change]) -> dict[str, str]:
        """Delete each edge once, then re-POST the desired dataflows that also carry a deleted edge
        (``restores``). Returns the first error per address."""
        edges = sorted({(e[0], e[1]) for removed in by_address.values() for e in removed})
        if not edges:
            return {}
        failed = dict(zip(edges, self._client().map(self._delete_edge, edges), strict=True))
        errors: dict[str, str] = {}
        for address, removed in by_address.items():
            first = next((failed[(e[0], e[1])] for e in sorted(removed) if failed[(e[0], e[1])]), "")
            if first:
                errors[address] = first
        # Alation keys ignore case: a deleted edge took every spelling of it with it.
        gone = {(e[0].casefold(), e[1].casefold()) for e, problem in failed.items() if not problem}
        restore = [r for r in restores(changes) if any((a.casefold(), b.casefold()) in gone for a, b in r.edges)]
        for chunk in self._chunks(restore):
            try:
                lost = self._post(chunk)
            except AuthError:
                raise
            except TargetError as exc:
                lost = {c.address: str(exc) for c in chunk}
            for address, error in lost.items():
                for owner, removed in by_address.items():
                    carried = {(a.casefold(), b.casefold()) for a, b in next(r.edges for r in restore
                                                                             if r.address == address)}
                    if carried & {(a.casefold(), b.casefold()) for a, b in removed}:
                        errors.setdefault(owner, f"re-adding the edges {address} shares: {error}")
        return errors

    def _apply_deletes(self, changes: list[Change]) -> dict[str, ItemResult]:
        errors: dict[str, str] = {}
        if self.delete_with == "edges":
            errors.update(self._delete_edges({c.address: removed_edges(c) for c in changes}, changes))
        else:
            for start in range(0, len(changes), self.max_dataflows):
                errors.update(self._delete_dataflows(changes[start:start + self.max_dataflows]))
        return {c.address: ItemResult(c.address, c.address not in errors, id=self._eid(c),
                                      error=errors.get(c.address, "")) for c in changes}

    def _delete_dataflows(self, chunk: list[Change]) -> dict[str, str]:
        """Delete dataflows (and so every path attached to them) by external id."""
        named = {self._eid(c).casefold(): c.address for c in chunk}
        try:
            response = self._call("DELETE", DATAFLOW, params={"keyField": "external_id"},
                                  json=[self._eid(c) for c in chunk])
            errors = self._job_errors(self._wait(response.json()["job_id"]), named)
        except AuthError:
            raise
        except TargetError as exc:
            return {c.address: str(exc) for c in chunk}
        # A dataflow that no longer exists is what a delete wants (e.g. a retried request).
        return {a: e for a, e in errors.items() if "not exist" not in e and "not found" not in e}

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
