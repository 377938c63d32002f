"""An emulator of Google Cloud Data Lineage v1 (processes, runs, lineage events, operations).

Imitates what the contract documents: bearer auth answered with Google's 401 envelope, body and
id validation (ids <= 200 chars of ``[a-zA-Z0-9_-:.]``, at most 100 links per event, required
``startTime``/``state``), ``pageSize``/``pageToken`` pagination (default 50, cut to 100, a token
only valid with the same page size), ``requestId`` idempotency (a replayed requestId returns the
resource made the first time), 409 ALREADY_EXISTS for a taken name, and DeleteProcess/DeleteRun
as long-running operations that are not done on the first poll. Deleting a process removes its
runs and events. ``:processOpenLineageRunEvent`` takes an OpenLineage RunEvent (major version 1,
at most 5 MB, FQNs of at most 4,000 characters, at most 1,000 links) and creates or updates the
Process (named by a hash of the job's namespace and name, displayName ``namespace:name``,
attributes = the job's facets), the Run (named by a hash of the run id) and LineageEvents of at
most 100 links (named by a hash of job, run, inputs and outputs), as Google's mapping documents;
column-level facets are not materialised (custom events keep table-level lineage only). ``POST /token`` stands in for Google's OAuth token endpoint, so a service-account
key whose ``token_uri`` points here drives the real google-auth ADC flow (JWT grant, scopes).
Fault knobs and the request log come from the base.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any
from urllib.parse import parse_qs

from tests.emulators.base import EmulatorApp, Faults, Request, Response

_ID = r"[a-zA-Z0-9_\-:.]{1,200}"
_ID_RE = re.compile(_ID)
_SEG = r"[^/]+"
_PARENT = rf"/v1/(?P<parent>projects/{_SEG}/locations/{_SEG})"
_PROCESS = rf"(?P<process>projects/{_SEG}/locations/{_SEG}/processes/{_SEG})"
_RUN = rf"(?P<run>{_PROCESS}/runs/{_SEG})"
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)")
_UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
_DISPLAY = re.compile(r"[\w\s\-:&.]{0,200}")
_FIELDS = {
    "process": {"name", "displayName", "attributes", "origin"},
    "run": {"name", "displayName", "attributes", "startTime", "endTime", "state"},
    "lineageEvent": {"name", "links", "startTime", "endTime"},
}
_SOURCE_TYPES = {"SOURCE_TYPE_UNSPECIFIED", "CUSTOM", "BIGQUERY", "DATA_FUSION", "COMPOSER", "LOOKER_STUDIO",
                 "DATAPROC", "VERTEX_AI", "DATAFLOW", "LOOKER_CORE"}
_RUN_STATES = {"UNKNOWN", "STARTED", "COMPLETED", "FAILED", "ABORTED"}
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 404: "NOT_FOUND", 409: "ALREADY_EXISTS"}


def _digest(*parts: str) -> str:
    """A stand-in for the undocumented hash Google names OpenLineage resources by."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


class InvalidArgument(Exception):
    """A request the API refuses with 400 INVALID_ARGUMENT."""


def google_error(code: int, message: str) -> Response:
    return Response(code, {"error": {"code": code, "message": message, "status": _STATUS.get(code, "UNKNOWN")}})


