"""The embedded DuckDB target: a real DuckDB file users can query with SQL."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from types import SimpleNamespace

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lineage_as_code.canonical import canonical_json, canonical_text
from lineage_as_code.config import TargetConfig
from lineage_as_code.model import Asset, ColumnMapping, ColumnRef, Lineage, Process, SourceLocation
from lineage_as_code.plan.contract import Current, KnownResources, Policy, content_hash
from lineage_as_code.plan.model import Action
from lineage_as_code.state import open_state_store
from lineage_as_code.targets import duckdb as duckdb_target
from lineage_as_code.targets import lineage_resources as lineage_resources_module
from lineage_as_code.targets.lineage_resources import asset_body, lineage_resources, process_body
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


def _held_rows(path, refresh):
    """What the store holds, row by row, read with plain SQL: what ``read`` must answer, whatever state says."""
    tables = [("assets", "asset", "lower(partial::VARCHAR)")] + ([("processes", "process", "'false'")] if refresh else [])
    out = {}
    for table, kind, partial in tables:
        for address, digest, flag, owner in rows(path, f"SELECT address, CASE WHEN row_hash IS NULL OR row_hash = "
                                                      f"{duckdb_target._ROW_HASH[table]} THEN content_hash ELSE "
                                                      f"'edited in place' END, {partial}, coalesce(managed_by, '') "
                                                      f"FROM {table}"):
            out[address] = Current(address, kind, address, digest, flag == "true", owner)
    return out


@pytest.mark.parametrize("refresh", [True, False])
def test_a_read_answers_what_the_store_holds_whatever_state_records(tmp_path, refresh):
    config = make_project(tmp_path, {"local": {"type": "duckdb", "path": "l.duckdb"}})
    apply(config)
    db = tmp_path / "l.duckdb"
    entries = dict(open_state_store(config.state_path).read().entries("local"))
    assets = sorted(a for a in entries if a.startswith("asset."))
    processes = sorted(a for a in entries if a.startswith("process."))
    edited = processes[1]
    with duckdb.connect(str(db)) as conn:  # drift, lineage of others, a row edited in place
        conn.execute("DELETE FROM processes WHERE id = 'rpt_revenue'")
        conn.execute("UPDATE processes SET name = 'hand edited' WHERE address = ?", [edited])
        conn.execute("INSERT INTO processes (address, id, name) VALUES ('process.hand_made', 'hand_made', 'By hand')")
        conn.execute("UPDATE assets SET managed_by = 'another-project' WHERE address = ?", [assets[0]])
    # what state may say beside what the store holds: another hash, another flag, another id, another kind
    entries[assets[1]] = entries[assets[1]]._replace(hash="0" * 64 + ":partial")
    entries[assets[2]] = entries[assets[2]]._replace(partial=not entries[assets[2]].partial)
    entries[assets[3]] = entries[assets[3]]._replace(id="vendor-id")
    entries[processes[0]] = entries[processes[0]]._replace(kind="asset")
    del entries[assets[4]]
    entries["asset.nowhere:db.s.t"] = entries[assets[5]]._replace(id="asset.nowhere:db.s.t")
    target = duckdb_target.DuckDBTarget(TargetConfig("local", "duckdb", {"path": str(db)}, Policy()))
    held = target.read([], KnownResources(entries), refresh)
    expected = _held_rows(db, refresh)
    assert dict(held.items()) == expected
    assert len(held) == len(expected) and sorted(held) == sorted(expected)
    assert all(held.get(a) == c and a in held for a, c in expected.items())
    assert held.get("asset.nowhere:db.s.t") is None and "process.rpt_revenue" not in held
    if refresh:
        assert held[edited].hash == "edited in place" and held["process.hand_made"].owner == ""
    assert held[assets[0]].owner == "another-project"
    # and against a plain mapping of Currents, as an import passes
    assert dict(target.read([], dict(KnownResources(entries).items()), refresh).items()) == expected


# Content hashes written to state by earlier versions: a translate that hashed differently would plan
# an update of every process and asset a project holds.
_ORDERS = Asset("snowflake", "RAW", "shop", "orders")
_ODD = Asset("postgres", "", "pub.lic", 'we"ird\\näme\t', type="view", connection="prod:1")
_FCT = Asset("snowflake", "ANALYTICS", "marts", "fct_orders", connection="sf")
_PROCESSES = (
    Process("build_fct", "Build fct", (_ORDERS, _ODD), (_FCT,), description="Daily\nmart", sql="SELECT 1",
            owner="data@x", attributes=(("team", "core"), ("tier", "1")),
            columns=(ColumnMapping((ColumnRef(_ORDERS.key, "id"), ColumnRef(_ODD.key, "näme")),
                                   ColumnRef(_FCT.key, "id"), 'coalesce(id, "x")'),),
            source=SourceLocation("m.yaml", 3)),
    Process("derived", "Derived ✓", (_FCT,), (_ODD,), derived_by="sqlglot 30.30.0", source=SourceLocation("m.yaml", 9)),
)
PINNED = {
    'asset.postgres:`pub.lic`.`we"ird\\näme\t`': "3ed9a37dd40868509d956f9de9e527fa1ce00d8e814b15adcfeb9b49daff73d6",
    "asset.snowflake:ANALYTICS.marts.fct_orders": "01774b7b40983b9a59a2a2082a4fe5a4d21f0fe13237f48e4d63b2d72aa78379",
    "asset.snowflake:RAW.shop.orders": "3f3f0efff5c04c8f03acdeebb65ac78bf804724161ffa767819ad85c80c84a2a",
    "process.build_fct": "43f3d1c15dbbd729898347c2720e8a7e8f602a967d3a6d9676bb6f70e9327d04",
    "process.derived": "cce22526e7de449d4e2577419ca72b817b50d23d95e0874c126f35fb7be55de1",
}


def test_content_hashes_are_the_ones_earlier_versions_wrote_to_state():
    resources = lineage_resources(Lineage.build(_PROCESSES))
    assert {r.address: r.hash for r in resources} == PINNED
    by_address = {r.address: r for r in resources}
    assert by_address["process.build_fct"].requires == (
        "asset.snowflake:RAW.shop.orders", 'asset.postgres:`pub.lic`.`we"ird\\näme\t`',
        "asset.snowflake:ANALYTICS.marts.fct_orders")
    assert by_address["asset.snowflake:ANALYTICS.marts.fct_orders"].source == "m.yaml:3"


def test_a_lineage_handed_over_translates_as_a_shared_one_and_is_taken_apart():
    """The last translation of a run takes the lineage apart as it goes (each process and asset freed once
    translated); what it makes is what a translation of the shared lineage makes, in the same order."""
    shared = Lineage.build(_PROCESSES)
    expected = [(r.address, r.kind, r.source, r.requires, r.edges, r.hash, canonical_text(r.body))
                for r in lineage_resources(shared)]
    with pytest.raises(RuntimeError, match="handed over"):  # a shared lineage is never emptied
        shared.take()
    handed = replace(shared, owned=True)
    assert len(lineage_resources(handed)) == 5 and len(handed.processes) == 2  # only when asked to
    got = [(r.address, r.kind, r.source, r.requires, r.edges, r.hash, canonical_text(r.body))
           for r in duckdb_target.DuckDBTarget(TargetConfig("local", "duckdb", {}, Policy())).translate(handed)]
    assert got == expected and len(got) == 5
    assert handed.processes == () and not handed.assets
    assert len(shared.processes) == 2  # the shared one it was made from is as it was


_text = st.text(max_size=12)


@settings(max_examples=200, deadline=None)
@given(platform=_text, database=_text, schema=_text, name=_text, kind=_text, connection=_text,
       pid=_text, label=_text, sql=_text, attributes=st.dictionaries(_text, _text, max_size=3),
       columns=st.lists(st.tuples(st.lists(st.tuples(_text, _text), max_size=3), _text, _text, _text), max_size=3),
       derived_by=_text)
def test_every_body_reads_and_hashes_as_its_dict(platform, database, schema, name, kind, connection, pid, label,
                                                 sql, attributes, columns, derived_by):
    asset = Asset(platform, database, schema, name or "t", kind, connection)
    other = Asset("p", "", "", name + "2")
    mappings = tuple(ColumnMapping(tuple(ColumnRef(a, c) for a, c in sources), ColumnRef(ta, tc), transform)
                     for sources, ta, tc, transform in columns)
    process = Process(pid or "p", label, (asset,), (other,), description=label, sql=sql, owner=sql,
                      attributes=tuple(sorted(attributes.items())), columns=mappings, derived_by=derived_by)
    bodies = {r.address: r for r in lineage_resources(Lineage.build([process]))}
    for resource, expected in ((bodies[f"asset.{asset.key}"], asset_body(asset)),
                               (bodies[f"process.{process.id}"], process_body(process))):
        assert dict(resource.body) == expected and sorted(resource.body) == sorted(expected)
        assert {**resource.body, "partial": True} == {**expected, "partial": True}
        assert resource.hash == content_hash(expected)
        # what the cache and state store as its text is the text its hash was taken of
        assert canonical_text(resource.body) == canonical_json(expected)


@pytest.mark.parametrize("attributes", [
    (("tier", "1"), ("team", "core")),  # out of order
    (("team", "core"), ("team", "data")),  # a name twice: the last one is the dict's
    (("team", 7),),  # not a string
    (),
])
def test_a_process_built_by_hand_hashes_as_its_dict_whatever_its_attributes(attributes):
    process = Process("p", "P", (_ORDERS,), (_FCT,), attributes=attributes)
    (resource,) = [r for r in lineage_resources(Lineage.build([process])) if r.kind == "process"]
    assert resource.hash == content_hash(process_body(process))
    assert canonical_text(resource.body) == canonical_json(process_body(process))


def test_a_lineage_whose_asset_map_lacks_a_processs_asset_still_requires_it():
    process = Process("p", "P", (_ORDERS, _ODD), (_FCT, _ORDERS))
    resources = lineage_resources(Lineage((process,)))
    assert [r.address for r in resources] == ["process.p"]
    assert resources[0].requires == (f"asset.{_ORDERS.key}", f"asset.{_ODD.key}", f"asset.{_FCT.key}")
    assert resources[0].edges == tuple((i.key, o.key) for i in (_ORDERS, _ODD) for o in (_FCT, _ORDERS))


def test_rows_written_in_bulk_are_not_mistaken_for_rows_edited_in_place(tmp_path):
    """Apply hashes each row as it inserts it; a refresh hashes what the table holds. Attributes with
    quotes, non-ASCII text and nesting-looking values must hash the same both ways."""
    manifest = tmp_path / "m" / "odd.yaml"
    manifest.parent.mkdir()
    manifest.write_text(
        "version: 1\n"
        "processes:\n"
        "  - id: odd\n"
        "    name: Odd ✓\n"
        "    attributes: {team: 'Ünïcode \"q\"', spec: '{\"a\": [1, 2]}', empty: ''}\n"
        "    inputs: [snowflake:DB.raw.a]\n"
        "    outputs: [snowflake:DB.marts.b]\n", encoding="utf-8")
    config = make_project(tmp_path, {"local": {"type": "duckdb", "path": "l.duckdb"}}, tmp_path / "m")
    apply(config)
    assert not plan(config, refresh=True).has_changes
    with duckdb.connect(str(tmp_path / "l.duckdb")) as db:
        db.execute("""UPDATE processes SET attributes = '{"team": "other"}' WHERE id = 'odd'""")
    (change,) = plan(config, refresh=True).changes
    assert change.address == "process.odd" and "changed in the target" in change.reason


@pytest.mark.parametrize("sliced", [False, True])
def test_many_processes_land_with_their_lists_in_order_and_import_back_exactly(tmp_path, lac, monkeypatch, sliced):
    """Rows are taken apart from the bodies in SQL; each process's inputs, outputs and column mappings
    keep the manifest's order (which is part of its content), across batches of thousands of processes,
    across the runs a translation makes its resources in (a few hundred here), and across the slices of a
    batch its edges are taken apart in (``sliced``: a few bodies a slice)."""
    if sliced:
        monkeypatch.setattr(duckdb_target, "UNNEST_TEXT", 3000)
    monkeypatch.setattr(lineage_resources_module, "RUN", 777)
    lines = ["process_id,source,target,source_column,target_column,transform"]
    for p in range(3000):
        for table in ("zeta", "mid", "alpha"):  # neither sorted nor in the order of the asset map
            for out in ("t_out", "b_out"):
                lines.append(f"p{p},pg:db.raw.{table}_{p % 7},pg:db.marts.{out}_{p},,,")
        lines.append(f"p{p},pg:db.raw.zeta_{p % 7},pg:db.marts.t_out_{p},z,y,")
        lines.append(f"p{p},pg:db.raw.alpha_{p % 7},pg:db.marts.t_out_{p},a,y,")
        lines.append(f"p{p},pg:db.raw.mid_{p % 7},pg:db.marts.b_out_{p},m,b,\"cast(m as int)\"")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "lineage.csv").write_text("\n".join(lines) + "\n")
    # a memory limit for DuckDB itself far below its default: it spills rather than fail or hold more
    make_project(tmp_path, {"local": {"type": "duckdb", "path": "l.duckdb", "memory_limit": "16MB"}}, tmp_path / "m")
    assert lac("apply", "--auto-approve", cwd=tmp_path).code == 0
    # what the plan makes as columns is what the apply made and recorded as objects, body for body
    assert lac("plan", "--detailed-exitcode", cwd=tmp_path).code == 0
    with duckdb.connect(str(tmp_path / "l.duckdb"), read_only=True) as db:
        edges = db.execute("SELECT source, target FROM edges WHERE process_id = 'p2999' ORDER BY rowid").fetchall()
        columns = db.execute("SELECT source_column, target_column, transform FROM column_edges "
                             "WHERE process_id = 'p2999' ORDER BY rowid").fetchall()
        counts = db.execute("SELECT (SELECT count(*) FROM edges), (SELECT count(DISTINCT (process_id, source, target)) "
                            "FROM edges), (SELECT count(*) FROM column_edges)").fetchone()
    assert edges == [(f"pg:db.raw.{t}_3", f"pg:db.marts.{o}_2999") for t in ("zeta", "mid", "alpha")
                     for o in ("t_out", "b_out")]
    assert columns == [("z", "y", ""), ("a", "y", ""), ("m", "b", "cast(m as int)")]
    assert counts == (3000 * 6, 3000 * 6, 3000 * 3)  # every process's edges once: no slice lost or taken twice
    imported = lac("import", "local", "--out", "imported", "--adopt", cwd=tmp_path)
    assert imported.code == 0 and "could not be read back" not in imported.out + imported.err
    replanned = lac("plan", "imported", "--detailed-exitcode", cwd=tmp_path)
    assert replanned.code == 0, replanned.out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=12), max_size=30), st.integers(1, 40))
def test_bodies_are_taken_apart_in_runs_that_cover_them_in_order(texts, most):
    runs = duckdb_target._slices(texts, most)
    assert [i for start, stop in runs for i in range(start, stop)] == list(range(len(texts)))
    for start, stop in runs:
        assert stop > start
        assert stop - start == 1 or sum(map(len, texts[start:stop])) <= most


_ref = st.tuples(_text, _text)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.lists(_text, min_size=1, max_size=3), st.lists(_text, min_size=1, max_size=3),
                          st.lists(st.tuples(st.lists(_ref, min_size=1, max_size=3), _ref, _text), max_size=3),
                          st.dictionaries(_text, _text, max_size=2)),
                min_size=1, max_size=4))
def test_a_process_body_lands_as_its_edges_and_column_edges_in_the_order_it_lists_them(tmp_path_factory, drawn):
    """The store takes each process body apart in SQL: every input to every output, and every source of
    every column mapping, as rows in the body's order, and its attributes as JSON, whatever the keys, column
    names, transforms and attributes hold (quotes, backslashes, control characters, any script)."""
    changes, edges, column_edges = [], [], []
    for n, (inputs, outputs, columns, attributes) in enumerate(drawn):
        pid = f"p{n}"
        body = {"id": pid, "name": pid, "description": "", "sql": "", "owner": "", "attributes": attributes,
                "inputs": inputs, "outputs": outputs,
                "columns": [{"sources": [list(s) for s in sources], "target": list(target), "transform": how}
                            for sources, target, how in columns]}
        changes.append(SimpleNamespace(address=f"process.{pid}", action=Action.CREATE, after=body,
                                       after_hash=content_hash(body), owner=""))
        edges += [(pid, i, o) for i in inputs for o in outputs]
        column_edges += [(pid, *s, *target, how) for sources, target, how in columns for s in sources]
    target = duckdb_target.DuckDBTarget(TargetConfig(
        "local", "duckdb", {"path": str(tmp_path_factory.mktemp("store") / "l.duckdb")}, Policy()))
    try:
        db = target._db()
        duckdb_target.DuckDBTarget._write_processes(db, changes, datetime(2026, 1, 1))
        assert db.execute("SELECT process_id, source, target FROM edges ORDER BY rowid").fetchall() == edges
        assert db.execute("SELECT process_id, source, source_column, target, target_column, transform "
                          "FROM column_edges ORDER BY rowid").fetchall() == column_edges
        assert [json.loads(text) for (text,) in db.execute("SELECT attributes FROM processes ORDER BY id").fetchall()] == [
            attributes for _, _, _, attributes in drawn]
    finally:
        target.close()
