"""The Atlan Lineage Builder CSV: Column rows, mixed rows, and the column-wise parser held to a
row-by-row reading of the same file."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import resource
import subprocess
import sys
from pathlib import Path
from unittest.mock import patch

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lineage_as_code.canonical import canonical_json, canonical_text
from lineage_as_code.manifest import ManifestInput, build_lineage, csv_common, parse_file
from lineage_as_code.manifest.csv_common import ATLAN_COLUMNS
from lineage_as_code.model import Asset, ColumnMapping, ColumnRef, Lineage
from lineage_as_code.plan.contract import content_hash
from lineage_as_code.targets.lineage_resources import lineage_resources
from tests.manifest import resources_read_from_columns_equal_those_of_processes

HEADER = ",".join(ATLAN_COLUMNS)


def _csv(*rows: str, header: str = HEADER) -> bytes:
    return (header + "\n" + "\n".join(rows) + "\n").encode()


TABLE_ROW = "Table,snowflake,prod,DB/STG/STG_PAYMENTS,STG_PAYMENTS,Table,snowflake,prod,DB/MART/FCT_ORDERS,FCT_ORDERS,dbt,etl,{pid},Build"
COLUMN_ROW = ("Column,snowflake,prod,DB/STG/STG_PAYMENTS/{src},{src},Column,snowflake,prod,DB/MART/FCT_ORDERS/{tgt},{tgt},"
              "dbt,etl,{pid},Build")


def test_column_rows_are_column_lineage_of_their_tables_process_in_duckdb(tmp_path, lac):
    (tmp_path / "lb.csv").write_bytes(_csv(
        TABLE_ROW.format(pid="build_orders"),
        COLUMN_ROW.format(src="ORDER_ID", tgt="ORDER_ID", pid="build_orders"),
        COLUMN_ROW.format(src="AMOUNT", tgt="TOTAL", pid="build_orders"),
        COLUMN_ROW.format(src="FEE", tgt="TOTAL", pid="build_orders"),
    ))
    result = lac("apply", "--auto-approve", "lb.csv", cwd=tmp_path)
    assert result.code == 0, result.err
    with duckdb.connect(str(tmp_path / ".lac" / "lineage.duckdb"), read_only=True) as db:
        edges = db.execute("SELECT source, target FROM edges").fetchall()
        columns = db.execute("SELECT source, source_column, target, target_column FROM column_edges "
                             "ORDER BY source_column").fetchall()
    assert edges == [("snowflake:DB.STG.STG_PAYMENTS", "snowflake:DB.MART.FCT_ORDERS")]
    assert columns == [("snowflake:DB.STG.STG_PAYMENTS", c, "snowflake:DB.MART.FCT_ORDERS", t)
                       for c, t in (("AMOUNT", "TOTAL"), ("FEE", "TOTAL"), ("ORDER_ID", "ORDER_ID"))]


def test_column_rows_without_a_transformation_identity_join_the_table_row_of_the_same_pair():
    parsed = parse_file(ManifestInput("lb.csv", _csv(
        COLUMN_ROW.format(src="ID", tgt="ID", pid=""),
        TABLE_ROW.format(pid=""),
        COLUMN_ROW.format(src="AMT", tgt="AMT", pid=""),
    )))
    assert parsed.problems == []
    (proc,) = parsed.processes
    assert [a.key for a in proc.inputs] == ["snowflake:DB.STG.STG_PAYMENTS"]
    assert [a.key for a in proc.outputs] == ["snowflake:DB.MART.FCT_ORDERS"]
    assert proc.outputs[0].type == "Table" and proc.source.line == 2
    assert [(m.sources[0].column, m.target.column) for m in proc.columns] == [("ID", "ID"), ("AMT", "AMT")]


def test_a_column_only_process_takes_its_tables_type_from_a_table_row_elsewhere():
    view = TABLE_ROW.format(pid="other").replace("Table,snowflake,prod,DB/MART", "View,snowflake,prod,DB/MART")
    parsed = parse_file(ManifestInput("lb.csv", _csv(COLUMN_ROW.format(src="ID", tgt="ID", pid="cols"), view)))
    cols = next(p for p in parsed.processes if p.id == "cols")
    assert cols.outputs[0].type == "View"


def test_a_row_mixing_a_table_end_and_a_column_end_is_an_error_naming_the_row(tmp_path, lac):
    mixed = TABLE_ROW.format(pid="p").replace("DB/MART/FCT_ORDERS,FCT_ORDERS", "DB/MART/FCT_ORDERS/ID,ID", 1)
    mixed = mixed.replace("Table,snowflake,prod,DB/MART", "Column,snowflake,prod,DB/MART")
    (tmp_path / "lb.csv").write_bytes(_csv(TABLE_ROW.format(pid="p"), mixed))
    result = lac("validate", "lb.csv", cwd=tmp_path)
    assert result.code == 1
    assert "lb.csv:3: Target Type:" in result.out + result.err
    assert "lb.csv:2" not in result.out + result.err


def test_a_column_identity_without_a_table_is_an_error_at_its_line():
    row = COLUMN_ROW.format(src="ID", tgt="ID", pid="p").replace("DB/STG/STG_PAYMENTS/ID", "ID", 1)
    (problem,) = parse_file(ManifestInput("lb.csv", _csv(TABLE_ROW.format(pid="p"), row))).problems
    assert (problem.line, problem.field) == (3, "Source Identity")


@pytest.mark.parametrize(("identity", "key"), [
    ("T", "snowflake:T"),
    ("SCH/T", "snowflake:SCH.T"),
    ("/DB/SCH/T/", "snowflake:DB.SCH.T"),
    ("DB/SCH/dir/file", "snowflake:DB.SCH.dir/file"),  # a name may hold slashes
    ("DB//T", "snowflake:DB.T"),  # an empty schema is left out
    ("DB/SCH/", "snowflake:DB.SCH"),
    ("my db/S.C/T:1", "snowflake:`my db`.`S.C`.`T:1`"),
    ("DB/tick`/Ünï", "snowflake:DB.`tick```.Ünï"),
    ("DB/nb\u00a0sp/T", "snowflake:DB.`nb\u00a0sp`.T"),  # a Unicode blank is quoted as an ASCII one is
])
def test_an_identity_becomes_the_key_its_parts_give(identity, key):
    row = TABLE_ROW.format(pid="p").replace("DB/STG/STG_PAYMENTS", identity.replace(",", ""), 1)
    (proc,) = parse_file(ManifestInput("lb.csv", _csv(row))).processes
    (asset,) = proc.inputs
    assert asset.key == key
    assert Asset(asset.platform, asset.database, asset.schema, asset.name).key == key


# --- the column-wise parser against a row-by-row reading -------------------------------------

# Segments a key quotes (dot, colon, backtick, ASCII and Unicode blanks), ones it keeps as they are,
# and empty ones (a doubled slash)
SEGMENT = st.sampled_from(["DB", "STG", "orders", "my table", "a.b", "x:y", "tick`", "Ünï", "nb\u00a0sp",
                           "ideo\u3000sp", "us\x1fsep", "tab\tbed", ""])
TYPES = st.sampled_from(["Table", "View", "MaterialisedView"])


@st.composite
def identities(draw: st.DrawFn, column: bool) -> str:
    parts = draw(st.lists(SEGMENT, min_size=1, max_size=5).filter(any))
    if column:
        parts.append(draw(st.sampled_from(["ID", "amount", "a b", "c.d", "é"])))
    return draw(st.sampled_from(["", "/"])) + "/".join(parts) + draw(st.sampled_from(["", "/"]))


@st.composite
def builder_rows(draw: st.DrawFn) -> list[str]:
    column = draw(st.booleans())
    row = []
    for _side in ("Source", "Target"):
        row += ["Column" if column else draw(TYPES), draw(st.sampled_from(["Snowflake", "snowflake", "pg"])),
                draw(st.sampled_from(["prod", "dev"])), draw(identities(column)), "n"]
    row += ["dbt", "etl", draw(st.sampled_from(["", "p1", "p2", "p3"])), draw(st.sampled_from(["Build", "Load"]))]
    return row


def _reference_asset(row: dict[str, str], side: str) -> tuple[Asset, str]:
    parts = row[f"{side} Identity"].strip("/").split("/")
    column = parts.pop() if row[f"{side} Type"].lower() == "column" else ""
    if len(parts) >= 3:
        database, schema, name = parts[0], parts[1], "/".join(parts[2:])
    else:
        database, schema, name = "", "/".join(parts[:-1]), parts[-1]
    type_ = "Table" if column else row[f"{side} Type"]
    return Asset(row[f"{side} Connector"].lower(), database, schema, name, type_, row[f"{side} Connection"]), column


def _reference(rows: list[list[str]]) -> tuple[dict[str, tuple], dict[str, str]]:
    """What each process should be, reading one row at a time; and each table's type."""
    records = [dict(zip(ATLAN_COLUMNS, r, strict=True)) for r in rows]
    types = {}
    for rec in records:
        for side in ("Source", "Target"):
            asset, column = _reference_asset(rec, side)
            if not column:
                types.setdefault(asset.key, asset.type)
    procs: dict[str, tuple] = {}
    for rec in records:
        (src, scol), (tgt, tcol) = _reference_asset(rec, "Source"), _reference_asset(rec, "Target")
        pid = rec["Transformation Identity"] or "lb-" + hashlib.sha1(
            f"{rec['Transformation Name']}|{src.key}|{tgt.key}".encode()).hexdigest()[:16]
        _, ins, outs, cols = procs.setdefault(pid, (rec["Transformation Name"], {}, {}, {}))
        ins.setdefault(src.key, None)
        outs.setdefault(tgt.key, None)
        if scol:
            cols.setdefault((tgt.key, tcol), {}).setdefault((src.key, scol), None)
    return {pid: (name, list(ins), list(outs), [ColumnMapping(tuple(ColumnRef(*s) for s in srcs), ColumnRef(*t))
                                                for t, srcs in cols.items()])
            for pid, (name, ins, outs, cols) in procs.items()}, types


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(builder_rows(), min_size=1, max_size=12), st.sampled_from([",", ";", "\t", "|"]),
       st.sampled_from([csv_common.CHUNK_ROWS, 1, 2, 3]))
