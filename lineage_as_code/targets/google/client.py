"""Google Cloud Data Lineage (``datalineage.googleapis.com/v1``): processes, runs and lineage events.

Each managed process is one Process (deterministic id from the manifest's process id), one Run
named after the content hash (``state: COMPLETED``), and LineageEvents holding at most 100 links
each. Creates carry a ``requestId`` (a name-based digest of address, content hash, part and the
run's start time, shaped as the documented UUID4), so a retry inside an apply returns the resource
already made instead of a second one; the deterministic names make a re-run after a crash find
what it had written (409 = already there).

An update writes the new content as a new Run (new name, since the hash changed), then deletes the
process's other runs, so the process never shows no lineage mid-update. When the content is the
same (repairing drift), the run of that content is deleted first and written again. Removing a
process deletes it (a long-running operation, polled until done), which removes its runs and events.
With ``write_mode: openlineage`` a process is instead one ``:processOpenLineageRunEvent`` request
per 1,000 links (``openlineage.py``), table-level only, as Google's mapping documents.

Every Process carries the ownership marker and the content hash written (``translate.py``), so a
refresh is one listing of processes; ``refresh_events`` adds the deep check of runs and events.

Google checks no asset names, so there are no asset resources: PARTIAL and UPSERT behave the same
and UPDATE (which needs an existence lookup) is refused. Auth: a static bearer token from the
environment variable named by ``token_env``, else Application Default Credentials.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ...config import InputHandling, TargetConfig
from ...errors import AuthError, ConfigError, TargetError, TerminalTargetError, TransientTargetError
from ...model import Lineage
from ...plan.contract import AmbiguousFailure, source_file
from ...plan.model import Action, Change
from .. import http
from ..base import Capabilities, Current, ItemResult, Resource, content_hash
from ..http import HttpClient, client_for, secret_from_env
from . import openlineage as ol
from .openlineage import build_openlineage_resources
from .settings import GoogleSettings
from .translate import (
    PROCESS,
    GoogleNames,
    build_resources,
    chunk_links,
    owner_of,
    process_body,
    recorded_hash,
    request_id,
    written_process,
)

DEFAULT_BASE_URL = "https://datalineage.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
PAGE_SIZE = 100  # the API cuts larger pages to 100
OPENLINEAGE_NOTES = (
    ("write_mode openlineage: Google keeps only table-level lineage from custom OpenLineage events (column "
     "lineage is materialised only for Dataproc), so column mappings are not sent; at most 1,000 links and "
     "5 MB per message, larger processes are sent as several messages"),)
_HANDLED = (200, 400, 404, 409)  # 401/403 stop the run in the HTTP client


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error_text(body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return f"{error.get('status', '')}: {error.get('message', '')}".strip(": ").rstrip(".")
    return str(body)[:300]


class GoogleTarget:
    """Lineage in Google Cloud Data Lineage for one project and location."""

    def __init__(self, config: TargetConfig) -> None:
        self.name = config.name
        self.config = config
        self.settings = GoogleSettings.parse(config)
        self.openlineage = self.settings.openlineage
        self.names = GoogleNames(self.settings.project, self.settings.location, self.settings.origin_name,
                                 self.name, self.settings.column_lineage)
        self.refresh_events = self.settings.refresh_events
        self.poll_interval = self.settings.operation_poll_interval
        self.operation_timeout = self.settings.operation_timeout
        self._client: HttpClient | None = None
        self._credentials: Any = None

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(max_batch_size=50, max_parallel=self.settings.max_parallel,
                            supports_column_lineage=self.names.column_lineage,
                            modes=frozenset({InputHandling.PARTIAL, InputHandling.UPSERT}), kind_order=(PROCESS,),
                            notes=OPENLINEAGE_NOTES if self.openlineage else (), ownership_marker=True,
                            # "This request is idempotent only if a request_id is provided": every write has one
                            ambiguous_failure=AmbiguousFailure.RETRY,
                            # a process is process + run + event(s), or one OpenLineage run event
                            requests_per_batch=0, requests_per_change=1 if self.openlineage else 3,
                            rate_limit_per_minute=self.settings.rate_limit_per_minute)

    # -- auth and transport ------------------------------------------------------------------

    def _token_help(self) -> str:
        if self.settings.token_env:
            return f"check the access token in environment variable {self.settings.token_env} (token_env)"
        return ("check Application Default Credentials (gcloud auth application-default login, or "
                "GOOGLE_APPLICATION_CREDENTIALS), or set token_env to a variable holding an access token")

    def _access_token(self) -> str:
        if self.settings.token_env:
            return secret_from_env(self.config, self.settings.token_env)
        import google.auth
        import google.auth.exceptions
        from google.auth.transport.requests import Request

        try:
            if self._credentials is None:
                self._credentials, _ = google.auth.default(scopes=[SCOPE])
            self._credentials.refresh(Request())
        except google.auth.exceptions.DefaultCredentialsError as exc:
            raise ConfigError(f"target {self.name!r}: no Google credentials found; {self._token_help()}") from exc
        except google.auth.exceptions.GoogleAuthError as exc:
            raise TerminalTargetError(f"target {self.name!r}: cannot obtain an access token "
                                      f"({type(exc).__name__}); {self._token_help()}") from exc
        return str(self._credentials.token)

    def _http(self) -> HttpClient:
        """The client, made on first use. Called once per read/apply, never from worker threads:
        ADC tokens expire (about an hour), so a long apply gets a fresh client between batches."""
        if self._client is not None and self._credentials is not None and not self._credentials.valid:
            self._client.close()
            self._client = None
        if self._client is None:
            auth = {"Authorization": f"Bearer {self._access_token()}"}
            self._client = client_for(self.config, DEFAULT_BASE_URL, auth, capabilities=self.capabilities,
                                      auth_hint=f"Google refused the credentials; {self._token_help()}")
        return self._client

    def _call(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None,
              expect: Sequence[int] = (200,)) -> tuple[int, Any]:
        """Send one request; return (status, body) when status is in ``expect``, else raise with
        Google's error message. Writes here are idempotent (requestId, names, allowMissing)."""
        http = self._client or self._http()
        response = http.request(method, f"/v1/{path}", params=dict(params or {}), json=json, ok=_HANDLED,
                                idempotent=True)
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = {"error": {"message": response.text[:300]}}
        status = response.status_code
        if status in expect:
            return status, body
        what = f"target {self.name!r}: {method} /v1/{path}"
        raise TerminalTargetError(http.redact(f"{what} -> {status} {_error_text(body)}"))

    def _list(self, path: str, key: str) -> list[dict[str, Any]]:
        """Every item of a List call, following nextPageToken."""
        items: list[dict[str, Any]] = []
        token = ""
        guard = http.PageGuard(f"target {self.name!r}: GET /v1/{path}")
        while True:
            params = {"pageSize": PAGE_SIZE, **({"pageToken": token} if token else {})}
            _, body = self._call("GET", path, params=params)
            body = http.expect_shape(body, dict, guard.what)
            items += http.expect_shape(body.get(key, []), list, guard.what)
            token = str(body.get("nextPageToken") or "")
            if not token:
                return items
            guard.next(token)

    def _wait(self, operation: Mapping[str, Any]) -> None:
        """Poll a long-running operation until done; raise when it failed or took too long."""
        deadline = time.monotonic() + self.operation_timeout
        while not operation.get("done"):
            if time.monotonic() > deadline:
                raise TransientTargetError(f"target {self.name!r}: operation {operation.get('name')} not done after "
                                           f"{self.operation_timeout:g}s (setting operation_timeout)")
            time.sleep(self.poll_interval)
            _, operation = self._call("GET", str(operation["name"]))
        if operation.get("error"):
            raise TerminalTargetError(f"target {self.name!r}: operation {operation.get('name')} failed: "
                                      f"{operation['error'].get('message', operation['error'])}")

    def _delete(self, name: str) -> None:
        """Delete a process or run (allowMissing: already gone is fine) and wait for it."""
        _, operation = self._call("DELETE", name, params={"allowMissing": "true"})
        self._wait(operation)

    # -- the Target protocol -----------------------------------------------------------------

    def translate(self, lineage: Lineage) -> list[Resource]:
        if self.openlineage:
            return build_openlineage_resources(lineage, self.names)
        return build_resources(lineage, self.names)

    def held_digest(self, refresh: bool) -> str | None:
        return None  # what the catalog holds is known only by reading it

    def read(self, desired: Sequence[Resource], known: Mapping[str, Current], refresh: bool) -> dict[str, Current]:
        """Managed processes that still exist, plus processes this tool's origin wrote that state does
        not know (adoptable, or another project's by their marker), each with its ownership marker and
        content hash: the one recorded when it was written, from a single listing of processes, or
        rebuilt from its runs and events with ``refresh_events`` (or when nothing was recorded)."""
        if not refresh or self.config.policy.input_handling not in self.capabilities.modes:
            return {}  # the planner refuses that mode: no request before it does
        self._http()
        listed = {p["name"]: p for p in self._list(f"{self.names.parent}/processes", "processes")}
        held = [(a, listed[c.id]) for a, c in known.items() if c.kind == PROCESS and c.id in listed]
        ids = {c.id for c in known.values()}
        addresses = {a for a, _ in held}
        for name, p in listed.items():
            pid = self._process_id(p)
            address = f"{PROCESS}.{pid}"
            if pid and name not in ids and address not in addresses:
                held.append((address, p))
                addresses.add(address)
        hashes = self._http().map(lambda item: self._read_hash(item[1]), held)
        owner = ol.owner_of if self.openlineage else owner_of
        return {a: Current(a, PROCESS, p["name"], h, owner=owner(p)) for (a, p), h in zip(held, hashes, strict=True)}

    def _process_id(self, process: Mapping[str, Any]) -> str:
        """The manifest process id of a Process this tool wrote in this write mode ('' for others)."""
        if self.openlineage:
            return ol.process_id_of(process, self.names)
        ours = (process.get("origin") or {}) == self.names.origin()
        return str((process.get("attributes") or {}).get("lac_process_id", "")) if ours else ""

    def _read_hash(self, process: Mapping[str, Any]) -> str | None:
        if not self.refresh_events:
            recorded = ol.recorded_hash(process) if self.openlineage else recorded_hash(process)
            if recorded is not None:
                return recorded
        links: list[dict[str, Any]] = []
        for run in self._list(f"{process['name']}/runs", "runs"):
            for event in self._list(f"{run['name']}/lineageEvents", "lineageEvents"):
                links += event.get("links", [])
        if self.openlineage:
            return content_hash(ol.body_from_process(process, links))
        return content_hash(process_body(process["name"], process.get("displayName", ""),
                                         process.get("attributes") or {}, process.get("origin") or {}, links))

    def apply(self, batch: Sequence[Change]) -> list[ItemResult]:
        return self._http().map(self._apply_one, batch)

    def _apply_one(self, change: Change) -> ItemResult:
        before_id = str((change.before or {}).get("id", ""))
        try:
            if change.action is Action.DELETE:
                if before_id:
                    self._delete(before_id)
                return ItemResult(change.address, True, id=before_id)
            body = dict(change.after or {})
            if self.openlineage:
                name = self._write_openlineage(change, body, existing=change.prior is not None)
            else:
                name = str(body["name"])
                self._write(change, body, existing=change.action is Action.UPDATE)
            if before_id and before_id != name:
                self._delete(before_id)  # project, location, id override or write mode changed: the old one goes
            return ItemResult(change.address, True, id=name)
        except AuthError:
            raise  # every further request would be refused the same way: the run stops once
        except TargetError as exc:
            return ItemResult(change.address, False, error=str(exc))

    def _write(self, change: Change, body: Mapping[str, Any], existing: bool) -> None:
        """Write the process, a run for this content with its events, then retire other runs."""
        name = str(body["name"])
        started = _now()

        def rid(part: str) -> str:
            return request_id(change.address, change.after_hash, part, started)

        process = written_process(body, change.after_hash, change.owner, source_file(change.source))
        if not existing:
            status, _ = self._call("POST", f"{self.names.parent}/processes", params={"requestId": rid("process")},
                                   json=process, expect=(200, 409))
            existing = status == 409  # there already (lost state, or a crashed apply): adopt it
        if existing:
            self._call("PATCH", name, params={"allowMissing": "true", "requestId": rid("update")}, json=process)
        run_name = f"{name}/runs/r-{change.after_hash[:32]}"
        old_runs = [r["name"] for r in self._list(f"{name}/runs", "runs")] if existing else []
        if run_name in old_runs:
            self._delete(run_name)  # same content, drifted: write it again from scratch
        run = {"name": run_name, "displayName": self.names.origin_name, "startTime": started, "endTime": started,
               "state": "COMPLETED"}
        self._call("POST", f"{name}/runs", params={"requestId": rid("run")}, json=run, expect=(200, 409))
        for i, links in enumerate(chunk_links(list(body["links"]))):
            event = {"name": f"{run_name}/lineageEvents/e-{i:04d}", "links": links, "startTime": started,
                     "endTime": started}
            self._call("POST", f"{run_name}/lineageEvents", params={"requestId": rid(f"event-{i}")}, json=event,
                       expect=(200, 409))
        for old in old_runs:
            if old != run_name:
                self._delete(old)

    def _write_openlineage(self, change: Change, body: Mapping[str, Any], existing: bool) -> str:
        """Send the process as OpenLineage run events of one new run, then retire its other runs;
        return the Process name Google derived from the job."""
        started = _now()
        run_id = request_id(change.address, change.after_hash, "openlineage-run", started)
        written: dict[str, str] = {}
        messages = ol.build_messages(body, run_id, started, change.after_hash, change.owner, source_file(change.source))
        for i, message in enumerate(messages):
            if ol.message_size(message) > ol.MAX_MESSAGE_BYTES:
                raise TerminalTargetError(f"target {self.name!r}: {change.address} needs an OpenLineage message over "
                                          "Google's 5 MB limit (its names are too long); use write_mode 'api'")
            rid = request_id(change.address, change.after_hash, f"openlineage-{i}", started)
            _, reply = self._call("POST", f"{self.names.parent}:processOpenLineageRunEvent",
                                  params={"requestId": rid}, json=message)
            written = {"process": str(reply.get("process", "")), "run": str(reply.get("run", ""))}
        if not written.get("process"):
            raise TerminalTargetError(f"target {self.name!r}: processOpenLineageRunEvent named no process")
        if existing:
            for old in self._list(f"{written['process']}/runs", "runs"):
                if old["name"] != written["run"]:
                    self._delete(old["name"])
        return written["process"]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
