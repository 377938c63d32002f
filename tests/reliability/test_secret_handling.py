"""Secrets that arrive malformed or in the wrong place (issue 16, items 1-4): a token with a line
break, an error body that quotes the token where the excerpt is cut, a credential bound for plain
HTTP, and a token pasted where a variable name belongs. The token must never reach the user's
terminal, even in part, and the messages must say what to fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.emulators.base import Faults, Request, Response, serve
from tests.emulators.github import GitHubEmulator
from tests.reliability.catalogs import CATALOGS
from tests.targets.harness import make_project, write_generated

TOKEN = "tk9Q7xZ2mW4pL8vR3nB6yH1c"  # no 4 characters of it occur in any message lac writes


def leaks(text: str, secret: str = TOKEN) -> list[str]:
    """Every piece of ``secret`` (4 characters or more, from its start or anywhere) found in ``text``."""
    return sorted({secret[i:i + 4] for i in range(len(secret) - 3) if secret[i:i + 4] in text})


def vendor_project(name: str, root: Path, url: str, **extra: Any) -> None:
    catalog = CATALOGS[name]
    manifest = write_generated(root / "m" / "gen.yaml", processes=3, inputs=1, outputs=1)
    make_project(root, catalog.target(url, **{"retry_base_delay": 0.01, "max_attempts": 2, **extra}),
                 manifests=manifest)


@pytest.mark.parametrize("bad", ["\r", "\n", "\t", "\x1b"], ids=["CR", "LF", "TAB", "ESC"])
@pytest.mark.parametrize("name", list(CATALOGS))
def test_a_token_with_a_control_character_is_refused_naming_the_variable(name: str, bad: str, lac: Any,
                                                                         tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = CATALOGS[name]
    monkeypatch.setenv(catalog.token_env, TOKEN[:12] + bad + TOKEN[12:] if bad != "\r" else TOKEN + bad)
    app = catalog.emulator(TOKEN, Faults())
    with serve(app) as server:
        vendor_project(name, tmp_path, server.url)
        result = lac("apply", "--auto-approve", cwd=tmp_path)
    assert result.code == 1 and "Traceback" not in result.err
    assert f"environment variable {catalog.token_env}" in result.err and "control character" in result.err
    assert leaks(result.out + result.err) == []


def test_pr_comment_refuses_a_token_with_a_line_break(lac: Any, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    app = GitHubEmulator(TOKEN, "acme/lineage", prs=(7,))
    (tmp_path / "plan.md").write_text("**1** to create, **0** to update, **0** to delete\n")
    with serve(app) as server:
        monkeypatch.setenv("GITHUB_API_URL", server.url)
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN + "\r\n")
        result = lac("pr-comment", "--repo", "acme/lineage", "--pr", "7", "--file", "plan.md", cwd=tmp_path)
    assert result.code == 1 and "environment variable GITHUB_TOKEN" in result.err and "control character" in result.err
    assert leaks(result.out + result.err) == [] and app.log == []


class EchoingVendor:
    """Answers every request 400 with the caller's token repeated in every field an error may be
    read from, after ``pad`` characters: over the paddings used, wherever a target cuts its
    excerpt, the cut lands at least 4 characters into a token in one of them."""

    PADS = (0, 6, 12, 18)
    # Every field a target reads an error from, or one none reads (the target then quotes the body).
    SHAPES = (("error", "message", "errorMessage", "error_msg", "detail", "msg", "reason"), ("detail",))

    def __init__(self, app: Any) -> None:
        self.app = app
        self.pad = 0
        self.fields: tuple[str, ...] = self.SHAPES[0]
        app.dispatch = self.dispatch

    def variants(self) -> Iterator[None]:
        """Answer with each (fields, padding) in turn; the caller runs its commands between them."""
        for fields in self.SHAPES:
            for pad in self.PADS:
                self.fields, self.pad = fields, pad
                yield None

    def dispatch(self, request: Request) -> Response:
        echoed = "-" * self.pad + TOKEN * 40
        return Response(400, {name: echoed for name in self.fields})


@pytest.mark.parametrize("name", list(CATALOGS))
def test_an_error_body_quoting_the_token_is_redacted_before_it_is_cut(name: str, lac: Any, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = CATALOGS[name]
    monkeypatch.setenv(catalog.token_env, TOKEN)
    app = catalog.emulator(TOKEN, Faults())
    results = []
    with serve(app) as server:
        vendor_project(name, tmp_path, server.url)
        echo = EchoingVendor(app)
        for _ in echo.variants():
            results += [lac("plan", cwd=tmp_path), lac("apply", "--auto-approve", cwd=tmp_path)]
    assert any(r.code == 1 for r in results)
    assert [leaks(r.out + r.err) for r in results] == [[]] * len(results), [r.err[-400:] for r in results]


def test_pr_comment_redacts_an_echoed_token_before_cutting(lac: Any, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    app = GitHubEmulator(TOKEN, "acme/lineage", prs=(7,))
    echo = EchoingVendor(app)
    (tmp_path / "plan.md").write_text("**1** to create, **0** to update, **0** to delete\n")
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    results = []
    with serve(app) as server:
        monkeypatch.setenv("GITHUB_API_URL", server.url)
        for _ in echo.variants():
            results.append(lac("pr-comment", "--repo", "acme/lineage", "--pr", "7", "--file", "plan.md", cwd=tmp_path))
    assert all(r.code == 1 and "400" in r.err for r in results)
    assert [leaks(r.out + r.err) for r in results] == [[]] * len(results)


@pytest.mark.parametrize("name", list(CATALOGS))
def test_a_credential_is_not_sent_over_plain_http_except_to_loopback(name: str, lac: Any, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = CATALOGS[name]
    monkeypatch.setenv(catalog.token_env, TOKEN)
    vendor_project(name, tmp_path, "http://catalog.example.com:8080")
    refused = lac("apply", "--auto-approve", cwd=tmp_path)
    assert refused.code == 1 and "plain HTTP" in refused.err and "allow_insecure_http" in refused.err
    assert leaks(refused.out + refused.err) == []
    app = catalog.emulator(TOKEN, Faults())
    with serve(app) as server:  # loopback (the emulator) is fine without the setting
        vendor_project(name, tmp_path, server.url)
        local = lac("apply", "--auto-approve", cwd=tmp_path)
    assert "plain HTTP" not in local.err and len(app.log) > 0


def test_allow_insecure_http_lets_a_test_rig_use_plain_http(lac: Any, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = CATALOGS["atlan"]
    monkeypatch.setenv(catalog.token_env, TOKEN)
    vendor_project("atlan", tmp_path, "http://catalog.invalid:9", allow_insecure_http=True, max_attempts=1)
    result = lac("plan", cwd=tmp_path)
    assert result.code == 1 and "plain HTTP" not in result.err and "connection failed" in result.err


def test_pr_comment_refuses_a_plain_http_api(lac: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "plan.md").write_text("**1** to create, **0** to update, **0** to delete\n")
    monkeypatch.setenv("GITHUB_API_URL", "http://github.example.com/api/v3")
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    result = lac("pr-comment", "--repo", "acme/lineage", "--pr", "7", "--file", "plan.md", cwd=tmp_path)
    assert result.code == 1 and "plain HTTP" in result.err and leaks(result.out + result.err) == []


def test_a_token_pasted_as_token_env_is_never_echoed(lac: Any, tmp_path: Path) -> None:
    pasted = "eyJ" + TOKEN + ".sig"
    (tmp_path / "lac.yaml").write_text(
        f"version: 1\ntargets:\n  atlan:\n    type: atlan\n    base_url: https://x.atlan.com\n"
        f"    token_env: \"{pasted}\"\n")
    result = lac("validate", cwd=tmp_path)
    assert result.code == 1 and "lac.yaml:6: targets.atlan.token_env" in result.err
    assert "environment variable" in result.err and leaks(result.out + result.err) == []


def test_a_token_shaped_like_a_variable_name_is_not_echoed_when_unset(lac: Any, tmp_path: Path) -> None:
    vendor_project("atlan", tmp_path, "https://x.atlan.invalid", token_env="sdk_" + TOKEN)
    result = lac("plan", cwd=tmp_path)
    assert result.code == 1 and "targets.atlan.token_env" in result.err and "is not set" in result.err
    assert leaks(result.out + result.err) == []


def test_an_inline_token_is_reported_first_and_alone(lac: Any, tmp_path: Path) -> None:
    (tmp_path / "lac.yaml").write_text(
        f"version: 1\ntargets:\n  atlan:\n    type: atlan\n    base_url: 7\n    token: \"{TOKEN}\"\n")
    result = lac("validate", cwd=tmp_path)
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert result.code == 1 and lines[0].startswith("error: lac.yaml:6: targets.atlan.token: secrets must not")
    assert lines[1:] == ["error: 1 problem(s) found"] or len(lines) == 1
    assert leaks(result.out + result.err) == []
