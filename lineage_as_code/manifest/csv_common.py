"""What both CSV dialects share: the UTF-8 check, separator and dialect detection, and reading a file
into the columnar form both parsers work on: each column read into its distinct values and each row's
integer code into them, so rows are handled as arrays of codes and Python objects are made per
distinct value, never per row. pandas reads the file a chunk of rows at a time and each chunk is
turned into codes before the next is read, so neither the decoded text nor a frame of every cell is
ever held; each data row keeps the line it starts on (quoted cells may span lines)."""

from __future__ import annotations

import codecs
import csv
import io
import re
import warnings
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice, pairwise

import numpy as np
import pandas as pd
from pandas.io.parsers import TextFileReader

from ..errors import Problem
from ..model import ColumnBlock, ColumnMapping, ColumnSlice
from .validate import did_you_mean, undecodable

SEPARATORS = (",", ";", "\t", "|")
ATLAN_COLUMNS = tuple(
    f"{side} {part}"
    for side in ("Source", "Target")
    for part in ("Type", "Connector", "Connection", "Identity", "Name")
) + tuple(f"Transformation {part}" for part in ("Connector", "Connection", "Identity", "Name"))
_FIRST_LINE = re.compile(rb"[^\r\n]*")  # pandas ends a line at a lone \r too
_SLICE = 1 << 22  # bytes checked as UTF-8 at a time: a few MB of text exist at once, never the file's
CHUNK_ROWS = 500_000  # rows pandas reads at a time (a module constant: tests lower it to cross seams)
NATIVE_COLUMNS = ("process_id", "process_name", "source", "target", "source_column", "target_column",
                  "transform", "description", "sql", "owner")


def normalise_native(header: str) -> str:
    """``Process ID`` -> ``process_id``: native headers are matched without case or spacing."""
    return re.sub(r"[\s\-]+", "_", header.strip().lower())


def _header_cells(first_line: str, sep: str) -> list[str]:
    return [c.strip() for c in next(csv.reader([first_line], delimiter=sep), [])]


def header_line(name: str, data: bytes) -> str | Problem:
    """The first line of a CSV (after any byte order mark), once every byte of the file is checked to
    be UTF-8; else the Problem at the first bad byte. The bytes are decoded a slice at a time, so no
    copy of the file as text is ever made."""
    view = memoryview(data)
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    at, step = start, max(_SLICE, 4)  # a character is at most 4 bytes: each slice reads one at least
    while at < len(data):
        final = at + step >= len(data)  # before the end, a character cut by the slice is read with the next
        try:
            at += codecs.utf_8_decode(view[at:at + step], "strict", final)[1]
        except UnicodeDecodeError as exc:  # positions from after the byte order mark, as utf-8-sig gives them
            return undecodable(name, data, UnicodeDecodeError(
                "utf-8", data, at - start + exc.start, at - start + exc.end, exc.reason))
    return _FIRST_LINE.match(view, start).group().decode()  # type: ignore[union-attr]  # (always matches)


def detect_dialect(name: str, first_line: str, separator: str | None) -> tuple[str, str] | Problem:
    """Return ``(dialect, separator)`` with dialect ``atlan`` or ``native``, or a Problem at line 1.

    A header with two native columns is native (a missing column is then named by the native
    parser); one with most of the Atlan columns is Atlan, and the missing ones are named here.
    """
    for sep in ((separator,) if separator else SEPARATORS):
        cells = _header_cells(first_line, sep)
        if set(ATLAN_COLUMNS) <= set(cells):
            return "atlan", sep
        if len(set(ATLAN_COLUMNS) & set(cells)) >= len(ATLAN_COLUMNS) // 2:
            return missing_columns(name, [c for c in ATLAN_COLUMNS if c not in cells], cells, "Atlan Lineage Builder")
        if len({normalise_native(c) for c in cells} & set(NATIVE_COLUMNS)) >= 2:
            return "native", sep
    return Problem(
        name, 1, "(header)",
        "unrecognised CSV header: expected native columns (process_id, source, target, ...) "
        "or the 14 Atlan Lineage Builder columns (Source Type, ..., Transformation Name)",
    )


def missing_columns(name: str, missing: list[str], cells: list[str], dialect: str) -> Problem:
    """The header Problem (line 1) naming each missing column, with the header cell it was
    probably meant to be."""
    others = [c for c in cells if c not in ATLAN_COLUMNS and normalise_native(c) not in NATIVE_COLUMNS]
    named = ", ".join(f"{m!r}{did_you_mean(m, others)}" for m in missing)
    return Problem(name, 1, "(header)", f"the {dialect} header lacks the column(s) {named}")


