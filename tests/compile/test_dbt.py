"""lac compile dbt on real manifests written by three dbt versions (see fixtures/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lineage_as_code.manifest import ManifestInput, ManifestWarning, build_lineage

FIXTURES = Path(__file__).parent / "fixtures"
VERSIONS = ["dbt-1.3-v7", "dbt-1.6-v10", "dbt-1.9-v12"]


def _compile(lac, tmp_path: Path, fixture: str, *extra: str) -> Path:
    out = tmp_path / "out"
    result = lac("compile", "dbt", str(FIXTURES / fixture / "manifest.json"),
                 "--catalog", str(FIXTURES / fixture / "catalog.json"), "--out", str(out), *extra)
    assert result.code == 0, result.err
    return out


def _lineage(out: Path):
    return build_lineage(ManifestInput(p.name, p.read_bytes()) for p in sorted(out.glob("*.yaml")))


def _relation(node: dict) -> str:
    name = node["identifier"] if node["resource_type"] == "source" else node["alias"]
    return f"duckdb:{node['database']}.{node['schema']}.{name}"


@pytest.mark.parametrize("fixture", VERSIONS)
def test_edges_are_dbt_depends_on(lac, tmp_path, fixture):
    manifest = json.loads((FIXTURES / fixture / "manifest.json").read_text())
    nodes = {**manifest["nodes"], **manifest["sources"]}
    expected = {(_relation(nodes[parent]), _relation(node))
                for node in manifest["nodes"].values() if node["resource_type"] in ("model", "snapshot")
                for parent in node["depends_on"]["nodes"]}
    lineage = _lineage(_compile(lac, tmp_path, fixture))
    got = {edge for proc in lineage.processes if proc.attributes and dict(proc.attributes)["dbt_resource_type"]
           in ("model", "snapshot") for edge in proc.edges}
    assert got == expected and len(expected) == 7


@pytest.mark.parametrize("fixture", VERSIONS)
def test_compiled_manifests_validate_and_recompile_byte_identical(lac, tmp_path, fixture):
    out = _compile(lac, tmp_path, fixture)
    first = {p.name: p.read_bytes() for p in out.glob("*.yaml")}
    result = lac("validate", "--check-sql", str(out))  # dbt's compiled SQL reads exactly its depends_on
    assert result.code == 0 and "9 process(es)" in result.out, result.err
    assert {p.name: p.read_bytes() for p in _compile(lac, tmp_path, fixture).glob("*.yaml")} == first


@pytest.mark.parametrize("fixture", VERSIONS)
def test_column_lineage_from_compiled_sql(lac, tmp_path, fixture):
    lineage = _lineage(_compile(lac, tmp_path, fixture))
    proc = next(p for p in lineage.processes if p.id == "model.shop.customer_orders")
    flows = {m.target.column: sorted(f"{s.asset.rsplit('.', 1)[1]}.{s.column}" for s in m.sources)
             for m in proc.columns}
    assert flows == {
        "customer_id": ["stg_customers.customer_id"],
        "full_name": ["stg_customers.first_name", "stg_customers.last_name"],
        "order_id": ["stg_orders.order_id"],
        "order_seq": ["stg_customers.customer_id", "stg_orders.order_date"],  # the window's partition and order
        "total": ["stg_payments.amount"],  # through the CTE's sum()
    }
    assert proc.derived_by.startswith("sqlglot ")
    # SELECT * from a source through a CTE expands with the catalog as the schema
    orders = next(p for p in lineage.processes if p.id == "model.shop.stg_orders")
    assert {m.target.column for m in orders.columns} == {"order_id", "customer_id", "order_date", "status"}


def test_no_columns_writes_edges_only(lac, tmp_path):
    lineage = _lineage(_compile(lac, tmp_path, "dbt-1.9-v12", "--no-columns"))
    assert lineage.column_edge_count == 0 and lineage.edge_count > 0


def test_exposures_are_downstream_assets_with_their_catalog_identity(lac, tmp_path):
    lineage = _lineage(_compile(lac, tmp_path, "dbt-1.9-v12"))
    dashboard = next(p for p in lineage.processes if p.id == "exposure.shop.revenue_dashboard")
    (asset,) = dashboard.outputs
    assert (asset.key, asset.type, asset.id_for("atlan")) == (
        "metabase:analytics.dashboards.revenue_dashboard", "dashboard", "default/metabase/1/revenue_dashboard")
    notebook = next(p for p in lineage.processes if p.id == "exposure.shop.churn_notebook")
    assert notebook.outputs[0].type == "notebook"
    assert {a.key for a in notebook.inputs} == {"duckdb:shop.main.customer_orders", "duckdb:shop.main.raw_orders"}
    source = lineage.assets["duckdb:shop.main.raw_orders"]  # a source named by its identifier, meta ids kept
    assert source.id_for("atlan") == "default/duckdb/1/shop/main/raw_orders"


def test_an_unsupported_manifest_version_is_named(lac, tmp_path):
    manifest = json.loads((FIXTURES / "dbt-1.3-v7" / "manifest.json").read_text())
    manifest["metadata"]["dbt_schema_version"] = "https://schemas.getdbt.com/dbt/manifest/v4.json"
    manifest["metadata"]["dbt_version"] = "1.0.0"
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    result = lac("compile", "dbt", str(path), "--out", str(tmp_path / "out"))
    assert result.code == 1
    assert "schema v4" in result.err and "dbt 1.0.0" in result.err and "v7 to v12" in result.err
    assert not (tmp_path / "out").exists()


def test_a_file_that_is_not_a_manifest_is_an_error_not_a_traceback(lac, tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text("{not json")
    result = lac("compile", "dbt", str(path), "--out", str(tmp_path / "out"))
    assert result.code == 1 and str(path) in result.err and "Traceback" not in result.err


def test_the_process_pool_gives_the_same_manifests(lac, tmp_path, monkeypatch):
    from lineage_as_code.compile import run

    inline = {p.name: p.read_bytes() for p in _compile(lac, tmp_path / "a", "dbt-1.9-v12", "--jobs", "1").glob("*")}
    monkeypatch.setattr(run, "POOL_THRESHOLD", 1)
    pooled = {p.name: p.read_bytes() for p in _compile(lac, tmp_path / "b", "dbt-1.9-v12", "--jobs", "2").glob("*")}
    assert pooled == inline


def test_a_hand_written_process_wins_over_the_compiled_one(lac, tmp_path, write):
    out = _compile(lac, tmp_path, "dbt-1.9-v12")
    write("hand.yaml", """
        version: 1
        processes:
          - id: model.shop.stg_orders
            inputs: [duckdb:shop.main.raw_orders]
            outputs: [duckdb:shop.main.stg_orders]
            description: written by hand
    """)
    result = lac("validate", str(out), str(tmp_path / "hand.yaml"))
    assert result.code == 0, result.err
    assert "hand.yaml:3: process 'model.shop.stg_orders' is written by hand" in result.err
    assert "dbt_shop.yaml" in result.err
    files = [*sorted(out.glob("*.yaml")), tmp_path / "hand.yaml"]
    with pytest.warns(ManifestWarning, match="is written by hand here and wins"):
        lineage = build_lineage(ManifestInput(p.name, p.read_bytes()) for p in files)
    kept = next(p for p in lineage.processes if p.id == "model.shop.stg_orders")
    assert (kept.description, kept.columns) == ("written by hand", ())


def test_a_catalog_that_disagrees_with_the_sql_still_gives_column_lineage():
    from lineage_as_code.compile.dbt import build_column_flows

    stale = {"shop": {"main": {"orders": {"id": "INTEGER"}}}}  # the catalog predates the status column
    sql = "with src as (select * from shop.main.orders) select id, status from src where status is not null"
    _, flows, reason = build_column_flows(("model.shop.m", sql, "duckdb", stale))
    assert reason == "" and {f.target: f.sources for f in flows} == {
        "id": ((("shop", "main", "orders"), "id"),), "status": ((("shop", "main", "orders"), "status"),)}


def test_compiled_manifests_plan_and_apply_like_hand_written_ones(lac, tmp_path):
    _compile(lac, tmp_path, "dbt-1.9-v12")
    plan = lac("plan", "out", "--detailed-exitcode", cwd=tmp_path)
    assert plan.code == 2 and "model.shop.customer_orders" in plan.out, plan.err
    assert lac("apply", "--auto-approve", "out", cwd=tmp_path).code == 0
    again = lac("plan", "out", "--detailed-exitcode", cwd=tmp_path)
    assert again.code == 0 and "no changes" in again.out


def test_what_is_left_out_is_said(lac, tmp_path):
    manifest = json.loads((FIXTURES / "dbt-1.9-v12" / "manifest.json").read_text())
    manifest["nodes"]["model.shop.stg_orders"]["depends_on"]["nodes"] = []  # e.g. a model of literal values
    manifest["nodes"]["model.shop.stg_payments"]["compiled_code"] = "select from from"
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    result = lac("compile", "dbt", str(path), "--out", str(tmp_path / "out"))
    assert result.code == 0
    assert "note: model.shop.stg_orders: depends on no model, seed or source; left out" in result.err
    assert "note: model.shop.stg_payments: no column lineage: cannot parse the SQL (duckdb dialect)" in result.err
    assert "8 process(es)" in result.out
