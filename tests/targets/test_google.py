"""The Google Cloud Data Lineage target against its emulator on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import uuid
from collections import Counter
from pathlib import Path

import pytest
import yaml

from lineage_as_code.errors import ConfigError, PlanError
from lineage_as_code.model import Asset
from lineage_as_code.plan.model import Action
from lineage_as_code.targets.google.translate import asset_fqn, google_id, request_id
from tests.emulators.base import Faults, serve
from tests.emulators.google import GoogleLineageEmulator
from tests.targets.harness import FIXTURE_MANIFESTS, apply, make_project, plan, write_generated

TOKEN = "ya29.sentinel-google-token-5c1d"
ENV = "LAC_TEST_GOOGLE_TOKEN"
PARENT = "projects/proj-1/locations/us"

SF_RAW = "custom:snowflake.ANALYTICS.raw.orders"
SF_FCT = "custom:snowflake.ANALYTICS.marts.fct_orders"
PG_ORDERS = "custom:postgres.shop.public.orders"
PG_CUSTOMERS = "custom:postgres.shop.public.customers"
EXAMPLE_LINKS = {
    "load_raw_orders": {
        (PG_ORDERS, (), SF_RAW, ()), (PG_ORDERS, ("id",), SF_RAW, ("id",)),
        (PG_ORDERS, ("amount",), SF_RAW, ("amount",)),
    },
    "build_fct_orders": {
        (SF_RAW, (), SF_FCT, ()), (PG_CUSTOMERS, (), SF_FCT, ()), (SF_RAW, ("id",), SF_FCT, ("order_id",)),
        (PG_CUSTOMERS, ("discount",), SF_FCT, ("net_amount",)), (SF_RAW, ("amount",), SF_FCT, ("net_amount",)),
    },
    "monthly_revenue_dag": {(SF_FCT, (), "custom:snowflake.FINANCE.reporting.monthly_revenue", ())},
    "rpt_revenue": {
        (SF_FCT, (), "custom:looker.sales.dashboards.revenue", ()),
        (SF_FCT, ("net_amount",), "custom:looker.sales.dashboards.revenue", ("revenue",)),
        (SF_FCT, ("order_id",), "custom:looker.sales.dashboards.revenue", ("order_count",)),
    },
}


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv(ENV, TOKEN)


def google(url: str, **extra) -> dict:
    return {"google": {"type": "google", "project": "proj-1", "location": "us", "base_url": url, "token_env": ENV,
                       "retry_base_delay": 0.01, "operation_poll_interval": 0.01, **extra}}


def writes(app: GoogleLineageEmulator) -> Counter:
    """(method, resource kind) -> count of write requests the emulator answered."""
    def kind(path: str) -> str:
        return path.rstrip("/").split("/")[-1] if path.count("/") % 2 == 0 else path.split("/")[-2]
    return Counter((r.method, kind(r.path)) for r in app.log if r.method != "GET" and not r.fault)


def copy_examples(tmp_path: Path) -> Path:
    target = tmp_path / "manifests"
    shutil.copytree(FIXTURE_MANIFESTS, target)
    return target


# -- FQNs and ids ------------------------------------------------------------------------------

def test_assets_become_documented_fqns_with_quoted_segments_and_overrides_win():
    assert asset_fqn(Asset("bigquery", "my-proj", "sales", "orders")) == "bigquery:my-proj.sales.orders"
    assert asset_fqn(Asset("bigquery", "p", "d", "fn", type="routine")) == "bigquery:routine:p.d.fn"
    assert asset_fqn(Asset("spanner", "p", "i", "t")) == "spanner:p.i.t"
    assert asset_fqn(Asset("snowflake", "DB", "my schema", "a.b")) == "custom:snowflake.DB.`my schema`.`a.b`"
    assert asset_fqn(Asset("s3", "", "", "bucket:key")) == "custom:s3.`bucket:key`"
    override = Asset("snowflake", "DB", "S", "T", ids=(("google", "cloudsql_mysql:p.us.inst.shop.orders"),))
    assert asset_fqn(override) == "cloudsql_mysql:p.us.inst.shop.orders"


def test_process_ids_follow_google_rules_and_stay_distinct():
    assert google_id("build_fct-orders:v1.2") == "build_fct-orders:v1.2"
    cleaned = google_id("build orders/daily")
    assert cleaned.startswith("build_orders_daily-") and cleaned != google_id("build_orders/daily")
    long = google_id("x" * 500)
    assert len(long) == 200 and long != google_id("x" * 501)
    assert len(request_id("process.a", "hash", "run")) == 36


def test_request_ids_are_deterministic_but_shaped_as_the_documented_uuid4():
    rid = request_id("process.a", "hash", "run", "2026-01-01T00:00:00.000Z")
    assert rid == request_id("process.a", "hash", "run", "2026-01-01T00:00:00.000Z")
    assert rid != request_id("process.b", "hash", "run", "2026-01-01T00:00:00.000Z")
    parsed = uuid.UUID(rid)
    assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == rid


# -- done when (1): examples, through the CLI --------------------------------------------------

def test_apply_examples_with_the_cli_stores_exactly_the_manifests_lineage(lac, tmp_path):
    app = GoogleLineageEmulator(TOKEN)
    with serve(app) as server:
        make_project(tmp_path, google(server.url))
        result = lac("apply", "--auto-approve", "--auto-approve", cwd=tmp_path)
        assert result.code == 0, result.err
        assert "4 created" in result.out
    assert app.links() == EXAMPLE_LINKS
    proc = app.processes[f"{PARENT}/processes/monthly_revenue_dag"]
    assert proc["displayName"] == "fct_orders monthly_revenue"  # '>' is not allowed in a displayName
    assert proc["origin"] == {"sourceType": "CUSTOM", "name": "lineage-as-code"}
    assert proc["attributes"]["lac_process_id"] == "monthly_revenue_dag"
    assert proc["attributes"]["pipeline"] == "finance-monthly"
    assert all(run["state"] == "COMPLETED" and run["startTime"] for run in app.runs.values())
    assert app.conflicts == 0 and app.duplicate_links() == 0


# -- done when (2): idempotent re-apply, exact update and delete requests ----------------------

def test_second_apply_writes_nothing(tmp_path):
    app = GoogleLineageEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, google(server.url))
        apply(config)
        app.log.clear()
        again, report = apply(config)
    assert report is None and not again.has_changes
    assert writes(app) == Counter()


def test_the_manifest_file_is_recorded_on_the_process_but_moving_a_process_rewrites_nothing(tmp_path):
    manifests = copy_examples(tmp_path)
    app = GoogleLineageEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, google(server.url), manifests)
        apply(config)
        process = f"{PARENT}/processes/build_fct_orders"
        assert app.processes[process]["attributes"]["lac_manifest"].endswith("orders.yaml")
        (manifests / "orders.yaml").rename(manifests / "renamed.yaml")
        assert not plan(config).has_changes


def test_editing_a_process_replaces_its_run_and_removing_one_deletes_it(tmp_path):
    manifests = copy_examples(tmp_path)
    app = GoogleLineageEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, google(server.url), manifests)
        apply(config)
        orders = manifests / "orders.yaml"
        orders.write_text(orders.read_text().replace("Daily orders mart", "Daily orders mart, net of discounts"))
        app.log.clear()
        edited, _ = apply(config)
        assert [(c.action, c.address) for c in edited.changes] == [(Action.UPDATE, "process.build_fct_orders")]
        # new run + its event first, then the old run goes (an LRO: not done on the first poll)
        assert writes(app) == Counter({("PATCH", "processes"): 1, ("POST", "runs"): 1,
                                       ("POST", "lineageEvents"): 1, ("DELETE", "runs"): 1})
        assert len([r for r in app.log if "/operations/" in r.path]) == 2
        process = f"{PARENT}/processes/build_fct_orders"
        assert len([r for r in app.runs if r.startswith(process + "/")]) == 1
        assert app.processes[process]["attributes"]["description"] == "Daily orders mart, net of discounts"
        assert app.links() == EXAMPLE_LINKS

        (manifests / "reporting.csv").unlink()
        app.log.clear()
        removed, _ = apply(config)
    assert [(c.action, c.address) for c in removed.changes] == [(Action.DELETE, "process.rpt_revenue")]
    assert writes(app) == Counter({("DELETE", "processes"): 1})
    assert app.links() == {k: v for k, v in EXAMPLE_LINKS.items() if k != "rpt_revenue"}
    assert not [r for r in app.runs if "/rpt_revenue/" in r]


def test_drift_in_google_shows_in_the_plan_and_apply_repairs_it(tmp_path):
    app = GoogleLineageEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, google(server.url, refresh_events=True))
        apply(config)
        event = next(n for n in app.events if "/build_fct_orders/" in n)
        del app.events[event]                                          # someone deleted lineage
        del app.processes[f"{PARENT}/processes/rpt_revenue"]           # and a whole process
        drift = plan(config)
        got = {c.address: (c.action, c.reason) for c in drift.changes}
        assert got == {"process.build_fct_orders": (Action.UPDATE, "changed in the target since the last apply"),
                       "process.rpt_revenue": (Action.CREATE, "recorded in state but missing from the target")}
        apply(config)
        assert not plan(config).has_changes
    assert app.links() == EXAMPLE_LINKS


def test_cheap_refresh_pages_through_processes_and_still_sees_missing_ones(tmp_path):
    manifest = write_generated(tmp_path / "m" / "gen.yaml", processes=150)
    app = GoogleLineageEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, google(server.url, refresh_events=False), manifest)
        apply(config)
        del app.processes[f"{PARENT}/processes/proc_00007"]
        app.log.clear()
        drift = plan(config)
    # ListProcesses only, 100 per page: runs and events are not read in this mode
    assert [(r.method, r.path) for r in app.log] == [("GET", f"/v1/{PARENT}/processes")] * 2
    assert [(c.action, c.address) for c in drift.changes] == [(Action.CREATE, "process.proc_00007")]


def test_a_no_op_replan_reads_one_listing_per_100_processes_and_still_sees_edits(tmp_path):
    manifest = write_generated(tmp_path / "m" / "gen.yaml", processes=150)
    app = GoogleLineageEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, google(server.url), manifest)
        apply(config)
        app.log.clear()
        assert not plan(config).has_changes
        reads = [(r.method, r.path) for r in app.log]
        edited = app.processes[f"{PARENT}/processes/proc_00003"]
        edited["displayName"] = "renamed by hand"
        drift = plan(config)
    assert reads == [("GET", f"/v1/{PARENT}/processes")] * 2  # 150 processes, 100 a page, no runs or events
    assert [(c.action, c.address, c.reason) for c in drift.changes] == [
        (Action.UPDATE, "process.proc_00003", "changed in the target since the last apply")]


def test_lost_state_is_rebuilt_from_the_marker_and_nothing_is_written_again(tmp_path):
    from lineage_as_code.rebuild import rebuild_state

    app = GoogleLineageEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, google(server.url))
        apply(config)
        state = json.loads((tmp_path / ".lac" / "state.json").read_text())
        owners = {p["attributes"]["lac_owner"] for p in app.processes.values()}
        assert owners == {state["lineage"]}
        (tmp_path / ".lac" / "state.json").unlink()
        with pytest.raises(PlanError, match="lac state rebuild"):
            plan(config)
        rebuild_state(config, [])
        assert json.loads((tmp_path / ".lac" / "state.json").read_text())["targets"] == state["targets"]
        app.log.clear()
        again, report = apply(config)
    assert report is None and not again.has_changes and writes(app) == Counter()
    assert app.links() == EXAMPLE_LINKS and app.duplicate_links() == 0


def test_another_projects_processes_are_refused_not_taken_over(tmp_path):
    app = GoogleLineageEmulator(TOKEN)
    with serve(app) as server:
        apply(make_project(tmp_path / "a", google(server.url)))
        with pytest.raises(PlanError, match="another project's ownership marker"):
            plan(make_project(tmp_path / "b", google(server.url)))


# -- OpenLineage write mode --------------------------------------------------------------------

TABLE_LINKS = {pid: {link for link in links if not link[1]} for pid, links in EXAMPLE_LINKS.items()}


def ol_links(app: GoogleLineageEmulator) -> dict[str, set[tuple[str, tuple[str, ...], str, tuple[str, ...]]]]:
    """Manifest process id -> links, for processes named by Google's hash of the job."""
    ids = {n.rsplit("/", 1)[1]: p["attributes"]["lineage_as_code"]["process_id"] for n, p in app.processes.items()}
    return {ids[k]: v for k, v in app.links().items()}


