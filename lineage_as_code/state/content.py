"""The bodies state keeps by content hash, parsed only where a plan asks for them.

State records the body each resource was written with, so the next plan can show an update field
by field. Bodies are most of a state file's bytes (a million column mappings are hundreds of
megabytes of JSON), and a no-op plan, the common case in CI, needs none of them. So the state
document keeps them last, one ``"hash":{body}`` per line, and reading a state keeps that section as
bytes: ``get_many`` scans it once for the hashes a plan's updates and deletes need and parses only
those; writing passes the lines still referred to through unparsed.

A document whose content section is not laid out that way (written by hand, pretty-printed) is
parsed whole, as before; it is rewritten in the compact layout at the next write.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from json.encoder import encode_basestring_ascii as _quoted  # json.dumps of a str, in C, with no call around it
from typing import Any

from ..canonical import canonical_text, kept_encoded
from ..errors import StateError
from ..opened import Opened

OPEN = b'\n,"content":{\n'
CLOSE = b"\n}\n}\n"
_KEY = re.compile(rb'"([^"\\\n]*)":')  # matched at each line's start
_LINE = re.compile(rb'"([^"\\\n]*)":[^\n]*')  # a whole content line, its key the group
_ESCAPED_KEY = re.compile(rb'"((?:[^"\\\n]|\\.)*)":')  # a key with an escape: tried where _KEY fails


class Content:
    """content hash -> body: parsed bodies (just written, or from a hand-laid document) and the raw
    lines of a state file's content section."""

    __slots__ = ("_encoded", "_hi", "_lo", "_parsed", "_raw", "where")

    def __init__(self, parsed: Mapping[str, Mapping[str, Any]] | None = None, raw: bytes | Opened = b"",
                 where: str = "", encoded: dict[str, str] | None = None, span: tuple[int, int] | None = None) -> None:
        self._parsed = dict(parsed or {})
        # ``"hash":{...}`` lines joined by ",\n", as the state file holds them: ``raw[lo:hi]``, of the file's
        # bytes (kept whole, not copied), or of the file itself kept open (``Opened``: at a million resources
        # the section is most of the file, and only a write or an update's field diff reads it, each time
        # it does)
        self._raw = raw
        self._lo, self._hi = span or (0, 0 if isinstance(raw, Opened) else len(raw))
        self.where = where
        # hash -> its line, encoded once: an apply writes state many times, its bodies unchanged between
        # writes (shared by the contents merged from this one)
        self._encoded = {} if encoded is None else encoded

    def __eq__(self, other: object) -> bool:
        """Equal when they hold the same bodies, parsed or not (parses everything: for tests and checks)."""
        if not isinstance(other, Content):
            return NotImplemented
        if (self._parsed, self._raw, self._lo, self._hi) == (other._parsed, other._raw, other._lo, other._hi):
            return True
        return self._everything() == other._everything()

    def _everything(self) -> dict[str, Mapping[str, Any]]:
        raw = self.get_many(key for key, _, _ in self._spans(self._loaded(), None)) if self._hi > self._lo else {}
        return {**raw, **self._parsed}

    def _loaded(self) -> tuple[bytes, int, int]:
        """(bytes, lo, hi) of the raw lines: the file's bytes as kept, or read from the file now."""
        if isinstance(self._raw, Opened):
            return self._raw[self._lo:self._hi], 0, self._hi - self._lo
        return self._raw, self._lo, self._hi

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Content({len(self._parsed)} parsed, {self._hi - self._lo} raw bytes)"

    def __bool__(self) -> bool:
        return bool(self._parsed) or self._hi > self._lo

    def _spans(self, loaded: tuple[bytes, int, int], wanted: set[str] | None) -> Iterator[tuple[str, int, int]]:
        """(hash, start, end) of the body of each raw line whose hash is ``wanted`` (all when None). Line by
        line, each matched where it starts (a search for line starts across hundreds of megabytes,
        ``^`` in multi-line mode, tries every byte: 7 s for a million lines, against 1 s)."""
        raw, at, hi = loaded
        match, escaped, find = _KEY.match, _ESCAPED_KEY.match, raw.find
        keys = None if wanted is None else {w.encode() for w in wanted}  # compared as read, decoded when kept
        while at < hi:
            end = find(b"\n", at, hi)
            end = hi if end < 0 else end
            m = match(raw, at, end) or escaped(raw, at, end)
            if m is not None:
                key = m.group(1)
                if b"\\" in key:  # an escape (never in a hash this tool makes): compared as text
                    name = json.loads(b'"' + key + b'"')
                    if wanted is None or name in wanted:
                        yield name, m.end(), end - (raw[end - 1] == 44)
                elif keys is None or key in keys:
                    yield key.decode(), m.end(), end - (raw[end - 1] == 44)  # without the line's comma
            at = end + 1

    def get_many(self, hashes: Iterable[str]) -> dict[str, Mapping[str, Any]]:
        """The bodies of ``hashes`` this content holds; StateError when one of them is not a JSON object."""
        wanted = set(hashes)
        found = {h: self._parsed[h] for h in wanted if h in self._parsed}
        missing = wanted - found.keys()
        if missing and self._hi > self._lo:
            loaded = self._loaded()
            for key, start, end in self._spans(loaded, missing):
                try:
                    body = json.loads(loaded[0][start:end])
                except (ValueError, RecursionError):
                    body = None
                if not isinstance(body, dict):
                    raise StateError(f"{self.where}: state file is corrupt (content[{key[:80]!r}] is not a JSON "
                                     "object); restore it from a backup (a local state keeps the previous version "
                                     "beside it as <state>.backup)")
                found[key] = body
        return found

    def merged(self, new: Mapping[str, Mapping[str, Any]] | None) -> Content:
        if not new:
            return self
        merged = Content(None, self._raw, self.where, self._encoded, (self._lo, self._hi))
        merged._parsed = {**self._parsed, **new}  # made here: not copied again (an apply merges a million)
        return merged

    def pieces(self, used: set[str], chunk: int = 10_000) -> Iterator[bytes]:
        """The content section's lines for every hash in ``used`` this content holds, joined by ``,\n``, in
        pieces a writer puts one after the other (nothing when none is held). In the order of ``lines``. The
        raw lines still used are passed through as the file holds them, a run of lines at a time, where the
        raw section is in this tool's layout (one line per body, each line but the last ending in its
        comma): a state of a million bodies is then written again without decoding or encoding one of
        them. Else each line is made as it is taken (``lines``)."""
        parsed = self._used(used)
        loaded = self._loaded() if self._hi > self._lo else (b"", 0, 0)
        runs = self._runs(loaded, used, parsed) if self._hi > self._lo else None
        if runs is None:
            lines = self.lines(used, parsed, loaded)
            gap = b""
            while block := list(islice(lines, chunk)):
                yield gap + b",\n".join(block)
                gap = b",\n"
            return
        yield from joined(loaded[0], runs)

    def _used(self, used: set[str]) -> Mapping[str, Mapping[str, Any]]:
        """The parsed bodies whose hash is in ``used``: all of them, not copied, when every one is (an apply's
        state write: a million of them)."""
        if all(map(used.__contains__, self._parsed)):
            return self._parsed
        return {h: body for h, body in self._parsed.items() if h in used}

    def _runs(self, loaded: tuple[bytes, int, int], used: set[str],
              parsed: Mapping[str, Mapping[str, Any]]) -> list[str | tuple[int, int]] | None:
        """What ``pieces`` writes when the raw section can be passed through: (start, end) of each run of
        raw lines still used, and the line of each parsed body, in the order of ``lines``. None when the
        section is not in this tool's layout."""
        raw, at, hi = loaded
        if any(_quoted(h)[1:-1] != h for h in parsed):  # not plain ASCII: its line's key is not its bytes
            return None
        new = {h.encode(): h for h in parsed}
        placed: set[str] = set()  # the parsed bodies written in the place of a raw line
        out: list[str | tuple[int, int]] = []
        start = stop = -1  # the run of raw lines being passed through
        for m in _LINE.finditer(raw, at, hi):  # each line whole, its key matched where it starts
            key, end = m.group(1), m.end()
            if m.start() != at or (raw[end - 1] == 44) != (end < hi):
                return None  # a line that is not of this layout, or whose key holds an escape
            h = new.get(key)
            # (each key decoded as it is read: a set of a million hashes' bytes beside ``used`` was 200 MB)
            if h is None and _decoded(key) in used:
                if start < 0:
                    start = at
                stop = end - (end < hi)  # without the line's comma
            else:
                if start >= 0:
                    out.append((start, stop))
                    start = -1
                if h is not None and h not in placed:
                    out.append(self._line(h, parsed[h]))
                    placed.add(h)
            at = end + 1
        if at <= hi:  # a line the pattern did not take (an empty last one, or one after a bad line end)
            return None
        if start >= 0:
            out.append((start, stop))
        out += [self._line(h, body) for h, body in parsed.items() if h not in placed]
        return out

    def _line(self, h: str, body: Mapping[str, Any]) -> str:
        """``"hash":{body}``, kept for the next write only when its body cannot give its text again for free
        (``kept_text``)."""
        line = self._encoded.get(h)
        if line is None:
            line = f"{_quoted(h)}:{canonical_text(body)}"
            if not getattr(body, "kept_text", False):
                self._encoded[h] = line
        return line

    def _encoded_line(self, h: str, body: Mapping[str, Any]) -> bytes:
        """``_line`` in UTF-8: from the body's own encoded text where it keeps one (``kept_encoded``: 178 MB of a
        million native CSV rows' bodies, neither decoded nor encoded again)."""
        kept = kept_encoded(body)
        return self._line(h, body).encode() if kept is None else _raw_line(h, kept)

    def lines(self, used: set[str], parsed: Mapping[str, Mapping[str, Any]] | None = None,
              loaded: tuple[bytes, int, int] | None = None) -> Iterator[bytes]:
        """``"hash":{body}``, in UTF-8, for every hash in ``used`` this content holds, made as they are taken (a
        state of a million bodies is written without holding all its lines at once): the raw section's hashes in the
        order the file holds them (a body parsed since in its place), then the other parsed bodies in the
        order they were recorded. An apply records its bodies in the order it writes them, which is the
        order its translation or the cache file holds them: each is read back after the one before it, not
        from wherever its hash would sort (a system call per body for a million bodies)."""
        if parsed is None:
            parsed = self._used(used)
        if loaded is None:
            loaded = self._loaded() if self._hi > self._lo else (b"", 0, 0)
        spans = {key: (start, end) for key, start, end in self._spans(loaded, used)} if self._hi > self._lo else {}
        raw = loaded[0]
        for h, (start, end) in spans.items():
            body = parsed.get(h)
            yield _raw_line(h, raw[start:end]) if body is None else self._encoded_line(h, body)
        for h, body in parsed.items():
            if h not in spans:
                yield self._encoded_line(h, body)


