"""Both CSV dialects read through ``parse_file``; and the native parser, which works on integer
codes, held to a row-by-row reading of the same file."""

from __future__ import annotations

import csv
import hashlib
import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lineage_as_code.canonical import canonical_json, canonical_text
from lineage_as_code.display import excerpt
from lineage_as_code.errors import ManifestError, ManifestWarning, Problem
from lineage_as_code.manifest import EdgeLimits, ManifestInput, build_lineage, csv_common, parse_file
from lineage_as_code.manifest.csv_common import ATLAN_COLUMNS, NATIVE_COLUMNS
from lineage_as_code.manifest.refs import RefError, parse_asset
from lineage_as_code.manifest.validate import schema_problems
from lineage_as_code.model import Asset, ColumnMapping, ColumnRef, Lineage, Process, SourceLocation, freeze_mapping
from lineage_as_code.plan.contract import content_hash
from lineage_as_code.targets.lineage_resources import _MappingTexts, lineage_resources
from tests.manifest import resources_read_from_columns_equal_those_of_processes

ATLAN_HEADER = ("Source Type,Source Connector,Source Connection,Source Identity,Source Name,"
                "Target Type,Target Connector,Target Connection,Target Identity,Target Name,"
                "Transformation Connector,Transformation Connection,Transformation Identity,Transformation Name")


def test_native_rows_of_one_process_merge_and_column_rows_group_by_target():
    text = ("process_id,Process Name,source,target,source_column,target_column,transform,team\n"
            "p1,Build,pg:d.s.a,pg:d.s.c,x,z,x+y,core\n"
            "p1,,pg:d.s.b,pg:d.s.c,y,z,x+y,\n"
            "p2,Other,pg:d.s.c,pg:d.s.e,,,,\n")
    parsed = parse_file(ManifestInput("m.csv", text.encode()))
    assert parsed.problems == []
    p1, p2 = parsed.processes
    assert p1.name == "Build" and [a.key for a in p1.inputs] == ["pg:d.s.a", "pg:d.s.b"]
    (mapping,) = p1.columns
    assert [str(s) for s in mapping.sources] == ["pg:d.s.a.x", "pg:d.s.b.y"] and mapping.transform == "x+y"
    assert dict(p1.attributes) == {"team": "core"}
    assert p2.columns == ()


def test_native_row_problems_name_the_line_and_field_even_after_a_multiline_cell():
    text = ('process_id,source,target,description\n'
            'p1,pg:d.s.a,pg:d.s.b,"two\nlines"\n'
            'bad id,pg:d.s.a,,\n')
    problems = [str(p) for p in parse_file(ManifestInput("m.csv", text.encode())).problems]
    assert "m.csv:4: target: is required" in problems
    assert any(p.startswith("m.csv:4: process_id:") for p in problems)


def test_atlan_builder_csv_is_read_with_any_documented_separator_and_extras_pass_through():
    row = ("Table;snowflake;prod;DB/SCH/SRC;SRC;View;snowflake;prod;DB/SCH/TGT;TGT;"
           "airflow;etl;xform_1;SRC > TGT;nightly")
    text = ATLAN_HEADER.replace(",", ";") + ";pipeline\n" + row + "\n"
    parsed = parse_file(ManifestInput("lb.csv", text.encode()))
    assert parsed.problems == []
    (proc,) = parsed.processes
    assert proc.id == "xform_1" and proc.name == "SRC > TGT"
    assert proc.outputs[0].type == "View" and proc.outputs[0].connection == "prod"
    assert proc.inputs[0].key == "snowflake:DB.SCH.SRC"
    assert dict(proc.attributes)["pipeline"] == "nightly"
    assert dict(proc.attributes)["transformation_connector"] == "airflow"


def test_atlan_rows_missing_required_cells_are_reported_per_column():
    text = ATLAN_HEADER + "\nTable,snowflake,,DB/SCH/SRC,SRC,Table,snowflake,prod,,TGT,airflow,etl,,x\n"
    problems = [str(p) for p in parse_file(ManifestInput("lb.csv", text.encode())).problems]
    assert problems == ["lb.csv:2: Source Connection: is required and empty",
                        "lb.csv:2: Target Identity: is required and empty"]


def test_an_unknown_header_is_a_problem_at_line_one():
    (problem,) = parse_file(ManifestInput("x.csv", b"a,b\n1,2\n")).problems
    assert problem.line == 1 and "unrecognised CSV header" in problem.message


