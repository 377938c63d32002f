"""Alation emulator: Lineage V2, the Dataflow API, the Jobs API, table listing and API tokens.

Imitates the documented contract: a ``TOKEN`` header on every call (401 with Alation's bodies
when missing or wrong; the status code itself is unconfirmed), ``POST /integration/v2/lineage/``
validated as documented and answered with a ``job_id`` whose job is still running on the first
poll, per-object errors in the job result (uploads naming a deleted data source), ``DELETE`` of
one edge by source/target, dataflows read and deleted by external id, tables listed with
``limit``/``skip`` and an ``X-Next-Page`` header, and ``createAPIAccessToken`` answering HTTP 200
with ``status: failed`` for a bad refresh token. Lineage lives in memory as links (source,
target) per dataflow; a lineage POST whose body was already processed once (a retry of a write
that had landed) is counted as a duplicate.
"""

from __future__ import annotations

import itertools
import json
from typing import Any
from urllib.parse import urlencode

from tests.emulators.base import EmulatorApp, Faults, Request, Response

OTYPES = {"dataflow", "table", "column", "file", "directory", "bi_report", "bi_report_column", "bi_datasource",
          "bi_datasource_column", "external"}
Obj = tuple[str, str]  # (otype, key)


def _bad(message: str) -> Response:
    return Response(400, {"detail": message})


