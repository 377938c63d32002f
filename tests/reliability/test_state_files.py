"""State and output files that must not break (issue 16, items 11-13): a full disk leaves no
temporary file and the old content intact, every state write keeps the previous state as a
backup, a corrupt or oddly shaped state is one clear error naming the place, and force-unlock
copes with locks that lac did not write.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURE, REPO

STATE = Path(".lac") / "state.json"


def project(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURE / "manifests", tmp_path / "manifests")
    shutil.copy(FIXTURE / "lac.yaml", tmp_path / "lac.yaml")
    return tmp_path


def lac_with_file_limit(root: Path, limit: int, *args: str) -> subprocess.CompletedProcess[str]:
    """Run lac in a process that may not write any file bigger than ``limit`` bytes (``ulimit -f``):
    the same failure as a full disk, without filling one."""
    code = ("import resource, sys\n"
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
            "from lineage_as_code.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", code, *args], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def temporary_files(root: Path) -> list[str]:
    """Temporary files beside the outputs and the state (the translation cache has its own rules)."""
    return sorted(str(p.relative_to(root)) for folder in (root, root / ".lac") if folder.is_dir()
                  for p in folder.glob("*.tmp"))


def test_a_plan_that_does_not_fit_leaves_no_temporary_file_and_the_old_plan_intact(lac: Any, tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "plan.json").write_text('{"format_version": 1, "tool": "lineage-as-code 0.0.1"}')
    result = lac_with_file_limit(root, 600, "plan", "--out", "plan.json")
    assert result.returncode == 1 and "cannot write" in result.stderr and "Traceback" not in result.stderr
    assert temporary_files(root) == []
    assert json.loads((root / "plan.json").read_text())["tool"] == "lineage-as-code 0.0.1"


def test_a_state_write_that_fails_leaves_no_temporary_file_and_the_state_readable(lac: Any, tmp_path: Path) -> None:
    root = project(tmp_path)
    assert lac("apply", "--auto-approve", cwd=root).code == 0
    before = (root / STATE).read_bytes()
    first = min(json.loads(before)["targets"]["local"])
    result = lac_with_file_limit(root, 256, "state", "rm", "local", first)
    assert result.returncode == 1 and "cannot write state" in result.stderr and "Traceback" not in result.stderr
    assert temporary_files(root) == []
    assert (root / STATE).read_bytes() == before
    assert lac("state", "rm", "local", first, cwd=root).code == 0  # the next run is not blocked by leftovers


def test_every_state_write_keeps_the_previous_state_as_a_backup(lac: Any, tmp_path: Path) -> None:
    root = project(tmp_path)
    assert lac("apply", "--auto-approve", cwd=root).code == 0
    backup = root / ".lac" / "state.json.backup"
    for address in sorted(json.loads((root / STATE).read_bytes())["targets"]["local"])[:2]:
        previous = (root / STATE).read_bytes()
        assert lac("state", "rm", "local", address, cwd=root).code == 0
        assert backup.read_bytes() == previous
        assert json.loads((root / STATE).read_bytes())["serial"] == json.loads(previous)["serial"] + 1
    assert temporary_files(root) == []


def test_a_symlinked_state_is_refused_before_any_target_is_touched(lac: Any, tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / ".lac").mkdir()
    (root / "elsewhere.json").write_text("")
    (root / STATE).symlink_to(root / "elsewhere.json")
    result = lac("apply", "--auto-approve", cwd=root)
    assert result.code == 1 and "symbolic link" in result.err
    assert not (root / ".lac" / "lineage.duckdb").exists() and (root / "elsewhere.json").read_text() == ""


CORRUPT = {
    "serial out of range": '{"format_version":1,"lineage":"","serial":1e400,"targets":{}}',
    "serial too long": '{"format_version":1,"lineage":"","serial":' + "9" * 5000 + ',"targets":{}}',
    "nested 100,000 deep": "[" * 100_000,
    "edge of one end": '{"format_version":1,"lineage":"x","serial":1,"targets":{"local":'
                       '{"process.p":["process","i","h",0,[["a"]]]}}}',
    "kind not text": '{"format_version":1,"lineage":"x","serial":1,"targets":{"local":{"asset.a":[7,"i","h",0,[]]}}}',
    "id not text": '{"format_version":1,"lineage":"x","serial":1,"targets":{"local":{"asset.a":["asset",{},"h",0,[]]}}}',
    "hash not text": '{"format_version":1,"lineage":"x","serial":1,"targets":{"local":{"asset.a":["asset","i",null,0,[]]}}}',
    "entry too short": '{"format_version":1,"lineage":"x","serial":1,"targets":{"local":{"asset.a":["asset"]}}}',
    "target not a map": '{"format_version":1,"lineage":"x","serial":1,"targets":{"local":[]}}',
    "unknown field": '{"format_version":1,"lineage":"x","serial":1,"targets":{},"extra":1}',
    "not JSON": "\xff{",
}


def assert_one_clear_error(lac: Any, root: Path) -> None:
    for command in (("plan",), ("plan", "--format", "markdown"), ("state", "list")):
        result = lac(*command, cwd=root)
        assert result.code == 1 and "state file is corrupt" in result.err, (command, result.err[-300:])
        assert len(result.err) < 600 and "Traceback" not in result.err


@pytest.mark.parametrize("case", list(CORRUPT))
def test_a_corrupt_state_is_one_clear_error(case: str, lac: Any, tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / ".lac").mkdir()
    (root / STATE).write_text(CORRUPT[case])
    assert_one_clear_error(lac, root)


# The same faults inside a state laid out as lac writes it, whose targets are parsed only when read.
LAID_OUT = {
    "edge of one end": '["process","i","h",0,[["a"]]]',
    "kind not text": '[7,"i","h",0,[]]',
    "entry too short": '["asset"]',
    "not JSON": '["asset","i","h",0,[]',
    "an object, not an entry": '{"kind":"asset"}',
}


@pytest.mark.parametrize("case", list(LAID_OUT))
def test_a_corrupt_entry_in_a_state_lac_wrote_is_one_clear_error(case: str, lac: Any, tmp_path: Path) -> None:
    root = project(tmp_path)
    assert lac("apply", "--auto-approve", cwd=root).code == 0
    lines = (root / STATE).read_text().split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith('"process.'))
    address, _, rest = lines[at].partition(":[")
    lines[at] = f"{address}:{LAID_OUT[case]}" + ("," if rest.endswith(",") else "")
    (root / STATE).write_text("\n".join(lines))
    assert_one_clear_error(lac, root)


def test_a_valid_state_reads_as_before(lac: Any, tmp_path: Path) -> None:
    root = project(tmp_path)
    assert lac("apply", "--auto-approve", cwd=root).code == 0
    again = lac("plan", "--detailed-exitcode", cwd=root)
    assert again.code == 0 and "no changes" in again.out


def test_force_unlock_accepts_a_lock_whose_id_is_a_number(lac: Any, tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / ".lac").mkdir()
    (root / ".lac" / "state.json.lock").write_text(json.dumps({"id": 42, "operation": "apply", "who": "ci",
                                                                "created": "2026-01-01"}))
    locked = lac("apply", "--auto-approve", cwd=root)
    assert locked.code == 1 and "lac force-unlock 42" in locked.err
    assert lac("force-unlock", "42", cwd=root).code == 0
    assert lac("apply", "--auto-approve", cwd=root).code == 0


def test_force_unlock_on_a_lock_path_that_is_a_folder_is_an_error(lac: Any, tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / ".lac" / "state.json.lock").mkdir(parents=True)
    result = lac("force-unlock", "abc", cwd=root)
    assert result.code == 1 and "remove it by hand" in result.err and "Traceback" not in result.err
    applied = lac("apply", "--auto-approve", cwd=root)
    assert applied.code == 1 and "remove it by hand" in applied.err
    assert (root / ".lac" / "state.json.lock").is_dir()
