"""Lineage read from SQL with sqlglot: the tables a statement reads and writes, and for every output
column the source columns it is computed from (through joins, CTEs, subqueries, ``UNION`` and
window functions; ``SELECT *`` is expanded when a schema is given).

``build_sql_lineage`` is pure: SQL text, a dialect and an optional schema in, a ``SqlLineage`` value
out; SQL that cannot be parsed raises SqlLineageError with sqlglot's reason. Table names are kept
as tuples of segments (``catalog, db, name``, as written), so callers match them to assets by their
trailing segments. ``dialect_for`` maps a platform name to the sqlglot dialect that reads it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import Node, lineage
from sqlglot.optimizer.scope import traverse_scope

from ..errors import CompileError

DERIVED_BY = f"sqlglot {sqlglot.__version__}"

# Platforms whose name is not a sqlglot dialect; every other platform is tried as its own name.
_DIALECTS = {"postgresql": "postgres", "redshift": "redshift", "databricks": "databricks", "spark": "spark",
             "bigquery": "bigquery", "snowflake": "snowflake", "duckdb": "duckdb", "mssql": "tsql",
             "sqlserver": "tsql", "synapse": "tsql", "fabric": "fabric", "motherduck": "duckdb", "athena": "athena",
             "trino": "trino", "presto": "presto", "hive": "hive", "mysql": "mysql", "mariadb": "mysql",
             "oracle": "oracle", "clickhouse": "clickhouse", "teradata": "teradata", "sqlite": "sqlite",
             "postgres": "postgres", "dremio": "dremio", "doris": "doris", "starrocks": "starrocks"}

_TOKEN = re.compile(r"<Token token_type: [^,]*, text: (.*?), line: \d+.*?>")
TableName = tuple[str, ...]
logging.getLogger("sqlglot").addHandler(logging.NullHandler())  # its warnings are not ours to print
Schema = Mapping[str, object]
# sqlglot's own errors, and what its optimizer raises on SQL it does not expect: one model's odd SQL
# must cost that model its column lineage, never the whole compile
_SQLGLOT_FAILURES = (SqlglotError, ValueError, KeyError, TypeError, AttributeError, IndexError)


class SqlLineageError(CompileError):
    """SQL that sqlglot cannot parse or resolve; the message says where and why."""


@dataclass(frozen=True)
class ColumnFlow:
    """One output column and the table columns it is computed from; ``transform`` is the
    expression when the column is not a plain copy."""

    target: str
    sources: tuple[tuple[TableName, str], ...]
    transform: str = ""


@dataclass(frozen=True)
class SqlLineage:
    """What one statement reads and writes, and its column flows (sorted, stable)."""

    reads: tuple[TableName, ...]
    writes: tuple[TableName, ...]
    columns: tuple[ColumnFlow, ...]


def dialect_for(platform: str) -> str | None:
    """The sqlglot dialect for a platform name (None: sqlglot's generic SQL)."""
    name = platform.lower()
    if name in _DIALECTS:
        return _DIALECTS[name]
    try:
        sqlglot.Dialect.get_or_raise(name)
    except ValueError:
        return None
    return name


def table_name(table: exp.Table) -> TableName:
    """The segments of a table reference as written (catalog, db, name; empty parts left out)."""
    return tuple(part for part in (table.catalog, table.db, table.name) if part)


def _statement(sql: str, dialect: str | None) -> exp.Expr:
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except _SQLGLOT_FAILURES as exc:
        raise SqlLineageError(f"cannot parse the SQL ({dialect or 'generic'} dialect): {_first_line(exc)}") from exc
    if not statements:
        raise SqlLineageError("the SQL holds no statement")
    return statements[-1]


def _first_line(exc: Exception) -> str:
    """sqlglot's reason without its token dump: the description and where in the SQL."""
    errors = getattr(exc, "errors", None)
    if errors and isinstance(errors[0], dict) and errors[0].get("description"):
        first = errors[0]
        description = _TOKEN.sub(lambda m: repr(m.group(1)), str(first["description"]))
        return f"{description} (SQL line {first.get('line', '?')}, column {first.get('col', '?')})"
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _split_write(statement: exp.Expr) -> tuple[tuple[TableName, ...], exp.Expr | None]:
    """The tables a statement writes and the query whose columns feed them (None: no query)."""
    if isinstance(statement, exp.Insert | exp.Create):
        target = statement.this
        if isinstance(target, exp.Schema):
            target = target.this
        writes = (table_name(target),) if isinstance(target, exp.Table) else ()
        query = statement.expression
        return writes, query if isinstance(query, exp.Query) else None
    if isinstance(statement, exp.Merge):
        target = statement.this
        return ((table_name(target),) if isinstance(target, exp.Table) else ()), None
    return (), statement if isinstance(statement, exp.Query) else None


def _reads(statement: exp.Expr, writes: tuple[TableName, ...]) -> tuple[TableName, ...]:
    ctes = {cte.alias_or_name for cte in statement.find_all(exp.CTE)}
    found: set[TableName] = set()
    for table in statement.find_all(exp.Table):
        name = table_name(table)
        if not name or (len(name) == 1 and name[0] in ctes):
            continue
        found.add(name)
    return tuple(sorted(found - set(writes)))


def _leaves(node: Node, column: str) -> Iterator[tuple[Node, str]]:
    """The leaves under ``node`` with the column each gives; a leaf reached through an unexpanded
    ``SELECT *`` gives the column of the nearest named node above it (a star passes names through)."""
    if not node.downstream:
        yield node, column
    for child in node.downstream:
        own = child.name.rsplit(".", 1)[-1]
        yield from _leaves(child, column if own == "*" else own)


def _flows(query: exp.Expr, dialect: str | None, schema: Schema | None) -> tuple[ColumnFlow, ...]:
    try:
        # with a schema, a column it does not know is an error (the caller retries without one) rather
        # than a guess that pins it on whichever column the schema does know
        nodes = lineage(None, query, dict(schema or {}), dialect=dialect, trim_selects=False, copy=False,
                        quote_identifiers=False, validate_qualify_columns=bool(schema))
    except _SQLGLOT_FAILURES as exc:
        raise SqlLineageError(f"cannot trace the columns of the SQL: {_first_line(exc)}") from exc
    flows = []
    for name, node in nodes.items():
        if name == "*":
            continue  # a star that no schema could expand names no column
        sources = sorted({(table_name(leaf.expression), column) for leaf, column in _leaves(node, name)
                          if isinstance(leaf.expression, exp.Table)})
        if not sources:
            continue
        expr = node.expression.this if isinstance(node.expression, exp.Alias) else node.expression
        transform = "" if isinstance(expr, exp.Column) else expr.sql(dialect=dialect)
        flows.append(ColumnFlow(name, tuple(sources), transform))
    return tuple(sorted(flows, key=lambda f: f.target))


def build_sql_lineage(sql: str, dialect: str | None = None, schema: Schema | None = None,
                      columns: bool = True) -> SqlLineage:
    """Return what ``sql`` (its last statement) reads and writes and, with ``columns``, its column flows.

    ``schema`` is nested ``{catalog: {db: {table: {column: type}}}}`` (or fewer levels, the same for
    every table); it lets ``SELECT *`` expand and unqualified columns resolve. Raises SqlLineageError.
    """
    statement = _statement(sql, dialect)
    writes, query = _split_write(statement)
    reads = _reads(statement, writes)
    flows = _flows(query, dialect, schema) if columns and query is not None else ()
    return SqlLineage(reads, writes, flows)


def tables_of_scope(sql: str, dialect: str | None = None) -> tuple[TableName, ...]:
    """Every physical table any scope of ``sql`` selects from (CTE names resolved away)."""
    statement = _statement(sql, dialect)
    found = {table_name(source) for scope in traverse_scope(statement)
             for source in scope.sources.values() if isinstance(source, exp.Table)}
    return tuple(sorted(found))