class AlationEmulator(EmulatorApp):
    def __init__(self, token: str = "alation-test-token", faults: Faults | None = None, *,
                 refresh_token: str | None = None, user_id: int = 7, job_polls: int = 2,
                 page_cap: int = 1000) -> None:
        super().__init__(faults)
        self.tokens = {token}
        self.refresh_token, self.user_id = refresh_token, user_id
        self.job_polls, self.page_cap = job_polls, page_cap
        self.dataflows: dict[str, dict[str, Any]] = {}  # casefolded external_id -> object with "links"
        self.tables: dict[str, dict[str, Any]] = {}  # key -> row of the table listing
        self.deleted_datasources: set[str] = set()
        self.jobs: dict[int, dict[str, Any]] = {}
        self.duplicates = 0
        self._processed: set[str] = set()
        self.deleted_edges: list[tuple[str, str]] = []
        self.tokens_created = 0
        self._ids = itertools.count(1)
        self.route("POST", r"/integration/v1/createAPIAccessToken/", self.create_token)
        self.route("POST", r"/integration/v2/lineage/", self.post_lineage)
        self.route("DELETE", r"/integration/v2/lineage/", self.delete_edge)
        self.route("GET", r"/integration/v2/dataflow/", self.get_dataflows)
        self.route("DELETE", r"/integration/v2/dataflow/", self.delete_dataflows)
        self.route("GET", r"/integration/v2/table/", self.list_tables)
        self.route("GET", r"/api/v1/bulk_metadata/job/", self.get_job)

    # ----- test helpers ---------------------------------------------------------------------------

    def add_table(self, key: str) -> None:
        ds, *middle, name = key.split(".")
        self.tables[key] = {"id": next(self._ids), "key": key, "name": name, "schema_name": ".".join(middle),
                            "ds_id": int(ds)}

    def links(self, otype: str = "table") -> set[tuple[str, str, str]]:
        """(external_id, source key, target key) of every stored link between objects of ``otype``."""
        return {(df["external_id"], s[1], t[1]) for df in self.dataflows.values() for s, t in df["links"]
                if s[0] == otype and t[0] == otype}

    # ----- auth and jobs --------------------------------------------------------------------------

    def authorized(self, request: Request) -> Response | None:
        if request.path == "/integration/v1/createAPIAccessToken/":
            return None
        token = request.header("token")
        if not token:
            return Response(401, {"detail": "Authentication credentials were not provided."})
        if token not in self.tokens:
            return Response(401, {"detail": "Authentication failed"})
        return None

    def create_token(self, request: Request) -> Response:
        body = request.json() or {}
        if not self.refresh_token or body.get("refresh_token") != self.refresh_token \
                or body.get("user_id") != self.user_id:
            return Response(200, {"status": "failed", "detail": "Refresh token is invalid or expired"})
        self.tokens_created += 1
        token = f"api-access-{self.tokens_created}"
        self.tokens.add(token)
        return Response(200, {"api_access_token": token, "user_id": self.user_id, "token_status": "ACTIVE",
                              "created_at": "2024-01-01T00:00:00Z", "token_expires_at": "2024-01-02T00:00:00Z"})

    def _job(self, result: Any, errors: list[Any], received: int) -> Response:
        job_id = next(self._ids)
        status = "successful" if not errors else "failed" if len(errors) >= received else "partially_successful"
        self.jobs[job_id] = {"status": status, "polls": self.job_polls, "msg": "Job finished in 0.1 seconds",
                             "result": json.dumps(result) if isinstance(result, dict) else result}
        return Response(200, {"job_id": job_id})

    def get_job(self, request: Request) -> Response:
        job = self.jobs.get(int(request.arg("id") or 0))
        if job is None:
            return Response(404, {"detail": "Not found."})
        job["polls"] -= 1
        if job["polls"] > 0:
            return Response(200, {"status": "running", "msg": "Job is running", "result": ""})
        return Response(200, {k: job[k] for k in ("status", "msg", "result")})

    # ----- lineage --------------------------------------------------------------------------------

    def _path_error(self, path: Any, known: set[str]) -> str:
        if not isinstance(path, list) or len(path) < 2:
            return "each path must be a list of at least two segments"
        for i, segment in enumerate(path):
            if not isinstance(segment, list) or not segment:
                return "each segment must be a non-empty list of objects"
            for obj in segment:
                if not isinstance(obj, dict) or obj.get("otype") not in OTYPES or not obj.get("key"):
                    return f"invalid object {obj!r}: otype must be one of {sorted(OTYPES)} and key is required"
                if obj["otype"] == "dataflow":
                    if i in (0, len(path) - 1):
                        return "the first and the last segment of a path should not contain any dataflows"
                    if obj["key"].casefold() not in known:
                        return f"dataflow {obj['key']} does not exist and is not in dataflow_objects"
        return ""

    def _validate(self, body: Any) -> str:
        if not isinstance(body, dict) or not isinstance(body.get("paths"), list):
            return "paths: This field is required."
        objects = body.get("dataflow_objects", [])
        if not isinstance(objects, list):
            return "dataflow_objects: Expected a list of items."
        for obj in objects:
            if not isinstance(obj, dict) or not isinstance(obj.get("external_id"), str):
                return "dataflow_objects: external_id is required"
            if not obj["external_id"].startswith("api/"):
                return f"dataflow_objects: external_id {obj['external_id']!r} should start with 'api/'"
        known = {o["external_id"].casefold() for o in objects} | set(self.dataflows)
        return next((e for e in (self._path_error(p, known) for p in body["paths"]) if e), "")

    def post_lineage(self, request: Request) -> Response:
        body = request.json()
        problem = self._validate(body)
        if problem:
            return _bad(problem)
        fingerprint = json.dumps(body, sort_keys=True)
        self.duplicates += fingerprint in self._processed
        self._processed.add(fingerprint)
        links: dict[str, set[tuple[Obj, Obj]]] = {}
        for path in body["paths"]:
            pairs = {((s["otype"], s["key"]), (t["otype"], t["key"])) for s in path[0] for t in path[-1]}
            for obj in (o for seg in path[1:-1] for o in seg if o["otype"] == "dataflow"):
                links.setdefault(obj["key"].casefold(), set()).update(pairs)
        objects = {o["external_id"].casefold(): o for o in body.get("dataflow_objects", [])}
        errors = []
        for flow in sorted(set(objects) | set(links)):
            gone = sorted({k for pair in links.get(flow, ()) for _, k in pair
                           if k.split(".", 1)[0] in self.deleted_datasources})
            if gone:
                errors.append({"external_id": objects.get(flow, {}).get("external_id", flow), "key": gone[0],
                               "error": f"Upload to deleted data source {gone[0].split('.', 1)[0]} is not supported"})
                continue
            self._store(flow, objects.get(flow), links.get(flow, set()))
        received = len(set(objects) | set(links))
        result = {"updated_objects": received - len(errors), "number_received": received,
                  "error_objects": errors, "error": ""}
        return self._job(result, errors, received)

    def _store(self, flow: str, obj: dict[str, Any] | None, links: set[tuple[Obj, Obj]]) -> None:
        held = self.dataflows.get(flow)
        if held is None:
            held = self.dataflows[flow] = {"id": next(self._ids), "external_id": (obj or {}).get("external_id", flow),
                                           "content": "", "title": "", "links": set()}
        for name in ("content", "title"):
            if obj and name in obj:
                held[name] = obj[name]
        held["links"] |= links

    def delete_edge(self, request: Request) -> Response:
        names = ("source_otype", "source_key", "target_otype", "target_key")
        values = [request.arg(n) for n in names]
        if not all(values):
            return _bad("source_otype, source_key, target_otype and target_key are required")
        so, sk, to, tk = (v or "" for v in values)
        self.deleted_edges.append((sk, tk))
        removed = 0
        for df in self.dataflows.values():
            gone = {pair for pair in df["links"] if pair[0][0] == so and pair[0][1].casefold() == sk.casefold()
                    and pair[1][0] == to and pair[1][1].casefold() == tk.casefold()}
            df["links"] -= gone
            removed += len(gone)
        return self._job({"deleted_objects": removed, "error_objects": [], "error": ""}, [], 1)

    def _paths_of(self, df: dict[str, Any]) -> list[Any]:
        # Read-back groups nothing: one path per link, as Alation returns "links from the nearest objects".
        flow = [{"otype": "dataflow", "key": df["external_id"]}]
        return [[[{"otype": s[0], "key": s[1]}], flow, [{"otype": t[0], "key": t[1]}]]
                for s, t in sorted(df["links"])]

    # ----- dataflow API ---------------------------------------------------------------------------

    def _requested(self, request: Request) -> list[str] | Response:
        if request.arg("keyField") != "external_id":
            return _bad("keyField must be external_id (or id)")
        ids = request.json()
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return _bad("body must be a list of external ids")
        return ids

    def get_dataflows(self, request: Request) -> Response:
        ids = self._requested(request)
        if isinstance(ids, Response):
            return ids
        found = [self.dataflows[i.casefold()] for i in ids if i.casefold() in self.dataflows]
        return Response(200, {"dataflow_objects": [{k: df[k] for k in ("id", "external_id", "title", "content")}
                                                   for df in found],
                              "paths": [p for df in found for p in self._paths_of(df)]})

    def delete_dataflows(self, request: Request) -> Response:
        ids = self._requested(request)
        if isinstance(ids, Response):
            return ids
        mapping, failed = [], []
        for eid in ids:
            df = self.dataflows.pop(eid.casefold(), None)
            if df is None:
                failed.append({"external_id": eid, "error": "Dataflow object does not exist"})
            else:
                mapping.append({"id": df["id"], "external_id": df["external_id"], "impacted_dfos": len(df["links"])})
        result = [{"response": f"Deleted {len(mapping)} dataflow(s)", "mapping": mapping, "failed": failed}]
        return self._job(result, failed, len(ids))

    # ----- catalog --------------------------------------------------------------------------------

    def list_tables(self, request: Request) -> Response:
        limit = min(int(request.arg("limit") or 100), self.page_cap)
        skip = int(request.arg("skip") or 0)
        ds, schema = request.arg("ds_id"), request.arg("schema_name")
        rows = [r for r in self.tables.values() if (ds is None or str(r["ds_id"]) == ds)
                and (schema is None or r["schema_name"].casefold() == schema.casefold())]
        page = rows[skip:skip + limit]
        headers = {}
        if skip + limit < len(rows):
            query = {"ds_id": ds or "", "schema_name": schema or "", "limit": limit, "skip": skip + limit}
            headers["X-Next-Page"] = f"/integration/v2/table/?{urlencode(query)}"
        return Response(200, page, headers)
