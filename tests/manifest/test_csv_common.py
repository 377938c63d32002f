"""A CSV is read a chunk of rows at a time: wherever the chunks end, every row keeps its line, every
column its values and codes, and a malformed file the Problem a reading of the whole file names."""

from __future__ import annotations

import codecs
from unittest.mock import patch

import pytest

from lineage_as_code.manifest import ManifestInput, csv_common, parse_file
from lineage_as_code.manifest.csv_common import Layout, Table, header_line, read_table
from lineage_as_code.manifest.yaml_reader import load_yaml

SMALL_CHUNKS = (1, 2, 3)  # rows per chunk: every seam falls somewhere different
EVERY_SIZE = (*SMALL_CHUNKS, csv_common.CHUNK_ROWS)


def _parse(data: bytes, chunk_rows: int) -> tuple[list[str], list[tuple[str, int]]]:
    """The problems of a file, and each process's id and first line, read ``chunk_rows`` at a time."""
    with patch.object(csv_common, "CHUNK_ROWS", chunk_rows):
        parsed = parse_file(ManifestInput("m.csv", data))
    return [str(p) for p in parsed.problems], [(p.id, p.source.line) for p in parsed.processes]


def _read(data: bytes, layout: Layout, chunk_rows: int) -> Table:
    with patch.object(csv_common, "CHUNK_ROWS", chunk_rows):
        table = read_table("m.csv", data, ",", lambda _names: layout)
    assert isinstance(table, Table)
    return table


@pytest.mark.parametrize("chunk_rows", EVERY_SIZE)
@pytest.mark.parametrize("blank", ["", "\n", "\n\n"])
def test_rows_keep_their_lines_across_multiline_cells_and_blank_lines_at_any_seam(chunk_rows, blank):
    text = ("process_id,source,target,description\n"
            'p1,pg:d.s.a,pg:d.s.b,"two\nlines"\n'              # lines 2-3
            'p2,pg:d.s.b,pg:d.s.c,"three\r\nmore\nlines"\n'    # lines 4-6
            f"{blank}"
            "p3,pg:d.s.c,pg:d.s.d,\n"
            'p4,pg:d.s.d,pg:d.s.e,"one"\n'
            "p5,bad..ref,pg:d.s.f,\n")
    after = 7 + blank.count("\n")
    problems, processes = _parse(text.encode(), chunk_rows)
    assert processes == [("p1", 2), ("p2", 4), ("p3", after), ("p4", after + 1)]
    assert [p.split(":")[1] for p in problems] == [str(after + 2)]


@pytest.mark.parametrize("chunk_rows", SMALL_CHUNKS)
def test_only_lines_of_spaces_and_tabs_are_skipped_as_blank_and_every_row_keeps_its_line(chunk_rows):
    """pandas skips a line holding nothing but spaces and tabs; a row of empty cells (``,,``) or a
    quoted empty cell is a row, and the problems of it and of the rows after it name their own lines."""
    text = ("process_id,source,target\n"
            "\n"                           # 2: skipped
            "  \t \n"                       # 3: skipped
            ",,\n"                          # 4: a row with no cells filled
            '""\n'                          # 5: a row whose one cell is quoted and empty
            'p1,pg:d.s.a,"pg:d.s.b"\n'       # 6
            "p2,pg:d.s.a,bad ref!\n")        # 7
    table = _read(text.encode(), Layout(((1, 2),), per_row=(0,)), chunk_rows)
    assert table.lines.tolist() == [4, 5, 6, 7]
    problems, processes = _parse(text.encode(), chunk_rows)
    assert processes == [("p1", 6)]
    assert sorted({int(p.split(":")[1]) for p in problems}) == [4, 5, 7]


