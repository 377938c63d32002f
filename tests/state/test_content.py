"""State keeps the body each resource was written with (one copy per content hash) so the next plan can
show an update field by field; what no entry refers to any more is dropped, and a hand-edited state is
read as well as the compact one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CHAIN = """version: 1
defaults: {platform: snowflake, database: db}
processes:
  - {id: load, name: Load, inputs: [raw.a], outputs: [stg.b]}
  - {id: build, name: Build, inputs: [stg.b], outputs: [mart.c]}
"""


def _project(tmp_path: Path, lac: Any) -> Path:
    (tmp_path / "lac.yaml").write_text("version: 1\nmanifests: [m.yaml]\nstate: {path: .lac/state.json}\n"
                                       "targets:\n  local: {type: duckdb, path: .lac/lineage.duckdb}\n")
    (tmp_path / "m.yaml").write_text(CHAIN)
    assert lac("apply", "--auto-approve", cwd=tmp_path).code == 0
    return tmp_path / ".lac" / "state.json"


def _hash_of(state: dict[str, Any], address: str) -> str:
    return state["targets"]["local"][address][2]


def test_the_content_of_a_deleted_or_replaced_resource_leaves_the_state_file(tmp_path: Path, lac: Any) -> None:
    state_file = _project(tmp_path, lac)
    first = json.loads(state_file.read_text())
    old_build, old_load = _hash_of(first, "process.build"), _hash_of(first, "process.load")
    assert first["content"][old_build]["name"] == "Build"
    (tmp_path / "m.yaml").write_text(CHAIN.replace("name: Build", "name: Build marts").replace(
        "  - {id: load, name: Load, inputs: [raw.a], outputs: [stg.b]}\n", ""))
    assert lac("apply", "--auto-approve", "--allow-mass-delete", cwd=tmp_path).code == 0
    second = json.loads(state_file.read_text())
    assert old_build not in second["content"] and old_load not in second["content"]
    assert second["content"][_hash_of(second, "process.build")]["name"] == "Build marts"


def test_a_pretty_printed_state_gives_the_same_field_diff(tmp_path: Path, lac: Any) -> None:
    state_file = _project(tmp_path, lac)
    state_file.write_text(json.dumps(json.loads(state_file.read_text()), indent=2))
    (tmp_path / "m.yaml").write_text(CHAIN.replace("name: Build", "name: Build marts"))
    plan = lac("plan", cwd=tmp_path)
    assert '      ~ name: "Build" -> "Build marts"\n' in plan.out
    assert lac("apply", "--auto-approve", cwd=tmp_path).code == 0
    (tmp_path / "m.yaml").write_text(CHAIN.replace("name: Build", "name: Build all marts"))
    assert '      ~ name: "Build marts" -> "Build all marts"\n' in lac("plan", cwd=tmp_path).out


def test_a_corrupt_prior_body_is_a_state_error_naming_the_file(tmp_path: Path, lac: Any) -> None:
    state_file = _project(tmp_path, lac)
    doc = json.loads(state_file.read_text())
    text = state_file.read_text()
    build = _hash_of(doc, "process.build")
    line = next(x for x in text.split("\n") if x.startswith(json.dumps(build) + ":"))
    state_file.write_text(text.replace(line, json.dumps(build) + ':"not a body"' + ("," if line.endswith(",") else "")))
    assert lac("plan", "--detailed-exitcode", cwd=tmp_path).code == 0  # nothing to diff: the body is not read
    (tmp_path / "m.yaml").write_text(CHAIN.replace("name: Build", "name: Build marts"))
    result = lac("plan", cwd=tmp_path)
    assert result.code == 1
    assert "state.json: state file is corrupt" in result.err and "Traceback" not in result.err


def test_state_keeps_each_written_body_as_the_object_the_plan_showed(tmp_path: Path, lac: Any) -> None:
    """Plans hold read-only views of bodies, not dicts: what state stores is still the body itself."""
    state = json.loads(_project(tmp_path, lac).read_text())
    asset = state["content"][_hash_of(state, "asset.snowflake:db.raw.a")]
    assert asset == {"key": "snowflake:db.raw.a", "platform": "snowflake", "database": "db", "schema": "raw",
                     "name": "a", "type": "table", "connection": "", "partial": True}
    process = state["content"][_hash_of(state, "process.build")]
    assert process["inputs"] == ["snowflake:db.stg.b"] and process["outputs"] == ["snowflake:db.mart.c"]
