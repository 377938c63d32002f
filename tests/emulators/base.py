"""The shared frame of every vendor emulator: a real HTTP server on 127.0.0.1 with fault knobs.

A vendor emulator subclasses EmulatorApp, declares routes, checks auth the vendor's way and keeps
lineage in memory. The base adds what every vendor shares: a request log, latency, a 429 with
Retry-After every Nth write, a 5xx rate, dropped connections (before or after the write is
processed, the latter being the ambiguous case), and read timeouts. Faults are seeded so a failing
run can be replayed.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass
class Faults:
    latency: float = 0.0               # seconds added to every request
    throttle_every: int = 0            # every Nth write answers 429
    retry_after: float | None = 0.05   # Retry-After sent with a 429 (None: no header)
    error_rate: float = 0.0            # share of writes answered with error_status before processing
    error_status: int = 503
    drop_rate: float = 0.0             # share of writes whose connection is dropped before processing
    drop_after_rate: float = 0.0       # share of writes processed, then the connection dropped
    timeout_rate: float = 0.0          # share of requests that stall for timeout_seconds
    timeout_seconds: float = 2.0
    seed: int = 0


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


def json_response(status: int, body: Any, **headers: str) -> Response:
    return Response(status, body, dict(headers))


@dataclass
class LoggedRequest:
    method: str
    path: str
    status: int
    fault: str = ""


Handler = Callable[..., Response]


class EmulatorApp:
    """Subclass: implement ``authorized`` and register routes with ``route``."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self.log: list[LoggedRequest] = []
        self.lock = threading.RLock()
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._writes = 0
        self._rng = random.Random(self.faults.seed)
        self.faults_injected: dict[str, int] = {}

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Register ``handler(request, **groups)`` for ``method`` and a full-match path regex."""
        self._routes.append((method, re.compile(pattern), handler))

    def authorized(self, request: Request) -> Response | None:
        """Return None when the request carries valid credentials, else the vendor's error response."""
        raise NotImplementedError

    def requests(self, method: str | None = None, path_prefix: str = "") -> list[LoggedRequest]:
        return [r for r in self.log if (method is None or r.method == method) and r.path.startswith(path_prefix)
                and not r.fault]

    def _count_fault(self, name: str) -> None:
        self.faults_injected[name] = self.faults_injected.get(name, 0) + 1

    def pre_fault(self, request: Request) -> tuple[str, Response | None]:
        """Decide a fault before processing: ('', None) for none."""
        f = self.faults
        with self.lock:
            roll = self._rng.random()
            if f.timeout_rate and roll < f.timeout_rate:
                return "timeout", None
            if request.method not in WRITE_METHODS:
                return "", None
            self._writes += 1
            if f.throttle_every and self._writes % f.throttle_every == 0:
                headers = {} if f.retry_after is None else {"Retry-After": f"{f.retry_after:g}"}
                return "429", Response(429, {"error": "Too many requests"}, headers)
            roll = self._rng.random()
            if f.error_rate and roll < f.error_rate:
                return str(f.error_status), Response(f.error_status, {"error": "injected server error"})
            roll = self._rng.random()
            if f.drop_rate and roll < f.drop_rate:
                return "drop", None
            if f.drop_after_rate and roll > 1 - f.drop_after_rate:
                return "drop-after", None
        return "", None

    def dispatch(self, request: Request) -> Response:
        denied = self.authorized(request)
        if denied is not None:
            return denied
        for method, pattern, handler in self._routes:
            if method == request.method:
                match = pattern.fullmatch(request.path)
                if match:
                    with self.lock:
                        return handler(request, **match.groupdict())
        return Response(404, {"error": f"no route for {request.method} {request.path}"})


class _Handler(BaseHTTPRequestHandler):
    app: EmulatorApp
    protocol_version = "HTTP/1.1"
    # headers and body leave in separate writes; with Nagle on, each keep-alive request then
    # waits for the client's delayed ACK (~40 ms), which makes serial clients 100x slower
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr
        return

    def _handle(self) -> None:
        app = self.app
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(self.command, parts.path, parse_qs(parts.query),
                          {k.lower(): v for k, v in self.headers.items()}, body)
        if app.faults.latency:
            time.sleep(app.faults.latency)
        fault, early = app.pre_fault(request)
        if fault:
            app._count_fault(fault)
        if fault == "timeout":
            time.sleep(app.faults.timeout_seconds)
            self.close_connection = True
            app.log.append(LoggedRequest(request.method, request.path, 0, fault))
            return
        if fault == "drop":
            app.log.append(LoggedRequest(request.method, request.path, 0, fault))
            self.close_connection = True
            return
        response = early or app.dispatch(request)
        app.log.append(LoggedRequest(request.method, request.path, response.status, fault if early else ""))
        if fault == "drop-after":
            self.close_connection = True
            return
        payload = response.raw if response.raw is not None else (
            b"" if response.body is None else json.dumps(response.body).encode())
        self.send_response(response.status)
        headers = {"Content-Type": "application/json", **response.headers}
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class EmulatorServer:
    """Serve an EmulatorApp on 127.0.0.1 on a free port."""

    def __init__(self, app: EmulatorApp) -> None:
        handler = type("Handler", (_Handler,), {"app": app})
        self.app = app
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> EmulatorServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def serve(app: EmulatorApp) -> Iterator[EmulatorServer]:
    server = EmulatorServer(app).start()
    try:
        yield server
    finally:
        server.stop()