def test_openlineage_mode_sends_one_request_per_process_and_says_column_lineage_is_lost(tmp_path):
    app = GoogleLineageEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, google(server.url, write_mode="openlineage"))
        first, _ = apply(config)
        sent = writes(app)
        app.log.clear()
        again = plan(config)
        reads = [(r.method, r.path) for r in app.log]
    assert sent == Counter({("POST", "locations"): 4})
    assert ol_links(app) == TABLE_LINKS  # Google keeps table-level lineage only from custom events
    warnings = " ".join(first.targets[0].warnings)
    assert "column edge(s) not sent" in warnings and "table-level lineage" in warnings
    assert not again.has_changes and reads == [("GET", f"/v1/{PARENT}/processes")]
    proc = next(p for p in app.processes.values() if p["displayName"] == "lineage-as-code:rpt_revenue")
    assert proc["attributes"]["lineage_as_code"]["owner"] == json.loads(
        (tmp_path / ".lac" / "state.json").read_text())["lineage"]


def test_openlineage_mode_replaces_an_edited_process_run_and_deletes_a_removed_one(tmp_path):
    manifests = copy_examples(tmp_path)
    app = GoogleLineageEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, google(server.url, write_mode="openlineage"), manifests)
        apply(config)
        orders = manifests / "orders.yaml"
        orders.write_text(orders.read_text().replace("Daily orders mart", "Daily orders mart, net of discounts"))
        app.log.clear()
        edited, _ = apply(config)
        edit_writes = writes(app)
        (manifests / "reporting.csv").unlink()
        removed, _ = apply(config)
        assert not plan(config, refresh=True).has_changes
    assert [(c.action, c.address) for c in edited.changes] == [(Action.UPDATE, "process.build_fct_orders")]
    assert edit_writes == Counter({("POST", "locations"): 1, ("DELETE", "runs"): 1})
    assert [(c.action, c.address) for c in removed.changes] == [(Action.DELETE, "process.rpt_revenue")]
    assert ol_links(app) == {k: v for k, v in TABLE_LINKS.items() if k != "rpt_revenue"}
    assert len(app.runs) == 3