def test_a_byte_order_mark_and_blank_lines_read_as_a_spreadsheet_saves_them():
    """Excel saves 'CSV UTF-8' with a byte order mark; the header must still be recognised, and rows
    after a blank line keep their real line numbers."""
    row = "Table,snowflake,prod,DB/SCH/SRC,SRC,Table,snowflake,prod,DB/SCH/TGT,TGT,airflow,etl,{id},Build ✓\n"
    text = ATLAN_HEADER + "\n" + row.format(id="x1") + "\n" + row.format(id="").replace("Table,snowflake", ",snowflake", 1)
    parsed = parse_file(ManifestInput("lb.csv", b"\xef\xbb\xbf" + text.encode()))
    (proc,) = parsed.processes
    assert proc.id == "x1" and proc.name == "Build ✓" and proc.source.line == 2
    assert [p.line for p in parsed.problems] == [4]


# --- the native parser, on integer codes, against a row-by-row reading ------------------------

DERIVED = "csv-" + hashlib.sha1(b"Build").hexdigest()[:12]  # the id a row named 'Build' without an id gets
HEADERS = {"process_id": ["process_id", "Process ID"], "process_name": ["process_name", "Process-Name"],
           "source": ["source", " Source "], "target": ["target", "TARGET"], "source_column": ["source_column"],
           "target_column": ["Target Column"], "transform": ["transform"], "description": ["description"],
           "sql": ["sql"], "owner": ["owner"], "Team": ["Team"], "notes": ["notes"]}
CELLS = {
    "process_id": ["", "p1", "p2", "bad id", DERIVED],
    "process_name": ["", "Build", "Load ✓", "Build"],
    # plain, default-filled, quoted, blank-padded (the key of another), two texts of one key with different
    # Assets (an empty quoted segment), malformed, and a control character (a schema problem)
    "source": ["pg:d.s.a", "pg:d.s.b", "d.s.c", "s.t", "pg:`x.y`.s.t", " pg:d.s.a", "pg:d.t", "pg:d.``.t",
               "bad..ref", "pg:a.b.c.d", "", "pg:d.s.\x1f", "pg:é.s.ü"],
    "source_column": ["", "id", "amount", "a b", "é"],
    "transform": ["", "x+y", "coalesce(a, 0)", 'say "hi"', "two\nlines"],
    "description": ["", "first", "second"], "sql": ["", "select 1", "multi\nline"], "owner": ["", "ann", "bob"],
    "Team": ["", "core", "edge"], "notes": ["", "x,y", 'q"uote'],
}
CELLS["target"], CELLS["target_column"] = CELLS["source"], CELLS["source_column"]


