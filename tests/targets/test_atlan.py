"""The Atlan target against the metastore emulator: what lands, what a re-run sends, limits, faults, auth."""

from __future__ import annotations

import json
import math
import shutil
from typing import Any

import pytest
import yaml

from lineage_as_code.errors import ConfigError, PlanError
from lineage_as_code.plan.model import Action
from lineage_as_code.state import LockInfo, State, open_state_store
from lineage_as_code.workflow import PlanRequest, apply_project
from tests.emulators.atlan import BULK, SEARCH, AtlanEmulator
from tests.emulators.base import Faults, serve
from tests.targets.harness import FIXTURE_MANIFESTS, apply, make_project, plan, write_generated

TOKEN = "atlan-sentinel-token-5f1c"
ENV = "LAC_TEST_ATLAN_TOKEN"
SF, PG, LK, AF = "default/snowflake/1657025257", "default/postgres/1700000001", "default/looker/1700000002", \
    "default/airflow/1700000003"
CONNECTIONS = {"snowflake": SF, "snowflake/production": SF, "postgres": PG, "looker": LK, "airflow/etl": AF}


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv(ENV, TOKEN)


def atlan(url: str, **settings: Any) -> dict[str, dict[str, Any]]:
    return {"atlan": {"type": "atlan", "base_url": url, "token_env": ENV, "retry_base_delay": 0.01,
                      "rate_limit_per_minute": 1_000_000, "connections": CONNECTIONS, **settings}}


class MemoryStore:
    """State kept in memory: the 5,000-edge test measures requests, not 376 rewrites of a state file."""

    location = "memory"

    def __init__(self) -> None:
        self.state = State()

    def read(self) -> State:
        return self.state

    def write(self, state: State, expected_serial: int) -> None:
        assert self.state.serial == expected_serial
        self.state = state

    def lock(self, operation: str) -> LockInfo:
        return LockInfo("memory", operation, "test", "")

    def unlock(self, lock: LockInfo) -> None:
        return None

    def force_unlock(self, lock_id: str) -> None:
        return None


def writes(app: AtlanEmulator) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in app.requests() if r.path == BULK]


def test_examples_land_in_atlan_exactly_as_the_manifests_say(tmp_path, lac):
    app = AtlanEmulator(TOKEN)
    with serve(app) as server:
        make_project(tmp_path, atlan(server.url))
        result = lac("apply", "--auto-approve", cwd=tmp_path)
    assert result.code == 0, result.err
    assert "Apply complete: 25 created, 0 updated, 0 deleted." in result.out
    assert app.lineage() == {
        f"{SF}/load_raw_orders": ([f"{PG}/shop/public/orders"], [f"{SF}/ANALYTICS/raw/orders"]),
        f"{SF}/build_fct_orders": ([f"{PG}/shop/public/customers", f"{SF}/ANALYTICS/raw/orders"],
                                   [f"{SF}/ANALYTICS/marts/fct_orders"]),
        f"{LK}/rpt_revenue": ([f"{SF}/ANALYTICS/marts/fct_orders"], [f"{LK}/sales/dashboards/revenue"]),
        f"{AF}/monthly_revenue_dag": ([f"{SF}/ANALYTICS/marts/fct_orders"], [f"{SF}/FINANCE/reporting/monthly_revenue"]),
    }
    columns = app.lineage("ColumnProcess")
    assert len(columns) == 6
    assert columns[f"{SF}/build_fct_orders/column/net_amount"] == (
        [f"{PG}/shop/public/customers/discount", f"{SF}/ANALYTICS/raw/orders/amount"],
        [f"{SF}/ANALYTICS/marts/fct_orders/net_amount"])
    net = app.of_type("ColumnProcess")[f"{SF}/build_fct_orders/column/net_amount"]
    assert app.qn_of(net["refs"]["process"][0]) == f"{SF}/build_fct_orders"
    assert net["attributes"]["code"] == "amount * (1 - discount)"
    dag = app.of_type("Process")[f"{AF}/monthly_revenue_dag"]["attributes"]
    assert (dag["connectorName"], dag["connectionQualifiedName"], dag["name"]) == (
        "airflow", AF, "fct_orders > monthly_revenue")
    assert json.loads(dag["additionalEtlContext"]) == {"pipeline": "finance-monthly"}
    build = app.of_type("Process")[f"{SF}/build_fct_orders"]["attributes"]
    assert build["sql"].startswith("INSERT INTO marts.fct_orders") and build["connectorName"] == "snowflake"
    tables = app.of_type("Table")
    assert len(tables) == 6 and all(t["attributes"]["isPartial"] is True for t in tables.values())
    assert max(app.bulk_sizes) <= 20 and app.duplicate_entities() == 0
    assert TOKEN not in (tmp_path / ".lac" / "state.json").read_text() + result.out + result.err


