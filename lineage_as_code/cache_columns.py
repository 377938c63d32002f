"""A cache file's resources as columns, and back: the canonical JSON of every body one after another,
then each of the resources' fields a column (``COLUMNS``), written and read whole by C code (json, numpy).
The file's layout, and how it is signed and found, are ``cache``'s; this module only turns resources into
the bytes of their columns (``columns_of``) and the columns read back into resources (``resources_of``),
checking every index, count and place against what it points into."""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import chain, pairwise
from operator import attrgetter
from typing import Any

from .canonical import canonical_text, encoder, kept_encoded, plain_value
from .opened import Opened
from .plan.contract import UNPLACED, Digests, Resource, ResourceTable

CHUNK = 100_000  # strings of a column encoded and written at a time

_body_json = encoder(sort_keys=True, ascii_only=False, default=plain_value)  # what is not plain data is not cached


def encoded(body: Any) -> bytes:
    """A body's canonical JSON, UTF-8: a body that keeps its text encoded (``TextBody``) gives it as it is;
    TypeError or ValueError where a body is not plain JSON data."""
    kept = kept_encoded(body)
    return kept if kept is not None else canonical_text(body, _body_json).encode()


# The columns of integers, each with its numpy type (little-endian, whatever the machine's order).
INTS = {"spans": "<i8", "placed": "<i8", "kind_codes": "<i4", "require_counts": "<i4", "requires": "<i8",
         "edge_counts": "<i4", "edges": "<i8"}
UNPLACED_AT = UNPLACED  # in ``placed``: a body whose placeholder flag's place is not known (-1: it cannot be placed)

_STRINGS = ("addresses", "sources", "literals", "keys")  # columns that are JSON arrays of strings
COLUMNS = (*_STRINGS, "hashes", *INTS)
_string_array = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


def _strings_of(values: Sequence[Any]) -> Iterator[bytes]:
    """``values`` as one JSON array of strings (UTF-8 as is), in parts of at most ``CHUNK`` strings: the
    million addresses of a large translation are never one text. TypeError where one is not a string,
    ValueError where one cannot be UTF-8 (a lone surrogate)."""
    yield b"["
    for at in range(0, len(values), CHUNK):
        part = values[at:at + CHUNK]
        if not set(map(type, part)) <= {str}:
            raise TypeError("a field that is not a string is not cached")
        yield (b"," if at else b"") + _string_array(part)[1:-1].encode()
    yield b"]"


def _hashes_of(hashes: Sequence[Any]) -> tuple[int, Iterator[bytes]]:
    """The hashes' column and its width: every hash one after another where all are ASCII strings of one
    width (a translation's sha256 digests are), else a JSON array of strings (width 0)."""
    if isinstance(hashes, Digests):  # (their hex text, a run of them at a time)
        return 2 * Digests.SIZE, (hashes.hex(at, at + CHUNK).encode() for at in range(0, len(hashes), CHUNK))
    width = len(hashes[0]) if hashes and type(hashes[0]) is str else 0
    if width and set(map(len, hashes)) == {width} and all(map(str.isascii, hashes)):
        return width, ("".join(hashes[at:at + CHUNK]).encode() for at in range(0, len(hashes), CHUNK))
    return 0, _strings_of(hashes)


def _ints(values: Iterable[int] | array, kind: str) -> Iterator[bytes]:
    import numpy as np

    yield np.asarray(values if isinstance(values, array) else list(values), dtype=kind).tobytes()


def columns_of(resources: Sequence[Resource], spans: array, placed: array, header: dict[str, Any]
             ) -> Iterator[tuple[str, Iterable[bytes]]]:
    """Each column of ``resources`` (``COLUMNS``), by name, as the parts of its bytes, made as it is written
    (one column's lists at a time); the header's ``kinds`` and ``hash_width`` are set in ``header``. Every
    string field is checked to be one, every edge to be a pair: TypeError or ValueError otherwise (such a
    translation is not cached; it could not be read back as made)."""
    def field(name: str) -> list[Any]:
        if isinstance(resources, ResourceTable):
            return resources.field(name)
        return list(map(attrgetter(name), resources))
    addresses = field("address")
    yield "addresses", _strings_of(addresses)
    yield "sources", _strings_of(field("source"))
    header["hash_width"], hashes = _hashes_of(field("hash"))
    yield "hashes", hashes
    yield "spans", _ints(spans, INTS["spans"])
    yield "placed", _ints(placed, INTS["placed"])
    kinds: dict[Any, int] = {}
    codes = [kinds.setdefault(kind, len(kinds)) for kind in field("kind")]
    if not set(map(type, kinds)) <= {str}:
        raise TypeError("a kind that is not a string is not cached")
    header["kinds"] = list(kinds)
    yield "kind_codes", _ints(codes, INTS["kind_codes"])
    del codes
    # an address required is its resource's index in the file (one string when read back, the very one that
    # resource has), any other as a literal: -1 - its index among them
    requires = field("requires")
    yield "require_counts", _ints(map(len, requires), INTS["require_counts"])
    required = list(chain.from_iterable(requires))
    del requires
    index = dict(zip(addresses, range(len(addresses))))
    indices: list[Any] = list(map(index.get, required))
    del index, addresses
    literals: dict[str, int] = {}
    if None in indices:
        for i, (at, address) in enumerate(zip(indices, required)):
            if at is None:
                indices[i] = -1 - literals.setdefault(address, len(literals))
    yield "requires", _ints(indices, INTS["requires"])
    del indices, required
    yield "literals", _strings_of(list(literals))
    # each edge a pair of indices in the key table, every key once
    edges = field("edges")
    yield "edge_counts", _ints(map(len, edges), INTS["edge_counts"])
    pairs = list(chain.from_iterable(edges))
    del edges
    if not set(map(len, pairs)) <= {2}:
        raise ValueError("an edge that is not a pair is not cached")
    keyed: dict[Any, int] = {}
    yield "edges", _ints([keyed.setdefault(key, len(keyed)) for key in chain.from_iterable(pairs)], INTS["edges"])
    del pairs
    yield "keys", _strings_of(list(keyed))


