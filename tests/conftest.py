"""Shared fixtures: run the CLI in-process and capture what a user would see."""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from lineage_as_code.cli import main
from lineage_as_code.console import Console
from tests.servers import (  # noqa: F401  (session fixtures: real S3, GCS and Azure servers)
    abfss_container,
    azure_container,
    azurite_server,
    fake_gcs_server,
    gcs_bucket,
    moto_server,
    s3_bucket,
    server_workdir,
)

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
FIXTURE = REPO / "tests" / "fixtures" / "small"  # frozen: tests never change when examples grow


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def cache_signing_key(tmp_path_factory, monkeypatch):
    """The plan cache's signing key lives outside any project; tests keep theirs in a temp folder."""
    monkeypatch.setenv("LAC_CACHE_KEY_FILE", str(tmp_path_factory.getbasetemp() / "cache.key"))


@pytest.fixture
def lac(monkeypatch):
    """Call ``lac(*args, cwd=...)`` and get the exit code, stdout and stderr."""

    def run(*args: str, cwd: Path | None = None) -> Result:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        out, err = io.StringIO(), io.StringIO()
        code = main(list(args), Console(out, err, colour=False))
        return Result(code, out.getvalue(), err.getvalue())

    return run


@pytest.fixture
def write(tmp_path):
    """Write a dedented text file under tmp_path and return its path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    return _write
