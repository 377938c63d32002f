"""The values that cross the plan/target contract, owned by the plan layer.

A target translates lineage into ``Resource`` values (pure), reports what it holds as ``Current``
values, declares what it can do as ``Capabilities`` data, and answers one ``ItemResult`` per
change it applies. The input-handling ``Policy`` (Atlan Lineage Builder's vocabulary plus the
safety rails) says how a plan treats what a target lacks. These live here, not in ``targets/`` or
``config.py``, so that building a plan imports nothing from the targets and the configuration
only parses ``lac.yaml``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, overload

from ..canonical import LazyBody, content_hash
from ..model import items_equal, slot_init
from ..state import StateEntry
from ..state.entries import fields_lookup

ASSET = "asset"


class InputHandling(StrEnum):
    """Atlan Lineage Builder's vocabulary for assets a manifest references but a target lacks."""

    UPSERT = "UPSERT"
    PARTIAL = "PARTIAL"
    UPDATE = "UPDATE"


class AmbiguousFailure(StrEnum):
    """What a target does when a write may or may not have landed (a lost reply, a 5xx after the write).

    ``reconcile``: read back before sending again; ``retry``: the vendor documents the write as
    idempotent, send it again; ``hold``: record it as uncertain and re-send only when asked.
    """

    RECONCILE = "reconcile"
    RETRY = "retry"
    HOLD = "hold"


@dataclass(frozen=True)
class Policy:
    """How a target treats input: the knobs of Atlan's Lineage Builder plus the safety rails.

    ``max_deletes`` is an absolute cap and ``max_delete_fraction`` a relative one (of the resources
    the target manages); apply refuses a plan over either without ``--allow-mass-delete``.
    """

    input_handling: InputHandling = InputHandling.PARTIAL
    fail_on_errors: bool = True
    case_sensitive_match: bool = True
    batch_size: int | None = None
    max_deletes: int = 100
    max_delete_fraction: float = 0.5

    def merged(self, overrides: Mapping[str, Any]) -> Policy:
        keys = ("fail_on_errors", "case_sensitive_match", "batch_size", "max_deletes", "max_delete_fraction")
        values = {k: overrides[k] for k in keys if k in overrides}
        if "input_handling" in overrides:
            values["input_handling"] = InputHandling(str(overrides["input_handling"]).upper())
        return Policy(**{**self.__dict__, **values})


