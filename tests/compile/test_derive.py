"""SQL-derived lineage inside manifests (derive: columns|all) and lac validate --check-sql."""

from __future__ import annotations

import duckdb

from lineage_as_code.manifest import ManifestInput, build_lineage

MANIFEST = """
version: 1
defaults: {platform: postgres, database: shop}
processes:
  - id: build_orders
    derive: %s
    sql: |
      insert into marts.orders
      select o.id, o.amount - coalesce(r.amount, 0) as net
      from raw.orders o left join raw.refunds r on r.order_id = o.id
    inputs: %s
    outputs: [marts.orders]
"""


def _lineage(path):
    return build_lineage([ManifestInput(path.name, path.read_bytes())])


def test_derive_all_reads_inputs_and_columns_from_sql(lac, write):
    path = write("m.yaml", MANIFEST % ("all", "[]"))
    result = lac("validate", str(path))
    assert result.code == 0, result.err
    assert "2 edge(s), 3 column edge(s)" in result.out
    (proc,) = _lineage(path).processes
    assert {a.key for a in proc.inputs} == {"postgres:shop.raw.orders", "postgres:shop.raw.refunds"}
    net = next(m for m in proc.columns if m.target.column == "net")
    assert {str(s) for s in net.sources} == {"postgres:shop.raw.orders.amount", "postgres:shop.raw.refunds.amount"}
    assert proc.derived_by.startswith("sqlglot ")


def test_derive_columns_keeps_declared_inputs_and_maps_only_their_columns(lac, write):
    path = write("m.yaml", MANIFEST % ("columns", "[raw.orders]"))
    (proc,) = _lineage(path).processes
    assert [a.key for a in proc.inputs] == ["postgres:shop.raw.orders"]
    assert {str(s) for m in proc.columns for s in m.sources} == {"postgres:shop.raw.orders.id",
                                                                 "postgres:shop.raw.orders.amount"}


def test_declared_columns_win_over_derived_ones(write):
    text = (MANIFEST % ("columns", "[raw.orders, raw.refunds]")) + \
        "    columns:\n      - {from: raw.orders.amount, to: marts.orders.net, transform: by hand}\n"
    (proc,) = _lineage(write("m.yaml", text)).processes
    assert [m.transform for m in proc.columns if m.target.column == "net"] == ["by hand"]


def test_a_process_without_derive_is_not_derived(write):
    text = (MANIFEST % ("columns", "[raw.orders]")).replace("    derive: columns\n", "")
    (proc,) = _lineage(write("m.yaml", text)).processes
    assert (proc.columns, proc.derived_by) == ((), "")


def test_sql_that_cannot_be_parsed_is_a_problem_at_its_line(lac, write):
    text = (MANIFEST % ("all", "[]")).replace("insert into marts.orders", "insert into into ((")
    result = lac("validate", str(write("m.yaml", text)))
    assert result.code == 1 and "m.yaml:6: processes[0].sql: cannot parse the SQL (postgres dialect)" in result.err
    assert "SQL line 1" in result.err


def test_check_sql_reports_both_directions(lac, write):
    path = write("m.yaml", MANIFEST % ("columns", "[raw.orders, raw.customers]"))
    assert lac("validate", str(path)).code == 0
    result = lac("validate", "--check-sql", str(path))
    assert result.code == 1
    assert "m.yaml:4: sql reads raw.refunds, which inputs do not list" in result.err
    assert "m.yaml:4: inputs list postgres:shop.raw.customers, which sql does not read" in result.err


def test_check_sql_passes_when_they_agree(lac, write):
    path = write("m.yaml", (MANIFEST % ("all", "[]")))
    result = lac("validate", "--check-sql", str(path))
    assert result.code == 0, result.err


def test_check_sql_reports_sql_it_cannot_parse(lac, write):
    text = (MANIFEST % ("columns", "[raw.orders]")).replace("    derive: columns\n", "").replace(
        "insert into marts.orders", "insert into into ((")
    result = lac("validate", "--check-sql", str(write("m.yaml", text)))
    assert result.code == 1 and "m.yaml:4: sql: process 'build_orders': cannot parse the SQL" in result.err


def test_a_derived_process_is_marked_in_the_duckdb_store(lac, tmp_path):
    (tmp_path / "m.yaml").write_text(
        "version: 1\ndefaults: {platform: postgres, database: shop}\nprocesses:\n"
        "  - id: p\n    derive: all\n    sql: INSERT INTO mart.t SELECT a.id, b.x FROM raw.a a JOIN raw.b b ON a.id = b.id\n"
        "    outputs: [mart.t]\n  - {id: q, inputs: [mart.t], outputs: [mart.u]}\n")
    assert lac("apply", "--auto-approve", "m.yaml", cwd=tmp_path).code == 0
    with duckdb.connect(str(tmp_path / ".lac" / "lineage.duckdb"), read_only=True) as db:
        rows = dict(db.execute("SELECT id, derived_by FROM processes").fetchall())
    assert rows["q"] is None and rows["p"].startswith("sqlglot ")
