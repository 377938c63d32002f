"""State: the ledger of what this tool created in each target, and the lock around changing it.

A State is a frozen value: a lineage id (fixed at the first write), a serial that grows with
every write, per target a map of address -> StateEntry (vendor id, content hash, kind), and the
content written, keyed by content hash (one stored copy per distinct body), so that the next plan
can say field by field what an update changes (Terraform keeps its resources' attributes the same way).
Only resources in state are ever deleted. Stores share one protocol (read, compare-and-swap
write, lock, unlock, force-unlock) so the same contract tests run against every backend.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import re
import socket
import uuid
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import chain, islice, pairwise
from json.encoder import encode_basestring_ascii
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from ..canonical import encoder, pairs_text, plain_value
from ..errors import LockError, StateError
from ..model import bulk_allocation
from ..opened import Opened, byte_positions
from .content import CLOSE, OPEN, Content, content_span, joined
from .entries import Overlay, StateEntry, entry_of, hashes_of, settled

if TYPE_CHECKING:
    from .document import Columns

FORMAT_VERSION = 1


def _entry_doc(entry: StateEntry) -> list[object]:
    """An entry as ``[kind, id, hash, partial, edges, file?, uncertain?]``: arrays parse twice as fast as
    objects; the optional tail is left out when empty, so older states read unchanged."""
    doc: list[object] = [entry.kind, entry.id, entry.hash, 1 if entry.partial else 0, entry.edges]
    if entry.file or entry.uncertain:
        doc.append(entry.file)
    if entry.uncertain:
        doc.append(1)
    return doc


def _entries(addresses: list[str], columns: Columns, shared: dict[str, str]) -> dict[str, StateEntry]:
    """Entries ``plain_columns`` accepted (``state/document.py``), made column by column. A kind and a file,
    each the same for many entries, and the asset keys edges join, each in the edges of several processes,
    are kept once (``shared``), and an id equal to its address is that address: a million entries would
    otherwise hold a million copies of each (a million table edges: 2 million keys, 150 MB, where 600k
    distinct ones are)."""
    kinds, vids, digests, partials, edges, files, uncertain = columns
    share = shared.setdefault
    flat = list(chain.from_iterable(chain.from_iterable(edges)))  # every edge's two keys, entry after entry
    keys = iter(list(map(share, flat, flat)))
    pairs = iter(list(zip(keys, keys)))
    fields = zip(map(share, kinds, kinds), [a if v == a else v for a, v in zip(addresses, vids)], digests,
                 map((1).__eq__, partials), [tuple(islice(pairs, n)) if n else () for n in map(len, edges)],
                 map(share, files, files), map((1).__eq__, uncertain))
    return dict(zip(addresses, map(entry_of, fields)))


@dataclass(frozen=True)
class State:
    lineage: str = ""
    serial: int = 0
    targets: Mapping[str, Mapping[str, StateEntry]] = field(default_factory=lambda: MappingProxyType({}))
    # content hash -> the body written with it. Missing for resources written by versions before this
    # was kept (their plans show which edges changed, not which fields).
    content: Content = field(default_factory=Content)
    # The state file's sections this state was made from (by an apply or ``updated``): a write passes
    # their lines through where the entries are unchanged.
    base: _Sections | None = field(default=None, compare=False, repr=False)

    def raw_sections(self) -> _Sections | None:
        """The sections of the state file this state was read from, or made from; None when neither."""
        return self.targets if isinstance(self.targets, _Sections) else self.base

    def entries(self, target: str) -> Mapping[str, StateEntry]:
        return self.targets.get(target, MappingProxyType({}))

    def updated(self, target: str, put: Mapping[str, StateEntry], drop: set[str],
                content: Mapping[str, Mapping[str, Any]] | None = None) -> State:
        """Return the next state: entries put/dropped for ``target`` (with the ``content`` they were
        written with, by hash), serial + 1, lineage fixed."""
        current = Overlay.over(self.entries(target))  # (entries kept as columns are not copied)
        for address in drop:
            current.pop(address, None)
        current.update(put)
        targets = dict(self.targets)
        targets[target] = settled(current if isinstance(current, Overlay) else dict(sorted(current.items())))
        return State(self.lineage or str(uuid.uuid4()), self.serial + 1, MappingProxyType(dict(sorted(targets.items()))),
                     self.with_content(content), self.raw_sections())

    def with_content(self, content: Mapping[str, Mapping[str, Any]] | None) -> Content:
        """This state's content plus ``content`` (what a write just recorded)."""
        return self.content.merged(content)

    def to_json(self) -> bytes:
        """The state document: ``{"format_version", "lineage", "serial", "targets": {target:
        {address: [kind, vendor id, content hash, partial 0|1, [[source, target], ...], file?, uncertain 1?]}},
        "content": {content hash: body}}``, one resource per line so that it diffs well; arrays parse twice as
        fast as objects. Only the content some entry still refers to is written."""
        return b"".join(self.json_pieces())

    def json_pieces(self, chunk: int = 10_000) -> Iterator[bytes]:
        """``to_json`` in pieces (of at most ``chunk`` lines made, or a few MB of lines passed through): a
        store writes a large state as it is encoded. The lines of the state file this state was made from
        are passed through where its entries and bodies are unchanged."""
        yield (f'{{"format_version":{FORMAT_VERSION},"lineage":{json.dumps(self.lineage)},'
               f'"serial":{self.serial},"targets":{{\n').encode()
        sections = self.raw_sections()
        for t_index, (target, entries) in enumerate(sorted(self.targets.items())):
            yield (("," if t_index else "") + f"{json.dumps(target)}:{{\n").encode()
            runs = sections.runs(target, entries) if sections is not None else None
            if runs is None:
                lines = _section_lines(entries)
                gap = b""
                while block := list(islice(lines, chunk)):
                    yield gap + ",\n".join(block).encode()
                    gap = b",\n"
            else:
                yield from joined(sections.raw(target), runs)  # type: ignore[union-attr]
            yield b"\n}\n"
        yield b"}\n"
        first = True
        for piece in self.content.pieces({h for entries in self.targets.values() for h in hashes_of(entries)}):
            yield b',"content":{\n' + piece if first else piece
            first = False
        if not first:
            yield b"\n}\n"
        yield b"}\n"

    @classmethod
    def from_json(cls, data: bytes, where: str) -> State:
        """Parse a state document; StateError naming the file and the place when
        ``schemas/state.schema.json`` refuses it (see ``state/document.py``). In the layout this tool
        writes, each target's entries are parsed when first asked for (a plan that needs none of a
        target's entries, or only their digest, never parses them). A state file is read with ``from_file``,
        which keeps none of it."""
        state = cls._laid_out(data, len(data), data.endswith(CLOSE), where, None)
        return cls._parsed_whole(data, where) if state is None else state

    @classmethod
    def from_file(cls, opened: Opened, size: int, where: str) -> State:
        """``from_json`` of the file ``opened`` keeps open (``size`` bytes), read only through its targets
        where it is laid out as this tool writes it, and those a piece at a time, none kept (each target's
        lines are read again from the file when needed): the content section after them, most of a large
        state's bytes, is read when a write or a diff needs it, and a plan remembered as a no-op needs only
        the targets' digests. A state of any other layout is read whole."""
        head = opened[0:min(size, HEAD_BYTES)]
        closes = size >= len(CLOSE) and opened[size - len(CLOSE):size] == CLOSE
        state = cls._laid_out(head, size, closes, where, opened)
        return cls._parsed_whole(opened.whole(), where) if state is None else state  # (not split again)

    @classmethod
    def _laid_out(cls, data: bytes | bytearray, size: int, closes: bool, where: str, opened: Opened | None
                  ) -> State | None:
        """The state of a document in the layout this tool writes, None for any other. ``data``: the
        document's bytes, or its first bytes when ``opened`` (the file they are read from, kept open: what
        follows its first line is read from there, a piece at a time); ``size``: the whole's length;
        ``closes``: whether it ends as a content section does."""
        from .document import check_envelope, split_targets

        m = _HEAD.match(data)
        if m is None:
            return None
        digests: dict[str, str] = {}
        if opened is not None:
            split = split_targets(data[:m.end()], m.end(), lambda start, stop: opened[start:stop], size, digests)
        else:
            split = split_targets(data, m.end())
        if split is None:
            return None
        spans, closed = split
        after = opened[closed:min(size, closed + 1 + len(OPEN))] if opened is not None \
            else data[closed:closed + 1 + len(OPEN)]
        span = content_span(after, 0, size - closed, closes)  # (from where the targets close)
        if span is None and (size != closed + 4 or after[:4] != b"}\n}\n"):
            return None
        lineage, serial = json.loads(m.group(1)), int(m.group(2))
        check_envelope({"format_version": FORMAT_VERSION, "lineage": lineage, "serial": serial,
                        "targets": {name: {} for name in spans}}, where)
        span = (closed + span[0], closed + span[1]) if span else None
        if opened is None:
            view = memoryview(data)
            sections = _Sections({name: view[start:stop] for name, (start, stop) in spans.items()}, where)
            raw = data if isinstance(data, bytes) else bytes(data)
            return cls(lineage, serial, sections, Content(None, raw, where, span=span) if span
                       else Content(None, b"", where))
        content = Content(None, opened, where, span=span) if span else Content(None, b"", where)
        return cls(lineage, serial, _Sections.kept_open(opened, spans, digests, where), content)

    @classmethod
    def _parsed_whole(cls, data: bytes, where: str) -> State:
        from .document import parse_state_document

        span = content_span(data)  # a content section in the compact layout is still read lazily
        content = Content(None, data, where, span=span) if span else Content(None, b"", where)
        head = data[:span[0] - len(OPEN)] + b"\n}\n" if span else data
        with bulk_allocation():
            doc = parse_state_document(head, where)
            targets = {t: MappingProxyType(_target_entries(entries, where, t)) for t, entries in doc["targets"].items()}
        if doc.get("content"):
            content = Content(doc["content"], where=where)
        return cls(doc["lineage"], int(doc["serial"]), MappingProxyType(targets), content)

    def entries_digest(self, target: str) -> str:
        """sha256 of ``target``'s entries as this tool writes them: equal digests, equal entries. Read
        from the file's bytes when the state was read from one (nothing is parsed)."""
        if isinstance(self.targets, _Sections):
            return self.targets.digest(target)
        return hashlib.sha256(_section_bytes(self.entries(target))).hexdigest()


