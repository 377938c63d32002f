"""Secrets: every target runs validate, plan (text, Markdown, JSON, saved), apply, state and graph with
a sentinel token, then fails three ways (retries exhausted, a vendor error that echoes the token
back, the token refused). The sentinel must appear nowhere: stdout, stderr, log records at DEBUG,
any file the project holds afterwards (lac.yaml, plans, state, the DuckDB file, the cache), or
anything the emulator received apart from the auth header itself (paths, queries, bodies).
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.emulators.base import EmulatorApp, Faults, Request, Response, serve
from tests.reliability.catalogs import CATALOGS, Catalog, files_containing
from tests.reliability.figures import Figures
from tests.targets.harness import make_project, write_generated

AUTH_HEADERS = {"authorization", "token", "x-auth-token"}


def sentinel(name: str) -> str:
    return f"lac-sentinel-{name}-9d4c1f5e"


class Recorder:
    """Wraps an emulator's dispatch: keeps what it received (auth headers left out) and answered,
    and can answer writes with an error that quotes the caller's credentials back."""

    def __init__(self, app: EmulatorApp) -> None:
        self.app = app
        self.seen: list[str] = []
        self.requests = 0
        self.echo = False
        self._dispatch = app.dispatch
        app.dispatch = self.dispatch  # type: ignore[method-assign]

    def dispatch(self, request: Request) -> Response:
        self.requests += 1
        headers = {k: v for k, v in request.headers.items() if k not in AUTH_HEADERS}
        self.seen.append(f"{request.method} {request.path} {request.query} {headers} {request.body!r}")
        if self.echo and request.method != "GET":
            quoted = {k: v for k, v in request.headers.items() if k in AUTH_HEADERS}
            return Response(400, {"error": f"malformed request; credentials were {quoted}"})
        response = self._dispatch(request)
        self.seen.append(json.dumps(response.body))
        return response


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Every log record of every logger, at DEBUG, as the text a log file would hold."""
    text = io.StringIO()
    handler = logging.StreamHandler(text)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield text
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def run_everything(catalog: Catalog, root: Path, url: str, recorder: Recorder, lac: Any) -> list[Any]:
    """Every command a user runs, then three failures; return every CLI result."""
    targets = {**catalog.target(url, retry_base_delay=0.01, max_attempts=2),
               "local": {"type": "duckdb", "path": ".lac/lineage.duckdb"}}
    manifest = write_generated(root / "m" / "gen.yaml", processes=9, inputs=2, outputs=1, columns=1)
    config = make_project(root, targets, manifests=manifest)
    catalog.prepare(recorder.app, config)  # the vendor's catalog holds the tables of both versions used below
    write_generated(manifest, processes=6, inputs=2, outputs=1, columns=1)
    results = [lac("validate", cwd=root), lac("plan", "--out", "plan.json", cwd=root),
               lac("plan", "--format", "markdown", "--out", "plan-md.json", cwd=root),
               lac("plan", "--format", "json", cwd=root), lac("apply", "plan.json", cwd=root),
               lac("apply", "--auto-approve", cwd=root), lac("state", "show", cwd=root), lac("state", "list", cwd=root),
               lac("graph", "--format", "html", "--out", "graph.html", cwd=root)]
    write_generated(manifest, processes=9, inputs=2, outputs=1, columns=1)
    recorder.app.faults = Faults(error_rate=1.0, error_status=503)
    results.append(lac("apply", "--auto-approve", cwd=root))  # retries exhausted
    recorder.app.faults = Faults()
    recorder.echo = True
    # the vendor quotes the token back (a target whose policy is hold re-sends its uncertain writes only when asked)
    results.append(lac("apply", "--auto-approve", "--retry-uncertain", cwd=root))
    recorder.echo = False
    return results


@pytest.mark.parametrize("name", list(CATALOGS))
def test_a_sentinel_token_never_leaves_the_auth_header(name: str, tmp_path: Path, lac: Any, figures: Figures,
                                                       captured_logs: io.StringIO,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    catalog, secret = CATALOGS[name], sentinel(name)
    monkeypatch.setenv(catalog.token_env, secret)
    app = catalog.emulator(secret, Faults())
    recorder = Recorder(app)
    with serve(app) as server:
        results = run_everything(catalog, tmp_path, server.url, recorder, lac)
        wrong = catalog.emulator("the-token-the-vendor-expects", Faults())
        with serve(wrong) as refusing:
            (tmp_path / "refused").mkdir()
            make_project(tmp_path / "refused", catalog.target(refusing.url), manifests=tmp_path / "m")
            refused = lac("apply", "--auto-approve", cwd=tmp_path / "refused")
    results.append(refused)
    failures = [r for r in results if r.code != 0]
    leaks = {
        "stdout/stderr": sum(secret in r.out + r.err for r in results),
        "logs": captured_logs.getvalue().count(secret),
        "files": files_containing(tmp_path, secret.encode()),
        "sent to the vendor": sum(secret in s for s in recorder.seen),
    }
    figures.add("Secrets (sentinel token)", {
        "target": name, "commands run": len(results), "of which errors": len(failures),
        "log records": captured_logs.getvalue().count("\n"),
        "files checked": sum(1 for p in tmp_path.rglob("*") if p.is_file()),
        "requests checked": recorder.requests, **{f"leaks in {k}": len(v) if isinstance(v, list) else v
                                                          for k, v in leaks.items()}})
    held = "--retry-uncertain" in results[-3].out  # exhausted retries of a hold target are held, not failed
    assert len(failures) == (2 if held else 3), [(r.code, r.err[-300:]) for r in results]
    assert "***" in results[-2].err or "HTTP 400" in results[-2].err or "-> 400" in results[-2].err
    assert refused.code == 1 and catalog.token_env in refused.err
    assert leaks == {"stdout/stderr": 0, "logs": 0, "files": [], "sent to the vendor": 0}
