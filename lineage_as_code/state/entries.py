"""State's entries: one managed resource's (``StateEntry``), and a target's kept as columns, each made a
StateEntry only when asked for.

Every plan and apply of a project reads its state, and most of a large state's entries are found
unchanged: a pull request's plan of one change to a million-row project compares a million entries'
hashes and reads one entry whole. Made one by one (JSON's list, the entry's tuple, a tuple per edge),
a million entries took 11-13 s of that plan and hundreds of MB. ``LineEntries`` reads the lines this
tool writes (``"address":[kind, id, hash, partial, edges, file?, uncertain?]``, one per line) a run of
lines at a time with one regular expression, which accepts only what the schema's ``entry`` accepts
in the spelling this tool writes (strings without control characters, their escapes read by json itself;
a kind; 0 or 1 for the flags), and keeps each field a column; an edge list stays its JSON text until its
entry is asked for. Anything else (a space, a number written ``1.0``, an escape JSON does not have) is read
by the general path, which accepts it or words the error.

``Overlay`` is such entries with some put and some dropped (what an apply has recorded so far), so that
recording one change to a million entries does not copy them, and writing the next state passes the
unchanged lines of the file through (``_Sections.runs``).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import compress
from operator import itemgetter
from types import MappingProxyType
from typing import Any, NamedTuple


class StateEntry(NamedTuple):
    """One managed resource: its kind, the vendor's id for it, and the hash of what was written.
    (A tuple: states hold hundreds of thousands of these.)"""

    kind: str
    id: str
    hash: str
    partial: bool = False
    edges: tuple[tuple[str, str], ...] = ()
    file: str = ""  # the manifest file that declared it: a plan of some files prunes only what they declared
    # A write whose outcome is unknown (a lost reply on a target whose ambiguous-failure policy is hold):
    # kept as if written, reported by every plan, re-sent only by ``lac apply --retry-uncertain``.
    uncertain: bool = False


entry_of = functools.partial(tuple.__new__, StateEntry)  # a StateEntry of a tuple of its fields, in C


# A JSON string's characters (JSON forbids the controls), an escape (a backslash and what follows) read
# afterwards by json itself, only in the runs that hold one (``_unescaped``).
_TEXT = r'[^"\\\x00-\x1f]*(?:\\.[^"\\\x00-\x1f]*)*'

_EDGE = rf'\["{_TEXT}","{_TEXT}"\]'
# An id written as its address is matched by a backreference (a million lines' ids are then no strings made
# to be dropped): its third group is the id's closing quote, and its fourth is empty; any other id is the
# fourth group, the third empty.
_LINE = re.compile(
    rf'^"({_TEXT})":\["({_TEXT})",(?:"\1(")|"({_TEXT})"),"({_TEXT})",([01]),\[((?:{_EDGE}(?:,{_EDGE})*)?)\]'
    rf'(?:,"({_TEXT})"(?:,([01]))?)?\],?$', re.MULTILINE)


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    """An edge list's text (``["a","b"],["c","d"]``, as ``_LINE`` accepted it) as pairs."""
    return tuple(map(tuple, json.loads(f"[{text}]")))  # type: ignore[arg-type]


def _text(field: str) -> str:
    """A string field's text as JSON reads it (ValueError for an escape JSON does not have)."""
    return json.loads(f'"{field}"') if "\\" in field else field  # type: ignore[no-any-return]


def _unescaped(found: list[tuple[str, ...]]) -> list[tuple[str, ...]] | None:
    """``_LINE``'s fields of a run's lines with their escapes read as JSON reads them (an edge list's text is
    checked, and kept as it is); None where one is not an escape JSON has."""
    out = []
    try:
        for row in found:
            if any("\\" in field for field in row):
                address, kind, same, vid, digest, partial, edges, file, uncertain = row
                if "\\" in edges:
                    json.loads(f"[{edges}]")
                row = (_text(address), _text(kind), same, _text(vid), _text(digest), partial, edges, _text(file),
                       uncertain)
            out.append(row)
    except ValueError:
        return None
    return out


