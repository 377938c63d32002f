"""Alation emulator: Lineage V2, the Dataflow API, the Jobs API, table listing and API tokens.

Imitates the documented contract: a ``TOKEN`` header on every call (401 with Alation's bodies
when missing or wrong; the status code itself is unconfirmed), ``POST /integration/v2/lineage/``
validated as documented and answered with a ``job_id`` whose job is still running on the first
poll, per-object errors in the job result (uploads naming a deleted data source), ``DELETE`` of
one edge by source/target, the Dataflow API (``POST /integration/v2/dataflow/`` answers 202 and
creates or replaces each dataflow by ``external_id``, its old paths gone; the documented error
codes 400009..400012; GET and DELETE by external id), ``GET /integration/v2/lineage/`` (the
lineage of one object: the paths from its nearest sources and targets through each dataflow, by
``keyField=id`` (the default) or ``key``; its response fields besides ``paths``, and its answer for
an object Alation does not know (404 here), are unconfirmed), tables and columns listed with
``limit``/``skip`` and an ``X-Next-Page`` header (an unknown query parameter is 400006), and
``createAPIAccessToken`` answering HTTP 200 with ``status: failed`` for a bad refresh token.
Lineage lives in memory as links (source, target) per dataflow; a lineage POST whose body was
already processed once (a retry of a write that had landed) is counted as a duplicate. Objects a
path names that the catalog lacks become TMP objects (``temporary``), as in Alation.
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
# The filters of the SDK's TableParams / ColumnParams this emulator knows, plus paging.
LISTING_PARAMS = {"id", "name", "ds_id", "schema_id", "schema_name", "table_id", "table_name", "limit", "skip"}


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
        self.columns: dict[str, dict[str, Any]] = {}  # key -> row of the column listing
        self.temporary: set[tuple[str, str]] = set()  # (otype, key) of TMP objects paths made
        self._catalog: set[tuple[str, str]] = set()  # (otype, casefolded key) of every listed object
        self.bodies: list[tuple[str, Any]] = []  # (path, body) of every processed POST
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
        self.route("GET", r"/integration/v2/lineage/", self.get_lineage)
        self.route("GET", r"/integration/v2/dataflow/", self.get_dataflows)
        self.route("DELETE", r"/integration/v2/dataflow/", self.delete_dataflows)
        self.route("POST", r"/integration/v2/dataflow/", self.post_dataflows)
        self.route("GET", r"/integration/v2/table/", self.list_tables)
        self.route("GET", r"/integration/v2/column/", self.list_columns)
        self.route("GET", r"/api/v1/bulk_metadata/job/", self.get_job)

    # ----- test helpers ---------------------------------------------------------------------------

    def add_table(self, key: str) -> None:
        ds, *middle, name = key.split(".")
        self._catalog.add(("table", key.casefold()))
        self.tables[key] = {"id": next(self._ids), "key": key, "name": name, "schema_name": ".".join(middle),
                            "ds_id": int(ds)}

    def add_column(self, key: str) -> None:
        """A column of a catalog table ``<ds>.<schema>.<table>.<column>`` (the table is added too)."""
        table, _, name = key.rpartition(".")
        if table not in self.tables:
            self.add_table(table)
        row = self.tables[table]
        self._catalog.add(("column", key.casefold()))
        self.columns[key] = {"id": next(self._ids), "key": key, "name": name, "table_id": row["id"],
                             "table_name": row["name"], "schema_name": row["schema_name"], "ds_id": row["ds_id"]}

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
        self.bodies.append((request.path, body))
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

    def _note_temporary(self, links: set[tuple[Obj, Obj]]) -> None:
        for obj in (o for pair in links for o in pair):
            if obj[0] in ("table", "column") and (obj[0], obj[1].casefold()) not in self._catalog:
                self.temporary.add(obj)

    def _store(self, flow: str, obj: dict[str, Any] | None, links: set[tuple[Obj, Obj]]) -> None:
        self._note_temporary(links)
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

    def get_lineage(self, request: Request) -> Response:
        """The lineage of one object: one path per link of a dataflow that starts or ends at it."""
        unknown = sorted(set(request.query) - {"otype", "oid", "keyField"})
        if unknown:
            return Response(400, {"detail": f"Invalid query parameters: {unknown}", "code": "400006"})
        otype, field, oid = request.arg("otype") or "table", request.arg("keyField") or "id", request.arg("oid")
        otype = "column" if otype == "attribute" else otype
        if not oid or otype not in OTYPES or field not in ("id", "key"):
            return _bad("oid is required; otype must be a lineage object type and keyField id or key")
        if otype in ("file", "directory", "external") and field != "key":
            return _bad(f"{otype} objects are looked up by keyField=key only")
        if field == "id":
            rows = {"table": self.tables, "column": self.columns}.get(otype, {})
            oid = next((r["key"] for r in rows.values() if str(r["id"]) == oid), "")
        wanted = (otype, oid.casefold())
        paths = []
        for df in self.dataflows.values():
            flow = [{"otype": "dataflow", "key": df["external_id"]}]
            paths += [[[{"otype": s[0], "key": s[1]}], flow, [{"otype": t[0], "key": t[1]}]]
                      for s, t in sorted(df["links"]) if wanted in ((s[0], s[1].casefold()), (t[0], t[1].casefold()))]
        if not paths and wanted not in self._catalog:
            return Response(404, {"detail": "Not found."})
        return Response(200, {"paths": paths})

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

    def post_dataflows(self, request: Request) -> Response:
        """Create or replace dataflows by external_id: a replaced dataflow keeps its id, loses its old paths."""
        body = request.json()
        if not isinstance(body, dict):
            return Response(400, {"detail": "Request body must be a JSON object", "code": "400009"})
        unknown = sorted(set(body) - {"dataflow_objects", "paths"})
        if unknown:
            return Response(400, {"detail": f"Unknown key(s): {unknown}", "code": "400011"})
        objects = body.get("dataflow_objects")
        if not isinstance(objects, list) or not objects:
            return Response(400, {"detail": "dataflow_objects is required and must not be empty", "code": "400012"})
        problem = self._validate({"paths": body.get("paths", []), "dataflow_objects": objects})
        if not problem:
            through = [p for p in body.get("paths", []) if not any(o.get("otype") == "dataflow"
                                                                  for seg in p[1:-1] for o in seg)]
            problem = "every path must go through a dataflow (direct paths need the Lineage V2 API)" if through else ""
        if problem:
            return Response(400, {"detail": problem, "code": "400010"})
        self.bodies.append((request.path, body))
        links: dict[str, set[tuple[Obj, Obj]]] = {}
        for path in body.get("paths", []):
            pairs = {((s["otype"], s["key"]), (t["otype"], t["key"])) for s in path[0] for t in path[-1]}
            for flow in (o["key"].casefold() for seg in path[1:-1] for o in seg if o["otype"] == "dataflow"):
                links.setdefault(flow, set()).update(pairs)
        mapping = []
        for obj in objects:
            flow = obj["external_id"].casefold()
            held = self.dataflows.pop(flow, None)
            self._store(flow, obj, links.get(flow, set()))
            if held is not None:
                self.dataflows[flow]["id"] = held["id"]
            mapping.append({"id": self.dataflows[flow]["id"], "external_id": obj["external_id"],
                            "replaced": held is not None})
        result = [{"response": f"Created or replaced {len(mapping)} dataflow(s)", "mapping": mapping}]
        response = self._job(result, [], len(mapping))
        return Response(202, response.body)

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
        return self._listing(request, self.tables, "/integration/v2/table/")

    def list_columns(self, request: Request) -> Response:
        return self._listing(request, self.columns, "/integration/v2/column/")

    def _listing(self, request: Request, rows_by_key: dict[str, dict[str, Any]], path: str) -> Response:
        unknown = sorted(set(request.query) - LISTING_PARAMS)
        if unknown:
            return Response(400, {"detail": f"Invalid query parameters: {unknown}", "code": "400006"})
        limit = min(int(request.arg("limit") or 100), self.page_cap)
        skip = int(request.arg("skip") or 0)
        ds, schema, table = request.arg("ds_id"), request.arg("schema_name"), request.arg("table_name")
        rows = [r for r in rows_by_key.values() if (ds is None or str(r["ds_id"]) == ds)
                and (schema is None or r["schema_name"].casefold() == schema.casefold())
                and (table is None or r.get("table_name", "").casefold() == table.casefold())]
        page = rows[skip:skip + limit]
        headers = {}
        if skip + limit < len(rows):
            query = {k: v[0] for k, v in request.query.items() if k not in ("limit", "skip")}
            headers["X-Next-Page"] = f"{path}?{urlencode({**query, 'limit': limit, 'skip': skip + limit})}"
        return Response(200, page, headers)
