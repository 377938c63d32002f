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

import contextlib
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from ..canonical import canonical_text
from ..config import TargetConfig
from ..errors import TerminalTargetError
from ..model import Lineage
from ..plan.contract import known_held, known_recorded
from ..plan.model import Action, Change, column, take
from .base import ASSET, Capabilities, Current, ItemResult, Resource
from .lineage_resources import lineage_resources

DEFAULT_MEMORY_LIMIT = "64MB"
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
# as text; apply takes the same hash of the row it inserts, in the INSERT that writes it.
_ROW_HASH = {
    "assets": "md5(concat_ws(chr(31), key, platform, database, schema, name, type, connection, partial::VARCHAR))",
    "processes": ("md5(concat_ws(chr(31), id, name, description, sql, owner, attributes::VARCHAR, "
                  "coalesce(derived_by, '')))"),
}


def _frame(data: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """Columns DuckDB scans as a table once registered: NumPy arrays (integers as int64, anything else as
    Python objects; None is NULL). Not a pandas DataFrame: importing pandas took 0.3 s of an apply that
    reads YAML or is served from the cache, which need nothing else of it."""
    import numpy as np

    return {name: np.asarray(values, dtype=np.int64) if isinstance(values, range) else _objects(values)
            for name, values in data.items()}


def _objects(values: Sequence[Any]) -> Any:
    """A 1-D NumPy array of ``values`` as Python objects (``np.array`` of equal-length tuples would make 2-D)."""
    import numpy as np

    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


# Rows are written from each change's body as canonical JSON text, taken apart by DuckDB in SQL: a
# million bodies are never parsed into Python dicts, and a cached body's text is passed as it is.
_BODY_FIELDS = {
    "assets": {"key": "$.key", "platform": "$.platform", "database": "$.database", "schema": "$.schema",
               "name": "$.name", "type": "$.type", "connection": "$.connection", "partial": "$.partial"},
    "processes": {"id": "$.id", "name": "$.name", "description": "$.description", "sql": "$.sql",
                  "owner": "$.owner", "derived_by": "$.derived_by", "attributes": "$.attributes"},
}
_FROM_BODY = {
    "assets": {"connection": "coalesce({}, '')", "partial": "coalesce({}::BOOLEAN, false)"},
    "processes": {"derived_by": "nullif({}, '')", "attributes": "{}::JSON"},  # (an object's JSON text, minified)
}
# Each body is parsed once per statement, into the typed values the statement reads (``json_transform``
# of the inner SELECT: a JSON path per value, or per column mapping, parsed it again), and its lists are
# unnested with their positions; rows are inserted in the order of the body's lists (``rowid`` order,
# which an import reads back: the order of a process's inputs, outputs and column mappings is part of its
# content).
_EDGES = """
INSERT INTO edges (process_id, source, target)
SELECT id, e.s, e.t FROM (
    SELECT seq, p.id AS id, unnest(flatten(list_transform(p.inputs, lambda i, a: list_transform(
        p.outputs, lambda o, b: {'s': i, 't': o, 'a': a, 'b': b})))) AS e
    FROM (SELECT seq, json_transform(body, '{"id": "VARCHAR", "inputs": ["VARCHAR"], "outputs": ["VARCHAR"]}') AS p
          FROM incoming WHERE seq >= $lo AND seq < $hi))
ORDER BY seq, e.a, e.b"""
_COLUMN_EDGES = """
INSERT INTO column_edges (process_id, source, source_column, target, target_column, transform)
SELECT id, e.source[1], e.source[2], e.target[1], e.target[2], e.transform FROM (
    SELECT seq, p.id AS id, unnest(flatten(list_transform(p.columns, lambda m, a: list_transform(
        m.sources, lambda s, b: {'source': s, 'target': m.target, 'transform': m.transform, 'a': a, 'b': b}))))
        AS e
    FROM (SELECT seq, json_transform(body, '{"id": "VARCHAR", "columns": [{"sources": [["VARCHAR"]],
                                             "target": ["VARCHAR"], "transform": "VARCHAR"}]}') AS p
          FROM incoming WHERE seq >= $lo AND seq < $hi))
ORDER BY seq, e.a, e.b"""
# The most body text one statement takes apart into edges: its JSON values and the sort that keeps their
# order are held at once. A batch of 50,000 processes of ~11 column mappings each took 230 MB more in one
# statement, 150 MB in statements of this size (most of that the rows the batch's transaction inserted).
# Bounded by text, not by a count of processes, so a batch of wide processes is bounded too.
UNNEST_TEXT = 1 << 22  # characters


def _unregister(db: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop a registered frame; in a transaction a failed statement aborted, DuckDB refuses even that,
    and the error that aborted it, not this refusal, is the one to report (the rollback drops the view)."""
    with contextlib.suppress(duckdb.Error):
        db.unregister(name)


def _insert_bodies(db: duckdb.DuckDBPyConnection, table: str, changes: Sequence[Change], now: datetime) -> None:
    """Insert the rows of ``changes`` (assets or processes, none a delete), and a process's edges and
    column edges, from their bodies' canonical JSON, with each row's row hash in the same statement."""
    bodies = [canonical_text(after or {}) for after in column(changes, "after")]
    frame = _frame({"seq": range(len(changes)), "address": list(column(changes, "address")), "body": bodies,
                    "content_hash": list(column(changes, "after_hash")),
                    "owner": [owner or None for owner in column(changes, "owner")]})
    fields = _BODY_FIELDS[table]
    wrap = _FROM_BODY[table]
    picked = ", ".join(wrap.get(name, "{}").format(f"v[{i}]") + f" AS {name}" for i, name in enumerate(fields, 1))
    paths = ", ".join(f"'{path}'" for path in fields.values())
    columns = ["address", *fields, "content_hash", "updated_at", "managed_by"]
    db.register("incoming", frame)
    try:
        db.execute(f"INSERT INTO {table} ({', '.join(columns)}, row_hash) "
                   f"SELECT {', '.join(columns)}, {_ROW_HASH[table]} FROM ("
                   f"SELECT address, {picked}, content_hash, ? AS updated_at, owner AS managed_by "
                   f"FROM (SELECT *, json_extract_string(body, [{paths}]) AS v FROM incoming))", [now])
        if table == "processes":
            for lo, hi in _slices(bodies, UNNEST_TEXT):
                db.execute(_EDGES, {"lo": lo, "hi": hi})
                db.execute(_COLUMN_EDGES, {"lo": lo, "hi": hi})
    finally:
        _unregister(db, "incoming")


def _not_deleted(changes: Sequence[Change]) -> Sequence[Change]:
    """The changes that write a row (all but the deletes)."""
    return take(changes, [i for i, action in enumerate(column(changes, "action")) if action is not Action.DELETE])


def _slices(texts: Sequence[str], most: int) -> list[tuple[int, int]]:
    """(start, stop) of consecutive runs of ``texts`` of at most ``most`` characters each (a longer text
    alone), covering them all in order."""
    out = []
    start = size = 0
    for i, text in enumerate(texts):
        if i > start and size + len(text) > most:
            out.append((start, i))
            start, size = i, 0
        size += len(text)
    if start < len(texts):
        out.append((start, len(texts)))
    return out


def _process_columns(db: duckdb.DuckDBPyConnection) -> set[str]:
    """The columns of the processes table (older stores lack the later ones)."""
    return {c for (c,) in db.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = 'processes'")
            .fetchall()}


def _rows(db: duckdb.DuckDBPyConnection, query: str, chunk: int = 65_536) -> Iterator[tuple[Any, ...]]:
    """The rows of ``query``, fetched a chunk at a time: a million rows as one list of tuples was a
    few hundred megabytes alive at once, beside the objects made from them."""
    result = db.execute(query)
    while rows := result.fetchmany(chunk):
        yield from rows


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


_KINDS = {"assets": ASSET, "processes": "process"}


def _held(db: duckdb.DuckDBPyConnection, queries: list[tuple[str, list[str]]],
          known: Mapping[str, Current]) -> Mapping[str, Current]:
    """What the tables of ``queries`` hold. Rows exactly as state records them (``known``: same kind, the
    address as id, same hash and placeholder flag) are kept as state's addresses, by ownership marker; only
    the other rows are kept as a Current each. Rows are fetched and compared a chunk at a time: a re-plan of
    a million unchanged rows held a Current and two strings for each (about 350 MB), and a join in SQL
    against state's entries, registered as a table, took DuckDB 300 MB for 600k rows."""
    same: defaultdict[str, set[str]] = defaultdict(set)
    other: dict[str, Current] = {}
    owners: dict[str, str] = {}  # one string per ownership marker, not one per row
    recorded = known_recorded(known)
    for table, (address_of, digest_of, partial_of, marker) in queries:
        kind = _KINDS[table]
        for address, digest, partial, owner in _rows(
                db, f"SELECT {address_of}, {digest_of}, coalesce({partial_of} = 'true', false), {marker} FROM {table}"):
            owner = owners.setdefault(owner, owner)
            held = recorded(address)
            if held is not None and held[0] == kind and held[1] == address and held[2] == digest \
                    and held[3] == partial:
                same[owner].add(held[1])  # state's string: the id is the address
            else:
                other[address] = Current(address, kind, address, digest, partial, owner)
    return _Held(known, same, other)


class _Held(Mapping[str, Current]):
    """What a DuckDB store holds: the rows that are as state records them (addresses by ownership marker,
    their Current made from state's when asked for) and every other row's Current."""

    def __init__(self, known: Mapping[str, Current], same: dict[str, set[str]], other: dict[str, Current]) -> None:
        self._known, self._same, self._other = known, same, other

    def _owner_of(self, address: object) -> str | None:
        """The ownership marker of a row as state records it at ``address``; None when there is none."""
        for owner, addresses in self._same.items():
            if address in addresses:
                return owner
        return None

    def as_recorded(self, address: str) -> bool:
        """Whether the row at ``address`` is exactly as state records it."""
        return self._owner_of(address) is not None

    def get(self, address: str, default: Any = None) -> Any:  # (Mapping's raises and catches a KeyError per miss)
        found = self._other.get(address)
        if found is not None:
            return found
        owner = self._owner_of(address)
        return default if owner is None else known_held(self._known, address, owner)

    def __getitem__(self, address: str) -> Current:
        found = self.get(address)
        if found is None:
            raise KeyError(address)
        return found  # type: ignore[no-any-return]

    def __contains__(self, address: object) -> bool:
        return address in self._other or self._owner_of(address) is not None

    def __iter__(self) -> Iterator[str]:
        for addresses in self._same.values():
            yield from addresses
        yield from self._other

    def __len__(self) -> int:
        return len(self._other) + sum(map(len, self._same.values()))


class DuckDBTarget:
    """Lineage rows in a local DuckDB file (``path`` setting, default ``.lac/lineage.duckdb``)."""

    def __init__(self, config: TargetConfig) -> None:
        self.name = config.name
        self.path = str(config.settings.get("path", ".lac/lineage.duckdb"))
        # DuckDB's own memory (JSON taken apart, sorts, buffers): bounded, past it DuckDB spills to
        # <path>.tmp; its default, most of the machine's memory, is kept once used.
        self.memory_limit = str(config.settings.get("memory_limit", DEFAULT_MEMORY_LIMIT))
        self._conn: duckdb.DuckDBPyConnection | None = None

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(max_batch_size=50_000, max_parallel=1, ownership_marker=True, requests_per_batch=0,
                            adopt_by_hash=True)

    def _db(self) -> duckdb.DuckDBPyConnection:
        if self._conn is None:
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                self._conn = duckdb.connect(self.path, config={"memory_limit": self.memory_limit})
                self._conn.execute("SET enable_progress_bar = false")  # a long insert would draw on the terminal
                self._conn.execute(SCHEMA)
            except (duckdb.Error, OSError) as exc:
                raise TerminalTargetError(f"target {self.name!r}: cannot open {self.path}: {exc}") from exc
        return self._conn

    def translate(self, lineage: Lineage) -> Sequence[Resource]:
        return lineage_resources(lineage, take_apart=True)  # nothing here reads the lineage afterwards

    def read(self, desired: Sequence[Resource], known: Mapping[str, Current], refresh: bool) -> Mapping[str, Current]:
        """What the store holds, read through a read-only connection (closed before any apply), so a
        plan works while someone else has the file open."""
        if not Path(self.path).exists() or self._conn is not None:
            return self._read(self._conn, refresh, known) if self._conn is not None else {}
        db = self._read_only()
        try:
            return self._read(db, refresh, known)
        finally:
            db.close()

    def _read_only(self) -> duckdb.DuckDBPyConnection:
        try:
            return duckdb.connect(self.path, read_only=True, config={"memory_limit": self.memory_limit})
        except duckdb.Error as exc:
            raise TerminalTargetError(f"target {self.name!r}: cannot read {self.path}: {exc}") from exc

    def held_digest(self, refresh: bool) -> str | None:
        """Per table ``read`` looks at: its columns, its row count and the XOR of DuckDB's 64-bit hash of
        each row's values but its update time (what ``read`` takes of a row is made of them, the content
        hash it holds checked against the row's own hash: hashing them as they are is a fraction of that
        check; addresses are primary keys, so no two rows cancel out), all in one SQL pass; the file's
        absence is its own digest. The digest only keys a remembered no-op plan: should DuckDB's hash
        change between versions, the next plan is made in full, not wrongly remembered."""
        if self._conn is not None or not Path(self.path).exists():
            return None if self._conn is not None else "absent"
        db = self._read_only()
        try:
            tables: dict[str, list[str]] = {}
            for table, column in db.execute(
                    "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = current_database() "
                    "AND schema_name = current_schema() AND table_name IN ('assets', 'processes') "
                    "ORDER BY table_name, column_index").fetchall():
                tables.setdefault(table, []).append(column)
            parts: list[Any] = [sorted(tables.get("processes", []))]
            for table, _ in _held_queries(set(tables.get("processes", [])), refresh):
                kept = [c for c in tables.get(table, []) if c != "updated_at"]
                if not kept:
                    return "empty"
                values = ", ".join('"' + c.replace('"', '""') + '"' for c in kept)
                row = db.execute(f"SELECT count(*), bit_xor(hash({values})) FROM {table}").fetchone()
                parts.append([table, kept, *map(str, row or ())])
        except duckdb.CatalogException:
            return "empty"
        except duckdb.Error as exc:
            raise TerminalTargetError(f"cannot read the DuckDB store: {exc}") from exc
        finally:
            db.close()
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()

    @staticmethod
    def _read(db: duckdb.DuckDBPyConnection, refresh: bool, known: Mapping[str, Current]) -> Mapping[str, Current]:
        try:
            return _held(db, _held_queries(_process_columns(db), refresh), known)
        except duckdb.CatalogException:
            return {}  # a file without the tables yet holds nothing
        except duckdb.Error as exc:
            raise TerminalTargetError(f"cannot read the DuckDB store: {exc}") from exc

    def apply(self, batch: Sequence[Change]) -> list[ItemResult]:
        db = self._db()
        now = datetime.now(UTC).replace(tzinfo=None)
        # read by field: a batch of creates is made of resources, not Changes (``plan.model.Changes``)
        kinds = list(column(batch, "kind"))
        assets = take(batch, [i for i, kind in enumerate(kinds) if kind == ASSET])
        processes = take(batch, [i for i, kind in enumerate(kinds) if kind == "process"])
        try:
            db.execute("BEGIN TRANSACTION")
            self._write_assets(db, assets, now)
            self._write_processes(db, processes, now)
            db.execute("COMMIT")
        except duckdb.Error as exc:
            db.execute("ROLLBACK")
            detail = str(exc).split("\n", 1)[0]  # DuckDB adds paragraphs of tuning advice
            if isinstance(exc, duckdb.OutOfMemoryException):
                detail += f"; raise the target's memory_limit (now {self.memory_limit}) or lower its batch_size"
            return [ItemResult(address, False, error=f"DuckDB: {detail}") for address in column(batch, "address")]
        return [ItemResult(address, True, id=address) for address in column(batch, "address")]

    @staticmethod
    def _write_assets(db: duckdb.DuckDBPyConnection, changes: Sequence[Change], now: datetime) -> None:
        if not changes:
            return
        db.register("gone", _frame({"address": list(column(changes, "address"))}))
        try:
            db.execute("DELETE FROM assets WHERE address IN (SELECT address FROM gone)")
        finally:
            _unregister(db, "gone")
        written = _not_deleted(changes)
        if written:
            _insert_bodies(db, "assets", written, now)

    @staticmethod
    def _write_processes(db: duckdb.DuckDBPyConnection, changes: Sequence[Change], now: datetime) -> None:
        if not changes:
            return
        addresses = list(column(changes, "address"))
        gone = _frame({"address": addresses, "id": [address.split(".", 1)[1] for address in addresses]})
        db.register("gone", gone)
        try:
            db.execute("DELETE FROM processes WHERE address IN (SELECT address FROM gone)")
            db.execute("DELETE FROM edges WHERE process_id IN (SELECT id FROM gone)")
            db.execute("DELETE FROM column_edges WHERE process_id IN (SELECT id FROM gone)")
        finally:
            _unregister(db, "gone")
        written = _not_deleted(changes)
        if written:
            _insert_bodies(db, "processes", written, now)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
