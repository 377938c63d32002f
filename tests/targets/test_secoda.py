"""The Secoda target against a local Secoda emulator: what lands in Secoda, and how many requests it takes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from lineage_as_code.config import Config
from lineage_as_code.errors import PlanError, TerminalTargetError
from lineage_as_code.model import Lineage
from lineage_as_code.plan.model import Action
from lineage_as_code.project import load_manifests
from lineage_as_code.state import open_state_store
from tests.emulators.base import Faults, serve
from tests.emulators.secoda import SecodaEmulator
from tests.targets.harness import apply, make_project, plan, write_generated

TOKEN = "secoda-test-key-5f0c9a"
ENV = "SECODA_TEST_KEY"


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, TOKEN)


def target(url: str, **settings: Any) -> dict[str, dict[str, Any]]:
    return {"secoda": {"type": "secoda", "base_url": url, "token_env": ENV, "retry_base_delay": 0.01,
                       "rate_limit_per_minute": 1_000_000, "input_handling": "UPDATE", **settings}}


def title_full(key_asset: Any) -> str:
    return ".".join(p for p in (key_asset.database, key_asset.schema, key_asset.name) if p)


def seed(app: SecodaEmulator, lineage: Lineage, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Put every table and column the lineage names into the catalog; return key (or key.column) -> UUID."""
    ids: dict[str, str] = {}
    for key, asset in lineage.assets.items():
        if key not in skip:
            ids[key] = app.add_table(title_full(asset), asset.platform)
    for p in lineage.processes:
        for m in p.columns:
            for ref in (*m.sources, m.target):
                if ref.asset in ids and str(ref) not in ids:
                    ids[str(ref)] = app.add_column(ids[ref.asset], ref.column)
    return ids


def expected_edges(lineage: Lineage, ids: dict[str, str]) -> list[tuple[str, str]]:
    pairs = {(ids[s], ids[t]) for p in lineage.processes for s, t in p.edges}
    pairs |= {(ids[str(s)], ids[str(m.target)]) for p in lineage.processes for m in p.columns for s in m.sources}
    return sorted(pairs)


def writes(app: SecodaEmulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in app.requests() if r.method in ("POST", "DELETE")]


def manifest(path: Path, processes: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"version": 1, "defaults": {"platform": "snowflake"}, "processes": processes}))
    return path


def lineage_of(config: Config) -> Lineage:
    return load_manifests(config).lineage


# -- done-when (1): the examples ------------------------------------------------------------------

def test_examples_applied_through_the_cli_land_in_secoda_exactly(tmp_path: Path, lac: Any) -> None:
    app = SecodaEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, target(server.url))
        lineage = lineage_of(config)
        ids = seed(app, lineage)
        # look-alikes the resolution must not pick: same title elsewhere, same path in another integration
        app.add_table("ANALYTICS.staging.orders", "snowflake")
        app.add_table("shop.public.orders", "snowflake")
        result = lac("apply", "--auto-approve", "--auto-approve", cwd=tmp_path)
    assert result.code == 0, result.err
    assert app.edges() == expected_edges(lineage, ids)
    assert "+ edge.postgres:shop.public.orders -> snowflake:ANALYTICS.raw.orders" in result.out
    assert "+ column_edge.snowflake:ANALYTICS.marts.fct_orders.net_amount -> " \
           "looker:sales.dashboards.revenue.revenue" in result.out
    assert f"Apply complete: {len(app.edges())} created, 0 updated, 0 deleted." in result.out
    assert app.duplicates == 0


# -- done-when (2): re-apply is silent; edits make exactly the matching requests --------------------