class Cells:
    """One column: its distinct values and each row's index into them (``codes`` None when the
    values are the rows' own, for a column with about as many values as rows). A file's codes are
    int32, half the memory of int64 at millions of rows: widen them before multiplying them."""

    __slots__ = ("codes", "values")

    def __init__(self, values: np.ndarray, codes: np.ndarray | None = None) -> None:
        self.values = values
        self.codes = codes

    def at(self, rows: np.ndarray) -> np.ndarray:
        """The values of ``rows``."""
        return self.values[rows] if self.codes is None else self.values[self.codes[rows]]

    def per_row(self, flags: np.ndarray) -> np.ndarray:
        """Per row, the flag of its value (``flags``: one per distinct value)."""
        return flags if self.codes is None else flags[self.codes]

    def empty(self) -> np.ndarray:
        """Per row, whether its cell is empty."""
        return self.per_row(self.values == "")

    def test(self, check: Callable[[str], bool]) -> np.ndarray:
        """Per row, ``check`` of its value, run once per distinct value."""
        return self.per_row(np.fromiter((check(v) for v in self.values.tolist()), dtype=bool, count=len(self.values)))

    def kept(self, keep: np.ndarray) -> Cells:
        return Cells(self.values[keep]) if self.codes is None else Cells(self.values, self.codes[keep])


def distinct(columns: list[np.ndarray], strip: bool = True) -> list[Cells]:
    """The columns as Cells over one set of values, stripped unless ``strip`` is false (a cell pandas
    left empty reads ``nan``, as ``str()`` does): equal text has one code in all of them."""
    codes, found = pd.factorize(np.concatenate(columns) if len(columns) > 1 else columns[0], use_na_sentinel=True)
    raw = found.tolist()
    if (codes < 0).any():
        codes[codes < 0] = len(raw)
        raw.append(float("nan"))
    texts = [str(v).strip() for v in raw] if strip else [str(v) for v in raw]
    if any(s is not v for s, v in zip(texts, raw, strict=True)):  # two cells may strip to one text
        remap, values = pd.factorize(np.array(texts, dtype=object))
        codes = remap[codes]
    else:
        values = np.array(texts, dtype=object)
    bounds = np.cumsum([0, *map(len, columns)]).tolist()
    return [Cells(values, codes[a:b]) for a, b in pairwise(bounds)]


@dataclass(frozen=True)
class Layout:
    """Which header positions a parser reads, and how: ``groups`` of positions whose columns share one
    set of values (a single position is a column on its own), ``per_row`` positions kept as each
    row's own text, not coded (a column with about one value per row), and whether values are
    stripped. A position in neither is not kept."""

    groups: tuple[tuple[int, ...], ...]
    per_row: tuple[int, ...] = ()
    strip: bool = True


@dataclass
class Table:
    """A CSV read into codes: its header (each name stripped, by position, so a repeated name is
    there at each of its positions), per position the layout reads its Cells, and each data row's
    1-based starting line. A parser pops the Cells it reads, so each is freed once used."""

    names: list[str]
    cells: dict[int, Cells]
    lines: np.ndarray


class _Group:
    """The columns of one group, read chunk by chunk: each column's cells in a chunk become codes into
    that chunk's distinct cells of the column, numbered on from its chunks before. Once the file is
    read, all those cells, column after column, are merged into the group's one set of values, in the
    order ``distinct`` would find them in the whole columns, and the codes are mapped onto it."""

    def __init__(self, positions: tuple[int, ...]) -> None:
        self.positions = positions
        self.codes: list[list[np.ndarray]] = [[] for _ in positions]
        self.found: list[list[np.ndarray]] = [[] for _ in positions]
        self.counts = [0] * len(positions)

    def add(self, columns: list[np.ndarray], newlines: np.ndarray | None) -> None:
        """Code one chunk (``columns``: all of its columns, by position); add the line ends in this
        group's cells to ``newlines`` (per row) when it is given."""
        for i, position in enumerate(self.positions):
            codes, found = pd.factorize(columns[position])  # a NaN cell: -1
            if newlines is not None and (ends := _newlines(found.tolist())) is not None:
                newlines += np.append(ends, 0)[codes]  # each distinct cell counted once
            if (codes < 0).any():  # kept as a value: ``distinct`` reads it as pandas left it
                codes[codes < 0] = len(found)
                found = np.append(found, np.nan)
            self.codes[i].append((codes + self.counts[i]).astype(np.int32))  # one code at most per cell read
            self.found[i].append(found)
            self.counts[i] += len(found)

    def cells(self, strip: bool) -> list[Cells]:
        """The group's columns as Cells over one set of values, exactly as ``distinct`` reads them whole."""
        merged = distinct([np.concatenate([found for column in self.found for found in column])], strip)[0]
        self.found = []
        assert merged.codes is not None  # (always coded)
        to_value = merged.codes.astype(np.int32)
        bounds = np.cumsum([0, *self.counts]).tolist()
        out = []
        for kept, (start, end) in zip(self.codes, pairwise(bounds), strict=True):
            out.append(Cells(merged.values, to_value[start:end][np.concatenate(kept)]))
            kept.clear()
        return out