def test_openlineage_mode_rebuilds_a_lost_state_from_its_facet(tmp_path):
    from lineage_as_code.rebuild import rebuild_state

    app = GoogleLineageEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, google(server.url, write_mode="openlineage"))
        apply(config)
        state = json.loads((tmp_path / ".lac" / "state.json").read_text())
        (tmp_path / ".lac" / "state.json").unlink()
        rebuild_state(config, [])
        rebuilt = json.loads((tmp_path / ".lac" / "state.json").read_text())
        app.log.clear()
        again, report = apply(config)
    assert rebuilt["targets"] == state["targets"] and rebuilt["lineage"] == state["lineage"]
    assert report is None and not again.has_changes and writes(app) == Counter()


def test_openlineage_messages_keep_to_1000_links_and_google_groups_them_by_100(tmp_path):
    manifest = write_generated(tmp_path / "m" / "wide.yaml", processes=1, inputs=25, outputs=50)
    app = GoogleLineageEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, google(server.url, write_mode="openlineage", refresh_events=True), manifest)
        apply(config)
        assert not plan(config).has_changes  # the deep check reads the events back to the same content
    assert app.openlineage_events == 2  # 25 x 40 = 1,000 links, then 25 x 10
    assert len(app.runs) == 1 and max(len(e["links"]) for e in app.events.values()) == 100
    assert len(app.links()[next(iter(app.links()))]) == 1250