def _decoded(key: bytes) -> str | None:
    """A raw line's key as text; None where it is not UTF-8 (then no hash this tool made)."""
    try:
        return key.decode()
    except UnicodeDecodeError:
        return None


def _raw_line(h: str, text: bytes) -> bytes:
    """``"hash":{body}`` in UTF-8, of a body's encoded text."""
    return b"%s:%s" % (_quoted(h).encode(), text)


PIECE = 1 << 23  # the most bytes of raw lines in one piece a write takes


def joined(raw: bytes | memoryview, runs: list[str | tuple[int, int]]) -> Iterator[bytes]:
    """``runs`` (lines, and (start, end) spans of ``raw`` that are runs of whole lines) joined by ``,\n``,
    in pieces a writer puts one after the other: a span is cut into pieces of at most ``PIECE`` bytes, so
    no copy of a whole section is made."""
    view = memoryview(raw)
    for n, run in enumerate(runs):
        gap = b",\n" if n else b""
        if isinstance(run, str):
            yield gap + run.encode()
            continue
        start, stop = run
        for at in range(start, stop, PIECE):
            yield (gap if at == start else b"") + bytes(view[at:min(at + PIECE, stop)])


def content_span(data: bytes | bytearray, closed: int | None = None, size: int | None = None,
                 closes: bool | None = None) -> tuple[int, int] | None:
    """(start, end) of the content section's lines in a state of the compact layout, which holds the
    document's head in ``data[:start - len(OPEN)]``; None otherwise. ``closed``: where the targets map
    closes, when known, for the section starts right after it (nothing else is searched). ``data`` may be
    the document's first bytes only, through the section's opening: ``size`` is then the whole's length and
    ``closes`` whether it ends with ``CLOSE``."""
    if closed is None:
        cut = data.rfind(OPEN)
    else:
        cut = closed + 1 if data.startswith(OPEN, closed + 1) else -1
    if cut < 0 or not (data.endswith(CLOSE) if closes is None else closes):
        return None
    return cut + len(OPEN), (len(data) if size is None else size) - len(CLOSE)
