"""The Alation target against the local Alation emulator: what lands in the catalog, how many
requests it takes, and how faults, drift, auth failures and input handling are handled."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from types import MappingProxyType

import pytest

from lineage_as_code.config import InputHandling, Policy, TargetConfig
from lineage_as_code.errors import ApplyError, ConfigError, PlanError
from lineage_as_code.model import Asset, ColumnMapping, ColumnRef, Lineage, Process
from lineage_as_code.targets.alation import AlationTarget
from tests.emulators.alation import AlationEmulator
from tests.emulators.base import Faults, serve
from tests.targets.harness import apply, make_project, plan, write_generated

TOKEN = "alation-sentinel-token-5d1e"
ENV = "ALATION_TEST_TOKEN"
LINEAGE = "/integration/v2/lineage/"
DATAFLOW = "/integration/v2/dataflow/"
SOURCES = {"snowflake/ANALYTICS": 1, "snowflake/FINANCE": 2, "postgres": {"id": 3, "database_in_key": True},
           "looker": 4}


def settings(url: str, **extra: object) -> dict[str, dict[str, object]]:
    return {"alation": {"type": "alation", "base_url": url, "token_env": ENV, "retry_base_delay": 0.01,
                        "poll_interval": 0.01, "datasource_ids": SOURCES, **extra}}


def writes(app: AlationEmulator) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in app.requests() if r.method in ("POST", "DELETE")]


def write_manifest(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


TWO_PROCESSES = """
    version: 1
    defaults: {platform: snowflake, database: ANALYTICS}
    processes:
      - id: p1
        name: P1
        sql: select a, b
        inputs: [raw.a, raw.b]
        outputs: [mart.x]
      - id: p2
        name: P2
        description: copies x to y
        inputs: [mart.x]
        outputs: [mart.y]