def test_emulator_refuses_openlineage_messages_over_the_documented_limits():
    import httpx

    app = GoogleLineageEmulator(TOKEN)
    event = {"eventTime": "2026-01-01T00:00:00Z", "eventType": "COMPLETE", "producer": "urn:test",
             "schemaURL": "https://openlineage.io/spec/1-0-5/OpenLineage.json#/$defs/RunEvent",
             "run": {"runId": "0f8fad5b-d9cb-469f-a165-70867728950e"}, "job": {"namespace": "ns", "name": "j"},
             "inputs": [{"namespace": "custom", "name": f"i{i}"} for i in range(11)],
             "outputs": [{"namespace": "custom", "name": f"o{i}"} for i in range(100)]}
    url = f"/v1/{PARENT}:processOpenLineageRunEvent"
    with serve(app) as server, httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        too_many = http.post(url, json=event)
        v2 = http.post(url, json={**event, "inputs": event["inputs"][:1],
                                  "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"})
        too_big = http.post(url, json={**event, "inputs": [], "producer": "x" * (5 * 1024 * 1024)})
        ok = http.post(url, json={**event, "inputs": event["inputs"][:10]})
    assert too_many.status_code == v2.status_code == too_big.status_code == 400
    assert "1000" in too_many.json()["error"]["message"] and "5 MB" in too_big.json()["error"]["message"]
    assert ok.status_code == 200 and len(ok.json()["lineageEvents"]) == 10  # 1,000 links, 100 an event


# -- limits ------------------------------------------------------------------------------------