@pytest.mark.parametrize("chunk_rows", EVERY_SIZE)
def test_a_pair_shares_one_set_of_values_in_first_seen_order_whatever_the_chunks(chunk_rows):
    """``source`` seen first in a later chunk than ``target`` is one value with one code at both ends,
    and values are in the order a reading of the whole columns finds them (all sources, then targets)."""
    text = "source,target,note\na,c,x\nb,d, x\nd,a,y\n e,b,\n"
    table = _read(text.encode(), Layout(((0, 1), (2,)), strip=False), chunk_rows)
    source, target, note = (table.cells[p] for p in (0, 1, 2))
    assert source.values is target.values
    assert source.values.tolist() == ["a", "b", "d", " e", "c"]
    assert source.values[source.codes].tolist() == ["a", "b", "d", " e"]
    assert target.values[target.codes].tolist() == ["c", "d", "a", "b"]
    assert source.codes[2] == target.codes[1]  # 'd' in its third row and second row
    assert note.values.tolist() == ["x", " x", "y", ""]
    assert table.lines.tolist() == [2, 3, 4, 5]


@pytest.mark.parametrize("chunk_rows", SMALL_CHUNKS)
def test_stripped_values_merge_across_chunks_and_per_row_columns_keep_each_row(chunk_rows):
    text = "source,target,name\n a ,b,N1\nb,a, N2 \na,c ,N1\n"
    table = _read(text.encode(), Layout(((0, 1),), per_row=(2,), strip=True), chunk_rows)
    source, target, name = (table.cells[p] for p in (0, 1, 2))
    assert source.values.tolist() == ["a", "b", "c"]
    assert source.codes.tolist() == [0, 1, 0] and target.codes.tolist() == [1, 0, 2]
    assert name.codes is None and name.values.tolist() == ["N1", "N2", "N1"]


@pytest.mark.parametrize("chunk_rows", EVERY_SIZE)
def test_a_row_with_too_many_cells_in_a_later_chunk_is_named_at_its_own_line(chunk_rows):
    text = "process_id,source,target\np1,pg:a.b.c,pg:a.b.d\np2,pg:a.b.d,pg:a.b.e\n\np3,pg:a.b.c,pg:a.b.e,extra\n"
    problems, _ = _parse(text.encode(), chunk_rows)
    assert problems == ["m.csv:5: malformed CSV: 4 cells where the header has 3"]


@pytest.mark.parametrize("chunk_rows", EVERY_SIZE)
def test_a_malformed_row_after_cells_spanning_lines_is_named_at_its_own_line(chunk_rows):
    """pandas counts records where it says "line": a quoted cell's line ends are not in its count. The
    problem names the line the row starts on, as an editor shows it."""
    spanning = 'process_id,source,target\np1,"pg:a.b.c\n\nstill p1",pg:a.b.d\n\np2,pg:a.b.d,pg:a.b.e\n'
    assert _parse(f"{spanning}p3,pg:a.b.c,pg:a.b.e,extra\n".encode(), chunk_rows)[0] == [
        "m.csv:7: malformed CSV: 4 cells where the header has 3"]
    assert _parse(f'{spanning}p3,"pg:a.b.c,pg:a.b.e\np4,a,b\n'.encode(), chunk_rows)[0] == [
        "m.csv:7: malformed CSV: a quoted cell that starts on this line is never closed"]
    for end in ("\r\n", "\r"):
        other = spanning.replace("\n", end) + f"p3,pg:a.b.c,pg:a.b.e,extra{end}"
        assert _parse(other.encode(), chunk_rows)[0] == ["m.csv:7: malformed CSV: 4 cells where the header has 3"]


@pytest.mark.parametrize("chunk_rows", EVERY_SIZE)
def test_a_wide_first_row_is_named_unless_a_later_row_cannot_be_parsed_at_all(chunk_rows):
    """A whole reading reports a row it cannot parse before a first row wider than the header; so does
    a reading by chunks, though its first chunk already shows the wide row."""
    wide = "process_id,source,target\np1,pg:a.b.c,pg:a.b.d,x\np2,pg:a.b.c,pg:a.b.d\np3,pg:a.b.c,pg:a.b.e\n"
    assert _parse(wide.encode(), chunk_rows)[0] == ["m.csv:2: malformed CSV: 4 cells where the header has 3"]
    unterminated = wide + 'p4,"pg:a.b.c,pg:a.b.e\n'
    assert _parse(unterminated.encode(), chunk_rows)[0] == [
        "m.csv:5: malformed CSV: a quoted cell that starts on this line is never closed"]


