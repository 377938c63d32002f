"""The values that cross the plan/target contract, owned by the plan layer.

A target translates lineage into ``Resource`` values (pure), reports what it holds as ``Current``
values, declares what it can do as ``Capabilities`` data, and answers one ``ItemResult`` per
change it applies. The input-handling ``Policy`` (Atlan Lineage Builder's vocabulary plus the
safety rails) says how a plan treats what a target lacks. These live here, not in ``targets/`` or
``config.py``, so that building a plan imports nothing from the targets and the configuration
only parses ``lac.yaml``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..canonical import content_hash
from ..model import slot_init
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