def test_a_process_with_250_edges_is_written_as_three_events_of_at_most_100_links(tmp_path):
    manifest = write_generated(tmp_path / "m" / "wide.yaml", processes=1, inputs=25, outputs=10)
    app = GoogleLineageEmulator(TOKEN)
    with serve(app) as server:
        apply(make_project(tmp_path, google(server.url), manifest))
        assert not plan(make_project(tmp_path, google(server.url), manifest)).has_changes
    assert sorted(len(e["links"]) for e in app.events.values()) == [50, 100, 100]
    assert len(app.links()["proc_00000"]) == 250


def test_update_mode_is_refused_with_a_clear_message_before_any_request(tmp_path):
    app = GoogleLineageEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, google(server.url, input_handling="UPDATE"))
        with pytest.raises(PlanError, match="cannot honour input_handling UPDATE: it honours only PARTIAL, UPSERT"):
            plan(config)
    assert app.log == []


def test_emulator_enforces_the_link_limit_ids_and_request_id_idempotency():
    import httpx

    app = GoogleLineageEmulator(TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with serve(app) as server, httpx.Client(base_url=server.url, headers=auth) as http:
        proc = {"name": f"{PARENT}/processes/p1", "displayName": "P1"}
        rid, other = "0f8fad5b-d9cb-469f-a165-70867728950e", "7c9e6679-7425-40de-944b-e07fc1f90ae7"
        first = http.post(f"/v1/{PARENT}/processes", params={"requestId": rid}, json=proc)
        replay = http.post(f"/v1/{PARENT}/processes", params={"requestId": rid}, json=proc)
        taken = http.post(f"/v1/{PARENT}/processes", params={"requestId": other}, json=proc)
        not_v4 = http.post(f"/v1/{PARENT}/processes", params={"requestId": "r" * 36}, json=proc)
        bad_id = http.post(f"/v1/{PARENT}/processes", json={"name": f"{PARENT}/processes/has space"})
        run = {"name": f"{PARENT}/processes/p1/runs/r1", "startTime": "2024-01-01T00:00:00Z", "state": "COMPLETED"}
        http.post(f"/v1/{PARENT}/processes/p1/runs", json=run)
        link = {"source": {"fullyQualifiedName": "custom:a"}, "target": {"fullyQualifiedName": "custom:b"}}
        too_many = http.post(f"/v1/{run['name']}/lineageEvents",
                             json={"links": [link] * 101, "startTime": "2024-01-01T00:00:00Z"})
        no_auth = http.get(f"/v1/{PARENT}/processes", headers={"Authorization": "Bearer nope"})
    assert first.status_code == replay.status_code == 200 and replay.json() == first.json()
    assert len(app.processes) == 1 and app.replays == 1
    assert taken.status_code == 409 and taken.json()["error"]["status"] == "ALREADY_EXISTS"
    assert not_v4.status_code == 400 and "UUID4" in not_v4.json()["error"]["message"]
    assert bad_id.status_code == 400 and bad_id.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert too_many.status_code == 400 and "100" in too_many.json()["error"]["message"]
    assert no_auth.status_code == 401 and no_auth.json()["error"]["status"] == "UNAUTHENTICATED"


# -- done when (3): request counts at 5,000 edges ----------------------------------------------

def test_request_counts_for_5000_edges_are_the_minimum_the_api_allows(tmp_path):
    manifest = write_generated(tmp_path / "m" / "gen.yaml", processes=2500, inputs=2, outputs=1)
    app = GoogleLineageEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, google(server.url, max_parallel=8), manifest)
        app.log.clear()
        _, report = apply(config, refresh=False)
    total_writes = sum(writes(app).values())
    print(f"\ngoogle: 5,000 edges in 2,500 processes -> {total_writes} write requests "
          f"({report.batches} batches)")
    # per process: CreateProcess + CreateRun + one CreateLineageEvent (2 links <= 100)
    assert writes(app) == Counter({("POST", "processes"): 2500, ("POST", "runs"): 2500,
                                   ("POST", "lineageEvents"): 2500})
    assert len(app.log) == total_writes == 7500
    assert sum(len(v) for v in app.links().values()) == 5000


def test_request_counts_for_5000_edges_in_wide_processes(tmp_path):
    manifest = write_generated(tmp_path / "m" / "wide.yaml", processes=20, inputs=25, outputs=10)
    app = GoogleLineageEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, google(server.url), manifest)
        app.log.clear()
        apply(config, refresh=False)
    total = sum(writes(app).values())
    print(f"\ngoogle: 5,000 edges in 20 processes of 250 -> {total} write requests")
    assert writes(app) == Counter({("POST", "processes"): 20, ("POST", "runs"): 20, ("POST", "lineageEvents"): 60})