def test_the_column_wise_parser_reads_table_and_column_rows_as_a_row_by_row_reader_does(rows, sep, chunk_rows):
    out = io.StringIO()
    csv.writer(out, delimiter=sep, lineterminator="\n").writerows([list(ATLAN_COLUMNS), *rows])
    data = out.getvalue().encode()
    with patch.object(csv_common, "CHUNK_ROWS", chunk_rows):  # whole, or a few rows at a time
        parsed = parse_file(ManifestInput("lb.csv", data))
        built = build_lineage([ManifestInput("lb.csv", data)])  # the file's own sorted values, as they are
    assert parsed.problems == []
    general = Lineage.build(parsed.processes)
    assert built.processes == general.processes
    assert [p.source for p in built.processes] == [p.source for p in general.processes]
    assert list(built.assets.items()) == list(general.assets.items())
    resources_read_from_columns_equal_those_of_processes(built)
    got = {p.id: (p.name, [a.key for a in p.inputs], [a.key for a in p.outputs], list(p.columns))
           for p in parsed.processes}
    want, types = _reference(rows)
    assert got == want
    for res in lineage_resources(general):  # mappings held as a block: each hash is of the text state holds
        assert res.hash == content_hash(res.body.to_dict())
        assert canonical_text(res.body) == canonical_json(res.body.to_dict())
    for proc in parsed.processes:
        for asset in (*proc.inputs, *proc.outputs):
            assert asset.type == types.get(asset.key, "Table")
            rebuilt = Asset(asset.platform, asset.database, asset.schema, asset.name, asset.type, asset.connection)
            assert asset.key == rebuilt.key  # the key built column-wise is the model's own


