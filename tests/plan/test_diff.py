"""Field-level diffs: what a reviewer reads for an update, pinned by golden files for a plan with a
rename, a column mapping added, an SQL edit, deletes with downstream impact and an adoption."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from lineage_as_code.plan.diff import field_diff

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "review"
GOLDEN = REPO / "tests" / "golden"


@pytest.fixture
def reviewed(lac: Any, tmp_path: Path) -> Path:
    """A DuckDB project applied from ``before.yaml``, one process dropped from state (the next plan
    adopts it), and the manifest edited to ``after.yaml``."""
    (tmp_path / "lac.yaml").write_text("version: 1\nmanifests: [m.yaml]\nstate: {path: .lac/state.json}\n"
                                       "targets:\n  local: {type: duckdb, path: .lac/lineage.duckdb}\n")
    shutil.copy(FIXTURE / "before.yaml", tmp_path / "m.yaml")
    assert lac("apply", "--auto-approve", cwd=tmp_path).code == 0
    assert lac("state", "rm", "local", "process.publish_revenue", cwd=tmp_path).code == 0
    shutil.copy(FIXTURE / "after.yaml", tmp_path / "m.yaml")
    return tmp_path


def _golden(name: str, text: str) -> str:
    path = GOLDEN / name
    if os.environ.get("LAC_UPDATE_GOLDEN"):
        path.write_text(text)
    return path.read_text()


def _stable_json(text: str) -> str:
    """The JSON plan with what differs between runs (the state's random lineage id, the version) fixed."""
    doc = json.loads(text)
    doc["state"]["lineage"] = "<lineage>"
    doc["tool"] = "lineage-as-code <version>"
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def test_the_text_plan_of_a_reviewed_change_matches_the_golden_file(reviewed: Path, lac: Any) -> None:
    result = lac("plan", "--detailed-exitcode", cwd=reviewed)
    assert result.code == 2, result.err
    assert result.out == _golden("plan_review.txt", result.out), "re-run with LAC_UPDATE_GOLDEN=1 after an intended change"
    assert '      ~ name: "Build customers" -> "Build customer dimension"\n' in result.out
    assert "      + column: snowflake:shop.raw.customers.email -> snowflake:shop.mart.customers.email\n" in result.out
    assert "      -     select id, customer_id, amount\n      +     select id, customer_id, amount, currency\n" in result.out
    assert "  = process.publish_revenue" in result.out


def test_the_markdown_plan_of_a_reviewed_change_matches_the_golden_file(reviewed: Path, lac: Any) -> None:
    result = lac("plan", "--format", "markdown", cwd=reviewed)
    assert result.code == 0, result.err
    assert result.out == _golden("plan_review.md", result.out), "re-run with LAC_UPDATE_GOLDEN=1 after an intended change"
    assert '~     name: "Build customers" -> "Build customer dimension"\n' in result.out
    assert "#### Downstream impact" in result.out and "dashboard looker:bi.dash.refunds" in result.out


def test_the_json_plan_carries_the_whole_prior_content_of_updates_and_deletes(reviewed: Path, lac: Any) -> None:
    result = lac("plan", "--format", "json", cwd=reviewed)
    assert result.code == 0, result.err
    assert _stable_json(result.out) == _golden("plan_review.json", _stable_json(result.out))
    changes = {c["address"]: c for c in json.loads(result.out)["targets"][0]["changes"]}
    renamed = changes["process.build_customers"]
    assert renamed["before"]["content"]["name"] == "Build customers"
    assert renamed["after"]["name"] == "Build customer dimension"
    deleted = changes["process.load_refunds"]
    assert deleted["action"] == "delete" and deleted["before"]["content"]["inputs"] == ["snowflake:shop.raw.refunds"]
    assert changes["process.publish_revenue"]["action"] == "adopt"


def test_a_saved_plan_shows_the_same_diff_and_a_forged_prior_content_is_refused(reviewed: Path, lac: Any) -> None:
    planned = lac("plan", "--out", "plan.json", cwd=reviewed)
    assert planned.code == 0, planned.err
    shown = lac("show", "plan.json", cwd=reviewed)
    assert '      ~ name: "Build customers" -> "Build customer dimension"\n' in shown.out
    doc = json.loads((reviewed / "plan.json").read_text())
    for change in doc["targets"][0]["changes"]:
        if change["address"] == "process.build_customers":
            change["before"]["content"]["name"] = "Something else entirely"
    (reviewed / "forged.json").write_text(json.dumps(doc))
    refused = lac("apply", "--auto-approve", "forged.json", cwd=reviewed)
    assert refused.code == 3
    assert "process.build_customers" in refused.err
    assert lac("apply", "--auto-approve", "plan.json", cwd=reviewed).code == 0
    assert lac("plan", "--detailed-exitcode", cwd=reviewed).code == 0


def test_a_renamed_field_and_changed_lists_read_as_terraform_does() -> None:
    before = {"name": "a", "inputs": ["x", "y"], "attributes": {"team": "core"}, "owner": "ann"}
    after = {"name": "b", "inputs": ["y", "z"], "attributes": {"team": "data"}, "sql": "select 1"}
    assert field_diff(before, after) == [
        '~ attributes.team: "core" -> "data"',
        "- input: x",
        "+ input: z",
        '~ name: "a" -> "b"',
        '- owner: "ann"',
        '+ sql: "select 1"',
    ]


def test_a_reordered_list_is_named_as_such_and_equal_bodies_give_nothing() -> None:
    assert field_diff({"inputs": ["a", "b"]}, {"inputs": ["b", "a"]}) == ["~ inputs: reordered"]
    assert field_diff({"inputs": ["a"], "n": 1}, {"n": 1, "inputs": ["a"]}) == []


def test_edges_of_every_target_shape_read_as_source_to_target() -> None:
    google = {"links": [{"source": {"fullyQualifiedName": "custom:a"}, "target": {"fullyQualifiedName": "custom:b",
                                                                                   "field": ["c"]}}]}
    secoda = {"edges": [{"from": {"key": "pg:a", "column": "x"}, "to": {"key": "pg:b", "column": "y"}}]}
    alation = {"paths": [[[{"otype": "table", "key": "1.s.a"}], [{"otype": "dataflow", "key": "api/p"}],
                          [{"otype": "table", "key": "1.s.b"}]]]}
    assert field_diff({"links": []}, google) == ["+ link: custom:a -> custom:b.c"]
    assert field_diff(secoda, {"edges": []}) == ["- edge: pg:a.x -> pg:b.y"]
    assert field_diff({"paths": []}, alation) == ["+ path: 1.s.a -> api/p -> 1.s.b"]


def test_a_long_diff_is_cut_and_says_how_much_is_left() -> None:
    lines = field_diff({"inputs": []}, {"inputs": [f"t{i}" for i in range(100)]}, limit=10)
    assert len(lines) == 11 and lines[-1].startswith("~ ... and 90 more line(s)")


def test_the_plan_file_written_in_pieces_is_the_whole_document(reviewed: Path) -> None:
    """``--out`` streams the plan one change at a time; what it writes is the one JSON document."""
    from lineage_as_code.config import load_config
    from lineage_as_code.plan.model import Action, Change, Plan, TargetPlan
    from lineage_as_code.plan.planfile import dump_plan, iter_plan_json, load_plan, plan_differences, plan_to_dict
    from lineage_as_code.workflow import PlanRequest, plan_project

    real = plan_project(load_config(str(reviewed / "lac.yaml")), PlanRequest())
    odd = Change("b", "process.ünï", "process", Action.CREATE, {"name": "naïve \"quoted\"\n"}, "h")
    made = Plan((TargetPlan("a", "duckdb"), TargetPlan("b", "duckdb", (odd,)), TargetPlan("c", "duckdb")))
    for plan in (real, made):
        whole = json.dumps(plan_to_dict(plan), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        assert dump_plan(plan) == whole and len(list(iter_plan_json(plan))) > len(plan.targets)
    assert plan_differences(load_plan(dump_plan(real).encode(), "plan.json"), real) == []


def test_text_over_several_lines_that_appears_or_goes_is_shown_line_by_line() -> None:
    assert field_diff({"a": 1}, {"a": 1, "sql": "select a,\n  b\nfrom x"}) == [
        "+ sql:", "+     select a,", "+       b", "+     from x"]
    assert field_diff({"sql": "select 1\nfrom y"}, {}) == ["- sql:", "-     select 1", "-     from y"]