def _newlines(texts: list[str]) -> np.ndarray | None:
    """Per text, how many line ends it holds; None when none holds any (one scan of them joined)."""
    try:
        joined = "".join(texts)
    except TypeError:  # a cell pandas left empty (NaN) among them: it holds none
        texts = [t if isinstance(t, str) else "" for t in texts]
        joined = "".join(texts)
    if "\n" not in joined:
        return None
    return np.fromiter((t.count("\n") for t in texts), dtype=np.int64, count=len(texts))


class _Reading:
    """A CSV being read chunk by chunk into its layout's Cells, and per chunk the line ends in its
    rows' cells (counted only when the file quotes anything: an unquoted cell cannot span lines)."""

    def __init__(self, layout: Layout, width: int, quoted: bool) -> None:
        self.layout = layout
        self.groups = [_Group(g) for g in layout.groups]
        self.per_row: dict[int, list[str]] = {p: [] for p in layout.per_row}
        read = {p for g in layout.groups for p in g} | set(layout.per_row)
        self.unread = [p for p in range(width) if p not in read] if quoted else []  # read for line ends only
        self.quoted = quoted
        self.chunks: list[tuple[int, np.ndarray | None]] = []  # per chunk, its rows and line ends (None: none)

    def add(self, columns: list[np.ndarray], rows: int) -> None:
        """Code one chunk (``columns``: its columns, by position)."""
        newlines = np.zeros(rows, dtype=np.int64) if self.quoted else None
        for group in self.groups:
            group.add(columns, newlines)
        strip = self.layout.strip
        for p, texts in self.per_row.items():
            raw = columns[p].tolist()
            texts.extend([str(v).strip() for v in raw] if strip else [str(v) for v in raw])
            _add_newlines(raw, newlines)
        for p in self.unread:
            _add_newlines(columns[p].tolist(), newlines)
        self.chunks.append((rows, newlines if newlines is not None and newlines.any() else None))

    @property
    def rows(self) -> int:
        return sum(rows for rows, _ in self.chunks)

    def newlines(self) -> np.ndarray:
        """Per row, the line ends in its cells."""
        return np.concatenate([np.zeros(0, dtype=np.int64), *(
            np.zeros(rows, dtype=np.int64) if counts is None else counts for rows, counts in self.chunks)])

    def cells(self) -> dict[int, Cells]:
        """Per position read, its Cells; what was gathered is let go on the way."""
        out: dict[int, Cells] = {}
        for group in self.groups:
            out.update(zip(group.positions, group.cells(self.layout.strip), strict=True))
        for p, texts in self.per_row.items():
            out[p] = Cells(np.array(texts, dtype=object))
            texts.clear()
        return out


def _add_newlines(texts: list[str], newlines: np.ndarray | None) -> None:
    if newlines is not None and (ends := _newlines(texts)) is not None:
        newlines += ends


def read_table(name: str, data: bytes, sep: str, layout_of: Callable[[list[str]], Layout | Problem]
               ) -> Table | Problem:
    """Read a CSV (``data``: UTF-8, checked by ``header_line``) into a Table; its header names are given
    to ``layout_of``, which says which columns to read and how, or returns the header's Problem (then
    returned). Returns a Problem for a file pandas cannot read, at the line of the fault.

    pandas reads the bytes as they are, CHUNK_ROWS rows at a time, and each chunk is coded and let go
    before the next is read."""
    body = data.removeprefix(codecs.BOM_UTF8)  # the same object when there is no BOM: no copy
    reading: _Reading | None = None
    names: list[str] = []
    chunks = _chunks(name, body, sep)
    for chunk in chunks:
        if isinstance(chunk, Problem):
            return chunk
        if reading is None:
            names = [str(c).strip() for c in chunk.columns]
            layout = layout_of(names)
            if isinstance(layout, Problem):  # a malformed row is named first, as when the file was read whole
                return next((c for c in chunks if isinstance(c, Problem)), layout)
            reading = _Reading(layout, len(names), b'"' in body)
        reading.add([np.asarray(chunk.iloc[:, i], dtype=object) for i in range(chunk.shape[1])], len(chunk))
        del chunk  # the next chunk is read without this one
    if reading is None:  # (pandas gives a header-only file one empty chunk)
        return Problem(name, 1, "", "unreadable CSV: no header")
    return Table(names, reading.cells(), _line_numbers(body, sep, reading))


