"""The Secoda target against a local Secoda emulator: what lands in Secoda, and how many requests it takes."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from lineage_as_code.config import Config
from lineage_as_code.errors import PlanError, TerminalTargetError
from lineage_as_code.model import Lineage
from lineage_as_code.project import load_manifests
from tests.emulators.base import Faults, serve
from tests.emulators.secoda import SecodaEmulator
from tests.targets.harness import EXAMPLE_MANIFESTS, apply, make_project, plan, write_generated

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
        result = lac("apply", "--auto-approve", cwd=tmp_path)
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
