"""Minimal cases that hypothesis found in the hostile-input fuzzing, kept as plain regression tests:
each once escaped as a traceback or as a problem without a line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lineage_as_code.config import parse_config
from lineage_as_code.errors import ConfigError, ManifestError
from lineage_as_code.manifest import ManifestInput, build_lineage


def problems(name: str, data: bytes) -> list[str]:
    with pytest.raises(ManifestError) as info:
        build_lineage([ManifestInput(name, data)], {"platform": "snowflake"})
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize("name, data, expected", [
    ("m.yaml", b"version: 1\n\nprocesses: \xff\n", "m.yaml:3: not UTF-8 text (invalid start byte at byte 23)"),
    ("m.csv", b"source,target\n\xff,b\n", "m.csv:2: not UTF-8 text (invalid start byte at byte 14)"),
    ("m.yaml", b"version: 1\nprocesses:\n  - id: a\x00b\n",
     "m.yaml:3: invalid YAML: character #x0000: control characters are not allowed"),
])
def test_undecodable_bytes_and_control_characters_are_located(name: str, data: bytes, expected: str) -> None:
    assert problems(name, data) == [expected]


@pytest.mark.parametrize("data", [b"process_id,source,target,\r0", b"\rprocess_id,source,target\np,a.b.c,a.b.d\n"])
def test_a_lone_carriage_return_in_a_csv_is_a_located_problem(data: bytes) -> None:
    found = problems("m.csv", data)
    assert found and all(p.startswith(("m.csv:1: ", "m.csv:2: ")) for p in found), found


def test_unknown_keys_of_mixed_types_are_each_reported() -> None:
    assert problems("m.yaml", b"version: 1\n(: 1\n0: 2\nprocesses: []\n") == [
        "m.yaml:2: (: unknown field", "m.yaml:3: 0: unknown field"]


def test_a_lac_yaml_whose_targets_is_not_a_mapping_is_a_located_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("lac.yaml", b"version: 1\ntargets: .\n", tmp_path)
    # The location and the field are the project's; the rest of the wording is the schema library's.
    assert str(info.value).startswith("lac.yaml:2: targets: '.' ")


def test_a_quote_left_open_at_the_end_of_a_csv_is_located_where_the_string_starts() -> None:
    found = problems("m.csv", b'process_id,source,target\np,a.b.c,a.b.d\n,"')
    assert len(found) == 1 and found[0].startswith("m.csv:3: malformed CSV: "), found


def test_a_key_holding_a_newline_is_quoted_so_each_problem_stays_on_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("lac.yaml", b"version: 1\nstate:\n  ? '\n\n    '\n  : null\n", tmp_path)
    assert str(info.value) == "lac.yaml:3: state.'\\n': unknown field"


def test_two_header_cells_naming_one_native_column_are_a_header_problem() -> None:
    assert problems("m.csv", b"process_id,source,target,TARGET\np,a.b.c,a.b.d,a.b.e\n") == [
        "m.csv:1: (header): columns 'target' and 'TARGET' name the same field 'target'; keep one"]


@pytest.mark.parametrize("target, setting, expected", [
    ("secoda", "timeout: abc", "lac.yaml:6: targets.t.timeout: 'abc' "),
    ("google", "max_attempts: [1]", "lac.yaml:6: targets.t.max_attempts: [1] "),
    ("atlan", "connections: x", "error: target 't': connections must be a mapping"),
    ("alation", "poll_interval: {}", "error: target 't': poll_interval must be a number"),
])
def test_target_settings_of_the_wrong_shape_are_config_errors(target: str, setting: str, expected: str,
                                                              tmp_path: Path, lac: Any,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAC_TOKEN", "t0ken")
    (tmp_path / "m.yaml").write_text("version: 1\nprocesses: [{id: p, inputs: [s:d.s.a], outputs: [s:d.s.b]}]\n")
    (tmp_path / "lac.yaml").write_text(
        f"version: 1\ntargets:\n  t:\n    type: {target}\n    token_env: LAC_TOKEN\n    {setting}\n"
        "    project: p\n    location: l\n    base_url: http://127.0.0.1:9\n"
        f"    input_handling: {'UPDATE' if target == 'secoda' else 'PARTIAL'}\nmanifests: [m.yaml]\n")
    result = lac("plan", "--no-refresh", cwd=tmp_path)
    assert result.code == 1 and expected in result.err, result.err
