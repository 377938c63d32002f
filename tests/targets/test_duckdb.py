"""The embedded DuckDB target: a real DuckDB file users can query with SQL."""

from __future__ import annotations

import duckdb

from tests.targets.harness import apply, make_project, plan, write_generated


def rows(path, sql):
    with duckdb.connect(str(path), read_only=True) as db:
        return db.execute(sql).fetchall()


def test_examples_land_as_assets_processes_edges_and_column_edges(tmp_path):
    config = make_project(tmp_path, {"local": {"type": "duckdb", "path": "l.duckdb"}})
    apply(config)
    db = tmp_path / "l.duckdb"
    assert rows(db, "SELECT count(*) FROM processes") == [(4,)]
    assert ("build_fct_orders", "postgres:shop.public.customers", "snowflake:ANALYTICS.marts.fct_orders") in rows(
        db, "SELECT process_id, source, target FROM edges")
    assert rows(db, "SELECT count(*) FROM column_edges") == [(7,)]
    assert rows(db, "SELECT bool_and(partial) FROM assets") == [(True,)]
    assert not plan(config).has_changes


def test_upsert_mode_creates_full_assets(tmp_path):
    config = make_project(tmp_path, {"local": {"type": "duckdb", "path": "l.duckdb"}},
                          defaults={"input_handling": "UPSERT"})
    apply(config)
    assert rows(tmp_path / "l.duckdb", "SELECT bool_or(partial) FROM assets") == [(False,)]


def test_downstream_traversal_with_a_recursive_cte(tmp_path):
    config = make_project(tmp_path, {"local": {"type": "duckdb", "path": "l.duckdb"}})
    apply(config)
    downstream = rows(tmp_path / "l.duckdb", """
        WITH RECURSIVE down(asset, depth) AS (
            SELECT 'postgres:shop.public.orders', 0
            UNION
            SELECT e.target, d.depth + 1 FROM edges e JOIN down d ON e.source = d.asset WHERE d.depth < 10)
        SELECT asset FROM down WHERE depth > 0 ORDER BY asset""")
    assert [r[0] for r in downstream] == [
        "looker:sales.dashboards.revenue", "snowflake:ANALYTICS.marts.fct_orders",
        "snowflake:ANALYTICS.raw.orders", "snowflake:FINANCE.reporting.monthly_revenue"]


def test_edited_and_removed_processes_replace_and_remove_their_rows(tmp_path):
    manifest = write_generated(tmp_path / "m" / "gen.yaml", 5, columns=2)
    config = make_project(tmp_path, {"local": {"type": "duckdb", "path": "l.duckdb"}}, tmp_path / "m")
    apply(config)
    write_generated(manifest, 4, columns=1)
    _, report = apply(config)
    db = tmp_path / "l.duckdb"
    assert rows(db, "SELECT count(*) FROM processes") == [(4,)]
    assert rows(db, "SELECT count(*) FROM column_edges") == [(4,)]
    assert rows(db, "SELECT count(*) FROM edges WHERE process_id = 'proc_00004'") == [(0,)]
    assert report.deleted >= 1 and report.updated == 4


def test_a_process_row_deleted_by_hand_is_drift_and_is_restored(tmp_path):
    config = make_project(tmp_path, {"local": {"type": "duckdb", "path": "l.duckdb"}})
    apply(config)
    with duckdb.connect(str(tmp_path / "l.duckdb")) as db:
        db.execute("DELETE FROM processes WHERE id = 'rpt_revenue'")
    drift = plan(config)
    (change,) = drift.changes
    assert change.address == "process.rpt_revenue" and "missing from the target" in change.reason
    assert not plan(config, refresh=False).has_changes
    apply(config)
    assert not plan(config).has_changes


def test_a_row_edited_in_place_is_drift_and_is_restored(tmp_path, lac):
    config = make_project(tmp_path, {"local": {"type": "duckdb", "path": "l.duckdb"}})
    apply(config)
    with duckdb.connect(str(tmp_path / "l.duckdb")) as db:
        db.execute("UPDATE processes SET name = 'hand edited' WHERE id = 'rpt_revenue'")
    (change,) = plan(config).changes
    assert change.address == "process.rpt_revenue" and "changed in the target" in change.reason
    apply(config)
    assert rows(tmp_path / "l.duckdb", "SELECT name FROM processes WHERE id = 'rpt_revenue'") != [("hand edited",)]
    assert not plan(config).has_changes


def test_a_corrupt_store_is_an_error_not_a_traceback(tmp_path, lac):
    make_project(tmp_path, {"local": {"type": "duckdb", "path": "l.duckdb"}})
    (tmp_path / "l.duckdb").write_bytes(b"DUCK" * 4096)
    result = lac("plan", cwd=tmp_path)
    assert result.code == 1 and "l.duckdb" in result.err and "Traceback" not in result.err, result.err


def test_lineage_written_by_others_is_listed_as_unmanaged_and_never_touched(tmp_path, lac):
    config = make_project(tmp_path, {"local": {"type": "duckdb", "path": "l.duckdb"}})
    apply(config)
    with duckdb.connect(str(tmp_path / "l.duckdb")) as db:
        db.execute("INSERT INTO processes (address, id, name) VALUES ('process.hand_made', 'hand_made', 'By hand')")
    shown = lac("plan", "--show-unmanaged", cwd=tmp_path)
    assert "1 unmanaged (in the target, not created by this tool; never touched):\n    . process.hand_made" in shown.out
    assert "no changes" in shown.out
    apply(config)
    assert rows(tmp_path / "l.duckdb", "SELECT name FROM processes WHERE id = 'hand_made'") == [("By hand",)]
