"""Reading a state document safely: ``schemas/state.schema.json`` decides what a valid one is.

A state file is read by every plan and may hold hundreds of thousands of entries, so the schema
is applied in two parts: jsonschema checks the envelope (format, lineage, serial, the targets
map), and a fast check of each target's entries, column by column, accepts what is plainly valid
under the schema's ``entry`` definition; a target it does not accept is read entry by entry with
jsonschema, which either accepts each (an unusual but valid spelling such as ``1.0``) or words
the error. Any shape the schema refuses, a number out of range (``1e400``), nesting too deep to parse
or bytes that are not JSON become one StateError naming the file and the place, never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cache
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from ..errors import StateError
from ..manifest.validate import load_schema, validator

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

Edges = tuple[tuple[str, str], ...]
RawEntry = tuple[str, str, str, bool, Edges, str, bool]


def _validator(pointer: str = "") -> Draft202012Validator:
    return validator("state", pointer or None)


def corrupt(where: str, detail: str) -> StateError:
    """The error for a state that cannot be used: what is wrong, and the way out."""
    if len(detail) > 200:
        detail = detail[:197] + "..."
    return StateError(f"{where}: state file is corrupt ({detail}); restore it from a backup (a local state "
                      "keeps the previous version beside it as <state>.backup)")


def _first_error(validator: Draft202012Validator, instance: Any, prefix: str) -> str | None:
    error = next(iter(sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))), None)
    if error is None:
        return None
    path = prefix + "".join(f"[{p!r}]" for p in error.absolute_path)
    message = error.message if len(error.message) <= 120 else error.message[:117] + "..."
    return f"{path}: {message}" if path else message


def parse_state_document(data: bytes, where: str) -> dict[str, Any]:
    """Return the JSON document of a state file whose envelope the schema accepts; StateError otherwise."""
    try:
        doc = json.loads(data)
    except RecursionError:
        raise corrupt(where, "nested too deeply to be a state") from None
    except ValueError as exc:  # includes UnicodeDecodeError and over-long integers
        raise corrupt(where, f"not JSON: {exc}") from exc
    if isinstance(doc, dict) and "format_version" in doc and doc["format_version"] != 1:
        raise StateError(f"{where}: unsupported state format {doc['format_version']!r}; this version of lac "
                         "reads format 1")
    targets = doc.get("targets") if isinstance(doc, dict) else None
    envelope = doc if not isinstance(targets, dict) else {
        **doc, "targets": {t: {} if isinstance(v, dict) else v for t, v in targets.items()}}
    content = doc.get("content") if isinstance(doc, dict) else None
    if isinstance(content, dict):
        # Bodies are any JSON object: checked here at C speed, not value by value by jsonschema.
        envelope = {**envelope, "content": {}}
        wrong = next((h for h, body in content.items() if not isinstance(body, dict)), None)
        if wrong is not None:
            raise corrupt(where, f"content[{wrong[:80]!r}]: is not an object")
    check_envelope(envelope, where)
    return doc


def _only(values: Iterable[Any], allowed: type) -> bool:
    return set(map(type, values)) <= {allowed}


_SECTION = re.compile(rb',?("(?:[^"\\\n]|\\.)*"):\{\n')


def _section_end(data: bytes | bytearray, start: int) -> int:
    """Where the first ``\\n}\\n`` from ``start`` on begins in ``data`` (-1: none): a target's lines end there.
    Entry lines hold no brace outside their strings, so the first ``}`` is most often that end, found by a
    scan for one byte (a tenth of the time of a search for the three); where it is not, the three are searched."""
    brace = data.find(b"}", start + 1)
    if brace > start and data[brace - 1:brace + 2] == b"\n}\n":
        return brace - 1
    return data.find(b"\n}\n", start) if brace >= 0 else -1


SCAN_PIECE = 1 << 22  # bytes of a state file read at a time while its targets are split
_ROOM = 1 << 16  # a target's opening line longer than this, cut by the end of a piece, is not this tool's


def split_targets(data: bytes | bytearray, start: int, read: Callable[[int, int], bytes] | None = None,
                  size: int = 0, digests: dict[str, str] | None = None
                  ) -> tuple[dict[str, tuple[int, int]], int] | None:
    """Where each target's entry lines lie (start, stop) in a state document in the layout this tool
    writes, whose targets map opens at ``start``, and where that map closes; None for any other layout (a
    state edited by hand), which is then parsed whole. Only the targets are searched: the content section
    after them is most of a large state's bytes.

    With ``read`` (``read(start, stop)``: those bytes of a file of ``size`` bytes), ``data`` is the file's
    first bytes, and the rest through the targets is read a piece of ``SCAN_PIECE`` bytes at a time, each let
    go once searched (a million entries are a few hundred MB of lines, and a plan remembered as a no-op needs
    only their digests); ``digests`` then receives each target's sha256 of its lines, taken as they pass."""
    sections: dict[str, tuple[int, int]] = {}
    window, base, at = data, 0, start  # window: the bytes from ``base`` on

    def more(keep: int) -> bool:
        """The window from ``keep`` on, and the next piece after it; False at the end of the file."""
        nonlocal window, base, at
        end = base + len(window)
        if read is None or end >= size:
            return False
        window = window[keep:] + read(end, min(size, end + SCAN_PIECE))
        base, at = base + keep, at - keep
        return True

    while True:
        if at >= len(window) and not more(at):
            return None
        if window[at:at + 1] == b"}":
            return sections, base + at
        m = _SECTION.match(window, at)
        while m is None and len(window) - at < _ROOM and more(at):
            m = _SECTION.match(window, at)
        if m is None or m.group(0).startswith(b",") != bool(sections):
            return None
        try:
            name = json.loads(m.group(1))
        except ValueError:
            return None
        if name in sections:
            return None
        begin = m.end()
        first, digest = base + begin, hashlib.sha256() if digests is not None else None
        while (stop := _section_end(window, begin)) < 0:
            keep = max(begin, len(window) - 2)  # (a line end cut by the piece's end is searched again)
            if digest is not None:
                digest.update(memoryview(window)[begin:keep])
            at = keep
            if not more(keep):
                return None
            begin = 0
        if digest is not None and digests is not None:
            digest.update(memoryview(window)[begin:stop])
            digests[name] = digest.hexdigest()
        sections[name] = (first, base + stop)
        at = stop + 3