class LineEntries(Mapping[str, StateEntry]):
    """One target's entries, read from its lines (``read``), a column per field."""

    def __init__(self) -> None:
        self._rows: dict[str, int] = {}  # address -> its row (the last line with it, as JSON keeps the last)
        self._kinds: list[str] = []
        self._ids: list[str] = []
        self._hashes: list[str] = []
        self._partials: list[bool] = []
        self._edges: list[str] = []  # each entry's edge list as JSON text, without its brackets
        self._files: list[str] = []
        self._uncertain: list[bool] = []
        # Each line starts with its address as this tool writes it (ASCII, nothing escaped), one line per
        # address: what a state write needs to know to pass the lines through (``_Sections._layout``).
        self.lines_as_written = False

    @classmethod
    def read(cls, runs: Iterable[bytes]) -> LineEntries | None:
        """The entries of a section's runs of lines (``document.line_runs``); None unless every line is one
        ``_LINE`` accepts (with a kind), every escape is JSON's, every line but the last ends in a comma
        and the text is UTF-8."""
        out = cls()
        shared: dict[str, str] = {}  # a kind, a file: one string for the many entries that have it
        share = shared.setdefault
        lines, ascii_only = 0, True
        for run in runs:
            try:
                text = run.decode()
            except UnicodeDecodeError:
                return None
            found = _LINE.findall(text)
            ends = text.count("\n")  # (only between lines: a string holds no raw control character)
            if len(found) != ends + 1 or text.count(",\n") != ends or text.endswith(","):
                return None
            lines += len(found)
            ascii_only = ascii_only and run.isascii()
            if "\\" in text:
                read = _unescaped(found)
                if read is None:
                    return None
                found = read
                ascii_only = False  # (an escape spelled otherwise than this tool writes it is not as written)
            kinds = list(map(itemgetter(1), found))
            if "" in kinds:
                return None  # (the schema wants a kind)
            addresses = list(map(itemgetter(0), found))
            out._rows.update(zip(addresses, range(len(out._kinds), len(out._kinds) + len(found))))
            out._kinds += [share(k, k) for k in kinds]
            out._ids += [a if same or v == a else v for a, same, v in zip(addresses, map(itemgetter(2), found),
                                                                          map(itemgetter(3), found))]
            out._hashes += map(itemgetter(4), found)
            out._partials += map("1".__eq__, map(itemgetter(5), found))
            out._edges += map(itemgetter(6), found)
            out._files += [share(f, f) for f in map(itemgetter(7), found)]
            out._uncertain += map("1".__eq__, map(itemgetter(8), found))
        out.lines_as_written = ascii_only and lines == len(out._rows)
        return out

    def _entry(self, row: int) -> StateEntry:
        edges = self._edges[row]
        return entry_of((self._kinds[row], self._ids[row], self._hashes[row], self._partials[row],
                         _pairs(edges) if edges else (), self._files[row], self._uncertain[row]))

    def __getitem__(self, address: str) -> StateEntry:
        return self._entry(self._rows[address])

    def get(self, address: str, default: Any = None) -> Any:  # (Mapping's raises and catches a KeyError per miss)
        row = self._rows.get(address)
        return default if row is None else self._entry(row)

    def __contains__(self, address: object) -> bool:
        return address in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def hash_of(self, address: str) -> str | None:
        """The content hash state records at ``address``; None when it records nothing there."""
        row = self._rows.get(address)
        return None if row is None else self._hashes[row]

    def recorded(self, address: str) -> tuple[str, str, str, bool] | None:
        """(kind, id, hash, partial) of the entry at ``address``, without the rest of it; None when none."""
        row = self._rows.get(address)
        return None if row is None else (self._kinds[row], self._ids[row], self._hashes[row], self._partials[row])

    def hashes(self) -> list[str]:
        """Every entry's content hash."""
        return list(map(self._hashes.__getitem__, self._rows.values()))

    def files(self) -> set[str]:
        """The manifest files entries were declared in (and perhaps a few more: those of lines a later line
        with the same address replaced)."""
        return set(self._files)

    def uncertain(self) -> list[str]:
        """The addresses whose write's outcome is unknown."""
        rows = self._rows
        return list(compress(rows, map(self._uncertain.__getitem__, rows.values())))