def test_second_apply_makes_no_write_and_edits_make_only_the_matching_requests(tmp_path: Path) -> None:
    app = SecodaEmulator(TOKEN)
    procs = [
        {"id": "p1", "name": "P1", "inputs": ["db.s.a", "db.s.b"], "outputs": ["db.s.c"]},
        {"id": "p2", "name": "P2", "inputs": ["db.s.c"], "outputs": ["db.s.d"]},
        {"id": "p3", "name": "P3 repeats an edge of p1", "inputs": ["db.s.a"], "outputs": ["db.s.c"]},
    ]
    path = manifest(tmp_path / "m.yaml", procs)
    with serve(app) as server:
        config = make_project(tmp_path, target(server.url), manifests=path)
        ids = {t: app.add_table(f"db.s.{t}") for t in "abcde"}
        apply(config)
        assert app.edges() == sorted([(ids["a"], ids["c"]), (ids["b"], ids["c"]), (ids["c"], ids["d"])])
        assert len(writes(app)) == 3  # p3's a -> c is the same Secoda edge as p1's

        app.log.clear()
        assert not plan(config).has_changes
        _, report = apply(config)
        assert report is None and writes(app) == []

        procs[0] = {**procs[0], "description": "edited", "inputs": ["db.s.a", "db.s.e"]}
        manifest(path, procs[:2])
        replaced = _row(app, (ids["b"], ids["c"]))
        app.log.clear()
        apply(config)
        assert writes(app) == ["POST /api/v1/lineage/", f"DELETE /api/v1/lineage/manual/{replaced}/"]
        assert app.edges() == sorted([(ids["a"], ids["c"]), (ids["e"], ids["c"]), (ids["c"], ids["d"])])

        manifest(path, procs[:1])
        removed = _row(app, (ids["c"], ids["d"]))
        app.log.clear()
        apply(config)
        assert writes(app) == [f"DELETE /api/v1/lineage/manual/{removed}/"]
        assert app.edges() == sorted([(ids["a"], ids["c"]), (ids["e"], ids["c"])])
    assert app.duplicates == 0


def _row(app: SecodaEmulator, pair: tuple[str, str]) -> str:
    return next(lid for lid, r in app.lineage.items() if (r["from_entity_id"], r["to_entity_id"]) == pair)


# -- done-when (3): request counts at 5,000 edges --------------------------------------------------

def test_5000_edges_take_one_post_per_edge_and_paged_lookups_only(tmp_path: Path) -> None:
    path = write_generated(tmp_path / "gen" / "big.yaml", processes=2500, inputs=2, outputs=1)
    app = SecodaEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, target(server.url, max_parallel=8), manifests=path)
        lineage = lineage_of(config)
        seed(app, lineage)
        apply(config)
        first = list(app.requests())
        app.log.clear()
        assert not plan(config).has_changes
        second = list(app.requests())
    edges, assets = lineage.edge_count, len(lineage.assets)
    sources = len({s for p in lineage.processes for s, _ in p.edges})
    # no bulk endpoint: one POST per edge is the floor; titles are unique, so each chunk of 50
    # titles is one catalog page, and each chunk of 50 source entities one (empty) lineage page
    lookups, listings = math.ceil(assets / 50), math.ceil(sources / 50)
    print(f"\nsecoda, {edges} edges: {len(first)} requests = {edges} POST + {lookups} catalog GET "
          f"+ {listings} lineage GET; re-plan: {len(second)} GET, 0 writes")
    assert edges == 5000 and app.edges() == sorted(set(app.edges())) and len(app.edges()) == 5000
    assert len([r for r in first if r.method == "POST"]) == 5000
    assert len([r for r in first if r.path.startswith("/api/v1/resource/catalog")]) == lookups == 101
    assert len([r for r in first if r.path.startswith("/api/v1/lineage/manual")]) == listings == 51
    assert len(first) == 5152
    assert all(r.method == "GET" for r in second)
    assert app.duplicates == 0


# -- done-when (4): throttling, server errors and lost replies ------------------------------------

def test_faults_do_not_change_the_outcome_or_duplicate_an_edge(tmp_path: Path) -> None:
    path = write_generated(tmp_path / "gen" / "m.yaml", processes=60, inputs=2, outputs=1)
    faults = Faults(throttle_every=3, retry_after=0.01, error_rate=0.10, drop_after_rate=0.05, seed=7)
    app = SecodaEmulator(TOKEN, faults)
    with serve(app) as server:
        config = make_project(tmp_path, target(server.url, max_attempts=12, timeout=5), manifests=path)
        lineage = lineage_of(config)
        ids = seed(app, lineage)
        apply(config)
        assert app.edges() == expected_edges(lineage, ids)
        smaller = write_generated(path, processes=40, inputs=2, outputs=1)
        apply(config)
        assert app.edges() == expected_edges(lineage_of(config), ids)
        assert not plan(config).has_changes
    assert smaller == path
    print(f"\nsecoda faults: {app.faults_injected}, duplicates {app.duplicates}")
    assert app.faults_injected["429"] > 10 and app.faults_injected["503"] > 3
    assert app.faults_injected["drop-after"] > 0
    assert app.duplicates == 0


