"""plan/apply as a user runs them: exit codes, formats, saved plans, locks."""

from __future__ import annotations

import json
import re
import shutil

from tests.conftest import FIXTURE


def project(tmp_path):
    shutil.copytree(FIXTURE / "manifests", tmp_path / "manifests")
    shutil.copy(FIXTURE / "lac.yaml", tmp_path / "lac.yaml")
    return tmp_path


def test_without_lac_yaml_plan_path_uses_the_embedded_target(lac, tmp_path):
    shutil.copytree(FIXTURE / "manifests", tmp_path / "m")
    result = lac("plan", "m", "--detailed-exitcode", cwd=tmp_path)
    assert result.code == 2 and "Target local (duckdb" in result.out
    assert lac("apply", "--auto-approve", "m", cwd=tmp_path).code == 0
    assert (tmp_path / ".lac" / "lineage.duckdb").exists() and (tmp_path / ".lac" / "state.json").exists()
    again = lac("plan", "m", "--detailed-exitcode", cwd=tmp_path)
    assert again.code == 0 and "no changes" in again.out


def test_json_plan_is_machine_readable(lac, tmp_path):
    result = lac("plan", "--format", "json", cwd=project(tmp_path))
    doc = json.loads(result.out)
    assert doc["summary"]["create"] == 10 and doc["targets"][0]["name"] == "local"
    assert {c["action"] for c in doc["targets"][0]["changes"]} == {"create"}


def test_saved_plan_applies_once_and_is_stale_afterwards(lac, tmp_path):
    root = project(tmp_path)
    assert lac("plan", "--out", "plan.json", cwd=root).code == 0
    assert lac("apply", "--auto-approve", "plan.json", cwd=root).code == 0
    stale = lac("apply", "--auto-approve", "plan.json", cwd=root)
    assert stale.code == 3 and "run plan again" in stale.err


def test_markdown_plan_escapes_manifest_text(lac, write, tmp_path):
    write("m.yaml", """
        version: 1
        processes:
          - id: p
            inputs: ["x:db.s.`<img src=x onerror=alert(1)>`"]
            outputs: ["x:db.s.`a|b**c**`"]
    """)
    result = lac("plan", "m.yaml", "--format", "markdown", cwd=tmp_path)
    assert result.code == 0
    outside_fences = re.sub(r"(?ms)^(`{3,})\w*\n.*?^\1$", "", result.out)
    assert "<img" not in outside_fences and "<!-- lineage-as-code:plan -->" in outside_fences
    mermaid = result.out.split("```mermaid")[1]
    assert "<img" not in mermaid and "#lt;img" in mermaid and "a#124;b" in mermaid


def test_apply_refuses_while_another_run_holds_the_lock_and_force_unlock_clears_it(lac, tmp_path):
    root = project(tmp_path)
    (root / ".lac").mkdir()
    (root / ".lac" / "state.json.lock").write_text(json.dumps(
        {"id": "abc", "operation": "apply", "who": "ci@runner pid 7", "created": "2026-01-01T00:00:00+00:00"}))
    locked = lac("apply", "--auto-approve", cwd=root)
    assert locked.code == 1 and "held by ci@runner pid 7" in locked.err and "lac force-unlock abc" in locked.err
    assert lac("force-unlock", "abc", cwd=root).code == 0
    assert lac("apply", "--auto-approve", cwd=root).code == 0


def test_a_state_folder_that_cannot_be_created_is_an_error_not_a_traceback(lac, tmp_path):
    root = project(tmp_path)
    (root / ".lac").write_text("a file where the state folder should be")
    result = lac("apply", "--auto-approve", cwd=root)
    assert result.code == 1 and "Traceback" not in result.err
    assert result.err.startswith("error: ") and result.err.rstrip().endswith(
        f".lac/state.json: cannot create the state folder: {root / '.lac'} is a file"), result.err
    (root / ".lac").unlink()
    assert lac("apply", "--auto-approve", cwd=root).code == 0


def test_state_list_and_rm_make_a_resource_unmanaged(lac, tmp_path):
    root = project(tmp_path)
    lac("apply", "--auto-approve", cwd=root)
    listed = lac("state", "list", cwd=root).out
    assert "local\tprocess.rpt_revenue" in listed
    assert lac("state", "rm", "local", "process.rpt_revenue", cwd=root).code == 0
    result = lac("plan", cwd=root)
    # Forgotten, then found in the target exactly as declared: adopted back into state, nothing is sent.
    assert "= process.rpt_revenue  [snowflake:ANALYTICS.marts.fct_orders -> looker:sales.dashboards.revenue]  " \
           "(exists in the target as declared; recorded in state)" in result.out
    assert "1 to adopt" in result.out


def test_invalid_manifest_fails_plan_with_file_line_and_touches_nothing(lac, write, tmp_path):
    write("m.yaml", "version: 1\nprocesses:\n  - {id: p, inputs: [], outputs: ['x:a.b.c']}\n")
    result = lac("apply", "--auto-approve", "m.yaml", cwd=tmp_path)
    assert result.code == 1 and "m.yaml:3: processes[0].inputs: process has no inputs" in result.err
    assert not (tmp_path / ".lac" / "lineage.duckdb").exists()
    assert not (tmp_path / ".lac" / "state.json.lock").exists()


def test_apply_without_a_terminal_needs_auto_approve_and_writes_nothing(lac, tmp_path):
    root = project(tmp_path)
    refused = lac("apply", cwd=root)
    assert refused.code == 1 and "apply needs approval" in refused.err and "--auto-approve" in refused.err
    assert "Plan: 10 to create" in refused.out
    assert not (root / ".lac" / "lineage.duckdb").exists() and not (root / ".lac" / "state.json.lock").exists()


def test_a_saved_plan_is_stale_once_the_manifests_change(lac, tmp_path):
    root = project(tmp_path)
    assert lac("plan", "--out", "plan.json", cwd=root).code == 0
    csv = root / "manifests" / "reporting.csv"
    csv.write_text(csv.read_text().replace("Feeds the revenue dashboard", "Feeds revenue"))
    stale = lac("apply", "plan.json", cwd=root)
    assert stale.code == 3 and "manifests" in stale.err and "run plan again" in stale.err
    assert not (root / ".lac" / "state.json").exists()


def test_state_show_one_address(lac, tmp_path):
    root = project(tmp_path)
    lac("apply", "--auto-approve", cwd=root)
    shown = json.loads(lac("state", "show", "process.load_raw_orders", cwd=root).out)
    assert shown["target"] == "local" and shown["kind"] == "process"
    assert shown["edges"] == [["postgres:shop.public.orders", "snowflake:ANALYTICS.raw.orders"]]
    assert lac("state", "show", "process.nope", cwd=root).code == 1