"""


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv(ENV, TOKEN)


def test_examples_apply_through_the_cli_stores_exactly_the_manifests(tmp_path, lac):
    app = AlationEmulator(TOKEN)
    with serve(app) as server:
        make_project(tmp_path, settings(server.url))
        result = lac("apply", "--auto-approve", cwd=tmp_path)
    assert result.code == 0, result.err
    assert "Apply complete" in result.out
    assert app.links("table") == {
        ("api/lac/build_fct_orders", "1.raw.orders", "1.marts.fct_orders"),
        ("api/lac/build_fct_orders", "3.shop.public.customers", "1.marts.fct_orders"),
        ("api/lac/load_raw_orders", "3.shop.public.orders", "1.raw.orders"),
        ("api/lac/monthly_revenue_dag", "1.marts.fct_orders", "2.reporting.monthly_revenue"),
        ("api/lac/rpt_revenue", "1.marts.fct_orders", "4.dashboards.revenue"),
    }
    assert app.links("column") == {
        ("api/lac/build_fct_orders", "1.raw.orders.id", "1.marts.fct_orders.order_id"),
        ("api/lac/build_fct_orders", "3.shop.public.customers.discount", "1.marts.fct_orders.net_amount"),
        ("api/lac/build_fct_orders", "1.raw.orders.amount", "1.marts.fct_orders.net_amount"),
        ("api/lac/load_raw_orders", "3.shop.public.orders.id", "1.raw.orders.id"),
        ("api/lac/load_raw_orders", "3.shop.public.orders.amount", "1.raw.orders.amount"),
        ("api/lac/rpt_revenue", "1.marts.fct_orders.net_amount", "4.dashboards.revenue.revenue"),
        ("api/lac/rpt_revenue", "1.marts.fct_orders.order_id", "4.dashboards.revenue.order_count"),
    }
    build = app.dataflows["api/lac/build_fct_orders"]
    assert build["content"].startswith("INSERT INTO marts.fct_orders") and build["title"] == ""
    # title is documented only for the Dataflow API: Lineage V2 requests carry none unless asked
    assert not [o for _, body in app.bodies for o in body["dataflow_objects"] if "title" in o]
    assert app.dataflows["api/lac/load_raw_orders"]["content"].startswith("Copies orders from the shop")
    assert writes(app) == [("POST", LINEAGE)]


def test_reapply_writes_nothing_and_edits_send_exactly_the_matching_requests(tmp_path):
    manifest = write_manifest(tmp_path / "m" / "lineage.yaml", TWO_PROCESSES)
    app = AlationEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, settings(server.url), manifests=manifest)
        apply(config)
        first = len(writes(app))
        again, report = apply(config)
        assert report is None and not again.has_changes and len(writes(app)) == first

        write_manifest(manifest, TWO_PROCESSES.replace("inputs: [raw.a, raw.b]", "inputs: [raw.a]")
                       .replace("select a, b", "select a"))
        edited, _ = apply(config)
        assert [(c.action.value, c.address) for c in edited.changes] == [("update", "process.p1")]
        assert writes(app)[first:] == [("POST", DATAFLOW)]  # replaced whole: its old path went with it
        assert app.deleted_edges == []
        assert app.links() == {("api/lac/p1", "1.raw.a", "1.mart.x"), ("api/lac/p2", "1.mart.x", "1.mart.y")}
        assert app.dataflows["api/lac/p1"]["content"] == "select a"

        edited_count = len(writes(app))
        text = manifest.read_text()
        write_manifest(manifest, text[:text.index("  - id: p2")])
        removed, _ = apply(config)
    assert ("delete", "process.p2") in [(c.action.value, c.address) for c in removed.changes]
    assert writes(app)[edited_count:] == [("DELETE", DATAFLOW)]
    assert "api/lac/p2" not in app.dataflows and app.links() == {("api/lac/p1", "1.raw.a", "1.mart.x")}


def test_an_edge_another_process_shares_is_re_added_after_its_delete(tmp_path):
    shared = TWO_PROCESSES + """
      - id: p3
        name: P3
        inputs: [raw.b]
        outputs: [mart.x]
    """
    manifest = write_manifest(tmp_path / "m" / "lineage.yaml", shared)
    app = AlationEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, settings(server.url, delete_with="edges"), manifests=manifest)
        apply(config)
        before = len(writes(app))
        write_manifest(manifest, shared.replace("inputs: [raw.a, raw.b]", "inputs: [raw.a]"))
        apply(config)
        assert writes(app)[before:] == [("POST", DATAFLOW)]  # a replace touches no other dataflow's edge
        assert ("api/lac/p3", "1.raw.b", "1.mart.x") in app.links()
        assert ("api/lac/p1", "1.raw.b", "1.mart.x") not in app.links()
        assert not plan(config).has_changes  # converged: nothing left to repair
        before = len(writes(app))
        text = manifest.read_text()
        p2 = text[text.index("  - id: p2"):text.index("  - id: p3")]
        manifest.write_text(text.replace(p2, ""))
        apply(config)
    assert writes(app)[before:] == [("DELETE", LINEAGE)]  # delete_with: edges deletes p2's one edge
    assert app.deleted_edges[-1] == ("1.mart.x", "1.mart.y")
    assert not {link for link in app.links() if link[0] == "api/lac/p2"}


def test_5000_edges_take_the_fewest_requests_the_batch_limit_allows(tmp_path):
    manifest = write_generated(tmp_path / "gen" / "lineage.yaml", processes=2500, inputs=2, outputs=1)
    app = AlationEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, settings(server.url, datasource_ids={"snowflake": 1}), manifests=manifest)
        apply(config)
    posts = app.requests("POST", LINEAGE)
    polls = app.requests("GET", "/api/v1/bulk_metadata/job/")
    listings = app.requests("GET", "/integration/v2/table/")
    print(f"\nalation 5000 edges / 2500 dataflows: {len(posts)} POST lineage, {len(polls)} job polls, "
          f"{len(listings)} table listings, {len(app.requests())} requests in all")
    assert len(app.links()) == 5000
    assert len(posts) == 25  # ceil(2500 paths / 100 per request), Alation's recommendation
    assert max(len(body["paths"]) for _, body in app.bodies) == 100
    assert len(polls) == 50  # each job is still running on its first poll
    assert len(listings) == 0  # PARTIAL: Alation resolves keys itself, nothing is looked up
    assert len(app.requests()) == 75


def test_faults_end_in_exactly_the_desired_lineage_without_duplicates(tmp_path):
    manifest = write_generated(tmp_path / "gen" / "lineage.yaml", processes=40, inputs=2, outputs=1)
    faults = Faults(throttle_every=3, retry_after=0.01, error_rate=0.1, drop_after_rate=0.1, seed=7)
    app = AlationEmulator(TOKEN, faults)
    extra = {"datasource_ids": {"snowflake": 1}, "max_dataflows_per_request": 4, "max_attempts": 10, "timeout": 2}
    with serve(app) as server:
        config = make_project(tmp_path, settings(server.url, **extra), manifests=manifest)
        apply(config)
        write_generated(manifest, processes=30, inputs=1, outputs=1)
        apply(config)
        again, report = apply(config)
    expected = {(f"api/lac/proc_{i:05d}", f"1.raw.src_{i % 40}", f"1.mart.out_{i}_0") for i in range(30)}
    assert app.links() == expected and set(app.dataflows) == {e[0] for e in expected}
    assert report is None and not again.has_changes
    assert app.duplicates == 0
    assert {"429", "503", "drop-after"} <= set(app.faults_injected)


def test_a_wrong_token_is_one_clear_error_that_never_shows_the_token(tmp_path, lac, monkeypatch):
    monkeypatch.setenv(ENV, "wrong-token-value-9f3a")
    app = AlationEmulator(TOKEN)
    with serve(app) as server:
        make_project(tmp_path, settings(server.url))
        planned = lac("plan", cwd=tmp_path)
        sent_by_plan = len(app.requests())
        applied = lac("apply", "--auto-approve", cwd=tmp_path)
    assert planned.code == 0 and sent_by_plan == 0  # a PARTIAL plan of new lineage sends nothing
    # The 401 on the first lineage POST stops the run: one error, not one per process.
    assert applied.code == 1
    assert applied.err.count("error:") == 1 and "created" not in applied.out + applied.err
    assert "target 'alation'" in applied.err and ENV in applied.err and "-> 401" in applied.err
    assert "wrong-token-value-9f3a" not in applied.out + applied.err
    assert len(app.requests("POST", LINEAGE)) == 1
    state = tmp_path / ".lac" / "state.json"
    assert not state.exists() or "wrong-token-value-9f3a" not in state.read_text()
    assert app.dataflows == {}


def test_a_refresh_token_is_exchanged_once_for_an_access_token(tmp_path, monkeypatch, lac):
    monkeypatch.setenv("ALATION_REFRESH", "refresh-sentinel-77")
    app = AlationEmulator(TOKEN, refresh_token="refresh-sentinel-77", user_id=7)
    with serve(app) as server:
        target = settings(server.url, refresh_token_env="ALATION_REFRESH", user_id=7)
        del target["alation"]["token_env"]
        make_project(tmp_path, target)
        assert lac("apply", "--auto-approve", cwd=tmp_path).code == 0
        assert app.tokens_created == 1 and len(app.dataflows) == 4
        monkeypatch.setenv("ALATION_REFRESH", "stale-refresh-token")
        stale = lac("plan", cwd=tmp_path)
    assert stale.code == 1 and "ALATION_REFRESH" in stale.err and "user_id 7" in stale.err
    assert "stale-refresh-token" not in stale.err


def test_update_mode_looks_tables_up_page_by_page_and_skips_what_is_missing(tmp_path):
    manifest = write_manifest(tmp_path / "m" / "lineage.yaml", TWO_PROCESSES)
    app = AlationEmulator(TOKEN, page_cap=2)
    for key in ("1.raw.a", "1.raw.b", "1.raw.c", "1.mart.x"):
        app.add_table(key)
    with serve(app) as server:
        config = make_project(tmp_path, settings(server.url, input_handling="UPDATE", fail_on_errors=False),
                              manifests=manifest)
        planned, _ = apply(config)
        strict = make_project(tmp_path, settings(server.url, input_handling="UPDATE"), manifests=manifest)
        with pytest.raises(PlanError, match=r"process.p2.*asset.snowflake:ANALYTICS.mart.y not found"):
            plan(strict)
    alation = planned.targets[0]
    assert [c.address for c in alation.changes] == ["process.p1"]  # no asset is created in UPDATE mode
    assert [s.address for s in alation.skipped] == ["process.p2"]
    assert app.links() == {("api/lac/p1", "1.raw.a", "1.mart.x"), ("api/lac/p1", "1.raw.b", "1.mart.x")}
    listings = app.requests("GET", "/integration/v2/table/")
    assert len(listings) == 2 + 1 + 3  # apply: raw in two pages, mart in one; then the strict plan again


def test_upsert_is_refused_at_plan_time(tmp_path):
    app = AlationEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, settings(server.url, input_handling="UPSERT"))
        with pytest.raises(PlanError, match="cannot honour input_handling UPSERT: it honours only PARTIAL, UPDATE"):
            plan(config)


def test_per_object_job_errors_fail_only_their_processes(tmp_path):
    app = AlationEmulator(TOKEN)
    app.deleted_datasources.add("3")
    with serve(app) as server:
        config = make_project(tmp_path, settings(server.url))
        with pytest.raises(ApplyError) as info:
            apply(config)
    message = str(info.value)
    assert "process.build_fct_orders: Alation: Upload to deleted data source 3" in message
    assert "process.load_raw_orders" in message and "2 change(s) failed" in message
    assert set(app.dataflows) == {"api/lac/monthly_revenue_dag", "api/lac/rpt_revenue"}
    state = json.loads((tmp_path / ".lac" / "state.json").read_text())["targets"]["alation"]
    assert "process.rpt_revenue" in state and "process.build_fct_orders" not in state


def test_changes_made_in_alation_show_as_drift_and_are_repaired(tmp_path):
    manifest = write_manifest(tmp_path / "m" / "lineage.yaml", TWO_PROCESSES)
    app = AlationEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, settings(server.url), manifests=manifest)
        apply(config)
        held = app.dataflows["api/lac/p1"]
        held["links"] = {pair for pair in held["links"] if pair[0][1] != "1.raw.b"}
        app.dataflows["api/lac/p2"]["content"] = "edited by hand"
        drift = plan(config)
        apply(config)
        settled = plan(config)
    assert [(c.action.value, c.address, c.reason) for c in drift.changes] == [
        ("update", "process.p1", "changed in the target since the last apply"),
        ("update", "process.p2", "changed in the target since the last apply")]
    assert ("api/lac/p1", "1.raw.b", "1.mart.x") in app.links()
    assert app.dataflows["api/lac/p2"]["content"] == "copies x to y"
    assert not settled.has_changes


def _config(**settings: object) -> TargetConfig:
    return TargetConfig("cat", "alation", MappingProxyType(settings), Policy(InputHandling.PARTIAL))


def test_keys_follow_datasource_ids_and_per_asset_overrides():
    sqlserver = Asset("sqlserver", "sales", "dbo", "orders")
    dotted = Asset("snowflake", "ANALYTICS", "raw", "orders.v2")
    report = Asset("tableau", "", "site", "revenue", type="dashboard", ids=(("alation", "bi_report:5.bi_report.42"),))
    override = Asset("snowflake", "OTHER", "s", "t", ids=(("cat", "11.s.t"),))
    proc = Process("p", "P", (sqlserver, dotted, override), (report,), sql="select 1", ids=(("alation", "jobs/p"),),
                   columns=(ColumnMapping((ColumnRef(sqlserver.key, "id"),), ColumnRef(report.key, "n")),))
    target = AlationTarget(_config(datasource_ids={"sqlserver": 8, "snowflake/analytics": 1}, send_title=False))
    resources = {r.address: r for r in target.translate(Lineage.build([proc]))}
    keys = {r.body["name"]: (r.body["otype"], r.body["alation_key"]) for r in resources.values() if r.kind == "asset"}
    assert keys == {"orders": ("table", "8.sales.dbo.orders"), "orders.v2": ("table", '1.raw."orders.v2"'),
                    "revenue": ("bi_report", "5.bi_report.42"), "t": ("table", "11.s.t")}
    body = resources["process.p"].body
    assert body["dataflow_object"] == {"external_id": "api/jobs/p", "content": "select 1"}
    assert len(body["paths"]) == 1  # a BI report's columns are not keyed from the table: no column path
    with pytest.raises(ConfigError, match=r"no datasource_ids entry for snowflake/OTHER or snowflake"):
        AlationTarget(_config(datasource_ids={"snowflake/analytics": 1})).translate(Lineage.build([Process("q", "Q", (dotted,), (
            Asset("snowflake", "OTHER", "s", "u"),))]))


WITH_COLUMNS = """
    version: 1
    defaults: {platform: snowflake, database: ANALYTICS}
    processes:
      - id: stage_orders
        name: Stage orders
        inputs: [raw.orders, raw.customers]
        outputs: [{ref: mart.stage, alias: s}]
        columns:
          - {from: [orders.id], to: s.id}
          - {from: [customers.name], to: s.customer}
