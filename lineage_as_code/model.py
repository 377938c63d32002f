"""The lineage model: frozen values for assets, processes, column mappings and the merged Lineage.

Everything downstream (plans, targets, state) works from these values. Keys are stable strings so
that plans are byte-stable and state addresses survive across runs: an asset's key is
``platform:database.schema.name`` with segments quoted in backticks when they hold a dot, a colon,
a space or a backtick, exactly as Google's fully qualified names quote them.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

NEEDS_QUOTE = re.compile(r"[.:\s`]")  # a key segment holding one of these is quoted


def quote_segment(segment: str) -> str:
    """Return ``segment`` as it appears in a key: backtick-quoted when it holds ``.``, ``:``, blanks or backticks."""
    if segment and not NEEDS_QUOTE.search(segment):
        return segment
    return "`" + segment.replace("`", "``") + "`"


def freeze_mapping(items: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> tuple[tuple[str, str], ...]:
    """Return a sorted tuple of pairs, the hashable form of a string mapping."""
    if items is None:
        return ()
    pairs = items.items() if isinstance(items, Mapping) else items
    return tuple(sorted((str(k), str(v)) for k, v in pairs))


@contextmanager
def bulk_allocation() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of small values are built.

    Lineage values hold no reference cycles, yet every generation-2 pass rescans them all: with
    collection on, parsing a million column edges spends about half its time there.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """Where a value was declared: a manifest name and a 1-based line (0 when unknown)."""

    file: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True, slots=True)
class Asset:
    """A dataset, table, view, file or dashboard that lineage connects.

    ``database`` and ``schema`` may be empty for systems without them. ``connection`` names the
    catalog connection the asset lives in where a vendor needs it (Atlan, Alation). ``ids`` holds
    per-target identity overrides, e.g. ``(("atlan", "default/snowflake/123/DB/SCH/T"),)``.
    """

    platform: str
    database: str
    schema: str
    name: str
    type: str = "table"
    connection: str = ""
    ids: tuple[tuple[str, str], ...] = ()
    # The key: a slot left empty by __init__ and filled on first read (``__getattr__`` runs only
    # while it is empty; ``with_key`` fills it with one built elsewhere). Slots, not a per-instance
    # dict: a million-row input holds about as many assets.
    key: str = field(init=False, repr=False, compare=False)

    def __getattr__(self, name: str) -> str:
        if name != "key":
            raise AttributeError(name)
        parts = [quote_segment(p) for p in (self.database, self.schema) if p]
        parts.append(quote_segment(self.name))
        return self.with_key(f"{quote_segment(self.platform)}:{'.'.join(parts)}").key

    def with_key(self, key: str) -> Asset:
        """This asset, its key set to ``key`` (which must equal the one it would build)."""
        object.__setattr__(self, "key", key)
        return self

    def id_for(self, target: str) -> str | None:
        """Return the identity override for ``target`` (a target name or type), if any."""
        return dict(self.ids).get(target)


class ColumnRef(NamedTuple):
    """One column of one asset, by asset key (a tuple: cheap enough to hold millions)."""

    asset: str
    column: str

    def __str__(self) -> str:
        return f"{self.asset}.{quote_segment(self.column)}"


class ColumnMapping(NamedTuple):
    """Column lineage inside a process: ``sources`` feed ``target``, optionally through ``transform``."""

    sources: tuple[ColumnRef, ...]
    target: ColumnRef
    transform: str = ""


@dataclass(frozen=True, slots=True)
class Process:
    """A job, query or transformation that reads ``inputs`` and writes ``outputs``.

    ``id`` is the stable key, unique across all manifests; vendors derive their identifiers from
    it (or from ``ids`` when an override is given), which is what makes every write idempotent.
    """

    id: str
    name: str
    inputs: tuple[Asset, ...]
    outputs: tuple[Asset, ...]
    description: str = ""
    sql: str = ""
    owner: str = ""
    attributes: tuple[tuple[str, str], ...] = ()
    columns: tuple[ColumnMapping, ...] = ()
    ids: tuple[tuple[str, str], ...] = ()
    source: SourceLocation = field(default_factory=lambda: SourceLocation("<memory>"), compare=False)
    derived_by: str = ""  # the tool that read inputs or columns from ``sql`` (e.g. "sqlglot 30.30.0"); "" when declared

    def id_for(self, target: str) -> str | None:
        return dict(self.ids).get(target)

    @property
    def edges(self) -> list[tuple[str, str]]:
        """Every (input key, output key) pair, in a stable order."""
        return [(i.key, o.key) for i in self.inputs for o in self.outputs]


@dataclass(frozen=True)
class Lineage:
    """The desired lineage merged from every manifest: processes sorted by id, assets by key."""

    processes: tuple[Process, ...]
    assets: Mapping[str, Asset] = field(default_factory=lambda: MappingProxyType({}))
    warnings: tuple[str, ...] = field(default=(), compare=False)  # e.g. a hand-written process overriding a compiled one

    @classmethod
    def build(cls, processes: Iterable[Process], extra_assets: Iterable[Asset] = ()) -> Lineage:
        """Return a Lineage whose asset map holds every asset the processes touch plus ``extra_assets``."""
        procs = tuple(sorted(processes, key=lambda p: p.id))
        assets: dict[str, Asset] = {}
        for asset in extra_assets:
            assets.setdefault(asset.key, asset)
        for proc in procs:
            for asset in (*proc.inputs, *proc.outputs):
                known = assets.get(asset.key)
                if known is None or (asset.ids and not known.ids):
                    assets[asset.key] = asset
        return cls(procs, MappingProxyType(dict(sorted(assets.items()))))

    @classmethod
    def build_sorted(cls, processes: tuple[Process, ...], assets: dict[str, Asset]) -> Lineage:
        """``build(processes)`` for values that are already in its shape: ``processes`` sorted by id, and
        ``assets`` every asset they touch (none with per-target ids), each key once, sorted by key.

        A parser that deduplicated assets and numbered processes in id order hands them over as they
        are, instead of a sort and a walk over every process's assets (seconds at a million rows).
        """
        return cls(processes, MappingProxyType(assets))

    @property
    def edge_count(self) -> int:
        return sum(len(p.inputs) * len(p.outputs) for p in self.processes)

    @property
    def column_edge_count(self) -> int:
        return sum(len(m.sources) for p in self.processes for m in p.columns)
