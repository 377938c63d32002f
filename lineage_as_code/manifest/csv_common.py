"""What both CSV dialects share: decoding, separator and dialect detection, reading with pandas,
mapping each data row back to the line it starts on (quoted cells may span lines), and the columnar
form both parsers work on: each column read once into its distinct values and each row's integer
code into them, so rows are handled as arrays of codes and Python objects are made per distinct
value, never per row."""

from __future__ import annotations

import codecs
import csv
import io
import re
import warnings
from collections.abc import Callable
from itertools import pairwise

import numpy as np
import pandas as pd

from ..errors import Problem
from ..model import ColumnBlock, ColumnMapping, ColumnSlice
from .validate import did_you_mean, undecodable

SEPARATORS = (",", ";", "\t", "|")
ATLAN_COLUMNS = tuple(
    f"{side} {part}"
    for side in ("Source", "Target")
    for part in ("Type", "Connector", "Connection", "Identity", "Name")
) + tuple(f"Transformation {part}" for part in ("Connector", "Connection", "Identity", "Name"))
_FIRST_LINE = re.compile(r"[^\r\n]*")  # pandas ends a line at a lone \r too
NATIVE_COLUMNS = ("process_id", "process_name", "source", "target", "source_column", "target_column",
                  "transform", "description", "sql", "owner")


def normalise_native(header: str) -> str:
    """``Process ID`` -> ``process_id``: native headers are matched without case or spacing."""
    return re.sub(r"[\s\-]+", "_", header.strip().lower())


def _header_cells(first_line: str, sep: str) -> list[str]:
    return [c.strip() for c in next(csv.reader([first_line], delimiter=sep), [])]


def detect_dialect(name: str, text: str, separator: str | None) -> tuple[str, str] | Problem:
    """Return ``(dialect, separator)`` with dialect ``atlan`` or ``native``, or a Problem at line 1.

    A header with two native columns is native (a missing column is then named by the native
    parser); one with most of the Atlan columns is Atlan, and the missing ones are named here.
    """
    first_line = _FIRST_LINE.match(text).group()  # type: ignore[union-attr]  # (always matches)
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


def read_frame(name: str, data: bytes, sep: str) -> tuple[pd.DataFrame, pd.Series] | Problem:
    """Read every cell of a CSV (``data``: UTF-8, checked by ``decode``) as text; return the frame and
    each row's 1-based starting line.

    pandas reads the bytes as they are: neither the decoded text (a million rows are ~200 MB of it)
    nor a re-encoded copy is held while the frame is built; the text is decoded again only to explain
    a ragged file or count blank lines."""
    body = data.removeprefix(codecs.BOM_UTF8)  # the same object when there is no BOM: no copy
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(io.BytesIO(body), sep=sep, dtype=str, keep_default_na=False,
                                skip_blank_lines=True, engine="c", quoting=csv.QUOTE_MINIMAL,
                                index_col=False, encoding="utf-8")
    except pd.errors.ParserWarning:
        return _ragged(name, body.decode(), sep)
    except pd.errors.ParserError as exc:
        return Problem(name, _error_line(str(exc)), "", f"malformed CSV: {exc}".replace("\n", " "))
    except (pd.errors.EmptyDataError, UnicodeError, ValueError) as exc:
        return Problem(name, 1, "", f"unreadable CSV: {exc}")
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        return frame, pd.Series([], dtype="int64")
    lines = pd.Series(range(2, len(frame) + 2), index=frame.index)
    end = len(body)
    while end and body[end - 1] in b"\r\n":  # trailing line ends, found without copying the body
        end -= 1
    physical = body.count(b"\n", 0, end)
    if physical == len(frame):
        return frame, lines  # no quoted cell spans lines and no blank line: row i is on line i + 2
    newlines = sum((frame[c].str.count("\n") for c in frame.columns), start=pd.Series(0, index=frame.index))
    lines = lines + newlines.cumsum().shift(1, fill_value=0)
    if physical > len(frame) + int(newlines.sum()):
        # blank lines were skipped by pandas: recount from the raw text with the csv module
        lines = _lines_with_blanks(body.decode(), sep, len(frame))
    return frame, lines


def _ragged(name: str, text: str, sep: str) -> Problem:
    """The first row whose number of cells differs from the header's."""
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    header = next(reader, [])
    line = reader.line_num + 1
    for record in reader:
        if record and len(record) != len(header):
            return Problem(name, line, "", f"malformed CSV: {len(record)} cells where the header has {len(header)}")
        line = reader.line_num + 1
    return Problem(name, 0, "", "malformed CSV: rows and header disagree on the number of cells")


def _error_line(message: str) -> int:
    """The line a pandas parser error points at: 'line N' is a line; 'row N' counts records from 0,
    the header being row 0 (exact unless an earlier quoted cell spans lines); else line 1."""
    found = re.search(r"\b(line|row) (\d+)", message)
    if found is None:
        return 1
    return int(found.group(2)) + (found.group(1) == "row")


def _lines_with_blanks(text: str, sep: str, rows: int) -> pd.Series:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    starts: list[int] = []
    next(reader, None)
    line = reader.line_num + 1
    for record in reader:
        if any(cell.strip() for cell in record):
            starts.append(line)
        line = reader.line_num + 1
    return pd.Series((starts + [0] * rows)[:rows])


def decode(name: str, data: bytes) -> str | Problem:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return undecodable(name, data, exc)


class Cells:
    """One column: its distinct values and each row's index into them (``codes`` None when the
    values are the rows' own, for a column with about as many values as rows)."""

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