class GoogleLineageEmulator(EmulatorApp):
    """In-memory Data Lineage; ``token`` is the only bearer token it accepts."""

    def __init__(self, token: str, faults: Faults | None = None, polls_until_done: int = 2) -> None:
        super().__init__(faults)
        self.token = token
        self.polls_until_done = polls_until_done
        self.processes: dict[str, dict[str, Any]] = {}
        self.runs: dict[str, dict[str, Any]] = {}
        self.events: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.request_ids: dict[tuple[str, str], str] = {}
        self.replays = 0       # creates answered from a remembered requestId
        self.conflicts = 0     # creates refused because the name was taken
        self.updates = 0       # processes replaced by PATCH
        self.openlineage_events = 0  # OpenLineage run events processed
        self.token_grants: list[list[str]] = []  # scopes of every OAuth grant issued
        self._seq = 0
        for method, pattern, handler in (
            ("POST", rf"{_PARENT}:processOpenLineageRunEvent", self.process_openlineage),
            ("POST", rf"{_PARENT}/processes", self.create_process),
            ("GET", rf"{_PARENT}/processes", self.list_processes),
            ("GET", rf"/v1/{_PROCESS}", self.get_process),
            ("PATCH", rf"/v1/{_PROCESS}", self.update_process),
            ("DELETE", rf"/v1/{_PROCESS}", self.delete_process),
            ("POST", rf"/v1/{_PROCESS}/runs", self.create_run),
            ("GET", rf"/v1/{_PROCESS}/runs", self.list_runs),
            ("DELETE", rf"/v1/{_RUN}", self.delete_run),
            ("POST", rf"/v1/{_RUN}/lineageEvents", self.create_event),
            ("GET", rf"/v1/{_RUN}/lineageEvents", self.list_events),
            ("GET", rf"/v1/(?P<op>projects/{_SEG}/locations/{_SEG}/operations/{_SEG})", self.get_operation),
        ):
            self.route(method, pattern, self._guarded(handler))
        self.route("POST", "/token", self.issue_token)

    def authorized(self, request: Request) -> Response | None:
        if request.path == "/token":
            return None
        if request.header("authorization") != f"Bearer {self.token}":
            return google_error(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                                     "login cookie or other valid authentication credential.")
        return None

    def issue_token(self, request: Request) -> Response:
        """OAuth2 JWT-bearer grant: decode the assertion's claims (unverified) and hand out the token."""
        form = parse_qs(request.body.decode())
        try:
            claims = form["assertion"][0].split(".")[1]
            scopes = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4))).get("scope", "").split()
        except (KeyError, IndexError, ValueError):
            return Response(400, {"error": "invalid_grant", "error_description": "bad assertion"})
        self.token_grants.append(scopes)
        return Response(200, {"access_token": self.token, "expires_in": 3600, "token_type": "Bearer"})

    @staticmethod
    def _guarded(handler: Any) -> Any:
        def run(request: Request, **groups: str) -> Response:
            try:
                return handler(request, **groups)
            except InvalidArgument as exc:
                return google_error(400, str(exc))
        return run

    # -- validation ----------------------------------------------------------------------------

    @staticmethod
    def _body(request: Request, kind: str) -> dict[str, Any]:
        try:
            body = request.json()
        except ValueError as exc:
            raise InvalidArgument(f"Invalid JSON payload received. {exc}") from exc
        if not isinstance(body, dict):
            raise InvalidArgument(f"Invalid JSON payload received. Expected an object for '{kind}'.")
        unknown = sorted(set(body) - _FIELDS[kind])
        if unknown:
            raise InvalidArgument(f"Invalid JSON payload received. Unknown name \"{unknown[0]}\" at '{kind}': "
                                  "Cannot find field.")
        if "displayName" in body and not _DISPLAY.fullmatch(str(body["displayName"])):
            raise InvalidArgument(f"{kind}.display_name must be at most 200 letters, numbers, spaces or _-:&.")
        if len(body.get("attributes") or {}) > 100:
            raise InvalidArgument(f"{kind}.attributes can hold at most 100 entries")
        for key in ("startTime", "endTime"):
            if key in body and not _TIME.fullmatch(str(body[key])):
                raise InvalidArgument(f"Invalid value at '{kind}.{key}': not an RFC 3339 timestamp")
        return body

    @staticmethod
    def _name(body: dict[str, Any], parent: str, collection: str) -> str:
        name = body.get("name")
        if name is None:
            return ""
        prefix = f"{parent}/{collection}/"
        if not str(name).startswith(prefix) or not _ID_RE.fullmatch(str(name)[len(prefix):]):
            raise InvalidArgument(f"name {name!r} must be {prefix}{{id}} where id is at most 200 characters "
                                  "of a-zA-Z0-9_-:.")
        return str(name)

    @staticmethod
    def _request_id(request: Request) -> str | None:
        rid = request.arg("requestId")
        if rid is not None and (len(rid) > 36 or not rid.isascii()):
            raise InvalidArgument("request_id is restricted to 36 ASCII characters")
        if rid is not None and not _UUID4.fullmatch(rid):
            raise InvalidArgument("request_id must be a UUID4")  # the proto's format annotation
        return rid

    def _create(self, request: Request, kind: str, parent: str, collection: str, store: dict[str, Any],
                check: Any = None) -> Response:
        """Shared create: requestId replay, name rules, 409 when taken; ``check`` validates more."""
        body = self._body(request, kind)
        rid = self._request_id(request)
        if rid is not None and (kind, rid) in self.request_ids and self.request_ids[(kind, rid)] in store:
            self.replays += 1
            return Response(200, store[self.request_ids[(kind, rid)]])
        if check is not None:
            check(body)
        name = self._name(body, parent, collection)
        if not name:
            self._seq += 1
            name = f"{parent}/{collection}/auto-{self._seq}"
        if name in store:
            self.conflicts += 1
            return google_error(409, f"Resource '{name}' already exists")
        store[name] = {**body, "name": name}
        if rid is not None:
            self.request_ids[(kind, rid)] = name
        return Response(200, store[name])

    # -- processes -----------------------------------------------------------------------------

    @staticmethod
    def _check_process(body: dict[str, Any]) -> None:
        origin = body.get("origin") or {}
        if origin and origin.get("sourceType", "SOURCE_TYPE_UNSPECIFIED") not in _SOURCE_TYPES:
            raise InvalidArgument(f"Invalid value at 'process.origin.source_type': {origin.get('sourceType')!r}")

    def create_process(self, request: Request, parent: str) -> Response:
        return self._create(request, "process", parent, "processes", self.processes, self._check_process)

    def update_process(self, request: Request, process: str, **_: str) -> Response:
        body = self._body(request, "process")
        self._check_process(body)
        self._request_id(request)
        if body.get("name", process) != process:
            raise InvalidArgument("process.name does not match the URL")
        if process not in self.processes and request.arg("allowMissing") != "true":
            return google_error(404, f"Process '{process}' not found")
        self.updates += 1
        self.processes[process] = {**body, "name": process}  # "The whole message is updated."
        return Response(200, self.processes[process])

    def get_process(self, request: Request, process: str, **_: str) -> Response:
        if process not in self.processes:
            return google_error(404, f"Process '{process}' not found")
        return Response(200, self.processes[process])

    def list_processes(self, request: Request, parent: str) -> Response:
        names = [n for n in reversed(self.processes) if n.startswith(parent + "/")]  # newest first
        return self._page(request, "processes", [self.processes[n] for n in names])

    def delete_process(self, request: Request, process: str, **_: str) -> Response:
        return self._start_delete(request, process, self.processes)

    # -- runs and events -----------------------------------------------------------------------

    @staticmethod
    def _check_run(body: dict[str, Any]) -> None:
        if "startTime" not in body:
            raise InvalidArgument("run.start_time is required")
        if body.get("state") not in _RUN_STATES:
            raise InvalidArgument(f"run.state is required and must be one of {sorted(_RUN_STATES)}")

    def create_run(self, request: Request, process: str, **_: str) -> Response:
        if process not in self.processes:
            return google_error(404, f"Process '{process}' not found")
        return self._create(request, "run", process, "runs", self.runs, self._check_run)

    def list_runs(self, request: Request, process: str, **_: str) -> Response:
        runs = sorted((r for n, r in self.runs.items() if n.startswith(process + "/runs/")),
                      key=lambda r: r["startTime"], reverse=True)
        return self._page(request, "runs", runs)

    def delete_run(self, request: Request, run: str, **_: str) -> Response:
        return self._start_delete(request, run, self.runs)

    @staticmethod
    def _check_event(body: dict[str, Any]) -> None:
        links = body.get("links") or []
        if len(links) > 100:
            raise InvalidArgument(f"lineage_event.links can't contain more than 100 tuples (got {len(links)})")
        if "startTime" not in body:
            raise InvalidArgument("lineage_event.start_time is required")
        for i, link in enumerate(links):
            for end in ("source", "target"):
                ref = link.get(end) or {}
                fqn = ref.get("fullyQualifiedName")
                if not fqn or len(fqn) > 4000:
                    raise InvalidArgument(f"links[{i}].{end}.fully_qualified_name is required (at most 4000 chars)")
                fields = ref.get("field") or []
                if len(fields) > 20 or any(len(f) > 500 for f in fields):
                    raise InvalidArgument(f"links[{i}].{end}.field: at most 20 levels of at most 500 characters")

    def create_event(self, request: Request, run: str, **_: str) -> Response:
        if run not in self.runs:
            return google_error(404, f"Run '{run}' not found")
        return self._create(request, "lineageEvent", run, "lineageEvents", self.events, self._check_event)

    def list_events(self, request: Request, run: str, **_: str) -> Response:
        events = [e for n, e in self.events.items() if n.startswith(run + "/lineageEvents/")]
        return self._page(request, "lineageEvents", events)

    # -- OpenLineage ---------------------------------------------------------------------------

    @staticmethod
    def _check_openlineage(event: Any, size: int) -> list[tuple[str, str]]:
        """Validate a RunEvent; return its links as (source FQN, target FQN)."""
        if size > 5 * 1024 * 1024:
            raise InvalidArgument("Maximum size of a single message is 5 MB")
        if not isinstance(event, dict):
            raise InvalidArgument("open_lineage must be a JSON object")
        unknown = sorted(set(event) - {"eventTime", "eventType", "producer", "schemaURL", "run", "job", "inputs",
                                       "outputs"})
        if unknown:
            raise InvalidArgument(f"open_lineage: unknown field {unknown[0]!r} (only RunEvents are supported)")
        for key in ("eventTime", "producer", "schemaURL"):
            if not event.get(key):
                raise InvalidArgument(f"open_lineage.{key} is required")
        if not re.search(r"/spec/1-\d+-\d+/", str(event["schemaURL"])):
            raise InvalidArgument("only OpenLineage major version 1 is supported")
        if not _TIME.fullmatch(str(event["eventTime"])):
            raise InvalidArgument("open_lineage.eventTime is not an RFC 3339 timestamp")
        if not (event.get("run") or {}).get("runId") or not all((event.get("job") or {}).get(k)
                                                                 for k in ("namespace", "name")):
            raise InvalidArgument("open_lineage needs run.runId, job.namespace and job.name")
        ends: dict[str, list[str]] = {}
        for side in ("inputs", "outputs"):
            ends[side] = []
            for ds in event.get(side) or []:
                fqn = f"{ds.get('namespace', '')}:{ds.get('name', '')}"
                if len(fqn) > 4000:
                    raise InvalidArgument("Length of each Fully Qualified Name is limited to 4000 characters")
                ends[side].append(fqn)
        links = [(i, o) for i in ends["inputs"] for o in ends["outputs"]]
        if len(links) > 1000:
            raise InvalidArgument(f"The maximum aggregate number of links is 1000 (got {len(links)})")
        return links

    def process_openlineage(self, request: Request, parent: str) -> Response:
        rid = self._request_id(request)
        if rid is not None and ("openlineage", rid) in self.request_ids:
            self.replays += 1
            return Response(200, json.loads(self.request_ids[("openlineage", rid)]))
        try:
            event = request.json()
        except ValueError as exc:
            raise InvalidArgument(f"Invalid JSON payload received. {exc}") from exc
        links = self._check_openlineage(event, len(request.body))
        job, run_id = event["job"], str(event["run"]["runId"])
        process = f"{parent}/processes/{_digest(job['namespace'], job['name'])}"
        run = f"{process}/runs/{_digest(run_id)}"
        self.processes[process] = {"name": process, "displayName": f"{job['namespace']}:{job['name']}",
                                   "attributes": dict(job.get("facets") or {})}
        states = {"START": "STARTED", "COMPLETE": "COMPLETED", "FAIL": "FAILED", "ABORT": "ABORTED"}
        old = self.runs.get(run, {})
        self.runs[run] = {"name": run, "displayName": run_id, "startTime": old.get("startTime", event["eventTime"]),
                          "endTime": event["eventTime"], "state": states.get(str(event.get("eventType")), "UNKNOWN")}
        self.openlineage_events += 1
        names = []
        for i in range(0, len(links), 100):  # "Links are grouped by events with 100 links."
            chunk = links[i:i + 100]
            name = f"{run}/lineageEvents/{_digest(process, run, json.dumps(chunk))}"
            self.events[name] = {"name": name, "startTime": event["eventTime"], "endTime": event["eventTime"],
                                 "links": [{"source": {"fullyQualifiedName": s}, "target": {"fullyQualifiedName": t}}
                                           for s, t in chunk]}
            names.append(name)
        reply = {"process": process, "run": run, "lineageEvents": names}
        if rid is not None:
            self.request_ids[("openlineage", rid)] = json.dumps(reply)
        return Response(200, reply)

    # -- pagination and long-running operations ------------------------------------------------

    def _page(self, request: Request, key: str, items: list[dict[str, Any]]) -> Response:
        size = min(int(request.arg("pageSize") or 50), 100) or 50
        token = request.arg("pageToken")
        offset = 0
        if token:
            try:
                state = json.loads(base64.urlsafe_b64decode(token))
                offset = int(state["offset"])
            except (ValueError, KeyError, TypeError) as exc:
                raise InvalidArgument("Invalid page token") from exc
            if state.get("size") != size or state.get("path") != request.path:
                raise InvalidArgument("all parameters must match the call that provided the page token")
        body: dict[str, Any] = {key: items[offset:offset + size]}
        if offset + size < len(items):
            state = {"offset": offset + size, "size": size, "path": request.path}
            body["nextPageToken"] = base64.urlsafe_b64encode(json.dumps(state).encode()).decode()
        return Response(200, body)

    def _start_delete(self, request: Request, name: str, store: dict[str, Any]) -> Response:
        if name not in store and request.arg("allowMissing") != "true":
            return google_error(404, f"Resource '{name}' not found")
        self._seq += 1
        location = "/".join(name.split("/")[:4])
        op_name = f"{location}/operations/op-{self._seq}"
        done = name not in store  # allowMissing on a missing resource: nothing to do
        op = {"name": op_name, "done": done, "metadata": {
            "@type": "type.googleapis.com/google.cloud.datacatalog.lineage.v1.OperationMetadata",
            "state": "SUCCEEDED" if done else "RUNNING", "operationType": "DELETE", "resource": name}}
        if done:
            op["response"] = {"@type": "type.googleapis.com/google.protobuf.Empty"}
        self.operations[op_name] = {"op": op, "polls": 0, "resource": name}
        return Response(200, op)

    def get_operation(self, request: Request, op: str) -> Response:
        entry = self.operations.get(op)
        if entry is None:
            return google_error(404, f"Operation '{op}' not found")
        entry["polls"] += 1
        if not entry["op"]["done"] and entry["polls"] >= self.polls_until_done:
            self._remove(entry["resource"])
            entry["op"] = {**entry["op"], "done": True, "response": {"@type": "type.googleapis.com/google.protobuf.Empty"},
                           "metadata": {**entry["op"]["metadata"], "state": "SUCCEEDED"}}
        return Response(200, entry["op"])

    def _remove(self, name: str) -> None:
        """Delete a process or run and everything under it."""
        for store in (self.processes, self.runs, self.events):
            for key in [k for k in store if k == name or k.startswith(name + "/")]:
                del store[key]

    # -- what tests compare --------------------------------------------------------------------

    def links(self) -> dict[str, set[tuple[str, tuple[str, ...], str, tuple[str, ...]]]]:
        """Process id -> every (source FQN, source field, target FQN, target field) it holds."""
        out: dict[str, set[tuple[str, tuple[str, ...], str, tuple[str, ...]]]] = {
            n.rsplit("/", 1)[1]: set() for n in self.processes}
        for name, event in self.events.items():
            pid = name.split("/")[5]
            for link in event.get("links", []):
                s, t = link["source"], link["target"]
                out[pid].add((s["fullyQualifiedName"], tuple(s.get("field") or ()),
                              t["fullyQualifiedName"], tuple(t.get("field") or ())))
        return out

    def duplicate_links(self) -> int:
        """Links stored more than once within one process (a duplicated write would show here)."""
        total = sum(len(e.get("links", [])) for e in self.events.values())
        return total - sum(len(v) for v in self.links().values())