def test_a_cell_longer_than_the_csv_modules_limit_keeps_every_row_on_its_line():
    """Lines are recounted with the csv module when blank lines were skipped; a 200 KB SQL text, which
    pandas reads, is past that module's default limit (128 KiB) and once ended in a traceback."""
    text = f"process_id,source,target,sql\n\np1,pg:d.s.a,pg:d.s.b,{'x' * 200_000}\n\np2,pg:d.s.a,bad ref!,\n"
    problems, processes = _parse(text.encode(), csv_common.CHUNK_ROWS)
    assert processes == [("p1", 3)]
    assert [p.split(":")[1] for p in problems] == ["5"]


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_a_wide_first_row_is_named_whatever_ends_the_lines(end):
    """A file whose lines end in a lone carriage return (old Mac tools still write them) is read by
    pandas as any other: its wide first row is named, never a traceback."""
    wide = end.join(["process_id,source,target", "p1,pg:a.b.c,pg:a.b.d,x", "p2,pg:a.b.c,pg:a.b.d", ""])
    assert _parse(wide.encode(), csv_common.CHUNK_ROWS)[0] == ["m.csv:2: malformed CSV: 4 cells where the header has 3"]


@pytest.mark.parametrize("chunk_rows", SMALL_CHUNKS)
def test_a_header_problem_yields_to_a_malformed_row_further_down_as_in_a_whole_reading(chunk_rows):
    text = "process_id,source,dest\np1,a,b\np2,a,b\n"
    assert _parse(text.encode(), chunk_rows)[0] == [
        "m.csv:1: (header): the native CSV header lacks the column(s) 'target'"]
    assert _parse(f"{text}p3,a,b,c\n".encode(), chunk_rows)[0] == [
        "m.csv:4: malformed CSV: 4 cells where the header has 3"]


def test_an_empty_file_is_unreadable_and_a_header_alone_reads_as_no_rows():
    assert str(read_table("m.csv", b"", ",", lambda _names: Layout(()))) == (
        "m.csv:1: unreadable CSV: No columns to parse from file")
    table = _read(b"source,target\n", Layout(((0, 1),)), 2)
    assert table.names == ["source", "target"] and len(table.lines) == 0 and len(table.cells[0].values) == 0


@pytest.mark.parametrize("slice_bytes", [4, 5, 6, 7, 1 << 22])
def test_utf8_is_checked_slice_by_slice_and_a_bad_byte_is_placed_as_before(slice_bytes):
    """A character cut by a slice's end is read whole; a bad byte keeps its line and its place in the
    file, however the bytes are sliced."""
    good = "\ufeffsource,target\npg:é.s.ü,pg:d.s.€\n".encode()
    with patch.object(csv_common, "_SLICE", slice_bytes):
        assert header_line("m.csv", good) == "source,target"
        bad = header_line("m.csv", b"source,target\npg:\xc3\xa9.s.t,\xe2\x82\n")
        truncated = header_line("m.csv", b"\xef\xbb\xbfsource,target\r\npg:a.s.t,\xe2\x82")
    assert str(bad) == "m.csv:2: not UTF-8 text (invalid continuation byte at byte 24)"
    assert str(truncated) == "m.csv:2: not UTF-8 text (unexpected end of data at byte 27)"


@pytest.mark.parametrize("text", [b"source,target\n\xff,b\n", b"a,b\n\xff\n", b"\n\n\xff\n"])
def test_a_bad_byte_after_a_byte_order_mark_is_on_its_own_line_and_at_its_place_in_the_file(text):
    """A byte order mark shifts nothing: the bad byte's line counts every line end before it, in CSV
    and YAML alike, and its place is where a hex editor shows it."""
    at = text.index(b"\xff")
    line = text.count(b"\n", 0, at) + 1
    for name, check in (("m.csv", lambda d: header_line("m.csv", d)), ("m.yaml", lambda d: load_yaml("m.yaml", d)[2][0])):
        assert str(check(text)) == f"{name}:{line}: not UTF-8 text (invalid start byte at byte {at})"
        assert str(check(codecs.BOM_UTF8 + text)) == f"{name}:{line}: not UTF-8 text (invalid start byte at byte {at + 3})"
