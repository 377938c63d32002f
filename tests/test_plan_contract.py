"""The plan is the contract: apply does exactly what was reviewed, to what this project owns.

Each test drives the CLI as a user (or an attacker who can edit a plan artifact) would, against a
real DuckDB store: a tampered saved plan is refused before anything is written, a plan made without
lac.yaml is checked against its manifests, a plan of some files prunes only what they declared, and
a plan that deletes most of what a target holds needs --allow-mass-delete.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.conftest import FIXTURE


def _rows(root: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(root / ".lac" / "lineage.duckdb"), read_only=True) as db:
        return db.execute(sql).fetchall()


def _store(root: Path) -> list[tuple[Any, ...]]:
    """Everything the DuckDB store holds, as a user would query it."""
    return (_rows(root, "SELECT address, name FROM processes ORDER BY 1")
            + _rows(root, "SELECT address, partial FROM assets ORDER BY 1")
            + _rows(root, "SELECT process_id, source, target FROM edges ORDER BY 1, 2, 3"))


@pytest.fixture
def applied(lac: Any, tmp_path: Path) -> Path:
    """A zero-configuration project applied once, with another team's rows in the same store, and a
    saved plan of one edit (a renamed process) waiting to be applied."""
    shutil.copytree(FIXTURE / "manifests", tmp_path / "m")
    assert lac("apply", "--auto-approve", "m", cwd=tmp_path).code == 0
    with duckdb.connect(str(tmp_path / ".lac" / "lineage.duckdb")) as db:
        db.execute("INSERT INTO processes (address, id, name) VALUES ('process.theirs', 'theirs', 'Other team')")
        db.execute("INSERT INTO assets (address, key, partial) VALUES ('asset.x:their.own.table', 'x', false)")
    orders = tmp_path / "m" / "orders.yaml"
    orders.write_text(orders.read_text().replace("name: Build fct_orders", "name: Build the orders fact"))
    assert lac("plan", "m", "--out", "plan.json", cwd=tmp_path).code == 0
    return tmp_path


def _tamper(root: Path, edit: Any) -> None:
    doc = json.loads((root / "plan.json").read_text())
    edit(doc, doc["targets"][0]["changes"])
    (root / "plan.json").write_text(json.dumps(doc))


def _append_delete(doc: dict[str, Any], changes: list[dict[str, Any]]) -> None:
    changes.append({**changes[0], "address": "process.theirs", "action": "delete", "after": None,
                    "before": {"id": "process.theirs", "hash": "", "kind": "process", "partial": False}})


def _rewrite_after(doc: dict[str, Any], changes: list[dict[str, Any]]) -> None:
    changes[0]["after"]["name"] = "Injected"


def _update_to_delete(doc: dict[str, Any], changes: list[dict[str, Any]]) -> None:
    changes[0].update(action="delete", after=None)


def _foreign_id(doc: dict[str, Any], changes: list[dict[str, Any]]) -> None:
    changes[0]["before"]["id"] = "process.theirs"


def _rewrite_prior_content(doc: dict[str, Any], changes: list[dict[str, Any]]) -> None:
    changes[0]["before"]["content"]["name"] = "Not what state holds"  # the field-level diff a reviewer reads


def _nest_a_change(doc: dict[str, Any], changes: list[dict[str, Any]]) -> None:
    """A body holding an object shaped like a change (whose own body a verifier might digest)."""
    changes[0]["after"]["attributes"] = {"after_hash": "", "after": {"name": "x"}}


@pytest.mark.parametrize("edit", [_append_delete, _rewrite_after, _update_to_delete, _foreign_id,
                                  _rewrite_prior_content, _nest_a_change],
                         ids=["delete-not-in-state", "after-rewritten", "update-to-delete", "foreign-vendor-id",
                              "prior-content-rewritten", "change-nested-in-a-body"])
def test_a_tampered_saved_plan_is_refused_before_anything_is_written(applied: Path, lac: Any, edit: Any) -> None:
    store = _store(applied)
    state = (applied / ".lac" / "state.json").read_bytes()
    _tamper(applied, edit)
    result = lac("apply", "plan.json", cwd=applied)
    assert result.code == 3, result.err
    assert "is not what apply would do now" in result.err and "nothing was changed" in result.err
    assert _store(applied) == store and (applied / ".lac" / "state.json").read_bytes() == state
    assert ("process.theirs", "Other team") in _store(applied)


@pytest.mark.parametrize("digest", ["", None])
def test_a_saved_plan_without_a_manifest_digest_is_refused(applied: Path, lac: Any, digest: str | None) -> None:
    store = _store(applied)

    def edit(doc: dict[str, Any], _changes: list[dict[str, Any]]) -> None:
        if digest is None:
            del doc["manifest_digest"]
        else:
            doc["manifest_digest"] = digest
    _tamper(applied, edit)
    result = lac("apply", "plan.json", cwd=applied)
    assert result.code == 1 and "manifest_digest" in result.err, result.err
    assert "Traceback" not in result.err and _store(applied) == store


def test_the_untampered_plan_applies_and_converges(applied: Path, lac: Any) -> None:
    result = lac("apply", "plan.json", cwd=applied)
    assert result.code == 0, result.err
    assert ("process.build_fct_orders", "Build the orders fact") in _store(applied)
    again = lac("plan", "m", "--detailed-exitcode", cwd=applied)
    assert again.code == 0 and "no changes" in again.out


def test_a_saved_plan_written_in_another_layout_still_applies(applied: Path, lac: Any) -> None:
    """Bodies are compared as content (canonical JSON), not as the bytes or key order of the file."""
    doc = json.loads((applied / "plan.json").read_text())
    for change in doc["targets"][0]["changes"]:
        for body in (change["after"], (change["before"] or {}).get("content")):
            if body:
                items = list(body.items())
                body.clear()
                body.update(reversed(items))
    (applied / "plan.json").write_text(json.dumps(doc, separators=(",", ":")))
    result = lac("apply", "plan.json", cwd=applied)
    assert result.code == 0, result.err
    assert ("process.build_fct_orders", "Build the orders fact") in _store(applied)


def test_without_lac_yaml_a_saved_plan_is_checked_against_its_manifests(applied: Path, lac: Any) -> None:
    orders = applied / "m" / "orders.yaml"
    orders.write_text(orders.read_text().replace("name: Build the orders fact", "name: Edited after review"))
    store = _store(applied)
    result = lac("apply", "plan.json", cwd=applied)
    assert result.code == 3 and "other manifests" in result.err, result.err
    assert _store(applied) == store


def test_a_saved_plan_cannot_point_apply_at_manifests_outside_the_project(applied: Path, lac: Any,
                                                                          tmp_path_factory: Any) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    _tamper(applied, lambda doc, _c: doc["scope"].update(paths=[str(elsewhere)]))
    result = lac("apply", "plan.json", cwd=applied)
    assert result.code == 1 and "outside the project folder" in result.err, result.err


def _two_folders(root: Path) -> None:
    for folder in ("a", "b"):
        (root / folder).mkdir()
        procs = "".join(f"  - {{id: {folder}{i}, inputs: [pg:db.{folder}.src{i}], outputs: [pg:db.{folder}.out{i}]}}\n"
                        for i in range(3))
        (root / folder / f"{folder}.yaml").write_text(f"version: 1\nprocesses:\n{procs}")


def test_a_plan_of_one_file_prunes_nothing_the_other_files_declared(lac: Any, tmp_path: Path) -> None:
    _two_folders(tmp_path)
    assert lac("apply", "--auto-approve", "a", "b", cwd=tmp_path).code == 0
    result = lac("plan", "a/a.yaml", cwd=tmp_path)
    assert "no changes" in result.out and "Partial plan of a/a.yaml" in result.out, result.out
    assert lac("apply", "--auto-approve", "a/a.yaml", cwd=tmp_path).code == 0
    assert [r[0] for r in _rows(tmp_path, "SELECT id FROM processes ORDER BY 1")] == \
        ["a0", "a1", "a2", "b0", "b1", "b2"]
    # A file removed from a folder the plan was given is pruned: that folder is in scope.
    (tmp_path / "a" / "a.yaml").unlink()
    (tmp_path / "a" / "one.yaml").write_text("version: 1\nprocesses:\n  - {id: a9, inputs: [pg:db.a.s], "
                                             "outputs: [pg:db.a.t]}\n")
    assert lac("apply", "--auto-approve", "--allow-mass-delete", "a", cwd=tmp_path).code == 0
    assert [r[0] for r in _rows(tmp_path, "SELECT id FROM processes ORDER BY 1")] == ["a9", "b0", "b1", "b2"]


def test_deleting_most_of_a_small_project_needs_the_flag(lac: Any, tmp_path: Path) -> None:
    _two_folders(tmp_path)
    (tmp_path / "lac.yaml").write_text("version: 1\nmanifests: [a/, b/]\n")
    assert lac("apply", "--auto-approve", cwd=tmp_path).code == 0
    (tmp_path / "b" / "b.yaml").write_text("version: 1\nprocesses: []\n")
    (tmp_path / "a" / "a.yaml").write_text("version: 1\nprocesses: []\n")
    plan = lac("plan", cwd=tmp_path)
    assert "apply will refuse this plan without --allow-mass-delete" in plan.out, plan.out
    refused = lac("apply", "--auto-approve", cwd=tmp_path)
    assert refused.code == 1 and "max_delete_fraction (0.5)" in refused.err, refused.err
    assert len(_rows(tmp_path, "SELECT id FROM processes")) == 6
    assert lac("apply", "--auto-approve", "--allow-mass-delete", cwd=tmp_path).code == 0
    assert _rows(tmp_path, "SELECT id FROM processes") == []


def _state(root: Path) -> dict[str, Any]:
    return json.loads((root / ".lac" / "state.json").read_text())


def test_resources_whose_state_write_was_lost_are_readopted_and_pruned_like_a_clean_apply(lac: Any,
                                                                                            tmp_path: Path) -> None:
    _two_folders(tmp_path)
    (tmp_path / "lac.yaml").write_text("version: 1\nmanifests: [a/, b/]\n")
    assert lac("apply", "--auto-approve", cwd=tmp_path).code == 0
    clean = _state(tmp_path)
    # The last state write is lost after the store was written (a SIGKILL, a full disk): state keeps its
    # lineage but forgets two thirds of what it created, placeholders included.
    lost = json.loads(json.dumps(clean))
    entries = lost["targets"]["local"]
    for address in sorted(entries)[::3] + sorted(entries)[1::3]:
        del entries[address]
    lost["serial"] += 1
    (tmp_path / ".lac" / "state.json").write_text(json.dumps(lost))
    plan = lac("plan", "--detailed-exitcode", cwd=tmp_path)
    assert plan.code == 2 and "0 to create, 0 to update, 0 to delete" in plan.out, plan.out
    assert f"{len(clean['targets']['local']) - len(entries)} to adopt" in plan.out
    assert lac("apply", "--auto-approve", cwd=tmp_path).code == 0
    assert _state(tmp_path)["targets"] == clean["targets"]
    # Lost again, then every manifest emptied: what carries this project's marker is pruned all the same.
    (tmp_path / ".lac" / "state.json").write_text(json.dumps({**lost, "serial": _state(tmp_path)["serial"]}))
    for folder in ("a", "b"):
        (tmp_path / folder / f"{folder}.yaml").write_text("version: 1\nprocesses: []\n")
    assert lac("apply", "--auto-approve", "--allow-mass-delete", cwd=tmp_path).code == 0
    assert _rows(tmp_path, "SELECT address FROM processes UNION ALL SELECT address FROM assets") == []


def test_rows_another_project_marked_are_never_touched(lac: Any, tmp_path: Path) -> None:
    _two_folders(tmp_path)
    (tmp_path / "lac.yaml").write_text("version: 1\nmanifests: [a/]\n")
    assert lac("apply", "--auto-approve", cwd=tmp_path).code == 0
    with duckdb.connect(str(tmp_path / ".lac" / "lineage.duckdb")) as db:
        db.execute("UPDATE processes SET managed_by = 'another-project' WHERE id = 'a1'")
        db.execute("INSERT INTO assets (address, key, partial, managed_by) VALUES ('asset.pg:db.z.z', 'z', true, "
                   "'another-project')")
    state = _state(tmp_path)
    del state["targets"]["local"]["process.a1"]
    (tmp_path / ".lac" / "state.json").write_text(json.dumps(state))
    refused = lac("plan", cwd=tmp_path)
    assert refused.code == 1 and "carries another project's ownership marker" in refused.err, refused.err
    (tmp_path / "a" / "a.yaml").write_text("version: 1\nprocesses: []\n")
    assert lac("apply", "--auto-approve", "--allow-mass-delete", cwd=tmp_path).code == 0
    assert _rows(tmp_path, "SELECT id, managed_by FROM processes") == [("a1", "another-project")]
    assert ("asset.pg:db.z.z",) in _rows(tmp_path, "SELECT address FROM assets")


def test_a_lost_state_file_is_rebuilt_from_the_markers(lac: Any, tmp_path: Path) -> None:
    _two_folders(tmp_path)
    (tmp_path / "lac.yaml").write_text("version: 1\nmanifests: [a/, b/]\n")
    assert lac("apply", "--auto-approve", cwd=tmp_path).code == 0
    clean = _state(tmp_path)
    (tmp_path / ".lac" / "state.json").unlink()
    rebuilt = lac("state", "rebuild", cwd=tmp_path)
    assert rebuilt.code == 0 and clean["lineage"] in rebuilt.out, rebuilt.err
    assert _state(tmp_path)["targets"] == clean["targets"]
    again = lac("plan", "--detailed-exitcode", cwd=tmp_path)
    assert again.code == 0 and "no changes" in again.out
    refused = lac("state", "rebuild", cwd=tmp_path)
    assert refused.code == 1 and "rebuild is for a lost state" in refused.err


def test_max_duration_stops_at_a_batch_boundary_and_the_next_apply_resumes(lac: Any, tmp_path: Path) -> None:
    _two_folders(tmp_path)
    (tmp_path / "lac.yaml").write_text("version: 1\nmanifests: [a/, b/]\ndefaults: {batch_size: 2}\n")
    stopped = lac("apply", "--auto-approve", "--max-duration", "0.001s", cwd=tmp_path)
    assert stopped.code == 4 and "Run apply again to resume" in stopped.err, stopped.err
    partial = _rows(tmp_path, "SELECT count(*) FROM processes")[0][0] if (tmp_path / ".lac" / "lineage.duckdb").exists() \
        else 0
    assert partial < 6
    assert lac("apply", "--auto-approve", cwd=tmp_path).code == 0
    assert lac("plan", "--detailed-exitcode", cwd=tmp_path).code == 0
    assert lac("apply", "--max-duration", "soon", cwd=tmp_path).code == 1


@pytest.mark.parametrize("first", ["show", "apply"])
def test_a_saved_plan_reads_alike_for_show_and_for_apply_whichever_comes_first(applied: Path, first: str) -> None:
    """Both readings check the file against the plan schema; compiling one checker must not change the
    schema the other compiles (a reference rewritten in place was once resolved over the network)."""
    script = (
        "import sys\n"
        "from lineage_as_code.plan.planfile import load_plan\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "order = [True, False] if sys.argv[2] == 'show' else [False, True]\n"
        "plans = [load_plan(data, 'plan.json', bodies=b) for b in order]\n"
        "print(sorted(len(t.changes) for p in plans for t in p.targets))\n")
    done = subprocess.run([sys.executable, "-c", script, str(applied / "plan.json"), first],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout)
    assert counts[0] == counts[1] > 0


def test_a_schema_reference_outside_the_schema_is_an_error_never_a_request() -> None:
    from lineage_as_code.manifest.validate import compile_gate

    with pytest.raises(Exception, match="never fetched"):
        compile_gate({"$id": "https://lineage-as-code.dev/schemas/x.json",
                      "properties": {"a": {"$ref": "https://lineage-as-code.dev/schemas/elsewhere.json"}}})