@st.composite
def native_files(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    """A header (some columns, in any order and spelling) and rows drawn from small pools of tricky cells,
    some of them repeated."""
    fields = ["source", "target", *draw(st.sampled_from([["process_id"], ["process_name"],
                                                         ["process_id", "process_name"]]))]
    fields += [f for f in ("source_column", "target_column", "transform", "description", "sql", "owner", "Team",
                           "notes") if draw(st.booleans())]
    fields = draw(st.permutations(fields))
    rows = draw(st.lists(st.tuples(*(st.sampled_from(CELLS[f]) for f in fields)).map(list), min_size=1, max_size=14))
    rows += draw(st.lists(st.sampled_from(rows), max_size=3))
    return fields, draw(st.permutations(rows))


def _reference_native(name: str, fields: list[str], rows: list[list[str]], defaults: dict[str, str]
                      ) -> tuple[list[Problem], list[Process]]:
    """What the native parser should give, reading one row at a time."""
    known = [f for f in fields if f in NATIVE_COLUMNS]
    lines, line = [], 2
    for row in rows:
        lines.append(line)
        line += sum(cell.count("\n") for cell in row) + 1
    records = [dict(zip(fields, row, strict=True)) for row in rows]
    problems, broken = [], set()
    for i, rec in enumerate(records):
        found = schema_problems({f: rec[f] for f in known if rec[f]}, "lineage-row", name, lambda _p, i=i: lines[i])
        if found:
            problems += found
            broken.add(i)
    texts = dict.fromkeys([r["source"] for r in records] + [r["target"] for r in records])
    parsed: dict[str, Asset | str] = {}
    for text in (t for t in texts if t):
        try:
            parsed[text] = parse_asset(text, defaults)
        except RefError as exc:
            parsed[text] = str(exc)
    for text, reason in parsed.items():
        for i, rec in enumerate(records):
            if isinstance(reason, str) and i not in broken and text in (rec["source"], rec["target"]):
                problems.append(Problem(name, lines[i], "source" if rec["source"] == text else "target", reason))
                broken.add(i)
    kept = [(lines[i], rec) for i, rec in enumerate(records) if i not in broken]
    pid = {id(rec): rec.get("process_id") or "csv-" + hashlib.sha1(rec["process_name"].encode()).hexdigest()[:12]
           for _, rec in kept}
    details: dict[str, dict[str, str]] = {}
    for field in (f for f in ("process_name", "description", "sql", "owner") if f in fields):
        values: dict[str, dict[str, int]] = {}
        for line, rec in kept:
            if rec[field]:
                values.setdefault(pid[id(rec)], {}).setdefault(rec[field], line)
        for process, seen in values.items():
            details.setdefault(process, {})[field] = next(iter(seen))
            if len(seen) > 1:
                (a, there), (b, here) = list(seen.items())[:2]
                problems.append(Problem(name, here, field, (
                    f"process {process!r} has {field} {excerpt(repr(b))} here but {excerpt(repr(a))} on line "
                    f"{there}; the rows of one process must agree (leave the cell empty to inherit)")))
    drafts: dict[str, dict] = {}
    for line, rec in kept:
        src, tgt = parsed[rec["source"]], parsed[rec["target"]]
        assert isinstance(src, Asset) and isinstance(tgt, Asset)
        draft = drafts.setdefault(pid[id(rec)], {"line": line, "ins": {}, "outs": {}, "columns": {}, "attributes": {
            f: rec[f] for f in fields if f not in NATIVE_COLUMNS and rec[f]}})
        draft["ins"].setdefault(src.key, src)
        draft["outs"].setdefault(tgt.key, tgt)
        if rec.get("source_column"):
            group = (ColumnRef(tgt.key, rec["target_column"]), rec.get("transform", ""))
            draft["columns"].setdefault(group, {})[ColumnRef(src.key, rec["source_column"])] = None
    processes = [Process(
        id=p, name=details.get(p, {}).get("process_name") or p, inputs=tuple(d["ins"].values()),
        outputs=tuple(d["outs"].values()), description=details.get(p, {}).get("description", ""),
        sql=details.get(p, {}).get("sql", ""), owner=details.get(p, {}).get("owner", ""),
        attributes=freeze_mapping(d["attributes"]), source=SourceLocation(name, d["line"]),
        columns=tuple(ColumnMapping(tuple(srcs), tgt, how) for (tgt, how), srcs in d["columns"].items()),
    ) for p, d in drafts.items()]
    return problems, processes


@contextmanager
def _mapping_run(size: int) -> Iterator[None]:
    kept, _MappingTexts.RUN = _MappingTexts.RUN, size
    try:
        yield
    finally:
        _MappingTexts.RUN = kept


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(native_files(), st.sampled_from([{}, {"platform": "pg"}, {"platform": "pg", "database": "D"}]),
       st.sampled_from([csv_common.CHUNK_ROWS, 1, 2, 3]))
def test_the_native_parser_reads_a_file_as_a_row_by_row_reading_does(drawn, defaults, chunk_rows):
    """Whole or a few rows at a time: the chunks' seams fall between rows sharing values and inside
    multi-line cells' neighbourhoods alike."""
    fields, rows = drawn
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([[h for f in fields for h in HEADERS[f][:1]], *rows])
    spelled = out.getvalue().replace(",".join(fields), ",".join(HEADERS[f][-1] for f in fields), 1)
    with patch.object(csv_common, "CHUNK_ROWS", chunk_rows):
        parsed = parse_file(ManifestInput("m.csv", spelled.encode()), defaults)
    problems, processes = _reference_native("m.csv", fields, rows, defaults)
    assert parsed.problems == problems
    assert [p.id for p in parsed.processes] == sorted(p.id for p in processes)  # sorted by id, each once
    assert parsed.processes == sorted(processes, key=lambda p: p.id)
    # column mappings held as slices of one block hash as the tuples they equal
    assert [hash(p.columns) for p in parsed.processes] == [hash(tuple(p.columns)) for p in
                                                           sorted(processes, key=lambda p: p.id)]
    assert [p.source for p in parsed.processes] == [p.source for p in sorted(processes, key=lambda p: p.id)]
    general = Lineage.build(parsed.processes)
    for run in (_MappingTexts.RUN, 2):  # mappings written a run at a time: runs that split processes too
        with _mapping_run(run):
            resources = lineage_resources(general)
            for resource in resources:  # each hash is of the text state will hold
                assert resource.hash == content_hash(resource.body.to_dict())
            for resource in reversed(resources):  # read out of order too (an apply's deletes and creates)
                assert canonical_text(resource.body) == canonical_json(resource.body.to_dict())
    if parsed.touched is not None:  # the Lineage a file alone gives, built from the parser's own sorted values
        assert list(parsed.touched.items()) == list(general.assets.items())
    if parsed.processes:  # (its assets: a file whose references disagree on one key's Asset has no ``touched``)
        resources_read_from_columns_equal_those_of_processes(
            Lineage.build_sorted(parsed.processes, parsed.touched) if parsed.touched is not None
            else Lineage(parsed.processes, general.assets))
    for asset in general.assets.values():
        assert asset.key == Asset(asset.platform, asset.database, asset.schema, asset.name).key


def test_mappings_written_in_runs_give_each_body_its_own_text_across_run_seams():
    """Column texts are written a run of mappings at a time; processes of 1 to 5 mappings (some with
    two sources) fall across the seams of runs of every small size, in order and out of order."""
    rows = ["process_id,source,target,source_column,target_column,transform"]
    for p in range(12):
        for m in range(1 + p % 5):
            rows.append(f"p{p:02},pg:d.s.in{p % 3},pg:d.s.out{p},c{m},t{m},{'x' * (m % 2)}")
            if m == 2:
                rows.append(f"p{p:02},pg:d.s.other,pg:d.s.out{p},o,t{m},{'x' * (m % 2)}")
    parsed = parse_file(ManifestInput("m.csv", "\n".join(rows).encode()))
    assert parsed.problems == []
    lineage = Lineage.build(parsed.processes)
    for run in (1, 2, 3, 4, 7, _MappingTexts.RUN):
        with _mapping_run(run):
            resources = [r for r in lineage_resources(lineage) if r.kind == "process"]
            assert [r.hash for r in resources] == [content_hash(r.body.to_dict()) for r in resources]
            for r in [*resources[::3], *resources[::-2], *resources]:
                assert canonical_text(r.body) == canonical_json(r.body.to_dict())


def test_a_csv_files_processes_meet_the_next_files_as_one_lineage_duplicates_and_all():
    """A CSV parser gives its processes as columns, built only when read; a file after it still finds a
    duplicate id in it (named at both places), and a lineage of two files holds the processes of both."""
    first = ManifestInput("a.csv", b"process_id,source,target\np,pg:d.s.a,pg:d.s.b\nq,pg:d.s.b,pg:d.s.c\n")
    again = ManifestInput("b.csv", b"process_id,source,target\nr,pg:d.s.c,pg:d.s.d\nq,pg:d.s.a,pg:d.s.d\n")
    with pytest.raises(ManifestError) as raised:
        build_lineage([first, again])
    assert [str(p) for p in raised.value.problems] == [
        "b.csv:3: id: duplicate process id 'q': also defined at a.csv:3"]
    other = ManifestInput("c.yaml", b"version: 1\nprocesses:\n  - {id: z, inputs: [pg:d.s.d], outputs: [pg:d.s.e]}\n")
    merged = build_lineage([first, other])
    assert [(p.id, str(p.source)) for p in merged.processes] == [("p", "a.csv:2"), ("q", "a.csv:3"), ("z", "c.yaml:3")]
    assert list(merged.assets) == [f"pg:d.s.{t}" for t in "abcde"]


@pytest.mark.parametrize("name", ["native", "builder"])
def test_a_csv_process_over_an_edge_limit_is_named_at_its_first_line(name):
    """Edge limits hold for processes a CSV parser keeps as columns: 2 x 2 edges over a warning limit of 3
    warn, 3 x 2 over a limit of 5 are refused, each at the process's first row."""
    def row(pid: str, source: str, target: str) -> str:
        if name == "native":
            return f"{pid},pg:d.s.{source},pg:d.s.{target}"
        return f"Table,pg,c,d/s/{source},{source},Table,pg,c,d/s/{target},{target},dbt,etl,{pid},Build {pid}"
    header = "process_id,source,target" if name == "native" else ",".join(ATLAN_COLUMNS)
    rows = [row("ok", "a", "b"), *(row("two", s, t) for s in "ab" for t in "cd"),
            *(row("six", s, t) for s in "abc" for t in "ef")]
    data = "\n".join([header, *rows]).encode()
    limits = EdgeLimits(warn=3, max=5)
    with pytest.raises(ManifestError) as raised, warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        build_lineage([ManifestInput("m.csv", data)], limits=limits)
    assert [str(p) for p in raised.value.problems] == [
        ("m.csv:7: process 'six' has 6 table edges (3 inputs x 2 outputs), over max_edges_per_process (5); split it, "
         "or raise max_edges_per_process under defaults in lac.yaml")]
    assert not warned  # a run with a problem emits no warning
    kept = ManifestInput("m.csv", "\n".join([header, *rows[:5]]).encode())
    with pytest.warns(ManifestWarning) as warned:
        build_lineage([kept], limits=limits)
    assert [str(w.message.problem) for w in warned] == [
        ("m.csv:3: process 'two' has 4 table edges (2 inputs x 2 outputs), over warn_edges_per_process (3); split it, "
         "or raise warn_edges_per_process under defaults in lac.yaml")]