# --- a million rows within a fixed address space ---------------------------------------------

# Address space for `lac validate` on a million rows: it peaks at 1.95 GiB; the row-by-row parser reached
# 2.4 GiB of resident memory alone. One BLAS thread and two malloc arenas, so the reservation does not
# grow with the machine's core count.
MILLION_ROW_LIMIT = 9 * 2**28
THRIFTY = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}


def _write_million_rows(path: Path) -> None:
    """A million Lineage Builder rows: ~500k processes of two rows, every fourth row a Column row."""
    def row(i: int) -> str:
        proc, src = i // 2, f"DB/RAW/T{i % 300_000}"
        if i % 4 == 3:
            return (f"Column,snowflake,prod,{src}/C{i % 7},C,Column,snowflake,prod,DB/MART/M{proc}/C{i % 5},C,"
                    f"dbt,etl,p{proc},Build {proc}")
        return f"Table,snowflake,prod,{src},T,Table,snowflake,prod,DB/MART/M{proc},M,dbt,etl,p{proc},Build {proc}"

    with open(path, "w") as fh:
        fh.write(HEADER + "\n")
        fh.writelines("\n".join(row(i) for i in range(start, start + 100_000)) + "\n" for start in range(0, 1_000_000, 100_000))


@pytest.mark.slow
def test_validate_reads_a_million_builder_rows_within_a_fixed_address_space(tmp_path):
    path = tmp_path / "million.csv"
    _write_million_rows(path)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MILLION_ROW_LIMIT, MILLION_ROW_LIMIT))

    result = subprocess.run([sys.executable, "-m", "lineage_as_code", "validate", str(path)], cwd=tmp_path,
                            env={**os.environ, **THRIFTY}, capture_output=True, text=True, preexec_fn=limit,
                            check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "500000 process(es)" in result.stdout and "250000 column edge(s)" in result.stdout