class Overlay(Mapping[str, StateEntry]):
    """``base``'s entries with ``put`` put and ``dropped`` taken away (an address in both is put)."""

    def __init__(self, base: LineEntries, put: dict[str, StateEntry] | None = None,
                 dropped: set[str] | None = None) -> None:
        self.base = base
        self.put: dict[str, StateEntry] = {} if put is None else put
        self.dropped: set[str] = set() if dropped is None else dropped

    @classmethod
    def over(cls, entries: Mapping[str, StateEntry]) -> Overlay | dict[str, StateEntry]:
        """A copy of ``entries`` to change: an Overlay where they are columns (or an Overlay of them), else a
        dict."""
        if isinstance(entries, LineEntries):
            return cls(entries)
        if isinstance(entries, Overlay):
            return cls(entries.base, dict(entries.put), set(entries.dropped))
        return dict(entries)

    def pop(self, address: str, default: Any = None) -> Any:
        found = self.get(address, default)
        self.put.pop(address, None)
        if address in self.base:
            self.dropped.add(address)
        return found

    def update(self, put: Mapping[str, StateEntry]) -> None:
        self.put.update(put)

    def __getitem__(self, address: str) -> StateEntry:
        found = self.put.get(address)
        if found is not None:
            return found
        if address in self.dropped:
            raise KeyError(address)
        return self.base[address]

    def get(self, address: str, default: Any = None) -> Any:
        found = self.put.get(address)
        if found is not None:
            return found
        return default if address in self.dropped else self.base.get(address, default)

    def __contains__(self, address: object) -> bool:
        return address in self.put or (address in self.base and address not in self.dropped)

    def __iter__(self) -> Iterator[str]:
        put, dropped = self.put, self.dropped
        yield from (a for a in self.base if a not in dropped or a in put)
        yield from (a for a in put if a not in self.base)

    def __len__(self) -> int:
        base = self.base
        return (len(base) + sum(1 for a in self.put if a not in base)
                - sum(1 for a in self.dropped if a not in self.put))

    def hashes(self) -> list[str]:
        kept = self.base.hashes() if not self.put and not self.dropped else [
            h for a, h in zip(self.base, self.base.hashes()) if a not in self.put and a not in self.dropped]
        return kept + [e.hash for e in self.put.values()]


def hash_lookup(entries: Mapping[str, StateEntry]) -> Callable[[str], str | None] | None:
    """The content hash recorded at an address, read from its column, where ``entries`` are kept as columns
    (None at an address they do not hold); None where they are not."""
    return entries.hash_of if isinstance(entries, LineEntries) else None


def fields_lookup(entries: Mapping[str, StateEntry]) -> Callable[[str], Sequence[Any] | None]:
    """What ``entries`` record at an address, whose first four items are (kind, id, hash, partial): just those,
    read from their columns, where they are kept as columns; else the entry itself. None where they hold
    nothing there."""
    return entries.recorded if isinstance(entries, LineEntries) else entries.get


def settled(entries: dict[str, StateEntry] | Overlay) -> Mapping[str, StateEntry]:
    """Entries changed through ``Overlay.over``, as a state holds them: an overlay as it is (a state write
    reads what it changed from it), a dict read-only."""
    return entries if isinstance(entries, Overlay) else MappingProxyType(entries)


def hashes_of(entries: Mapping[str, StateEntry]) -> Iterable[str]:
    """The content hash of each of ``entries``, read from its column where they are kept as columns."""
    if isinstance(entries, LineEntries | Overlay):
        return entries.hashes()
    return (e.hash for e in entries.values())


def files_of(entries: Mapping[str, StateEntry]) -> set[str]:
    """The manifest files ``entries`` were declared in, or a few more where they are kept as columns (a line
    a later line with the same address replaced): a test that holds for each of these holds for each
    entry's."""
    if isinstance(entries, LineEntries):
        return entries.files()
    return {e.file for e in entries.values()}


def uncertain_in(entries: Mapping[str, StateEntry]) -> list[str]:
    """The addresses of ``entries`` whose write's outcome is unknown."""
    if isinstance(entries, LineEntries):
        return entries.uncertain()
    return [a for a, e in entries.items() if e.uncertain]
