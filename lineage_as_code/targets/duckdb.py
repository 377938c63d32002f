"""The embedded DuckDB lineage store: the default target, a real DuckDB file, no account needed.

Tables (query them with SQL; the README has traversal examples):
    assets(address, key, platform, database, schema, name, type, connection, partial, content_hash, updated_at,
           managed_by)
    processes(address, id, name, description, sql, owner, attributes JSON, content_hash, updated_at, managed_by,
              derived_by)                                   -- derived_by: the tool that read it from SQL, or NULL
    edges(process_id, source, target)                       -- asset keys
    column_edges(process_id, source, source_column, target, target_column, transform)

Each batch is one transaction: a crash leaves the file as it was before the batch. ``managed_by``
is the ownership marker: the state lineage id of the project that wrote the row, so rows written
just before a crash (or under a lost state file) are recognised as this project's, and rows other
people or projects wrote are never touched. A plan opens the file read-only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from ..canonical import plain_dict
from ..config import TargetConfig
from ..errors import TerminalTargetError
from ..model import Lineage
from ..plan.model import Action, Change
from .base import ASSET, Capabilities, Current, ItemResult, Resource
from .lineage_resources import lineage_resources

SCHEMA = """
CREATE TABLE IF NOT EXISTS assets (
    address VARCHAR PRIMARY KEY, key VARCHAR NOT NULL, platform VARCHAR, database VARCHAR, schema VARCHAR,
    name VARCHAR, type VARCHAR, connection VARCHAR, partial BOOLEAN NOT NULL DEFAULT FALSE,
    content_hash VARCHAR, updated_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS processes (
    address VARCHAR PRIMARY KEY, id VARCHAR NOT NULL, name VARCHAR, description VARCHAR, sql VARCHAR,
    owner VARCHAR, attributes JSON, content_hash VARCHAR, updated_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS edges (process_id VARCHAR NOT NULL, source VARCHAR NOT NULL, target VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS column_edges (
    process_id VARCHAR NOT NULL, source VARCHAR NOT NULL, source_column VARCHAR NOT NULL,
    target VARCHAR NOT NULL, target_column VARCHAR NOT NULL, transform VARCHAR);
ALTER TABLE assets ADD COLUMN IF NOT EXISTS managed_by VARCHAR;
ALTER TABLE processes ADD COLUMN IF NOT EXISTS managed_by VARCHAR;
ALTER TABLE processes ADD COLUMN IF NOT EXISTS derived_by VARCHAR;
ALTER TABLE assets ADD COLUMN IF NOT EXISTS row_hash VARCHAR;
ALTER TABLE processes ADD COLUMN IF NOT EXISTS row_hash VARCHAR;
"""
# What a row holds, hashed in SQL: a refresh compares it with what apply wrote, so a row edited in
# place (UPDATE processes SET name = ...) is drift, like a deleted one. ``attributes`` is the JSON column
# as text; apply hashes the incoming text cast the same way, in the INSERT that writes the row.
def _row_hash(table: str, attributes: str = "attributes") -> str:
    if table == "assets":
        return "md5(concat_ws(chr(31), key, platform, database, schema, name, type, connection, partial::VARCHAR))"
    return (f"md5(concat_ws(chr(31), id, name, description, sql, owner, {attributes}::VARCHAR, "
            "coalesce(derived_by, '')))")


_ROW_HASH = {"assets": _row_hash("assets"), "processes": _row_hash("processes")}
_INCOMING_ROW_HASH = {"assets": _row_hash("assets"), "processes": _row_hash("processes", "attributes::JSON")}
_ASSET_COLUMNS = ["address", "key", "platform", "database", "schema", "name", "type", "connection", "partial",
                  "content_hash", "updated_at", "managed_by"]
_PROCESS_COLUMNS = ["address", "id", "name", "description", "sql", "owner", "attributes", "content_hash",
                    "updated_at", "managed_by", "derived_by"]


def _frame(data: Any, columns: list[str] | None = None) -> Any:
    """A pandas DataFrame; pandas is imported only when something is written (a plan served from
    the cache never needs it)."""
    import pandas as pd

    return pd.DataFrame(data, columns=columns)


def _insert(db: duckdb.DuckDBPyConnection, table: str, frame: Any) -> None:
    """Bulk-insert a frame whose columns are named as the table's (assets and processes with their
    row hash, taken in the same statement)."""
    db.register("incoming", frame)
    try:
        columns = ", ".join(frame.columns)
        if table in _INCOMING_ROW_HASH:
            db.execute(f"INSERT INTO {table} ({columns}, row_hash) SELECT *, {_INCOMING_ROW_HASH[table]} FROM incoming")
        else:
            db.execute(f"INSERT INTO {table} ({columns}) SELECT * FROM incoming")
    finally:
        db.unregister("incoming")


def _process_columns(db: duckdb.DuckDBPyConnection) -> set[str]:
    """The columns of the processes table (older stores lack the later ones)."""
    return {c for (c,) in db.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = 'processes'")
            .fetchall()}


def _held_queries(columns: set[str], refresh: bool) -> list[tuple[str, list[str]]]:
    """Per table a read looks at, what it takes from each row: address, the content hash it holds ('edited
    in place' when the row no longer matches what apply wrote), partial and ownership marker, as text."""
    marker = "coalesce(managed_by, '')" if "managed_by" in columns else "''"

    def held(table: str) -> str:
        if "row_hash" not in columns:
            return "content_hash"
        return (f"CASE WHEN row_hash IS NULL OR row_hash = {_ROW_HASH[table]} THEN content_hash "
                "ELSE 'edited in place' END")
    tables = [("assets", ["address", held("assets"), "lower(partial::VARCHAR)", marker])]
    if refresh:
        tables.append(("processes", ["address", held("processes"), "'false'", marker]))
    return tables


class DuckDBTarget:
    """Lineage rows in a local DuckDB file (``path`` setting, default ``.lac/lineage.duckdb``)."""

    def __init__(self, config: TargetConfig) -> None:
        self.name = config.name
        self.path = str(config.settings.get("path", ".lac/lineage.duckdb"))
        self._conn: duckdb.DuckDBPyConnection | None = None

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(max_batch_size=50_000, max_parallel=1, ownership_marker=True, requests_per_batch=0,
                            adopt_by_hash=True)

    def _db(self) -> duckdb.DuckDBPyConnection:
        if self._conn is None:
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                self._conn = duckdb.connect(self.path)
                self._conn.execute(SCHEMA)
            except (duckdb.Error, OSError) as exc:
                raise TerminalTargetError(f"target {self.name!r}: cannot open {self.path}: {exc}") from exc
        return self._conn

    def translate(self, lineage: Lineage) -> list[Resource]:
        return lineage_resources(lineage)

    def read(self, desired: Sequence[Resource], known: Mapping[str, Current], refresh: bool) -> dict[str, Current]:
        """What the store holds, read through a read-only connection (closed before any apply), so a
        plan works while someone else has the file open."""
        if not Path(self.path).exists() or self._conn is not None:
            return self._read(self._conn, refresh) if self._conn is not None else {}
        db = self._read_only()
        try:
            return self._read(db, refresh)
        finally:
            db.close()

    def _read_only(self) -> duckdb.DuckDBPyConnection:
        try:
            return duckdb.connect(self.path, read_only=True)
        except duckdb.Error as exc:
            raise TerminalTargetError(f"target {self.name!r}: cannot read {self.path}: {exc}") from exc

    def held_digest(self, refresh: bool) -> str | None:
        """Per table ``read`` looks at: its columns, its row count and the XOR of one 128-bit digest per
        row of what ``read`` takes from it (addresses are primary keys, so no two rows cancel out), all in
        one SQL pass; the file's absence is its own digest."""
        if self._conn is not None or not Path(self.path).exists():
            return None if self._conn is not None else "absent"
        db = self._read_only()
        try:
            columns = _process_columns(db)
            parts = [sorted(columns)]
            for table, query in _held_queries(columns, refresh):
                fields = ", ".join(f"coalesce(({q})::VARCHAR, chr(0))" for q in query)
                row = db.execute(f"SELECT count(*), bit_xor(md5_number(concat_ws(chr(31), {fields}))) "
                                 f"FROM {table}").fetchone()
                parts.append([table, *map(str, row or ())])
        except duckdb.CatalogException:
            return "empty"
        except duckdb.Error as exc:
            raise TerminalTargetError(f"cannot read the DuckDB store: {exc}") from exc
        finally:
            db.close()
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()

    @staticmethod
    def _read(db: duckdb.DuckDBPyConnection, refresh: bool) -> dict[str, Current]:
        out: dict[str, Current] = {}
        owners: dict[str, str] = {}  # one string per ownership marker, not one per row
        try:
            queries = dict(_held_queries(_process_columns(db), refresh))
            for address, digest, partial, owner in db.execute(
                    f"SELECT {', '.join(queries['assets'])} FROM assets").fetchall():
                out[address] = Current(address, ASSET, address, digest, partial == "true", owners.setdefault(owner, owner))
            if refresh:
                for address, digest, _, owner in db.execute(
                        f"SELECT {', '.join(queries['processes'])} FROM processes").fetchall():
                    out[address] = Current(address, "process", address, digest, False, owners.setdefault(owner, owner))
        except duckdb.CatalogException:
            return {}  # a file without the tables yet holds nothing
        except duckdb.Error as exc:
            raise TerminalTargetError(f"cannot read the DuckDB store: {exc}") from exc
        return out

    def apply(self, batch: Sequence[Change]) -> list[ItemResult]:
        db = self._db()
        now = datetime.now(UTC).replace(tzinfo=None)
        assets = [c for c in batch if c.kind == ASSET]
        processes = [c for c in batch if c.kind == "process"]
        try:
            db.execute("BEGIN TRANSACTION")
            self._write_assets(db, assets, now)
            self._write_processes(db, processes, now)
            db.execute("COMMIT")
        except duckdb.Error as exc:
            db.execute("ROLLBACK")
            return [ItemResult(c.address, False, error=f"DuckDB: {exc}") for c in batch]
        return [ItemResult(c.address, True, id=c.address) for c in batch]

    @staticmethod
    def _write_assets(db: duckdb.DuckDBPyConnection, changes: list[Change], now: datetime) -> None:
        if not changes:
            return
        db.register("gone", _frame({"address": [c.address for c in changes]}))
        try:
            db.execute("DELETE FROM assets WHERE address IN (SELECT address FROM gone)")
        finally:
            db.unregister("gone")
        rows = []
        for c in changes:
            if c.action is Action.DELETE:
                continue
            b = plain_dict(c.after or {})
            rows.append([c.address, b["key"], b["platform"], b["database"], b["schema"], b["name"], b["type"],
                         b.get("connection", ""), bool(b.get("partial")), c.after_hash, now, c.owner or None])
        if rows:
            _insert(db, "assets", _frame(rows, columns=_ASSET_COLUMNS))

    @staticmethod
    def _write_processes(db: duckdb.DuckDBPyConnection, changes: list[Change], now: datetime) -> None:
        if not changes:
            return
        gone = _frame({"address": [c.address for c in changes],
                             "id": [c.address.split(".", 1)[1] for c in changes]})
        db.register("gone", gone)
        try:
            db.execute("DELETE FROM processes WHERE address IN (SELECT address FROM gone)")
            db.execute("DELETE FROM edges WHERE process_id IN (SELECT id FROM gone)")
            db.execute("DELETE FROM column_edges WHERE process_id IN (SELECT id FROM gone)")
        finally:
            db.unregister("gone")
        procs: list[list[Any]] = []
        edges: list[list[str]] = []
        cols: list[list[str]] = []
        for c in changes:
            if c.action is Action.DELETE:
                continue
            b = plain_dict(c.after or {})
            procs.append([c.address, b["id"], b["name"], b["description"], b["sql"], b["owner"],
                          json.dumps(b["attributes"], sort_keys=True), c.after_hash, now, c.owner or None,
                          b.get("derived_by") or None])
            edges.extend([b["id"], i, o] for i in b["inputs"] for o in b["outputs"])
            for m in b["columns"]:
                tgt_asset, tgt_col = m["target"]
                cols.extend([b["id"], s, sc, tgt_asset, tgt_col, m["transform"]] for s, sc in m["sources"])
        if procs:
            _insert(db, "processes", _frame(procs, columns=_PROCESS_COLUMNS))
        if edges:
            _insert(db, "edges", _frame(edges, columns=["process_id", "source", "target"]))
        if cols:
            _insert(db, "column_edges", _frame(cols, columns=["process_id", "source", "source_column", "target",
                                                                    "target_column", "transform"]))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
