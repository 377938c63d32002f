"""Crafted hostile input: YAML alias bombs and deep nesting, oversized manifests, formula, HTML and
Markdown injection in names, and object keys with ``..`` and odd unicode.

What is asserted is what a user would see: a located error and exit 1 (never a crash), bounded
memory, text carried as inert data and escaped wherever it is rendered.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from lineage_as_code.errors import ManifestError
from lineage_as_code.manifest import ManifestInput, build_lineage
from tests.reliability.figures import Figures

REPO = Path(__file__).resolve().parents[2]
BOMB = b"version: 1\n" + b"".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}' if i else 'lol'] * 9)}]\n".encode() for i in range(10))


def lac_process(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``lac`` in its own interpreter, so that a crash of the parser shows as a failed test, not a dead run."""
    merged = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "lineage_as_code", *args], check=False, cwd=cwd, env=merged,
                          capture_output=True, text=True, timeout=300)


# -- YAML bombs -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, text", [
    ("flow.yaml", "[" * 200_000 + "]" * 200_000),
    ("block.yaml", "version: 1\nprocesses:\n" + "".join("  " * i + "- \n" for i in range(1, 3000))),
    ("mixed.yaml", "version: 1\nx: " + "{a: [" * 50_000 + "]}" * 50_000),
])
def test_deeply_nested_yaml_is_a_located_problem_not_a_crash(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    result = lac_process("validate", name, cwd=tmp_path)
    assert result.returncode == 1, (result.returncode, result.stderr[-500:])
    assert re.match(rf"^{name}:[1-9]\d*: nesting deeper than 64 levels$", result.stderr.splitlines()[0])
    assert "Traceback" not in result.stderr


def test_deeply_nested_lac_yaml_is_a_located_problem_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "lac.yaml").write_text("version: 1\ntargets: " + "[" * 100_000)
    result = lac_process("plan", cwd=tmp_path)
    assert result.returncode == 1 and "lac.yaml:2: nesting deeper than 64 levels" in result.stderr, result.stderr


def test_a_yaml_alias_bomb_is_refused_before_it_expands(figures: Figures) -> None:
    start = time.perf_counter()
    with pytest.raises(ManifestError) as info:
        build_lineage([ManifestInput("bomb.yaml", BOMB)])
    seconds = time.perf_counter() - start
    figures.add("Crafted input", {"case": "alias bomb (9^10 nodes once expanded)",
                                  "outcome": str(info.value), "time": f"{seconds:.2f} s"})
    assert str(info.value) == "bomb.yaml:1: document expands to too many nodes (YAML alias bomb?)"


# -- size -------------------------------------------------------------------------------------------

def test_a_manifest_over_the_size_limit_is_refused_by_name(tmp_path: Path, lac: Any,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "small.yaml").write_text("version: 1\nprocesses: []\n")
    (tmp_path / "big.yaml").write_text("version: 1\n" + "# padding\n" * 300)
    monkeypatch.setenv("LAC_MAX_MANIFEST_BYTES", "2000")
    result = lac("validate", ".", cwd=tmp_path)
    assert result.code == 1
    assert result.err.strip() == ("error: big.yaml: 3,011 bytes is over the manifest size limit of 2,000 bytes "
                                  "(LAC_MAX_MANIFEST_BYTES); split it into several files or raise the limit")
    monkeypatch.setenv("LAC_MAX_MANIFEST_BYTES", "lots")
    result = lac("validate", "small.yaml", cwd=tmp_path)
    assert result.code == 1 and "LAC_MAX_MANIFEST_BYTES='lots': expected a number of bytes" in result.err


@pytest.mark.reliability_full
def test_a_500_mb_manifest_is_refused_in_bounded_memory(tmp_path: Path, figures: Figures) -> None:
    big = tmp_path / "huge.yaml"
    with open(big, "wb") as fh:  # sparse: the disk holds almost nothing, the size says 500 MB
        fh.write(b"version: 1\nprocesses:\n")
        fh.truncate(500 * 2**20)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    result = lac_process("validate", "huge.yaml", cwd=tmp_path)
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    figures.add("Crafted input", {"case": "500 MB manifest (default limit 256 MiB)",
                                  "outcome": result.stderr.strip(), "time": f"{seconds:.2f} s",
                                  "peak RSS": f"{peak_mib:.0f} MiB" if peak_mib > before / 1024 else "n/a"})
    assert result.returncode == 1
    assert "huge.yaml: 524,288,000 bytes is over the manifest size limit of 268,435,456 bytes" in result.stderr
    assert peak_mib < 400