def _reader(body: bytes, sep: str) -> TextFileReader:
    # cells as the parser's own strings in object arrays (a missing one NaN): ``dtype=str`` gives the same
    # values, each column first checked and wrapped as pandas' string array, about 0.1 s per million rows
    return pd.read_csv(io.BytesIO(body), sep=sep, dtype=object, keep_default_na=False, skip_blank_lines=True,
                       engine="c", quoting=csv.QUOTE_MINIMAL, index_col=False, encoding="utf-8",
                       chunksize=CHUNK_ROWS)


def _chunks(name: str, body: bytes, sep: str) -> Iterator[pd.DataFrame | Problem]:
    """The file's data rows as frames of text, CHUNK_ROWS at a time; or, last, the Problem that stops
    the reading."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            with _reader(body, sep) as reader:
                yield from reader
    except pd.errors.ParserWarning:
        # a row wider than the header: a whole read would first have named a row it cannot parse at all
        yield _malformed(name, body, sep) or _ragged(name, body, sep)
    except pd.errors.ParserError as exc:
        yield _malformed_at(name, exc, body, sep)
    except (pd.errors.EmptyDataError, UnicodeError, ValueError) as exc:
        yield Problem(name, 1, "", f"unreadable CSV: {exc}")


def _malformed(name: str, body: bytes, sep: str) -> Problem | None:
    """The Problem of the first row pandas cannot parse at all (None: every row parses)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            with _reader(body, sep) as reader:
                for _ in reader:
                    pass
    except pd.errors.ParserError as exc:
        return _malformed_at(name, exc, body, sep)
    return None


_WIDE_ROW = re.compile(r"Expected (\d+) fields in line \d+, saw (\d+)")
_OPEN_QUOTE = re.compile(r"EOF inside string starting at row \d+")


def _malformed_at(name: str, exc: pd.errors.ParserError, body: bytes, sep: str) -> Problem:
    """The Problem of a row pandas cannot parse, at the line where that row starts, in words that do
    not repeat pandas' own count (its "line" is a record number: a quoted cell spanning lines is one)."""
    message = str(exc).replace("\n", " ")
    record = _error_record(message)
    line = (_record_line(body, sep, record) or record) if record else 1
    if wide := _WIDE_ROW.search(message):
        return Problem(name, line, "", f"malformed CSV: {wide.group(2)} cells where the header has {wide.group(1)}")
    if _OPEN_QUOTE.search(message):
        return Problem(name, line, "", "malformed CSV: a quoted cell that starts on this line is never closed")
    return Problem(name, line, "", f"malformed CSV: {message}")


class _Unreadable(Exception):
    """The csv module cannot read record ``record`` (1-based, the header first), which starts on ``line``."""

    def __init__(self, record: int, line: int, reason: str) -> None:
        super().__init__(reason)
        self.record, self.line = record, line


class _Lines:
    """The lines of a text, the last one handed out kept (what the csv module read a record from)."""

    def __init__(self, text: Iterator[str]) -> None:
        self.text, self.last = text, ""

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        self.last = next(self.text)
        return self.last


def _records(body: bytes, sep: str) -> Iterator[tuple[int, list[str], str]]:
    """Each record of the file as the csv module reads it (a blank line is one), with the line it starts
    on and the last line it was read from; _Unreadable for one it cannot read. Line ends are universal
    (a lone \r ends a line, as it does for pandas), and a cell may be as long as the file: the csv
    module's own limit (128 KiB) would stop at a long SQL text that pandas reads."""
    csv.field_size_limit(max(csv.field_size_limit(), len(body)))
    lines = _Lines(io.TextIOWrapper(io.BytesIO(body), encoding="utf-8", newline=""))
    reader = csv.reader(lines, delimiter=sep)
    number, start = 1, 1
    try:
        for record in reader:
            yield start, record, lines.last
            number, start = number + 1, reader.line_num + 1
    except (csv.Error, UnicodeError) as exc:
        raise _Unreadable(number, start, str(exc)) from None


