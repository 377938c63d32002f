"""A broken or hostile vendor endpoint never makes a run hang or crash: a listing that always says
"there is another page" is stopped with an error naming the endpoint, and a response of the wrong
shape is a TargetError, not an AttributeError. Each case drives ``lac plan`` against the vendor's
emulator with one handler made hostile.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.emulators.alation import AlationEmulator
from tests.emulators.base import Request, Response, serve
from tests.emulators.google import GoogleLineageEmulator
from tests.emulators.secoda import SecodaEmulator
from tests.reliability.catalogs import CATALOGS
from tests.targets.harness import make_project, write_generated

TOKEN = "hostile-endpoint-token-7d1e"


class EndlessGoogle(GoogleLineageEmulator):
    """Every list answers with the same next-page token."""

    def _page(self, request: Request, key: str, items: list[dict[str, Any]]) -> Response:
        return Response(200, {key: items[:1], "nextPageToken": "again"})


class EndlessSecoda(SecodaEmulator):
    """Every page says there is a next one, and repeats the first page's results."""

    def _page(self, request: Request, items: list[dict[str, Any]]) -> Response:
        host = request.header("host") or "api.secoda.co"
        return Response(200, {"links": {"next": f"http://{host}{request.path}?page=2", "previous": "None"},
                              "results": items[:5]})


class ShapelessAlation(AlationEmulator):
    """The table listing answers an object where the API documents an array."""

    def list_tables(self, request: Request) -> Response:
        return Response(200, {"unexpected": "object"})


def _run(lac: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, app: Any,
         **extra: Any) -> Any:
    catalog = CATALOGS[name]
    monkeypatch.setenv(catalog.token_env, TOKEN)
    manifest = write_generated(tmp_path / "m" / "lineage.yaml", processes=3)
    with serve(app) as server:
        config = make_project(tmp_path, catalog.target(server.url, **extra), manifest)
        catalog.prepare(app, config)
        started = time.monotonic()
        result = lac("plan", cwd=tmp_path)
        return result, time.monotonic() - started


@pytest.mark.parametrize("name, app, extra, endpoint", [
    ("google", lambda: EndlessGoogle(TOKEN), {}, "GET /v1/"),
    ("secoda", lambda: EndlessSecoda(TOKEN), {}, "GET /api/v1/"),
    ("alation", lambda: ShapelessAlation(TOKEN), {"input_handling": "UPDATE", "fail_on_errors": False},
     "GET /integration/v2/table/"),
])
def test_a_hostile_listing_is_an_error_naming_the_endpoint(name: str, app: Any, extra: dict[str, Any],
                                                           endpoint: str, lac: Any, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    result, seconds = _run(lac, tmp_path, monkeypatch, name, app(), **extra)
    assert result.code == 1, (result.out, result.err)
    assert endpoint in result.err and "Traceback" not in result.err, result.err
    assert seconds < 60