def _target_entries(entries: Mapping[str, Any], where: str, target: str,
                    shared: dict[str, str] | None = None) -> dict[str, StateEntry]:
    from .document import build_entry, plain_columns

    columns = plain_columns(entries)
    if columns is not None:
        return _entries(list(entries), columns, {} if shared is None else shared)
    return {a: StateEntry(*build_entry(raw, where, target, a)) for a, raw in entries.items()}


def _entries_in_pieces(blocks: Iterable[bytes | memoryview], where: str, target: str) -> dict[str, StateEntry] | None:
    """A target's entries read a piece of lines at a time (``section_pieces`` of ``blocks``, its bytes); None
    when the pieces cannot decide: one does not parse, or holds an entry the schema refuses, which a later
    spelling of its address would replace in the whole (JSON keeps the last), so the whole section is read
    instead."""
    from .document import section_pieces

    entries: dict[str, StateEntry] = {}
    shared: dict[str, str] = {}
    for piece in section_pieces(blocks):
        if piece is None:
            return None
        try:
            entries.update(_target_entries(piece, where, target, shared))  # a later spelling wins, as in JSON
        except StateError:
            return None
    return entries


_compact = encoder(sort_keys=False, ascii_only=True, default=plain_value)  # json.dumps, compact, built once
_quoted = encode_basestring_ascii  # json.dumps of a str (TypeError for anything else)


