"""The DataArts Studio target against its emulator: examples, idempotence, splitting, faults, auth."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from lineage_as_code.config import Config
from lineage_as_code.errors import ApplyError, PlanError
from lineage_as_code.model import Asset
from lineage_as_code.project import load_manifests
from lineage_as_code.state import open_state_store
from tests.emulators.base import Faults, serve
from tests.emulators.huawei import DataArtsEmulator
from tests.targets.harness import apply, make_project, plan, write_generated

TOKEN = "dataarts-sentinel-token-5b1e77"
ENV = "LAC_TEST_DATAARTS_TOKEN"
PATH = "/v1/proj-1/lineage/lineage-info"


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(ENV, TOKEN)
    return TOKEN


def dataarts(url: str, **extra: Any) -> dict[str, dict[str, Any]]:
    settings = {"type": "huawei", "base_url": url, "token_env": ENV, "project_id": "proj-1", "workspace": "ws-1",
                "retry_base_delay": 0.01, **extra}
    return {"dataarts": settings}


def _table(a: Asset) -> tuple[str, str, str, str]:
    return (a.platform, a.database, a.schema, a.name)


def _column(a: Asset, column: str) -> tuple[str, str, str, str]:
    return (a.database, a.schema, a.name, column)


def expected_lineage(config: Config) -> tuple[dict[str, set[Any]], dict[str, list[Any]]]:
    """What the manifests say, per process id: table pairs and (sorted) column pairs."""
    lineage = load_manifests(config).lineage
    assets = lineage.assets
    tables = {p.id: {(_table(assets[i]), _table(assets[o])) for i, o in p.edges} for p in lineage.processes}
    columns = {p.id: sorted((_column(assets[s.asset], s.column), _column(assets[m.target.asset], m.target.column))
                            for m in p.columns for s in m.sources) for p in lineage.processes}
    return tables, columns


def assert_holds_manifests(app: DataArtsEmulator, config: Config) -> None:
    tables, columns = expected_lineage(config)
    assert app.table_edges() == tables
    stored = {job: sorted(pairs) for job, pairs in app.column_edges().items()}
    assert stored == columns


def posts(app: DataArtsEmulator) -> int:
    return len(app.requests("POST", PATH))


def test_examples_apply_through_the_cli_and_the_emulator_holds_exactly_the_manifests(tmp_path, lac, token):
    app = DataArtsEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, dataarts(server.url))
        first = lac("apply", "--auto-approve", cwd=tmp_path)
        second = lac("apply", "--auto-approve", cwd=tmp_path)
    assert first.code == 0, first.err
    assert "+ process.build_fct_orders" in first.out and "Apply complete: 4 created" in first.out
    assert_holds_manifests(app, config)
    assert posts(app) == 4 and app.duplicate_writes == 0
    assert second.code == 0 and "No changes." in second.out
    state = open_state_store(str(tmp_path / ".lac" / "state.json")).read().entries("dataarts")
    assert state["process.load_raw_orders"].id.startswith("manual.")


def test_plan_needs_no_token(tmp_path, lac, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    make_project(tmp_path, dataarts("http://127.0.0.1:9"))
    result = lac("plan", cwd=tmp_path)
    assert result.code == 0, result.err
    assert "Target dataarts (huawei, from state only)" in result.out and "4 to create" in result.out


def _three_processes(path: Path, extra_input: bool = False, drop_last: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    procs = [{"id": f"p{i}", "name": f"P{i}", "inputs": [f"hive:db.raw.t{i}"], "outputs": [f"hive:db.mart.m{i}"]}
             for i in range(3)]
    if extra_input:
        procs[1]["inputs"].append("hive:db.raw.extra")
    if drop_last:
        procs.pop()
    path.write_text(yaml.safe_dump({"version": 1, "processes": procs}))
    return path


def test_an_edit_reposts_only_that_node_and_a_removal_sends_nothing(tmp_path, lac, token):
    manifest = _three_processes(tmp_path / "m" / "lineage.yaml")
    app = DataArtsEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, dataarts(server.url), manifests=manifest.parent)
        apply(config)
        _three_processes(manifest, extra_input=True)
        edit = plan(config)
        before = posts(app)
        apply(config)
        assert posts(app) - before == 1 and app.posts[("p1", "p1")] == 2
        assert_holds_manifests(app, config)

        _three_processes(manifest, extra_input=True, drop_last=True)
        before = posts(app)
        shown = lac("plan", cwd=tmp_path)
        removal = lac("apply", "--auto-approve", cwd=tmp_path)
        assert posts(app) == before
    assert [(c.action.value, c.address) for c in edit.changes] == [("update", "process.p1")]
    assert ("Cannot delete on this target (huawei has no delete API); remove these by hand, then run "
            "'lac state rm dataarts ADDRESS...' for each resource:\n    - process.p2\n") in shown.out
    assert "0 to create, 0 to update, 0 to delete, 2 unchanged, 1 skipped" in shown.out
    assert removal.code == 0 and "No changes." in removal.out
    assert ("p2", "p2") in app.nodes  # apply never pretends to delete


def test_an_edge_an_update_stops_declaring_is_listed_for_removal_by_hand_without_a_state_step(tmp_path, lac, token):
    manifest = _three_processes(tmp_path / "m" / "lineage.yaml", extra_input=True)
    app = DataArtsEmulator(TOKEN)
    with serve(app) as server:
        make_project(tmp_path, dataarts(server.url), manifests=manifest.parent)
        assert lac("apply", "--auto-approve", cwd=tmp_path).code == 0
        _three_processes(manifest)
        shown = lac("plan", cwd=tmp_path)
    assert "  ~ process.p1" in shown.out and "      - input: hive:db.raw.extra\n" in shown.out
    assert ("remove these by hand; an edge of a process still declared needs no change in state:\n"
            "    - process.p1: hive:db.raw.extra -> hive:db.mart.m1\n") in shown.out
    assert "lac state rm" not in shown.out


def test_5000_edges_take_one_request_per_process(tmp_path, token):
    manifest = write_generated(tmp_path / "m" / "gen.yaml", processes=2500, inputs=2, outputs=1)
    app = DataArtsEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, dataarts(server.url, max_parallel=8), manifests=manifest)
        _, report = apply(config)
        again = plan(config)
    # Each process is one DataArts job node and every list fits the limits: 2,500 is the floor.
    print(f"\nhuawei: 5,000 edges over 2,500 processes -> {posts(app)} lineage-info POSTs")
    assert posts(app) == 2500 and report.created == 2500
    assert sum(len(pairs) for pairs in app.table_edges().values()) == 5000
    assert not again.has_changes


def test_wide_processes_are_split_into_the_fewest_valid_requests(tmp_path, token):
    manifest = write_generated(tmp_path / "m" / "wide.yaml", processes=10, inputs=250, outputs=2, columns=100)
    app = DataArtsEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, dataarts(server.url), manifests=manifest)
        apply(config)
        again = plan(config)
    minimum = 10 * math.ceil(250 / 100) * math.ceil(2 / 100)
    print(f"\nhuawei: 5,000 edges over 10 processes of 250 inputs -> {posts(app)} POSTs (floor {minimum})")
    assert posts(app) == minimum == 30
    assert sorted(app.nodes)[:3] == [("proc_00000", "proc_00000"), ("proc_00000", "proc_00000#2"),
                                     ("proc_00000", "proc_00000#3")]
    assert_holds_manifests(app, config)
    assert not again.has_changes


def test_more_than_100_column_lineages_go_to_a_further_node(tmp_path, token):
    manifest = write_generated(tmp_path / "m" / "cols.yaml", processes=2, inputs=3, outputs=1, columns=150)
    app = DataArtsEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, dataarts(server.url), manifests=manifest)
        apply(config)
    assert posts(app) == 4
    assert [len(app.nodes[("proc_00000", n)]["table_lineage"]["column_lineages"])
            for n in ("proc_00000", "proc_00000#2")] == [100, 50]
    assert_holds_manifests(app, config)


def test_with_policy_retry_faults_converge_by_re_posting(tmp_path, token):
    manifest = write_generated(tmp_path / "m" / "gen.yaml", processes=120, inputs=3, outputs=2, columns=2)
    faults = Faults(throttle_every=3, retry_after=0.01, error_rate=0.1, drop_after_rate=0.05, seed=3)
    app = DataArtsEmulator(TOKEN, faults=faults)
    with serve(app) as server:
        config = make_project(tmp_path, dataarts(server.url, max_attempts=12, ambiguous_failure="retry"),
                              manifests=manifest)
        _, report = apply(config)
        again = plan(config)
    injected = app.faults_injected
    assert injected.get("429", 0) > 0 and injected.get("503", 0) > 0 and injected.get("drop-after", 0) > 0
    assert report.created == 120 and not again.has_changes
    assert_holds_manifests(app, config)
    # Every processed POST beyond one per node is a retry of a response the network lost, and
    # that retry re-sent the same node, which DataArts replaces: nothing is stored twice.
    assert sum(app.posts.values()) == 120 + injected["drop-after"]
    assert app.duplicate_writes == injected["drop-after"]


def test_a_wrong_token_gives_one_error_naming_the_target_and_variable_and_never_the_token(tmp_path, lac,
                                                                                          monkeypatch):
    monkeypatch.setenv(ENV, "wrong-" + TOKEN)
    app = DataArtsEmulator(TOKEN)
    with serve(app) as server:
        make_project(tmp_path, dataarts(server.url))
        planned = lac("plan", "--out", "plan.json", cwd=tmp_path)
        result = lac("apply", "--auto-approve", cwd=tmp_path)
    assert planned.code == 0 and result.code == 1
    errors = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith("error: target 'dataarts': POST ") and "-> 401" in errors[0]
    assert f"DataArts Studio refused the token in {ENV}" in errors[0]
    assert "APIG.1002" in errors[0]
    state = tmp_path / ".lac" / "state.json"
    seen = planned.out + result.out + result.err + (tmp_path / "plan.json").read_text()
    seen += state.read_text() if state.exists() else ""
    assert TOKEN not in seen


def test_a_vendor_refusal_fails_only_that_node_with_the_error_body_verbatim(tmp_path, token):
    app = DataArtsEmulator(TOKEN)
    app.reject["load_raw_orders"] = (400, "DLG.4001", "Table shop.public.orders is not in any data connection")
    with serve(app) as server:
        config = make_project(tmp_path, dataarts(server.url))
        with pytest.raises(ApplyError) as info:
            apply(config)
        app.reject.clear()
        retry = plan(config)
        apply(config)
    assert ("dataarts: create process.load_raw_orders: DataArts Studio 400 DLG.4001: "
            "Table shop.public.orders is not in any data connection") in str(info.value)
    assert [c.address for c in retry.changes] == ["process.load_raw_orders"]
    assert_holds_manifests(app, config)


def test_settings_shape_the_node_identity_and_catalogs(tmp_path, token):
    app = DataArtsEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, dataarts(server.url, job_id_prefix="lac-", connection_name="dli_prod",
                                                 catalogs={"postgres": "pg_catalog"}))
        apply(config)
    body = app.nodes[("lac-load_raw_orders", "load_raw_orders")]
    assert body["connection_name"] == "dli_prod" and body["workspace_id"] == "ws-1"
    assert body["table_lineage"]["input_tables"] == [
        {"catalog": "pg_catalog", "database": "shop", "schema": "public", "table": "orders"}]
    assert body["table_lineage"]["output_tables"][0]["catalog"] == "snowflake"


def test_modes_other_than_partial_are_refused_at_plan_time(tmp_path):
    config = make_project(tmp_path, {"dataarts": {**dataarts("http://127.0.0.1:9")["dataarts"],
                                                  "input_handling": "UPDATE"}})
    with pytest.raises(PlanError, match="cannot honour input_handling UPDATE: it honours only PARTIAL"):
        plan(config)


def test_missing_project_or_workspace_is_a_clear_config_error(tmp_path, lac):
    targets = dataarts("http://127.0.0.1:9")
    del targets["dataarts"]["workspace"]
    make_project(tmp_path, targets)
    result = lac("plan", cwd=tmp_path)
    assert result.code == 1 and "target 'dataarts': set workspace" in result.err


@pytest.mark.parametrize(("tables", "message"), [(0, "input_tables size must be between 1 and 100, got 0"),
                                                 (101, "input_tables size must be between 1 and 100, got 101")])
def test_the_emulator_enforces_the_documented_limits(tables, message):
    table = {"catalog": "c", "database": "d", "schema": "s", "table": "t"}
    body = {"job_id": "j", "node_name": "n",
            "table_lineage": {"input_tables": [table] * tables, "output_tables": [table]}}
    with serve(DataArtsEmulator(TOKEN)) as server:
        response = httpx.post(server.url + PATH, json=body, headers={"X-Auth-Token": TOKEN, "workspace": "ws-1"})
    assert response.status_code == 400
    assert response.json() == {"error_code": "DLG.0400", "error_msg": message}


def test_ambiguous_failures_are_held_as_uncertain_and_re_sent_only_when_asked(tmp_path, lac, token):
    manifest = write_generated(tmp_path / "m" / "gen.yaml", processes=60, inputs=2, outputs=1, columns=1)
    # Late faults: the write lands, then a 500 or a lost reply; plus 429s, which are safe to retry.
    app = DataArtsEmulator(TOKEN, faults=Faults(throttle_every=4, retry_after=0.01, drop_after_rate=0.1, seed=5),
                           late_error_rate=0.1)
    with serve(app) as server:
        config = make_project(tmp_path, dataarts(server.url, max_attempts=12), manifests=manifest)
        first = lac("apply", "--auto-approve", cwd=tmp_path)
        ambiguous = app.faults_injected.get("late-500", 0) + app.faults_injected.get("drop-after", 0)
        held = {a for a, e in open_state_store(str(tmp_path / ".lac" / "state.json")).read()
                .entries("dataarts").items() if e.uncertain}
        shown = lac("plan", cwd=tmp_path)
        again = lac("apply", "--auto-approve", cwd=tmp_path)
        assert sum(app.posts.values()) == 60  # nothing was sent twice, not even by the second apply
        app.faults, app.late_error_rate = Faults(), 0.0
        retried = lac("apply", "--auto-approve", "--retry-uncertain", cwd=tmp_path)
        after = plan(config)
    assert first.code == 0, first.err
    assert ambiguous > 0 and len(held) == ambiguous
    assert f"{ambiguous} write(s) may or may not have landed" in first.out and "--retry-uncertain" in first.out
    assert f"{ambiguous} write(s) may or may not have landed and are held as uncertain" in shown.out
    assert "0 to create, 0 to update" in shown.out
    assert again.code == 0 and "No changes." in again.out and "held as uncertain" in again.out
    assert retried.code == 0, retried.err
    assert f"0 created, {ambiguous} updated" in retried.out
    assert sum(app.posts.values()) == 60 + ambiguous
    assert_holds_manifests(app, config)
    state = open_state_store(str(tmp_path / ".lac" / "state.json")).read().entries("dataarts")
    assert not [a for a, e in state.items() if e.uncertain]
    assert not after.has_changes and not any("uncertain" in w for w in after.targets[0].warnings)


def test_huawei_declares_hold_and_the_others_their_ambiguous_failure_policy():
    from lineage_as_code.config import parse_config
    from lineage_as_code.plan.contract import AmbiguousFailure
    from lineage_as_code.targets import open_target

    text = yaml.safe_dump({"version": 1, "targets": {
        "dataarts": {"type": "huawei", "region": "cn-north-4", "project_id": "p", "workspace": "w"},
        "alation": {"type": "alation", "base_url": "http://alation.invalid", "datasource_ids": {"snowflake": 1}}}})
    config = parse_config("lac.yaml", text.encode(), Path("."))
    policies = {name: open_target(tc).capabilities.ambiguous_failure for name, tc in config.targets.items()}
    assert policies == {"dataarts": AmbiguousFailure.HOLD, "alation": AmbiguousFailure.RECONCILE}


def test_an_updated_node_lists_the_edges_it_no_longer_declares_as_cannot_delete(tmp_path, lac, token):
    manifest = _three_processes(tmp_path / "m" / "lineage.yaml", extra_input=True)
    app = DataArtsEmulator(TOKEN)
    with serve(app) as server:
        make_project(tmp_path, dataarts(server.url), manifests=manifest.parent)
        assert lac("apply", "--auto-approve", cwd=tmp_path).code == 0
        _three_processes(manifest)  # p1 loses hive:db.raw.extra
        shown = lac("plan", cwd=tmp_path)
    assert "~ process.p1" in shown.out
    assert "Cannot delete on this target" in shown.out
    assert "    - process.p1: hive:db.raw.extra -> hive:db.mart.m1\n" in shown.out


def test_further_nodes_for_column_overflow_carry_one_table_a_side(tmp_path, token):
    manifest = write_generated(tmp_path / "m" / "fan.yaml", processes=1, inputs=100, outputs=2, columns=0)
    doc = yaml.safe_load(manifest.read_text())
    proc = doc["processes"][0]
    # 250 column lineages from every input table into the first output: 3 pieces in one cell.
    proc["columns"] = [{"from": [f"src_{k % 100}.c{k}"], "to": f"out_0_0.c{k}"} for k in range(250)]
    manifest.write_text(yaml.safe_dump(doc, sort_keys=False))
    app = DataArtsEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, dataarts(server.url), manifests=manifest)
        apply(config)
    extra = [body["table_lineage"] for (job, node), body in sorted(app.nodes.items()) if "#" in node]
    assert len(extra) == 2
    assert [(len(t["input_tables"]), len(t["output_tables"]), len(t["column_lineages"])) for t in extra] == [
        (1, 1, 100), (1, 1, 50)]
    assert_holds_manifests(app, config)