def test_a_rerun_writes_nothing_and_edits_send_only_the_matching_requests(tmp_path):
    manifests = tmp_path / "manifests"
    shutil.copytree(FIXTURE_MANIFESTS, manifests)
    app = AtlanEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, atlan(server.url), manifests)
        apply(config)
        before = len(writes(app))
        again, report = apply(config)
        assert report is None and not again.has_changes and len(writes(app)) == before

        orders = manifests / "orders.yaml"
        orders.write_text(orders.read_text().replace("Daily orders mart", "Orders mart, rebuilt nightly"))
        edited = plan(config)
        assert [(c.action, c.address) for c in edited.changes] == [
            (Action.UPDATE, f"process.{SF}/build_fct_orders")]
        apply(config)
        assert writes(app)[before:] == [("POST", BULK)] and app.bulk_sizes[-1] == 1
        assert app.of_type("Process")[f"{SF}/build_fct_orders"]["attributes"]["description"] == \
            "Orders mart, rebuilt nightly"

        state = open_state_store(config.state_path).read().entries("atlan")
        (manifests / "reporting.csv").unlink()
        removed = plan(config)
        gone = {c.address for c in removed.changes}
        assert all(c.action is Action.DELETE for c in removed.changes)
        assert gone == {f"process.{LK}/rpt_revenue", f"column_process.{LK}/rpt_revenue/column/revenue",
                        f"column_process.{LK}/rpt_revenue/column/order_count",
                        f"asset.{LK}/sales/dashboards/revenue", f"asset.{LK}/sales/dashboards/revenue/revenue",
                        f"asset.{LK}/sales/dashboards/revenue/order_count"}
        mark = len(writes(app))
        apply(config)
    # one DELETE per kind, column processes first, assets last
    assert writes(app)[mark:] == [("DELETE", BULK)] * 3
    assert sorted(app.deleted_guids) == sorted(state[a].id for a in gone)
    assert set(app.lineage()) == {f"{SF}/load_raw_orders", f"{SF}/build_fct_orders", f"{AF}/monthly_revenue_dag"}
    assert len(app.lineage("ColumnProcess")) == 4


def test_5000_edges_take_the_fewest_requests_batch_size_allows(tmp_path):
    manifest = write_generated(tmp_path / "big" / "lineage.yaml", processes=2500, inputs=2, outputs=1)
    app = AtlanEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, atlan(server.url, max_parallel=8), manifest)
        store = MemoryStore()
        _, report = apply_project(config, PlanRequest(), store=store)
        searches = len(app.requests("POST", SEARCH))
        again, _ = apply_project(config, PlanRequest(), store=store)
        refresh_searches = len(app.requests("POST", SEARCH)) - searches
    assets = 2501 + 2500  # src_0..src_2500 and one output per process
    expected_writes = math.ceil(assets / 20) + math.ceil(2500 / 20)
    print(f"\natlan 5,000 edges: {len(writes(app))} bulk writes (expected {expected_writes}), {searches} searches; "
          f"re-plan with refresh: {refresh_searches} searches, no writes")
    assert report.created == assets + 2500
    assert len(writes(app)) == expected_writes == 376
    assert searches == math.ceil(assets / 100)  # one page per 100 looked-up qualifiedNames
    assert not again.has_changes and refresh_searches == math.ceil(assets / 100) + math.ceil(2500 / 100)
    assert len(app.lineage()) == 2500 and app.duplicate_entities() == 0


def test_the_policy_batch_size_sizes_batches_not_requests_and_the_estimate_counts_them(tmp_path):
    # batch_size is the engine's batch; Atlan's request stays entities_per_request (20), so a batch of
    # 50 is three parallel requests, not one request of 50.
    manifest = write_generated(tmp_path / "m" / "lineage.yaml", processes=120, inputs=2, outputs=1, columns=1)
    app = AtlanEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, atlan(server.url, batch_size=50), manifest)
        planned = plan(config).targets[0]
        apply(config)
    sizes = app.bulk_sizes
    assert max(sizes) == 20 and sizes.count(10) >= 1  # 50 = 20 + 20 + 10
    assert planned.requests == len(sizes) == len(app.requests("POST", BULK))