def _entry_line(address: str, entry: StateEntry) -> str:
    """``"address":[kind, id, hash, partial, edges, file?, uncertain?]`` (``_entry_doc``): ``_entry_lines`` of
    the one entry."""
    return _entry_lines([address], [entry])[0]


_CHUNK = 1 << 16


def _lines_start_with(data: Any, starts: Any, addresses: list[str]) -> bool:
    """Whether the line at each of ``starts`` (in ``data``, a numpy byte array) begins with its address as
    written, and the colon: compared a chunk of lines at a time, the addresses encoded in one call. (Within
    a JSON array of strings, ``","`` falls only between two of them: a quote inside one is escaped.)"""
    import numpy as np

    written = _compact(addresses)[2:-2].split('","')
    expected = ('"' + '":"'.join(written) + '":').encode()
    sizes = np.fromiter(map(len, written), dtype=np.int64, count=len(written)) + 3
    if int(starts[-1]) + int(sizes[-1]) > len(data):
        return False
    first = np.repeat(starts - np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(sizes)[:-1]]), sizes)
    return bool(data[first + np.arange(len(expected))].tobytes() == expected)


def _pairs(edges: tuple[tuple[str, str], ...]) -> str:
    """``pairs_text`` of ``edges``, a process's one edge written at once."""
    if len(edges) == 1 and len(edges[0]) == 2:
        a, b = edges[0]
        return f"[{_quoted(a)},{_quoted(b)}]"
    return pairs_text(edges, _quoted)