"""


def test_a_process_losing_an_input_loses_its_column_paths_too_and_stops_drifting(tmp_path, lac):
    manifest = write_manifest(tmp_path / "m" / "lineage.yaml", WITH_COLUMNS)
    app = AlationEmulator(TOKEN)
    with serve(app) as server:
        make_project(tmp_path, settings(server.url), manifests=manifest.parent)
        assert lac("apply", "--auto-approve", cwd=tmp_path).code == 0
        write_manifest(manifest, WITH_COLUMNS.replace("inputs: [raw.orders, raw.customers]", "inputs: [raw.orders]")
                       .replace("          - {from: [customers.name], to: s.customer}\n", ""))
        edited = lac("apply", "--auto-approve", cwd=tmp_path)
        again = lac("plan", "--detailed-exitcode", cwd=tmp_path)
    assert edited.code == 0, edited.err
    assert app.links("table") == {("api/lac/stage_orders", "1.raw.orders", "1.mart.stage")}
    assert app.links("column") == {("api/lac/stage_orders", "1.raw.orders.id", "1.mart.stage.id")}
    assert again.code == 0 and "changed in the target" not in again.out


def test_an_edge_deleted_in_another_spelling_is_restored_too(tmp_path):
    manifest = write_manifest(tmp_path / "m" / "lineage.yaml", TWO_PROCESSES + """
      - id: p3
        name: P3
        inputs: [RAW.B]
        outputs: [MART.X]
    """)
    app = AlationEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, settings(server.url, delete_with="edges"), manifests=manifest)
        apply(config)
        text = manifest.read_text()
        manifest.write_text(text.replace(text[text.index("  - id: p1"):text.index("  - id: p2")], ""))
        apply(config)
        settled = plan(config)
    # Alation matched 1.raw.b -> 1.mart.x case-insensitively and took p3's 1.RAW.B -> 1.MART.X with it.
    assert ("1.raw.b", "1.mart.x") in app.deleted_edges
    assert ("api/lac/p3", "1.RAW.B", "1.MART.X") in app.links()
    assert not settled.has_changes


def test_update_mode_resolves_columns_and_leaves_out_paths_to_missing_ones(tmp_path):
    manifest = write_manifest(tmp_path / "m" / "lineage.yaml", WITH_COLUMNS)
    app = AlationEmulator(TOKEN)
    for key in ("1.raw.orders.id", "1.raw.customers.id", "1.mart.stage.id", "1.mart.stage.customer"):
        app.add_column(key)
    with serve(app) as server:
        config = make_project(tmp_path, settings(server.url, input_handling="UPDATE"), manifests=manifest)
        planned, _ = apply(config)
    assert any("1 column(s) not found in Alation" in w and "1.raw.customers.name" in w
               for w in planned.targets[0].warnings)
    assert app.links("column") == {("api/lac/stage_orders", "1.raw.orders.id", "1.mart.stage.id")}
    assert not app.temporary  # no TMP object was made for the missing column
    assert len(app.requests("GET", "/integration/v2/column/")) == 2  # one per (data source, schema)


def test_partial_plans_list_nothing_and_requests_hold_at_most_100_paths_by_default(tmp_path):
    manifest = write_generated(tmp_path / "gen" / "lineage.yaml", processes=16, inputs=2, outputs=1, columns=10)
    app = AlationEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, settings(server.url, datasource_ids={"snowflake": 1}), manifests=manifest)
        apply(config)
        again = plan(config)
        wider = make_project(tmp_path, settings(server.url, datasource_ids={"snowflake": 1},
                                                max_paths_per_request=1000), manifests=manifest)
        planned_wider = plan(wider)
    assert not app.requests("GET", "/integration/v2/table/") and not again.has_changes
    sizes = [len(body["paths"]) for _, body in app.bodies]
    assert sizes == [99, 77]  # 16 dataflows x 11 paths, cut at dataflow boundaries under 100
    assert not planned_wider.has_changes


def test_a_mode_the_target_cannot_honour_is_refused_before_any_request(tmp_path, lac):
    app = AlationEmulator(TOKEN)
    with serve(app) as server:
        make_project(tmp_path, settings(server.url, input_handling="UPSERT"))
        result = lac("plan", cwd=tmp_path)
    assert result.code == 1 and "cannot honour input_handling UPSERT" in result.err
    assert app.log == []