def test_throttling_server_errors_and_dropped_replies_converge_without_duplicates(tmp_path):
    manifest = write_generated(tmp_path / "m" / "lineage.yaml", processes=120, inputs=2, outputs=1, columns=1)
    faults = Faults(throttle_every=3, retry_after=0.01, error_rate=0.1, drop_after_rate=0.05, seed=7)
    app = AtlanEmulator(TOKEN, faults)
    with serve(app) as server:
        config = make_project(tmp_path, atlan(server.url, max_attempts=12, timeout=5), manifest)
        apply(config)
        app.faults = Faults()
        assert not plan(config).has_changes
    print(f"\natlan faults: {app.faults_injected}, {app.noop_writes} resent bulk write(s), "
          f"{len(app.log)} requests in all")
    assert app.faults_injected["429"] > 0 and app.faults_injected["503"] > 0 and app.faults_injected["drop-after"] > 0
    assert app.duplicate_entities() == 0
    assert 0 < app.noop_writes <= app.faults_injected["drop-after"]  # resent after a lost reply, changed nothing
    lineage = app.lineage()
    assert len(lineage) == 120 and len(app.lineage("ColumnProcess")) == 120
    assert lineage[f"{SF}/proc_00007"] == ([f"{SF}/db/raw/src_7", f"{SF}/db/raw/src_8"], [f"{SF}/db/mart/out_7_0"])
    state = open_state_store(config.state_path).read().entries("atlan")
    assert state[f"process.{SF}/proc_00007"].id == app.of_type("Process")[f"{SF}/proc_00007"]["guid"]


def test_a_wrong_token_gives_one_error_naming_the_target_and_variable(tmp_path, lac, monkeypatch):
    monkeypatch.setenv(ENV, "wrong-token-value-9d2e")
    app = AtlanEmulator(TOKEN)
    with serve(app) as server:
        make_project(tmp_path, atlan(server.url))
        result = lac("apply", "--auto-approve", cwd=tmp_path)
        planned = lac("plan", "--out", "plan.json", cwd=tmp_path)
    assert result.code == 1 and planned.code == 1
    errors = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, errors
    assert "target 'atlan'" in errors[0] and f"POST {SEARCH} -> 401" in errors[0] and ENV in errors[0]
    files = "".join(p.read_bytes().decode("utf-8", "replace") for p in tmp_path.rglob("*") if p.is_file())
    for secret in ("wrong-token-value-9d2e", TOKEN):
        assert secret not in result.out + result.err + planned.out + planned.err + files
    assert not writes(app)


def _seed_generated(app: AtlanEmulator, processes: int, missing: set[str]) -> None:
    for i in range(processes + 1):
        if f"src_{i}" not in missing:
            app.add("Table", f"{SF}/db/raw/src_{i}")
    for i in range(processes):
        if f"out_{i}_0" not in missing:
            app.add("Table", f"{SF}/db/mart/out_{i}_0")


@pytest.mark.parametrize("fail", [False, True])
def test_update_mode_skips_or_refuses_rows_whose_assets_atlan_lacks(tmp_path, lac, fail):
    manifest = write_generated(tmp_path / "m" / "lineage.yaml", processes=10, inputs=1, outputs=1)
    app = AtlanEmulator(TOKEN)
    _seed_generated(app, 10, {"src_2", "src_5", "out_7_0"})
    with serve(app) as server:
        make_project(tmp_path, atlan(server.url, input_handling="UPDATE", fail_on_errors=fail), manifest)
        planned = lac("plan", cwd=tmp_path)
        applied = lac("apply", "--auto-approve", cwd=tmp_path)
    said = [line.strip() for line in planned.out.splitlines() if line.strip().startswith("!")]
    if fail:
        assert planned.code == applied.code == 1 and not writes(app)
        assert "3 resource(s) reference assets the target lacks" in planned.err
        for n in ("00002", "00005", "00007"):
            assert f"process.{SF}/proc_{n}: skipped: asset.{SF}/db/" in planned.err
        return
    assert planned.code == applied.code == 0
    assert [line.split(":", 1)[0] for line in said] == [f"! process.{SF}/proc_{n}" for n in ("00002", "00005", "00007")]
    assert f"asset.{SF}/db/mart/out_7_0 not found in atlan (UPDATE mode creates no assets)" in said[2]
    assert "Apply complete: 7 created" in applied.out
    assert sorted(app.lineage()) == [f"{SF}/proc_{n:05d}" for n in range(10) if n not in (2, 5, 7)]
    assert len(app.of_type("Table")) == 18  # nothing created


@pytest.mark.parametrize("case_sensitive", [True, False])
def test_case_insensitive_matching_links_to_the_catalogs_spelling(tmp_path, case_sensitive):
    manifest = write_generated(tmp_path / "m" / "lineage.yaml", processes=2, inputs=1, outputs=1)
    app = AtlanEmulator(TOKEN)
    _seed_generated(app, 2, {"src_1"})
    app.add("View", f"{SF}/DB/RAW/SRC_1")
    with serve(app) as server:
        config = make_project(tmp_path, atlan(server.url, input_handling="UPDATE", fail_on_errors=False,
                                              case_sensitive_match=case_sensitive), manifest)
        skipped = [s.address for t in plan(config).targets for s in t.skipped]
        apply(config)
        rerun = plan(config)
    if case_sensitive:
        assert skipped == [f"process.{SF}/proc_00001"] and sorted(app.lineage()) == [f"{SF}/proc_00000"]
        return
    assert skipped == [] and not rerun.has_changes
    assert app.lineage()[f"{SF}/proc_00001"] == ([f"{SF}/DB/RAW/SRC_1"], [f"{SF}/db/mart/out_1_0"])