@cache
def _envelope_gate() -> Callable[[Any], Any]:
    """The schema with each target's entries left out, compiled: it says only valid or not, in a fraction
    of jsonschema's time (and import), so a plan served from the cache never loads jsonschema."""
    import fastjsonschema

    schema = load_schema("state")
    properties = {**schema["properties"], "targets": {"type": "object", "additionalProperties": {"type": "object"}}}
    body = {**{k: v for k, v in schema.items() if k not in ("$schema", "$defs")}, "properties": properties}
    compiled: Callable[[Any], Any] = fastjsonschema.compile(body)
    return compiled


def check_envelope(doc: Mapping[str, Any], where: str) -> None:
    """StateError when the schema refuses a state's envelope (its targets' entries are checked apart:
    ``doc``'s targets map each name to ``{}``). jsonschema words the error."""
    import fastjsonschema

    try:
        _envelope_gate()(doc)
        return
    except fastjsonschema.JsonSchemaException:
        pass
    problem = _first_error(_validator(), doc, "")
    if problem:
        raise corrupt(where, problem)


def parse_section(raw: memoryview, where: str, target: str) -> Any:
    """One target's entries (the lines ``split_targets`` found) as JSON; StateError when they are not."""
    try:
        entries = json.loads(b"".join((b"{", raw, b"}")))
    except RecursionError:
        raise corrupt(where, f"targets[{target!r}]: nested too deeply to be a state") from None
    except ValueError as exc:
        raise corrupt(where, f"targets[{target!r}]: not JSON: {exc}") from exc
    check_envelope({"format_version": 1, "lineage": "", "serial": 0,
                    "targets": {target: {} if isinstance(entries, dict) else entries}}, where)
    return entries


PIECE = 1 << 23  # bytes of entry lines parsed at a time


def blocks_of(raw: memoryview | bytes) -> Iterator[memoryview]:
    """``raw`` in blocks of ``PIECE`` bytes, as ``section_pieces`` takes them."""
    view, size = memoryview(raw), PIECE
    return (view[at:at + size] for at in range(0, len(view), size))