def _entry_lines(addresses: list[str], entries: list[StateEntry]) -> list[str]:
    """Each address's entry line, as the state file holds it, written from the entries' fields in one pass (a
    state of a million entries writes a million of these: twice as fast as the encoder, and a fifth faster
    than a call for each). Where one of them is not written from its strings (a field that is not a string,
    an edge that is not a pair), each is written on its own, that one by the encoder."""
    q = _quoted
    try:
        return [f"{q(address)}:[{q(kind)},{q(id_)},{q(digest)},{1 if partial else 0},[{_pairs(edges) if edges else ''}]"
                f"{(',' + q(file) + (',1' if uncertain else '')) if file or uncertain else ''}]"
                for address, (kind, id_, digest, partial, edges, file, uncertain) in zip(addresses, entries, strict=True)]
    except (TypeError, ValueError):
        if len(addresses) == 1:
            return [f"{_compact(addresses[0])}:{_compact(_entry_doc(entries[0]))}"]
        return list(map(_entry_line, addresses, entries))


_LINES = 10_000  # entry lines written at a time


def _section_lines(entries: Mapping[str, StateEntry]) -> Iterator[str]:
    """A target's entry lines, in address order, as the state file holds them."""
    addresses = sorted(entries)  # the keys alone: a million (address, entry) pairs were 70 MB at once
    for at in range(0, len(addresses), _LINES):
        block = addresses[at:at + _LINES]
        yield from _entry_lines(block, list(map(entries.__getitem__, block)))


def _section_bytes(entries: Mapping[str, StateEntry]) -> bytes:
    return ",\n".join(_section_lines(entries)).encode()