# -- done when (4): faults ---------------------------------------------------------------------

def test_throttling_server_errors_and_dropped_responses_converge_without_duplicates(tmp_path):
    manifest = write_generated(tmp_path / "m" / "gen.yaml", processes=60, inputs=30, outputs=5)
    faults = Faults(throttle_every=3, retry_after=0.01, error_rate=0.1, drop_after_rate=0.05, seed=7)
    app = GoogleLineageEmulator(TOKEN, faults)
    with serve(app) as server:
        config = make_project(tmp_path, google(server.url, max_attempts=10, timeout=5), manifest)
        _, report = apply(config)
        assert report is not None and report.created == 60 and not report.failures
        app.faults = Faults()
        assert not plan(config).has_changes
    assert app.faults_injected["429"] > 0 and app.faults_injected["503"] > 0 and app.faults_injected["drop-after"] > 0
    assert app.replays > 0  # a dropped create, retried with its requestId, got the first result back
    assert app.conflicts == 0 and app.duplicate_links() == 0
    links = app.links()
    assert len(links) == 60 and all(len(v) == 150 for v in links.values())
    assert len(app.events) == 60 * 2 and len(app.runs) == 60


# -- done when (5): bad credentials ------------------------------------------------------------

def test_a_wrong_token_gives_one_clear_error_and_never_shows_the_token(lac, tmp_path, monkeypatch):
    wrong = "ya29.wrong-token-never-shown-93af"
    monkeypatch.setenv(ENV, wrong)
    app = GoogleLineageEmulator(TOKEN)
    with serve(app) as server:
        make_project(tmp_path, google(server.url))
        planned = lac("plan", cwd=tmp_path)
        applied = lac("apply", "--auto-approve", "--auto-approve", cwd=tmp_path)
    for result in (planned, applied):
        assert result.code == 1
        errors = [line for line in result.err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "target 'google'" in errors[0] and ENV in errors[0] and "401" in errors[0]
        assert wrong not in result.out + result.err and TOKEN not in result.out + result.err
    state = tmp_path / ".lac" / "state.json"
    assert not state.exists() or wrong not in state.read_text()


def service_account_key(path: Path, token_uri: str) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "proj-1", "private_key_id": "k1", "private_key": pem,
        "client_email": "lac@proj-1.iam.gserviceaccount.com", "client_id": "1", "token_uri": token_uri}))
    return path


def test_without_token_env_application_default_credentials_are_used(tmp_path, monkeypatch):
    app = GoogleLineageEmulator(TOKEN)
    with serve(app) as server:
        key = service_account_key(tmp_path / "sa.json", f"{server.url}/token")
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
        settings = google(server.url)
        del settings["google"]["token_env"]
        apply(make_project(tmp_path, settings))
    assert app.token_grants == [["https://www.googleapis.com/auth/cloud-platform"]]
    assert app.links() == EXAMPLE_LINKS


def test_without_any_credentials_the_error_says_where_to_get_them(lac, tmp_path, monkeypatch):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with serve(GoogleLineageEmulator(TOKEN)) as server:
        settings = google(server.url)
        del settings["google"]["token_env"]
        make_project(tmp_path, settings)
        result = lac("plan", cwd=tmp_path)
    assert result.code == 1
    assert "target 'google': no Google credentials found" in result.err and "token_env" in result.err


def test_a_missing_token_variable_is_named(lac, tmp_path, monkeypatch):
    monkeypatch.delenv(ENV)
    with serve(GoogleLineageEmulator(TOKEN)) as server:
        make_project(tmp_path, google(server.url))
        result = lac("plan", cwd=tmp_path)
    assert result.code == 1 and f"environment variable {ENV} is not set" in result.err


def test_project_and_location_are_required(tmp_path):
    config = make_project(tmp_path, {"google": {"type": "google", "token_env": ENV}})
    with pytest.raises(ConfigError, match="set project and location"):
        plan(config)


def test_lac_yaml_with_google_settings_validates(tmp_path):
    doc = {"version": 1, "manifests": ["m/"], "targets": {"gcp": {
        "type": "google", "project": "p", "location": "eu", "origin_name": "team-x", "token_env": ENV}}}
    (tmp_path / "lac.yaml").write_text(yaml.safe_dump(doc))
    from lineage_as_code.config import load_config

    assert load_config(cwd=tmp_path).targets["gcp"].settings["origin_name"] == "team-x"