@dataclass(frozen=True)
class Capabilities:
    """What a target can do, as data the engine reads.

    ``ownership_marker`` says whether the target stamps what it creates with the project's state
    lineage id, so that a lost state can be rebuilt from the catalog and a crash orphans nothing.
    """

    def estimate(self, writes: Mapping[tuple[str, bool], Sequence[int]], batch_size: int) -> tuple[int, float | None]:
        """(requests, seconds at the rate limit or None when unlimited) for the changes in ``writes``:
        per group of changes sent together (a kind, writes or deletes), each change's size in request
        units, in the order apply sends them (1 a change unless ``request_units`` names a body list)."""
        size = max(1, min(self.max_batch_size, batch_size or self.max_batch_size))
        requests = 0.0
        for units in writes.values():
            n = len(units)
            requests += -(-n // size) * self.requests_per_batch + n * self.requests_per_change
            if self.request_size:  # each batch is sent as requests of at most request_size units
                requests += sum(_packed(units[i:i + size], self.request_size) for i in range(0, n, size))
        requests = round(requests)
        seconds = requests * 60 / self.rate_limit_per_minute if self.rate_limit_per_minute else None
        return requests, seconds

    def units(self, body: Mapping[str, Any] | None) -> int:
        """A change's size in request units: the length of its ``request_units`` list, else 1."""
        if not self.request_units or body is None:
            return 1
        value = body.get(self.request_units)
        return len(value) if isinstance(value, list) else 1

    max_batch_size: int
    max_parallel: int = 1
    supports_delete: bool = True
    supports_refresh: bool = True
    supports_column_lineage: bool = True
    modes: frozenset[InputHandling] = frozenset(InputHandling)
    kind_order: tuple[str, ...] = (ASSET, "process")
    notes: tuple[str, ...] = ()
    ownership_marker: bool = False
    ambiguous_failure: AmbiguousFailure = AmbiguousFailure.RECONCILE
    # The cost model a plan's estimate uses: requests an apply sends per batch and per change, and
    # the rate they are held to (the vendor's documented limit unless lac.yaml sets one).
    # Whether a held resource whose content hash equals the desired one is known to be whole: true where
    # one write lands all of it (a DuckDB transaction, one Secoda edge, one Atlan entity); false where a
    # resource takes several requests (Google's process, run and events), so one found without a state
    # entry is written again, idempotently, instead of adopted as is.
    adopt_by_hash: bool = False
    requests_per_batch: float = 1.0
    requests_per_change: float = 0.0
    rate_limit_per_minute: float | None = None
    # A target that splits each batch into requests of at most this many units (0: it does not;
    # requests_per_batch counts its requests instead). A unit is a change, or with ``request_units``
    # an item of that body list (Alation packs paths, at most 100 a request, a process being several).
    request_size: int = 0
    request_units: str = ""


def _packed(units: Sequence[int], cap: int) -> int:
    """How many requests of at most ``cap`` units carry ``units`` in order, filled greedily (a change
    larger than ``cap`` goes alone)."""
    count = held = 0
    for u in units:
        if held and held + u > cap:
            count += 1
            held = 0
        held += u
    return count + (1 if held else 0)


@slot_init
@dataclass(frozen=True, slots=True)
class Resource:
    """One thing a target holds, as the manifests want it.

    ``address`` is unique within the target and stable across runs (it is the state key);
    ``body`` is the JSON-able content the target writes; ``requires`` names the addresses that
    must exist first (a process requires its assets); ``edges`` are the table-level (source key,
    target key) pairs the resource establishes, kept in state so a plan can draw what it removes.
    ``source`` is the manifest ``file:line`` that declared it.
    """

    address: str
    kind: str
    body: Mapping[str, Any]
    source: str = ""
    requires: tuple[str, ...] = ()
    edges: tuple[tuple[str, str], ...] = ()
    hash: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.hash:
            object.__setattr__(self, "hash", content_hash(self.body))

    @property
    def file(self) -> str:
        """The manifest file that declared this resource ('' when unknown)."""
        return source_file(self.source)


class Digests(Sequence[str]):
    """SHA-256 digests read as their hex text (a resource's ``hash``), kept as their 32 bytes each: a million
    hex strings were about 113 bytes each."""

    __slots__ = ("_raw",)
    SIZE = 32

    def __init__(self, raw: bytes | bytearray = b"") -> None:
        if len(raw) % self.SIZE:
            raise ValueError("not a whole number of digests")
        self._raw = bytearray(raw)

    def extend(self, other: Digests) -> None:
        self._raw += other._raw

    def hex(self, start: int = 0, stop: int | None = None) -> str:
        """The hex text of digests ``start`` to ``stop``, one after another."""
        return self._raw[start * self.SIZE:(len(self) if stop is None else stop) * self.SIZE].hex()

    def __len__(self) -> int:
        return len(self._raw) // self.SIZE

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("digest index out of range")
        at = index * self.SIZE
        return self._raw[at:at + self.SIZE].hex()

    def __iter__(self) -> Iterator[str]:
        raw, size = self._raw, self.SIZE
        return (raw[at:at + size].hex() for at in range(0, len(raw), size))


_WHOLE: ContextVar[bool] = ContextVar("resources_made_whole", default=False)


@contextmanager
def resources_made_whole() -> Iterator[None]:
    """Within it, a translation gives its resources made one by one (a list), not as columns (a
    ``ResourceTable``): an apply makes every one of them anyway, and lets each go as state records it."""
    token = _WHOLE.set(True)
    try:
        yield
    finally:
        _WHOLE.reset(token)


def made_whole() -> bool:
    """Whether a translation is to give its resources made one by one (``resources_made_whole``)."""
    return _WHOLE.get()


UNPLACED = -2  # in a ResourceTable's ``placed``: a body whose placeholder flag's place is not known
# a Resource's field -> the ResourceTable column that holds it
_TABLE_FIELDS = {"address": "addresses", "kind": "kinds", "hash": "hashes", "source": "sources",
                 "requires": "requires", "edges": "edges"}


class ResourceTable(Sequence[Resource]):
    """Many resources kept as columns, each made a ``Resource`` only when it is read: at a million resources
    an object per resource and per body (and the two ints of where its text lies) were about 220 bytes each
    beside what the columns hold. A body is the text ``data[starts[i]:ends[i]]`` of bytes the resources
    share (a translation's spill, the cache file), read when the body is (``LazyBody``), or one of ``bodies``
    where they were made otherwise. Reads as the list of its resources: equal to it, in the same order.

    Who reads many resources for a few fields reads the columns (``addresses``, ``kinds``, ``hashes``,
    ``sources``, ``requires``, ``edges``) by position."""

    __slots__ = ("_bodies", "_data", "_ends", "_placed", "_starts", "addresses", "edges", "hashes", "kinds",
                 "requires", "sources")

    def __init__(self, addresses: list[str], kinds: list[str], hashes: Sequence[str], sources: list[str],
                 requires: list[tuple[str, ...]], edges: list[tuple[tuple[str, str], ...]], *,
                 data: Any = None, starts: Sequence[int] = (), ends: Sequence[int] = (), placed: Sequence[int] = (),
                 bodies: list[Mapping[str, Any]] | None = None) -> None:
        self.addresses, self.kinds, self.hashes, self.sources = addresses, kinds, hashes, sources
        self.requires, self.edges = requires, edges
        self._data, self._starts, self._ends, self._placed, self._bodies = data, starts, ends, placed, bodies
        if not (len(kinds) == len(hashes) == len(sources) == len(requires) == len(edges) == len(addresses)) or (
                len(bodies) != len(addresses) if bodies is not None
                else not len(starts) == len(ends) == len(placed) == len(addresses)):
            raise ValueError("columns of different lengths")

    def field(self, name: str) -> list[Any]:
        """The column of the resources' field ``name`` (a Resource's attribute other than ``body``)."""
        return getattr(self, _TABLE_FIELDS[name])  # type: ignore[no-any-return]

    def read_from(self, data: Any, starts: Sequence[int], ends: Sequence[int], placed: Sequence[int]) -> None:
        """Read every body from now on as ``data[starts[i]:ends[i]]``: where they were all written again (the
        cache file), the same texts."""
        if not len(starts) == len(ends) == len(placed) == len(self):
            raise ValueError("columns of different lengths")
        self._data, self._starts, self._ends, self._placed, self._bodies = data, starts, ends, placed, None

    def body_at(self, i: int) -> Mapping[str, Any]:
        """The body of resource ``i``: a new view of its text each time it is asked for."""
        if self._bodies is not None:
            return self._bodies[i]
        place = self._placed[i]
        return LazyBody(self._data, self._starts[i], self._ends[i], None if place == UNPLACED else place)

    def span_at(self, i: int, data: object) -> tuple[int, int] | None:
        """Where the text of resource ``i``'s body lies in ``data``, when that is where it is read from."""
        return (self._starts[i], self._ends[i]) if self._bodies is None and self._data is data else None

    def placed_at(self, i: int) -> int | None:
        """Where resource ``i``'s body's placeholder flag goes in its text, when known."""
        if self._bodies is not None:
            return getattr(self._bodies[i], "placed", None)
        place = self._placed[i]
        return None if place == UNPLACED else place

    def resources(self) -> list[Resource]:
        """Every resource, made: for an apply, which writes each one and lets each go once state records it
        (a table would be held whole to the end). Each body's span is the very ints the table holds (a cache
        read for an apply keeps them as the ints its bodies will share: ``cache_columns.resources_of``)."""
        if self._bodies is not None:
            bodies: Iterable[Mapping[str, Any]] = self._bodies
        else:
            data = self._data
            bodies = (LazyBody(data, start, end, None if place == UNPLACED else place)
                      for start, end, place in zip(self._starts, self._ends, self._placed, strict=True))
        return [Resource(*fields) for fields in zip(self.addresses, self.kinds, bodies, self.sources, self.requires,
                                                   self.edges, self.hashes, strict=True)]

    def __len__(self) -> int:
        return len(self.addresses)

    @overload
    def __getitem__(self, index: int) -> Resource: ...

    @overload
    def __getitem__(self, index: slice) -> list[Resource]: ...

    def __getitem__(self, index: int | slice) -> Resource | list[Resource]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self.addresses)
        return Resource(self.addresses[index], self.kinds[index], self.body_at(index), self.sources[index],
                        self.requires[index], self.edges[index], self.hashes[index])

    def __iter__(self) -> Iterator[Resource]:
        return map(self.__getitem__, range(len(self.addresses)))

    def __eq__(self, other: object) -> bool:
        return items_equal(self, other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ResourceTable({len(self)} resources)"


def source_file(source: str) -> str:
    """``file`` of a ``file:line`` source (a file name may itself hold colons: URIs do)."""
    head, sep, tail = source.rpartition(":")
    return head if sep and tail.isdigit() else source


@slot_init
@dataclass(frozen=True, slots=True)
class Current:
    """What a target holds at an address: its vendor id, and the content hash when known.

    ``owner`` is the state lineage id of the project whose ownership marker the resource carries
    ('' when it carries none or the target has no markers).
    """

    address: str
    kind: str
    id: str
    hash: str | None = None
    partial: bool = False
    owner: str = ""


class KnownResources(Mapping[str, Current]):
    """State's entries of one target as what the target last held (``read``'s ``known``): a Current made
    for each address only when it is asked for."""

    def __init__(self, entries: Mapping[str, StateEntry]) -> None:
        self._entries = entries

    def __getitem__(self, address: str) -> Current:
        e = self._entries[address]
        return Current(address, e.kind, e.id, e.hash, e.partial)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def recorded(self) -> Callable[[str], Sequence[Any] | None]:
        """``known_recorded``: state's entry itself, whose first fields are (kind, id, hash, partial), or just
        those fields where state keeps its entries as columns (``state.entries.fields_lookup``)."""
        return fields_lookup(self._entries)

    def held(self, address: str, owner: str) -> Current:
        """``address``'s Current as held by a target under ownership marker ``owner``."""
        e = self._entries[address]
        return Current(address, e.kind, e.id, e.hash, e.partial, owner)


def known_recorded(known: Mapping[str, Current]) -> Callable[[str], Sequence[Any] | None]:
    """A lookup of what ``known`` holds at an address, whose first four items are its kind, id, hash and
    partial flag (None where it holds nothing): state's entry itself where ``known`` is state's entries (a
    target comparing a million rows need not make a Current, nor a tuple, for each). The id is the very
    string ``known`` holds."""
    if isinstance(known, KnownResources):
        return known.recorded
    get = known.get

    def recorded(address: str) -> tuple[str, str, str | None, bool] | None:
        c = get(address)
        return None if c is None else (c.kind, c.id, c.hash, c.partial)
    return recorded


def known_held(known: Mapping[str, Current], address: str, owner: str) -> Current:
    """``known[address]`` as held by a target under ownership marker ``owner``."""
    if isinstance(known, KnownResources):
        return known.held(address, owner)
    k = known[address]
    return Current(address, k.kind, k.id, k.hash, k.partial, owner)


@slot_init
@dataclass(frozen=True, slots=True)
class ItemResult:
    """The outcome of one change in a batch: ``ok`` with the vendor id, or an error message.

    ``uncertain`` (with ``ok`` false) says the write may or may not have landed and the target's
    ambiguous-failure policy is ``hold``: apply records it as uncertain instead of failed.
    """

    address: str
    ok: bool
    id: str = ""
    error: str = ""
    uncertain: bool = False
