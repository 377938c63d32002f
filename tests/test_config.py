from pathlib import Path

import pytest

from lineage_as_code.config import InputHandling, load_config, parse_config
from lineage_as_code.errors import ConfigError


def test_defaults_flow_into_each_target_policy_and_paths_resolve_against_the_project(tmp_path):
    cfg = parse_config("lac.yaml", b"""version: 1
manifests: [lineage/]
defaults: {input_handling: update, fail_on_errors: false, max_deletes: 5}
targets:
  local: {type: duckdb, path: out/l.duckdb}
  cat: {type: secoda, token_env: SECODA_TOKEN, input_handling: UPDATE, batch_size: 7}
""", tmp_path)
    assert cfg.targets["local"].policy.input_handling is InputHandling.UPDATE
    assert cfg.targets["local"].policy.max_deletes == 5
    assert cfg.targets["local"].settings["path"] == str(tmp_path / "out/l.duckdb")
    assert cfg.targets["cat"].policy.batch_size == 7


def test_inline_secrets_are_refused_with_the_line(tmp_path):
    with pytest.raises(ConfigError) as info:
        parse_config("lac.yaml", b"version: 1\ntargets:\n  s:\n    type: secoda\n    token: abc123\n", tmp_path)
    message = str(info.value)
    assert "lac.yaml:5: targets.s.token: secrets must not be written in lac.yaml" in message
    assert "abc123" not in message


def test_unknown_target_type_is_located(tmp_path):
    with pytest.raises(ConfigError, match=r"lac.yaml:3: targets.x.type"):
        parse_config("lac.yaml", b"version: 1\ntargets:\n  x: {type: oracle}\n", tmp_path)


def test_a_duckdb_memory_limit_that_is_not_a_size_is_located(tmp_path):
    with pytest.raises(ConfigError, match=r"lac.yaml:4: targets.local.memory_limit"):
        parse_config("lac.yaml", b"version: 1\ntargets:\n  local:\n    memory_limit: lots\n    type: duckdb\n", tmp_path)
    cfg = parse_config("lac.yaml", b"version: 1\ntargets:\n  local: {type: duckdb, memory_limit: 1.5 GB}\n", tmp_path)
    assert cfg.targets["local"].settings["memory_limit"] == "1.5 GB"


def test_without_lac_yaml_the_project_is_the_embedded_duckdb_target(tmp_path: Path):
    cfg = load_config(cwd=tmp_path)
    (target,) = cfg.targets.values()
    assert target.type == "duckdb" and target.settings["path"].endswith(".lac/lineage.duckdb")
    assert cfg.state_path.endswith(".lac/state.json")