# -- done-when (5): a wrong key ---------------------------------------------------------------------

def test_a_rejected_key_is_one_clear_error_and_never_shown(tmp_path: Path, lac: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "wrong-key-0b1d7e22c4"
    monkeypatch.setenv(ENV, wrong)
    app = SecodaEmulator(TOKEN)
    with serve(app) as server:
        seed(app, lineage_of(make_project(tmp_path, target(server.url))))
        planned = lac("plan", "--out", "plan.json", cwd=tmp_path)
        applied = lac("apply", "--auto-approve", "--auto-approve", cwd=tmp_path)
    for result in (planned, applied):
        assert result.code == 1
        errors = [line for line in result.err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1
        assert "target 'secoda'" in errors[0] and ENV in errors[0] and "401" in errors[0]
        assert wrong not in result.out + result.err and TOKEN not in result.out + result.err
    leftovers = [p.read_bytes().decode("utf-8", "replace") for p in tmp_path.rglob("*") if p.is_file()]
    assert not any(wrong in text for text in leftovers)
    assert app.edges() == []


# -- input handling --------------------------------------------------------------------------------

def test_partial_and_upsert_are_refused_at_plan_time(tmp_path: Path, lac: Any) -> None:
    for mode in ("PARTIAL", "UPSERT"):
        make_project(tmp_path, target("http://127.0.0.1:9", input_handling=mode))
        result = lac("plan", cwd=tmp_path)
        assert result.code == 1
        assert f"target 'secoda' (secoda) cannot honour input_handling {mode}: it honours only UPDATE" in result.err


def test_a_missing_asset_fails_the_plan_or_skips_its_edges(tmp_path: Path) -> None:
    procs = [{"id": "p1", "name": "P1", "inputs": ["db.s.a", "db.s.ghost"], "outputs": ["db.s.c"]}]
    path = manifest(tmp_path / "m.yaml", procs)
    app = SecodaEmulator(TOKEN)
    with serve(app) as server:
        a, c = app.add_table("db.s.a"), app.add_table("db.s.c")
        config = make_project(tmp_path, target(server.url), manifests=path)
        with pytest.raises(PlanError, match=r"edge.snowflake:db.s.ghost -> snowflake:db.s.c: skipped: "
                                            r"asset.snowflake:db.s.ghost not found in secoda"):
            plan(config)
        config = make_project(tmp_path, target(server.url, fail_on_errors=False), manifests=path)
        planned, _ = apply(config)
    assert [s.address for s in planned.targets[0].skipped] == ["edge.snowflake:db.s.ghost -> snowflake:db.s.c"]
    assert app.edges() == [(a, c)]


def test_a_column_secoda_lacks_skips_only_that_column_edge(tmp_path: Path) -> None:
    procs = [{"id": "p1", "name": "P1", "inputs": ["db.s.a"], "outputs": ["db.s.c"],
              "columns": [{"from": "a.id", "to": "c.id"}, {"from": "a.typo", "to": "c.amount"}]}]
    path = manifest(tmp_path / "m.yaml", procs)
    app = SecodaEmulator(TOKEN)
    with serve(app) as server:
        a, c = app.add_table("db.s.a"), app.add_table("db.s.c")
        a_id, c_id = app.add_column(a, "id"), app.add_column(c, "id")
        app.add_column(c, "amount")
        app.add_column(app.add_table("db.other.a"), "typo")  # same name, another table
        config = make_project(tmp_path, target(server.url, fail_on_errors=False), manifests=path)
        planned, _ = apply(config)
    assert [s.address for s in planned.targets[0].skipped] == [
        "column_edge.snowflake:db.s.a.typo -> snowflake:db.s.c.amount"]
    assert app.edges() == sorted([(a, c), (a_id, c_id)])


def test_column_lineage_can_be_turned_off(tmp_path: Path) -> None:
    app = SecodaEmulator(TOKEN)
    with serve(app) as server:
        config = make_project(tmp_path, target(server.url, column_lineage=False))
        lineage = lineage_of(config)
        ids = seed(app, lineage)
        planned, _ = apply(config)
    assert app.edges() == sorted({(ids[s], ids[t]) for p in lineage.processes for s, t in p.edges})
    assert any("column edge(s) not sent" in w for w in planned.targets[0].warnings)


# -- identity ----------------------------------------------------------------------------------------

def test_an_ids_override_wins_over_the_catalog(tmp_path: Path) -> None:
    app = SecodaEmulator(TOKEN)
    with serve(app) as server:
        a, c = app.add_table("db.s.a"), app.add_table("db.s.c")
        chosen = app.add_table("Looker.Revenue dashboard", "looker")
        doc = {"version": 1, "defaults": {"platform": "snowflake"},
               "assets": [{"ref": "db.s.c", "alias": "c", "ids": {"secoda": chosen}}],
               "processes": [{"id": "p1", "name": "P1", "inputs": ["db.s.a"], "outputs": ["c"]}]}
        path = tmp_path / "m.yaml"
        path.write_text(yaml.safe_dump(doc))
        apply(make_project(tmp_path, target(server.url), manifests=path))
    assert app.edges() == [(a, chosen)] and c != chosen


def test_an_ambiguous_asset_asks_for_an_override(tmp_path: Path) -> None:
    path = manifest(tmp_path / "m.yaml", [{"id": "p1", "name": "P1", "inputs": ["db.s.a"], "outputs": ["db.s.c"]}])
    app = SecodaEmulator(TOKEN)
    with serve(app) as server:
        app.add_table("db.s.a"), app.add_table("db.s.a"), app.add_table("db.s.c")
        with pytest.raises(TerminalTargetError, match=r"snowflake:db.s.a matches 2 Secoda resources .*"
                                                      r"ids: \{secoda: <uuid>\}"):
            plan(make_project(tmp_path, target(server.url), manifests=path))


# -- lineage Secoda already holds ----------------------------------------------------------------------

def test_existing_lineage_is_adopted_and_unmanaged_lineage_left_alone(tmp_path: Path) -> None:
    path = manifest(tmp_path / "m.yaml", [{"id": "p1", "name": "P1", "inputs": ["db.s.a", "db.s.b"],
                                           "outputs": ["db.s.c"]}])
    app = SecodaEmulator(TOKEN)
    with serve(app) as server:
        a, b, c = (app.add_table(f"db.s.{t}") for t in "abc")
        existing = app.add_edge(a, c)
        by_hand = app.add_edge(a, b)
        config = make_project(tmp_path, target(server.url), manifests=path)
        planned = plan(config)
        apply(config)
        state = open_state_store(str(tmp_path / ".lac" / "state.json")).read().entries("secoda")
        manifest(path, [{"id": "p1", "name": "P1", "inputs": ["db.s.b"], "outputs": ["db.s.c"]}])
        apply(config)
    assert planned.targets[0].unmanaged == ("edge.snowflake:db.s.a -> snowflake:db.s.b",)
    adopted = {c.address: c for c in planned.changes}["edge.snowflake:db.s.a -> snowflake:db.s.c"]
    assert (adopted.action, adopted.reason) == (Action.ADOPT, "exists in the target as declared; recorded in state")
    assert state["edge.snowflake:db.s.a -> snowflake:db.s.c"].id == existing
    assert existing not in app.lineage and by_hand in app.lineage
    assert app.edges() == sorted([(a, b), (b, c)]) and app.duplicates == 0


def test_a_saved_plan_applied_later_still_never_duplicates(tmp_path: Path, lac: Any) -> None:
    path = manifest(tmp_path / "m.yaml", [{"id": "p1", "name": "P1", "inputs": ["db.s.a", "db.s.b"],
                                           "outputs": ["db.s.c"]}])
    app = SecodaEmulator(TOKEN)
    with serve(app) as server:
        a, b, c = (app.add_table(f"db.s.{t}") for t in "abc")
        make_project(tmp_path, target(server.url), manifests=path)
        assert lac("plan", "--no-refresh", "--out", "plan.json", cwd=tmp_path).code == 0
        app.add_edge(a, c)  # someone draws one of the edges between plan and apply
        result = lac("apply", "--auto-approve", "plan.json", "--auto-approve", cwd=tmp_path)
    assert result.code == 0, result.err
    assert app.edges() == sorted([(a, c), (b, c)]) and app.duplicates == 0
    assert len(app.requests("POST")) == 1


def test_an_edge_deleted_in_secoda_is_planned_again_and_recreated(tmp_path: Path) -> None:
    path = manifest(tmp_path / "m.yaml", [{"id": "p1", "name": "P1", "inputs": ["db.s.a"], "outputs": ["db.s.c"]}])
    app = SecodaEmulator(TOKEN)
    with serve(app) as server:
        a, c = app.add_table("db.s.a"), app.add_table("db.s.c")
        config = make_project(tmp_path, target(server.url), manifests=path)
        apply(config)
        app.lineage.clear()
        drift = plan(config)
        apply(config)
    assert [(c.action.value, c.reason) for c in drift.changes] == [
        ("create", "recorded in state but missing from the target")]
    assert app.edges() == [(a, c)]


def test_names_match_regardless_of_case_when_case_sensitive_match_is_off(tmp_path: Path) -> None:
    path = manifest(tmp_path / "m.yaml", [{"id": "p1", "name": "P1", "inputs": ["DB.S.ORDERS"],
                                           "outputs": ["DB.S.Fct_Orders"]}])
    app = SecodaEmulator(TOKEN)
    with serve(app) as server:
        a, c = app.add_table("db.s.orders"), app.add_table("DB.S.FCT_ORDERS")
        with pytest.raises(PlanError, match="not found in secoda"):
            plan(make_project(tmp_path, target(server.url), manifests=path))
        apply(make_project(tmp_path, target(server.url, case_sensitive_match=False), manifests=path))
    assert app.edges() == [(a, c)]


def test_case_insensitive_matching_finds_mixed_case_titles_through_contains(tmp_path: Path) -> None:
    path = manifest(tmp_path / "m.yaml", [{"id": "p1", "name": "P1", "inputs": ["DB.S.return_facts"],
                                           "outputs": ["db.s.daily_RETURNS"]}])
    app = SecodaEmulator(TOKEN)
    with serve(app) as server:
        src, dst = app.add_table("DB.S.Return_FACTS"), app.add_table("db.s.Daily_Returns")
        app.add_table("DB.S.Return_FACTS_archive")  # a longer title that `contains` also matches
        apply(make_project(tmp_path, target(server.url, case_sensitive_match=False), manifests=path))
    assert app.edges() == [(src, dst)]
    tables = [f for f in app.filters if f.get("field") == "title"]
    assert sorted(f["value"] for f in tables) == ["daily_returns", "return_facts"]
    assert {f["operator"] for f in tables} == {"contains"}


def test_writes_are_spaced_at_secodas_documented_30_a_minute_by_default(tmp_path: Path) -> None:
    from lineage_as_code.config import parse_config
    from lineage_as_code.targets import open_target

    doc = {"version": 1, "manifests": ["m"], "targets": {"secoda": {"type": "secoda", "token_env": ENV,
                                                                     "input_handling": "UPDATE"}}}
    config = parse_config("lac.yaml", yaml.safe_dump(doc).encode(), tmp_path)
    secoda = open_target(config.targets["secoda"])
    try:
        assert secoda._client()._limiter.interval == pytest.approx(2.0)  # 60 s / 30 writes
    finally:
        secoda.close()


def test_the_plans_estimate_uses_secodas_documented_rate(tmp_path: Path) -> None:
    path = write_generated(tmp_path / "gen" / "m.yaml", processes=30, inputs=2, outputs=1)
    app = SecodaEmulator(TOKEN)
    with serve(app) as server:
        settings = target(server.url)
        del settings["secoda"]["rate_limit_per_minute"]  # the default: 30 writes a minute
        config = make_project(tmp_path, settings, manifests=path)
        seed(app, lineage_of(config))
        planned = plan(config).targets[0]
    assert planned.requests == 60 and planned.seconds == pytest.approx(120.0)  # 60 POSTs at 30 a minute