class _Sections(Mapping[str, Mapping[str, StateEntry]]):
    """A state file's targets, each kept as its raw entry lines until first read. Read from a file kept open
    (``opened``, each section at its ``spans``), the lines are not kept but read again when asked for (to
    parse, or to pass unchanged lines through to the next state file), and must hash as they did at first:
    a re-plan of a million entries held their 260 MB of lines to its end."""

    def __init__(self, raw: Mapping[str, memoryview | None], where: str, opened: Opened | None = None,
                 spans: Mapping[str, tuple[int, int]] | None = None, digests: Mapping[str, str] | None = None
                 ) -> None:
        self._opened: Opened | None = opened
        self._spans: dict[str, tuple[int, int]] = dict(spans or {})
        self._digests: dict[str, str] = dict(digests or {})
        self._raw: dict[str, memoryview | None] = dict(raw)
        self._parsed: dict[str, Mapping[str, StateEntry]] = {}
        self._where = where
        self._layouts: dict[str, tuple[list[str], Any] | None] = {}  # addresses, and a numpy array of line starts

    @classmethod
    def kept_open(cls, opened: Opened, spans: Mapping[str, tuple[int, int]], digests: Mapping[str, str],
                  where: str) -> _Sections:
        """The sections at ``spans`` of the file ``opened`` keeps open, none of their lines held: each is
        read again when needed, and must hash as ``digests`` says it did at first."""
        return cls(dict.fromkeys(spans), where, opened, spans, digests)

    def __getitem__(self, target: str) -> Mapping[str, StateEntry]:
        found = self._parsed.get(target)
        if found is None:
            from .document import line_runs, parse_section
            from .entries import LineEntries

            with bulk_allocation():
                found = LineEntries.read(line_runs(self._blocks(target)))  # as this tool writes them
                if found is None:
                    entries = _entries_in_pieces(self._blocks(target), self._where, target)
                    if entries is None:
                        raw = self.raw(target)
                        entries = _target_entries(parse_section(raw, self._where, target), self._where, target)
                    found = MappingProxyType(entries)
                self._parsed[target] = found
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def digest(self, target: str) -> str:
        known = self._digests.get(target)
        return known or hashlib.sha256(self._raw.get(target) or b"").hexdigest()

    def raw(self, target: str) -> memoryview:
        """``target``'s entry lines; StateError when the file no longer holds what it held when read."""
        view = self._raw[target]
        if view is not None:
            return view
        assert self._opened is not None  # a section is released only where it can be read again
        start, stop = self._spans[target]
        data = self._opened[start:stop]
        if hashlib.sha256(data).hexdigest() != self._digests[target]:
            raise self._changed()
        return memoryview(data)

    def _changed(self) -> StateError:
        return StateError(f"{self._where}: the state file was changed in place while this run read it; run again")

    def _blocks(self, target: str) -> Iterator[bytes | memoryview]:
        """``target``'s entry lines a few MB at a time: read from the file as they are taken when it is kept
        open (a million entries' 260 MB of lines are then never held at once), checked to hash as they did
        at first once the last is read (StateError otherwise, as ``raw``)."""
        from . import document

        view = self._raw[target]
        if view is not None:
            yield from document.blocks_of(view)
            return
        assert self._opened is not None  # a section is released only where it can be read again
        start, stop = self._spans[target]
        digest = hashlib.sha256()
        for at in range(start, stop, document.PIECE):
            block = self._opened[at:min(at + document.PIECE, stop)]
            digest.update(block)
            if at + document.PIECE >= stop and digest.hexdigest() != self._digests[target]:
                raise self._changed()
            yield block

    def _size(self, target: str) -> int:
        view = self._raw[target]
        if view is not None:
            return len(view)
        start, stop = self._spans[target]
        return stop - start

    def runs(self, target: str, entries: Mapping[str, StateEntry]) -> list[str | tuple[int, int]] | None:
        """How ``entries`` are written from this file's section of ``target``: (start, end) spans of its raw
        lines for the entries it holds unchanged, a line made for each one put, none for each one dropped
        (``content.joined`` writes them). None when that section was never read (nothing tells what changed)
        or is not in this tool's layout (``_layout``): then every line is made."""
        parsed = self._parsed.get(target)
        if parsed is None or target not in self._raw:
            return None
        size = self._size(target)
        if entries is parsed:
            return [(0, size)] if size else []
        if isinstance(entries, Overlay) and entries.base is parsed:  # what was put and dropped is known
            changed = {a: e for a, e in entries.put.items() if parsed.get(a) != e}
            dropped = entries.dropped - entries.put.keys()
        else:
            changed = {a: e for a, e in entries.items() if (held := parsed.get(a)) is not e and held != e}
            dropped = parsed.keys() - entries.keys() \
                if len(entries) - len(changed.keys() - parsed.keys()) < len(parsed) else set()
        if not changed and not dropped:
            return [(0, size)] if size else []
        layout = self._layout(target, parsed)
        if layout is None:
            return None
        keys, starts = layout
        runs: list[str | tuple[int, int]] = []
        done = 0  # the first line not yet written or skipped
        for address in sorted(changed.keys() | dropped):
            at = bisect_left(keys, address, done)
            if at > done:  # the lines before it, without the last one's ",\n"
                runs.append((int(starts[done]), int(starts[at]) - 2 if at < len(keys) else size))
            if address in changed:
                runs.append(_entry_line(address, changed[address]))
            done = at + 1 if at < len(keys) and keys[at] == address else at
        if done < len(keys):
            runs.append((int(starts[done]), size))
        return runs

    def _layout(self, target: str, parsed: Mapping[str, StateEntry]) -> tuple[list[str], Any] | None:
        """(addresses in order, where each one's line starts) of ``target``'s raw section when it is laid out
        as this tool writes it: one entry per line, each line ``"address":`` as written (so nothing else
        starts there: a line start is never inside a JSON string), addresses strictly increasing, each line
        but the last ending in ``,``. None for any other layout. Worked out once; that each line starts with its
        address as written is known without a look where the entries were read as columns from lines that are
        (``LineEntries.lines_as_written``)."""
        if target in self._layouts:
            return self._layouts[target]
        import numpy as np

        raw = self.raw(target)
        keys = list(parsed)  # in the file's order: a dict keeps the order its keys came in
        data = np.frombuffer(raw, dtype=np.uint8)
        ends = byte_positions(data, 10)
        found: tuple[list[str], Any] | None = None
        if (keys and len(ends) + 1 == len(keys) and data[-1] != 44 and bool((data[ends - 1] == 44).all())
                and all(a < b for a, b in pairwise(keys))):
            starts = np.concatenate([np.zeros(1, dtype=ends.dtype), ends + 1])
            if getattr(parsed, "lines_as_written", False) or all(
                    _lines_start_with(data, starts[at:at + _CHUNK], keys[at:at + _CHUNK])
                    for at in range(0, len(keys), _CHUNK)):
                found = keys, starts
        self._layouts[target] = found
        return found