@pytest.mark.parametrize(("mode", "partial"), [("UPSERT", False), ("PARTIAL", True)])
def test_missing_assets_are_created_full_or_partial(tmp_path, mode, partial):
    manifest = write_generated(tmp_path / "m" / "lineage.yaml", processes=3, inputs=1, outputs=1)
    app = AtlanEmulator(TOKEN)
    with serve(app) as server:
        apply(make_project(tmp_path, atlan(server.url, input_handling=mode), manifest))
    tables = app.of_type("Table")
    assert len(tables) == 6 and {t["attributes"]["isPartial"] for t in tables.values()} == {partial}
    assert tables[f"{SF}/db/raw/src_0"]["attributes"]["connectionQualifiedName"] == SF


def test_a_saved_plan_the_catalog_moved_past_is_refused_and_drift_is_planned_back(tmp_path, lac):
    manifest = write_generated(tmp_path / "m" / "lineage.yaml", processes=4, inputs=1, outputs=1)
    app = AtlanEmulator(TOKEN)
    _seed_generated(app, 4, set())
    with serve(app) as server:
        config = make_project(tmp_path, atlan(server.url, input_handling="UPDATE", fail_on_errors=False,
                                              process_connection=AF), manifest)
        assert lac("plan", "--out", "plan.json", cwd=tmp_path).code == 0
        gone = app.active.pop(("Table", f"{SF}/db/raw/src_2"))  # removed in Atlan between plan and apply
        app.entities[gone]["status"] = "DELETED"
        result = lac("apply", "--auto-approve", "plan.json", cwd=tmp_path)
        # The reviewed plan creates proc_00002, which apply now could not: refused before any write.
        assert result.code == 3, result.err
        assert f"create process.{AF}/proc_00002 is in the plan but would not happen" in result.err
        assert app.lineage() == {} and app.bulk_sizes == []
        assert lac("apply", "--auto-approve", cwd=tmp_path).code == 0
        assert sorted(app.lineage()) == [f"{AF}/proc_00000", f"{AF}/proc_00001", f"{AF}/proc_00003"]

        app.of_type("Process")[f"{AF}/proc_00001"]["attributes"]["name"] = "renamed in the UI"
        drift = plan(config)
    assert [(c.action, c.address, c.reason) for c in drift.changes] == [
        (Action.UPDATE, f"process.{AF}/proc_00001", "changed in the target since the last apply")]
    assert [s.address for t in drift.targets for s in t.skipped] == [f"process.{AF}/proc_00002"]


def test_unmapped_connections_are_named_before_any_request(tmp_path):
    app = AtlanEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, atlan(server.url, connections={"snowflake": SF}))
        with pytest.raises(ConfigError) as info:
            plan(config)
    message = str(info.value)
    for key in ("postgres", "looker", "airflow/etl"):
        assert f"  {key}: first used at" in message
    assert "connections" in message and not app.log


def test_update_mode_with_fail_on_errors_is_a_plan_error(tmp_path):
    manifest = write_generated(tmp_path / "m" / "lineage.yaml", processes=1, inputs=1, outputs=1)
    with serve(AtlanEmulator(TOKEN)) as server:
        config = make_project(tmp_path, atlan(server.url, input_handling="UPDATE"), manifest)
        with pytest.raises(PlanError, match="fail_on_errors true"):
            plan(config)


def test_requests_are_spaced_at_atlans_documented_400_a_minute_by_default(tmp_path, monkeypatch):
    from lineage_as_code.config import parse_config
    from lineage_as_code.targets import open_target

    doc = {"version": 1, "manifests": ["m"], "targets": {"atlan": {"type": "atlan", "base_url": "http://127.0.0.1:9",
                                                                   "token_env": ENV, "connections": CONNECTIONS}}}
    target = open_target(parse_config("lac.yaml", yaml.safe_dump(doc).encode(), tmp_path).targets["atlan"])
    try:
        assert target._http()._limiter.interval == pytest.approx(0.15)  # 60 s / 400 requests
        assert target.capabilities.rate_limit_per_minute == 400  # what the plan's estimate uses
        assert any("no ownership marker" in note for note in target.capabilities.notes)
    finally:
        target.close()
