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
from typing import Any

from ..canonical import canonical_text
from ..errors import StateError

OPEN = b'\n,"content":{\n'
CLOSE = b"\n}\n}\n"
_KEY = re.compile(rb'"([^"\\\n]*)":')  # matched at each line's start


class Content:
    """content hash -> body: parsed bodies (just written, or from a hand-laid document) and the raw
    lines of a state file's content section."""

    __slots__ = ("_encoded", "_hi", "_lo", "_parsed", "_raw", "where")

    def __init__(self, parsed: Mapping[str, Mapping[str, Any]] | None = None, raw: bytes = b"",
                 where: str = "", encoded: dict[str, str] | None = None, span: tuple[int, int] | None = None) -> None:
        self._parsed = dict(parsed or {})
        # ``"hash":{...}`` lines joined by ",\n", as the state file holds them: ``raw[lo:hi]`` (the file's
        # bytes are kept whole, not copied: at a million resources the section is most of the file)
        self._raw = raw
        self._lo, self._hi = span or (0, len(raw))
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
        raw = self.get_many(key for key, _, _ in self._spans(None)) if self._hi > self._lo else {}
        return {**raw, **self._parsed}

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Content({len(self._parsed)} parsed, {self._hi - self._lo} raw bytes)"

    def __bool__(self) -> bool:
        return bool(self._parsed) or self._hi > self._lo

    def _spans(self, wanted: set[str] | None) -> Iterator[tuple[str, int, int]]:
        """(hash, start, end) of the body of each raw line whose hash is ``wanted`` (all when None). Line by
        line, each matched where it starts (a search for line starts across hundreds of megabytes,
        ``^`` in multi-line mode, tries every byte: 7 s for a million lines, against 1 s)."""
        raw, at, hi = self._raw, self._lo, self._hi
        match, find = _KEY.match, raw.find
        keys = None if wanted is None else {w.encode() for w in wanted}  # compared as read, decoded when kept
        while at < hi:
            end = find(b"\n", at, hi)
            end = hi if end < 0 else end
            m = match(raw, at, end)
            if m is not None and (keys is None or m.group(1) in keys):
                yield m.group(1).decode(), m.end(), end - (raw[end - 1] == 44)  # without the line's comma
            at = end + 1

    def get_many(self, hashes: Iterable[str]) -> dict[str, Mapping[str, Any]]:
        """The bodies of ``hashes`` this content holds; StateError when one of them is not a JSON object."""
        wanted = set(hashes)
        found = {h: self._parsed[h] for h in wanted if h in self._parsed}
        missing = wanted - found.keys()
        if missing and self._hi > self._lo:
            for key, start, end in self._spans(missing):
                try:
                    body = json.loads(self._raw[start:end])
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
        return Content({**self._parsed, **new}, self._raw, self.where, self._encoded, (self._lo, self._hi))

    def lines(self, used: set[str]) -> Iterator[str]:
        """``"hash":{body}`` for every hash in ``used`` this content holds, in hash order, made as they are
        taken: a state of a million bodies is written without holding all its lines at once. A line is
        kept for the next write only when its body cannot give its text again for free (``kept_text``)."""
        encoded = self._encoded
        parsed = {h: body for h, body in self._parsed.items() if h in used}
        spans = {key: (start, end) for key, start, end in self._spans(used - parsed.keys())} if self._hi > self._lo \
            else {}
        raw = self._raw
        for h in sorted(parsed.keys() | spans.keys()):
            body = parsed.get(h)
            if body is None:
                start, end = spans[h]
                yield f"{json.dumps(h)}:{raw[start:end].decode()}"
                continue
            line = encoded.get(h)
            if line is None:
                line = f"{json.dumps(h)}:{canonical_text(body)}"
                if not getattr(body, "kept_text", False):
                    encoded[h] = line
            yield line


def content_span(data: bytes, closed: int | None = None) -> tuple[int, int] | None:
    """(start, end) of the content section's lines in a state of the compact layout, which holds the
    document's head in ``data[:start - len(OPEN)]``; None otherwise. ``closed``: where the targets map
    closes, when known, for the section starts right after it (nothing else is searched)."""
    if closed is None:
        cut = data.rfind(OPEN)
    else:
        cut = closed + 1 if data.startswith(OPEN, closed + 1) else -1
    if cut < 0 or not data.endswith(CLOSE):
        return None
    return cut + len(OPEN), len(data) - len(CLOSE)