@dataclass(frozen=True)
class LockInfo:
    """Who holds the state lock, for what, since when: shown to anyone who finds it taken."""

    id: str
    operation: str
    who: str
    created: str

    @classmethod
    def new(cls, operation: str) -> LockInfo:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        who = f"{user}@{socket.gethostname()} pid {os.getpid()}"
        return cls(str(uuid.uuid4()), operation, who, datetime.now(UTC).isoformat(timespec="seconds"))

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> LockInfo:
        """The lock described by ``data``; fields are read as text (a lock written by hand may hold
        ``"id": 7``), and an unreadable lock file is described as such rather than failing."""
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError):
            doc = None
        if not isinstance(doc, dict) or "id" not in doc:
            return cls("?", "?", "unknown (unreadable lock file)", "?")
        return cls(*(str(doc.get(name, "?")) for name in ("id", "operation", "who", "created")))

    def describe(self) -> str:
        return f"lock {self.id} held by {self.who} for {self.operation} since {self.created}"


def locked_error(location: str, holder: LockInfo | None, unknown: str) -> LockError:
    """The error for a lock someone else holds: who, for what, since when, and the way out."""
    described = holder.describe() if holder else unknown
    return LockError(f"{location} is locked: {described}. If that run is dead, "
                     f"run 'lac force-unlock {holder.id if holder else '<id>'}'")


JUST_RELEASED = "another run, which has just released it; run again"


class StateStore(Protocol):
    """Where state lives. Every backend gives the same guarantees."""

    location: str

    def read(self) -> State:
        """Return the current state (an empty State when none was written yet)."""
        ...

    def write(self, state: State, expected_serial: int) -> None:
        """Replace the state if its serial is still ``expected_serial``; else StateConflictError."""
        ...

    def lock(self, operation: str) -> LockInfo:
        """Take the lock or raise LockError naming the holder."""
        ...

    def unlock(self, lock: LockInfo) -> None: ...

    def force_unlock(self, lock_id: str) -> None:
        """Remove a stale lock if its id matches; LockError otherwise."""
        ...


_HEAD = re.compile(rb'\{"format_version":1,"lineage":("(?:[^"\\\n]|\\.)*"),"serial":(\d+),"targets":\{\n')


HEAD_BYTES = 1 << 16  # more than the first line of any state this tool writes (its lineage is <= 200 chars)


def peek_head(head: bytes) -> tuple[str, int] | None:
    """(lineage, serial) from the first line of a state document this tool laid out (``head``: its first
    bytes, ``HEAD_BYTES`` or more); None for any other layout."""
    m = _HEAD.match(head)
    return (json.loads(m.group(1)), int(m.group(2))) if m else None


def peek_serial(data: bytes, where: str) -> tuple[str, int]:
    """(lineage, serial) of a state document: from its first line when this tool laid it out (a
    write's compare-and-swap needs no more than that), else from the whole document."""
    found = peek_head(data)
    if found is not None:
        return found
    state = State.from_json(data, where)
    return state.lineage, state.serial


def open_state_store(location: str) -> StateStore:
    """Return the store for a local path or an s3://, gs://, az:// URI."""
    if location.startswith(("s3://", "gs://", "az://", "abfss://")):
        from .remote import open_remote_store

        return open_remote_store(location)
    from .local import LocalStateStore

    return LocalStateStore(location)