def _ragged(name: str, body: bytes, sep: str) -> Problem:
    """The first row whose number of cells differs from the header's."""
    header: list[str] | None = None
    try:
        for line, record, _ in _records(body, sep):
            if header is None:
                header = record
            elif record and len(record) != len(header):
                return Problem(name, line, "", f"malformed CSV: {len(record)} cells where the header has {len(header)}")
    except _Unreadable as exc:
        return Problem(name, exc.line, "", f"malformed CSV: {exc}")
    return Problem(name, 0, "", "malformed CSV: rows and header disagree on the number of cells")


def _error_record(message: str) -> int | None:
    """The record a pandas parser error points at, 1-based, the header first: its 'line N' counts records
    (a blank line is one, a quoted cell's line ends are not), its 'row N' counts them from 0."""
    found = re.search(r"\b(line|row) (\d+)", message)
    if found is None:
        return None
    return int(found.group(2)) + (found.group(1) == "row")


def _record_line(body: bytes, sep: str, record: int) -> int | None:
    """The line where record ``record`` (1-based, the header first, a blank line one) starts; None when
    the file has fewer, or one before it cannot be read."""
    try:
        for number, (line, _, _) in enumerate(_records(body, sep), 1):
            if number == record:
                return line
    except _Unreadable as exc:  # a record that cannot be read (a quote never closed) still starts somewhere
        return exc.line if exc.record == record else None
    return None


def _line_numbers(body: bytes, sep: str, reading: _Reading) -> np.ndarray:
    """Each data row's 1-based starting line: row i is on line i + 2 unless quoted cells span lines or
    pandas skipped blank lines."""
    rows = reading.rows
    lines = np.arange(2, rows + 2, dtype=np.int64)
    if not rows:
        return lines
    end = len(body)
    while end and body[end - 1] in b"\r\n":  # trailing line ends, found without copying the body
        end -= 1
    physical = body.count(b"\n", 0, end)
    if physical == rows:
        return lines
    within = reading.newlines()
    lines += np.cumsum(within) - within  # the line ends inside the cells of the rows before
    if physical > rows + int(within.sum()):
        return _lines_with_blanks(body, sep, rows)  # blank lines were skipped: recount with the csv module
    return lines


def _lines_with_blanks(body: bytes, sep: str, rows: int) -> np.ndarray:
    """Each data row's starting line, skipping the lines pandas skips: those holding nothing but spaces
    and tabs. A row of empty cells (``,,``) or a quoted empty cell is a row. (Rows past one the csv
    module cannot read, which pandas read, keep line 0: unknown.)"""
    starts = array("q")
    try:
        for line, record, last in islice(_records(body, sep), 1, None):
            if len(record) > 1 or "".join(record).strip(" \t") or '"' in last:
                starts.append(line)
    except _Unreadable:
        pass
    found = np.frombuffer(starts, dtype=np.int64)[:rows]
    return np.concatenate([found, np.zeros(rows - len(found), dtype=np.int64)])


def first_rows(group: np.ndarray, groups: int) -> np.ndarray:
    """Per group (0..groups-1), the first index where ``group`` holds it (``len(group)`` for none)."""
    first = np.full(groups, len(group), dtype=np.int64)
    np.minimum.at(first, group, np.arange(len(group)))
    return first


def grouped(group: np.ndarray, values: np.ndarray, groups: int, width: int) -> tuple[np.ndarray, list[int]]:
    """Per group (0..groups-1), its distinct values (0..width-1) in first-seen order: all of them,
    group after group, and where each group starts (``groups + 1`` bounds)."""
    pairs = pd.unique(group.astype(np.int64) * width + values)
    owner = pairs // width
    pairs = pairs[np.argsort(owner, kind="stable")]
    bounds = np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=groups))])
    return pairs % width, bounds.tolist()


def small_codes(codes: np.ndarray) -> np.ndarray:
    """``codes`` in 32 bits when they fit (they index distinct values: far fewer than 2**31)."""
    return codes.astype(np.int32) if codes.max(initial=0) < 1 << 31 else codes


def column_slices(block: ColumnBlock, per_process: np.ndarray) -> list[tuple[ColumnMapping, ...] | ColumnSlice]:
    """Per process, its column mappings as a slice of ``block`` (whose mappings run process after process,
    ``per_process`` of them each); ``()`` for a process without any."""
    within = np.concatenate([[0], np.cumsum(per_process)]).tolist()
    return [ColumnSlice(block, a, b) if b > a else () for a, b in pairwise(within)]