def line_runs(blocks: Iterable[bytes | memoryview]) -> Iterator[bytes]:
    """One target's entry lines (``blocks``: its bytes, in order, cut anywhere: ``blocks_of`` a section held,
    or read from the file as they are taken) in runs of whole lines, each run cut before the ``,\n`` after
    the last line its block ends (this tool writes one entry per line, and JSON text holds no raw line end):
    the lines of a section of a million entries are never held at once. A section that ends in ``,\n``
    (not an object's members) ends with an empty run, as does an empty line between two commas."""
    carry = b""
    cut_last = False  # the bytes so far ended at a cut: an entry must follow
    for block in blocks:
        if not block:
            continue
        data = carry + block
        cut = data.rfind(b",\n")
        if cut < 0:
            carry, cut_last = data, False
            continue
        carry, cut_last = data[cut + 2:], True
        yield data[:cut]
    if carry or cut_last:
        yield carry


def section_pieces(blocks: Iterable[bytes | memoryview]) -> Iterator[dict[str, Any] | None]:
    """One target's entries parsed a run of lines at a time (``line_runs`` of ``blocks``), so that the JSON of
    a whole section of a million entries, twice the entries' own memory, is never alive at once. Pieces that
    each parse, and share no address, make the same object as the whole. Yields None, and stops, at a piece
    that does not parse (a section laid out by hand, or not JSON): it is then parsed whole, which accepts
    what the pieces could not, or words the error."""
    for run in line_runs(blocks):
        piece = _piece(run)
        yield piece
        if piece is None:
            return


def _piece(lines: bytes) -> dict[str, Any] | None:
    """Entry lines (joined by ``,\n``, without the last one's) as the members of an object; None when
    they are not."""
    if not lines:  # an empty line between two commas
        return None
    try:
        piece = json.loads(b"".join((b"{", lines, b"}")))
    except (ValueError, RecursionError):
        return None
    return piece if isinstance(piece, dict) else None


Columns = tuple[list[str], list[str], list[str], list[int], list[list[list[str]]], list[str], list[int]]


def plain_columns(entries: Mapping[str, Any]) -> Columns | None:
    """The columns of one target's entries (kind, id, hash, partial, edges, file, uncertain; a file or an
    uncertain flag left out is ``""`` or 0) when every entry is plainly valid (what the schema's ``entry``
    accepts, in its usual spelling); None when one may not be, which ``build_entry`` then looks at. Taken
    and checked column by column with ``map``/``set``, at C speed: a state holds hundreds of thousands of
    entries and millions of edges."""
    rows = list(entries.values())
    if not rows:
        return [], [], [], [], [], [], []
    lengths = set(map(len, rows)) if _only(rows, list) else set()
    if not lengths or not lengths <= {5, 6, 7}:
        return None
    kinds, vids, digests, partials, edges = (list(map(itemgetter(i), rows)) for i in range(5))
    if len(lengths) == 1:  # every entry the same length (as written: each has its file): no test per entry
        files = list(map(itemgetter(5), rows)) if 6 in lengths or 7 in lengths else [""] * len(rows)
        uncertain = list(map(itemgetter(6), rows)) if 7 in lengths else [0] * len(rows)
    else:
        files = [r[5] if len(r) > 5 else "" for r in rows]
        uncertain = [r[6] if len(r) > 6 else 0 for r in rows]
    if not (_only(kinds, str) and all(kinds) and _only(vids, str) and _only(digests, str)
            and _only(partials, int) and set(partials) <= {0, 1} and _only(edges, list) and _only(files, str)
            and _only(uncertain, int) and set(uncertain) <= {0, 1}):
        return None
    pairs = list(chain.from_iterable(edges))
    if not (_only(pairs, list) and set(map(len, pairs)) <= {2} and _only(chain.from_iterable(pairs), str)):
        return None
    return kinds, vids, digests, partials, edges, files, uncertain


def build_entry(raw: Any, where: str, target: str, address: str) -> RawEntry:
    """Return one state entry as ``(kind, id, hash, partial, edges, file, uncertain)``; StateError when the schema
    refuses it."""
    problem = _first_error(_validator("entry"), raw, f"targets[{target!r}][{address!r}]")
    if problem:
        raise corrupt(where, problem)
    kind, vid, digest, partial, edges, *rest = raw
    return (kind, vid, digest, bool(partial), tuple((str(a), str(b)) for a, b in edges), rest[0] if rest else "",
            len(rest) > 1 and bool(rest[1]))
