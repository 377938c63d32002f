"""Column lineage read from SQL, per dialect: joins, CTEs, subqueries, SELECT * with a schema,
window functions and UNION, each written the way that dialect quotes and names things."""

from __future__ import annotations

import pytest

from lineage_as_code.compile.sql import SqlLineageError, build_sql_lineage, dialect_for

# (dialect, quote a name, how the dialect folds an unquoted column name)
DIALECTS = [
    ("snowflake", lambda n: n.upper(), str.upper),
    ("bigquery", lambda n: f"`{n}`", str.lower),
    ("postgres", lambda n: f'"{n}"', str.lower),
    ("duckdb", lambda n: f'"{n}"', str.lower),
]


def _flows(sql: str, dialect: str, schema=None) -> dict[str, set[str]]:
    read = build_sql_lineage(sql, dialect, schema)
    return {f.target.lower(): {f"{'.'.join(t).lower()}.{c.lower()}" for t, c in f.sources} for f in read.columns}


@pytest.mark.parametrize(("dialect", "q", "fold"), DIALECTS)
def test_join(dialect, q, fold):
    sql = f"""select o.id, c.name as customer, o.amount * (1 - c.discount) as net
              from {q('shop')}.{q('orders')} o join shop.customers c on c.id = o.customer_id"""
    assert _flows(sql, dialect) == {"id": {"shop.orders.id"}, "customer": {"shop.customers.name"},
                                    "net": {"shop.orders.amount", "shop.customers.discount"}}


@pytest.mark.parametrize(("dialect", "q", "fold"), DIALECTS)
def test_cte(dialect, q, fold):
    sql = f"""with paid as (select order_id, sum(amount) as total from {q('raw')}.{q('payments')} group by order_id)
              select p.order_id, p.total from paid p"""
    assert _flows(sql, dialect) == {"order_id": {"raw.payments.order_id"}, "total": {"raw.payments.amount"}}


@pytest.mark.parametrize(("dialect", "q", "fold"), DIALECTS)
def test_subquery(dialect, q, fold):
    sql = """select s.region, s.revenue from (
                 select r.region, sum(o.amount) as revenue from raw.orders o join raw.regions r on r.id = o.region_id
                 group by r.region) s"""
    assert _flows(sql, dialect) == {"region": {"raw.regions.region"}, "revenue": {"raw.orders.amount"}}


@pytest.mark.parametrize(("dialect", "q", "fold"), DIALECTS)
def test_select_star_expands_with_a_schema(dialect, q, fold):
    schema = {"raw": {"orders": {"id": "int", "amount": "int"}, "refunds": {"order_id": "int", "refund": "int"}}}
    sql = "select * from raw.orders o join raw.refunds r on r.order_id = o.id"
    assert _flows(sql, dialect, schema) == {"id": {"raw.orders.id"}, "amount": {"raw.orders.amount"},
                                            "order_id": {"raw.refunds.order_id"}, "refund": {"raw.refunds.refund"}}
    assert {fold(f.target) for f in build_sql_lineage(sql, dialect, schema).columns} == {
        fold(c) for c in ("id", "amount", "order_id", "refund")}
    assert _flows(sql, dialect) == {}  # without a schema a star names no column


@pytest.mark.parametrize(("dialect", "q", "fold"), DIALECTS)
def test_window_function(dialect, q, fold):
    sql = """select o.id, row_number() over (partition by o.customer_id order by o.ordered_at) as seq,
                    sum(o.amount) over (partition by o.customer_id) as customer_total
             from raw.orders o"""
    flows = _flows(sql, dialect)
    assert flows["seq"] == {"raw.orders.customer_id", "raw.orders.ordered_at"}
    assert flows["customer_total"] == {"raw.orders.amount", "raw.orders.customer_id"}
    transform = next(f.transform for f in build_sql_lineage(sql, dialect).columns if f.target.lower() == "seq")
    assert "ROW_NUMBER()" in transform.upper() and "PARTITION BY" in transform.upper()


@pytest.mark.parametrize(("dialect", "q", "fold"), DIALECTS)
def test_union(dialect, q, fold):
    sql = """select o.id, o.amount from raw.orders o
             union all select r.order_id, -r.refund from raw.refunds r"""
    assert _flows(sql, dialect) == {"id": {"raw.orders.id", "raw.refunds.order_id"},
                                    "amount": {"raw.orders.amount", "raw.refunds.refund"}}


@pytest.mark.parametrize(("dialect", "q", "fold"), DIALECTS)
def test_insert_names_what_it_writes_apart_from_what_it_reads(dialect, q, fold):
    read = build_sql_lineage("insert into marts.daily select d.day, d.total from raw.daily d", dialect)
    assert read.writes == (("marts", "daily"),) and read.reads == (("raw", "daily"),)


def test_dialect_specific_syntax_is_read_in_its_dialect():
    bq = "select t.id from `my-project.raw.orders` t where t.ts > TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 1 DAY)"
    assert build_sql_lineage(bq, "bigquery").reads == (("my-project", "raw", "orders"),)
    sf = "select v.value:id::int as id from raw.events e, lateral flatten(input => e.payload) v"
    assert build_sql_lineage(sf, "snowflake").reads == (("raw", "events"),)
    pg = "select o.id, o.tags->>'kind' as kind from raw.orders o where o.id = any(array[1, 2])"
    assert _flows(pg, "postgres")["kind"] == {"raw.orders.tags"}
    duck = "select o.id, list_agg(o.sku) as skus from raw.orders o group by all"
    assert build_sql_lineage(duck, "duckdb").reads == (("raw", "orders"),)


def test_unparsable_sql_is_an_error_with_the_reason():
    with pytest.raises(SqlLineageError, match="cannot parse the SQL"):
        build_sql_lineage("select from from where", "postgres")


@pytest.mark.parametrize(("platform", "dialect"), [("snowflake", "snowflake"), ("postgresql", "postgres"),
                                                   ("sqlserver", "tsql"), ("made-up", None)])
def test_platform_to_dialect(platform, dialect):
    assert dialect_for(platform) == dialect