def resources_of(header: Mapping[str, Any], bodies: bytes | Opened, cut: int, compact: bool = True) -> ResourceTable:
    """The resources of a cache file whose ``header`` was read, its columns read from ``bodies`` (the file
    kept open, or its bytes; its first ``cut`` bytes signed), every body left where it is until read. Every
    index, count and place is checked against what it points into: TypeError, ValueError, KeyError or
    IndexError for anything that is not a cache file's columns as written. ``compact``: hashes as their
    bytes and spans as arrays, for a plan; else (an apply, which makes every resource: ``ResourceTable.
    resources``) as the strings and ints its resources will hold, so that making them makes no second copy."""
    import numpy as np

    count, heads, where, width, kinds = (header["count"], header["heads"], header["columns"],
                                         header["hash_width"], header["kinds"])
    if not (type(count) is int and count >= 0 and type(width) is int and width >= 0 and type(where) is dict
            and set(where) == set(COLUMNS) and type(kinds) is list and set(map(type, kinds)) <= {str}):
        raise TypeError("not a cache file's header")

    def read(name: str) -> bytes:
        start, end = where[name]
        if not (type(start) is int and type(end) is int and 0 <= start <= end <= cut - heads):
            raise ValueError(f"column {name} lies outside the file")
        return bodies[heads + start:heads + end]

    def strings(name: str, length: int | None = None) -> list[str]:
        values = json.loads(read(name))
        if type(values) is not list or not set(map(type, values)) <= {str} or length not in (None, len(values)):
            raise TypeError(f"column {name} is not {length or 'a list of'} strings")
        return values

    def ints(name: str, length: int | None, low: int, high: int) -> Any:
        values = np.frombuffer(read(name), dtype=INTS[name])
        if (length is not None and len(values) != length) or (len(values) and not (
                low <= int(values.min()) and int(values.max()) < high)):
            raise ValueError(f"column {name} is not {length} integers from {low} to {high}")
        return values

    def grouped(counts: Any, flat: list[Any]) -> list[tuple[Any, ...]]:
        """``flat`` cut into tuples of ``counts`` items each (the shared empty tuple for none)."""
        bounds = np.cumsum(counts, dtype=np.int64)
        if len(bounds) and int(bounds[-1]) != len(flat) or not len(bounds) and flat:
            raise ValueError("counts that do not add up to their column")
        return [tuple(flat[a:b]) if b != a else () for a, b in pairwise(chain((0,), bounds.tolist()))]

    addresses = strings("addresses", count)
    sources = strings("sources", count)
    if width:
        text = read("hashes").decode("ascii")
        if len(text) != width * count:
            raise ValueError("column hashes is not of the header's width")
        hashes: Sequence[str] | None = _digests(text) if compact and width == 2 * Digests.SIZE else None
        if hashes is None:
            hashes = [text[at:at + width] for at in range(0, len(text), width)]
        del text  # (a million hashes' text: not held beside them)
    else:
        hashes = strings("hashes", count)
    spans = ints("spans", 2 * count, 0, heads + 1)
    starts, ends = spans[0::2], spans[1::2]
    if bool((starts > ends).any()):
        raise ValueError("a body that ends before it starts")
    placed = ints("placed", count, UNPLACED_AT, heads)
    if bool((placed >= ends - starts).any()):
        raise ValueError("a place outside its body")
    of_kind = np.array(kinds, dtype=object)[ints("kind_codes", count, 0, len(kinds))].tolist()
    literals = strings("literals")
    pool = np.empty(count + len(literals), dtype=object)  # resource i's address at i, literal j at count + j
    pool[:count], pool[count:] = addresses, literals
    required = ints("requires", None, -len(literals), count)
    required = np.where(required < 0, count - 1 - required, required)
    requires = grouped(ints("require_counts", count, 0, 1 << 31), pool[required].tolist())
    del pool, required
    keys = np.array(strings("keys"), dtype=object)
    ends_of = keys[ints("edges", None, 0, len(keys))].tolist()
    edges = grouped(ints("edge_counts", count, 0, 1 << 31), list(zip(ends_of[0::2], ends_of[1::2], strict=True)))
    del keys, ends_of
    if compact:
        return ResourceTable(addresses, of_kind, hashes, sources, requires, edges, data=bodies,
                             starts=_int_array(starts), ends=_int_array(ends), placed=_int_array(placed))
    if count and bool((starts[1:] == ends[:-1]).all()):  # one after another: one int where one ends, the next starts
        bounds = np.append(starts, ends[-1:]).tolist()
        starts_of, ends_of = bounds[:-1], bounds[1:]
    else:
        starts_of, ends_of = starts.tolist(), ends.tolist()
    return ResourceTable(addresses, of_kind, hashes, sources, requires, edges, data=bodies, starts=starts_of,
                         ends=ends_of, placed=placed.tolist())


def _digests(text: str) -> Digests | None:
    """A hashes column of SHA-256 hex digests as ``Digests`` (32 bytes each, not a string each), where every
    one is lowercase hex as a translation writes it, so reads back the same; else None."""
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    return Digests(raw) if raw.hex() == text else None


def _int_array(values: Any) -> array:
    """A numpy array of integers as an ``array('q')`` (8 bytes an item, read one at a time without numpy's
    scalar per read)."""
    import numpy as np

    return array("q", np.ascontiguousarray(values, dtype=np.int64).tobytes())
