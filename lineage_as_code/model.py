"""The lineage model: frozen values for assets, processes, column mappings and the merged Lineage.

Everything downstream (plans, targets, state) works from these values. Keys are stable strings so
that plans are byte-stable and state addresses survive across runs: an asset's key is
``platform:database.schema.name`` with segments quoted in backticks when they hold a dot, a colon,
a space or a backtick, exactly as Google's fully qualified names quote them.
"""

from __future__ import annotations

import ctypes
import gc
import re
from bisect import bisect_left
from collections.abc import ItemsView, Iterable, Iterator, Mapping, Sequence, ValuesView
from contextlib import contextmanager
from dataclasses import MISSING, dataclass, field, fields
from functools import cache
from itertools import pairwise
from operator import attrgetter
from types import MappingProxyType
from typing import Any, NamedTuple, TypeVar, overload

_T = TypeVar("_T")
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
    """Pause the cyclic garbage collector while millions of small values are built, and set what was
    built aside from it (``gc.freeze``) when done.

    Lineage values hold no reference cycles, yet every generation-2 pass rescans them all: with
    collection on, parsing a million column edges spends about half its time there. Re-enabled alone,
    the collector would scan them once more at the next allocation (every object made while it was off
    is still in its youngest generation): 3 s after a plan of a million Lineage Builder rows. Frozen
    objects are still freed when their last reference goes; only a cycle among them would outlive its
    use, until ``gc.unfreeze()`` (which the command line calls when a command ends).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.enable()


_UNSET = object()  # a field with a default factory that the caller left out


def items_equal(items: Sequence[Any], other: object) -> bool:
    """``__eq__`` of a sequence that reads as the list of its items (made as they are read): equal to any
    other sequence of equal items in the same order (NotImplemented for a string or a non-sequence)."""
    if not isinstance(other, Sequence) or isinstance(other, str):
        return NotImplemented
    return len(items) == len(other) and all(a == b for a, b in zip(items, other, strict=True))


def slot_init(cls: type[_T]) -> type[_T]:
    """Give a frozen, slotted dataclass an ``__init__`` that fills its slots through their descriptors.

    The one dataclasses writes calls ``object.__setattr__(self, name, value)`` for each field, the
    generic path a frozen class must take: 3 us for a 15-field Change where an unfrozen class takes
    0.4 us, 7 s of a plan that builds a million changes, resources, processes and assets. This one has
    the same parameters, defaults, default factories and ``__post_init__`` call, and leaves instances
    as frozen as before (their ``__setattr__`` still refuses). Not for ``kw_only`` fields or ``InitVar``.
    """
    params: list[str] = []
    body: list[str] = []
    namespace: dict[str, Any] = {"_UNSET": _UNSET}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.kw_only is True:
            raise TypeError(f"{cls.__name__}.{f.name}: slot_init does not take keyword-only fields")
        if not f.init:
            continue
        namespace[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
        if f.default is not MISSING:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        elif f.default_factory is not MISSING:
            namespace[f"_factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=_UNSET")
            body.append(f"    if {f.name} is _UNSET:\n        {f.name} = _factory_{f.name}()")
        else:
            params.append(f.name)
        body.append(f"    _set_{f.name}(self, {f.name})")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    exec(f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body or ["    pass"]), namespace)  # noqa: S102
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    setattr(cls, "__init__", init)  # noqa: B010 (mypy keeps the dataclass's signature, which this one has)
    return cls


@cache
def _glibc() -> Any:
    """The C library when it is glibc (whose allocator the two calls below tune), else None."""
    try:
        libc = ctypes.CDLL(None)
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:
        return None


_M_TOP_PAD = -2  # glibc's mallopt parameter: bytes the heap grows by beyond each need, and keeps when freed
HEAP_PAD = 256 << 20


def pad_heap_growth() -> None:
    """Let the C heap grow, and shrink, in steps of ``HEAP_PAD``, for the process (the command line calls
    this once). glibc's default (128 KiB) hands memory back as soon as the top of the heap is free: a
    parse that builds and drops arrays and strings by the million then has the kernel zero the same pages
    again and again. A million-row ``lac validate`` spent 1.3 s of its 7.3 s CPU in the kernel so, 0.6 s
    with the pad, for about 30 MB more at its peak. Pages of the pad never touched cost nothing. A no-op
    without glibc."""
    libc = _glibc()
    if libc is not None:
        libc.mallopt(_M_TOP_PAD, HEAP_PAD)


def give_back_freed_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc's ``malloc_trim``) after a parse that made
    and dropped millions of temporary values. glibc keeps them otherwise: a million-row plan held about
    140 MB of the parse's garbage to its end. A no-op without glibc."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


@slot_init
@dataclass(frozen=True, slots=True)
class SourceLocation:
    """Where a value was declared: a manifest name and a 1-based line (0 when unknown)."""

    file: str
    line: int = 0

    def __str__(self) -> str:
        return location_text(self.file, self.line)


def location_text(file: str, line: int) -> str:
    """``file:line`` (``file`` alone where the line is unknown), as a SourceLocation reads."""
    return f"{file}:{line}" if line else file


@slot_init
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
        _set_asset_key(self, key)
        return self

    def id_for(self, target: str) -> str | None:
        """Return the identity override for ``target`` (a target name or type), if any."""
        return dict(self.ids).get(target)


_set_asset_key = Asset.__dict__["key"].__set__  # the key's slot, filled without the generic attribute path


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


Codes = Any  # integer codes: a numpy array, an array.array or a list (sliced, and read with ``tolist``)


class ColumnBlock:
    """The column mappings of many processes as columns, the way a parser of millions of rows finds them:
    tables of the distinct asset keys, column names and transforms, and per mapping the integer codes
    into them of its sources, its target and its transform. A process's mappings are a ``ColumnSlice``
    of the block: at ten million mappings that is about a gigabyte less than tuples of tuples.

    ``source_key`` and ``source_column`` hold the sources of every mapping, mapping after mapping;
    ``source_at`` where each mapping's sources start (one bound more than mappings), or None when every
    mapping has exactly one (mapping i's source is entry i). Code arrays are any integer sequences with
    ``tolist`` and slicing (numpy arrays, arrays).
    """

    __slots__ = ("__weakref__", "columns", "keys", "source_at", "source_column", "source_key", "target_column",
                 "target_key", "transform_of", "transforms")

    def __init__(self, keys: Sequence[str], columns: Sequence[str], transforms: Sequence[str], *,
                 source_key: Codes, source_column: Codes, source_at: Codes | None,
                 target_key: Codes, target_column: Codes, transform_of: Codes) -> None:
        self.keys, self.columns, self.transforms = keys, columns, transforms
        self.source_key, self.source_column, self.source_at = source_key, source_column, source_at
        self.target_key, self.target_column, self.transform_of = target_key, target_column, transform_of

    def __len__(self) -> int:
        """The number of mappings."""
        return len(self.target_key)

    def _refs(self, keys: Codes, columns: Codes, start: int, stop: int) -> list[ColumnRef]:
        key, column = self.keys.__getitem__, self.columns.__getitem__
        return [ColumnRef(key(k), column(c)) for k, c in zip(ints_of(keys, start, stop), ints_of(columns, start, stop))]

    def mappings(self, start: int, stop: int) -> list[ColumnMapping]:
        """The mappings ``start`` to ``stop`` as ColumnMappings."""
        if self.source_at is None:
            sources: Iterable[tuple[ColumnRef, ...]] = (
                (ref,) for ref in self._refs(self.source_key, self.source_column, start, stop))
        else:
            at = ints_of(self.source_at, start, stop + 1)
            every = self._refs(self.source_key, self.source_column, at[0], at[-1])
            sources = (tuple(every[a - at[0]:b - at[0]]) for a, b in pairwise(at))
        targets = self._refs(self.target_key, self.target_column, start, stop)
        transforms = map(self.transforms.__getitem__, ints_of(self.transform_of, start, stop))
        return [ColumnMapping(s, t, x) for s, t, x in zip(sources, targets, transforms)]


def ints_of(codes: Codes, start: int, stop: int) -> list[int]:
    """``codes[start:stop]`` as Python ints (numpy arrays and arrays both have ``tolist``)."""
    part: Any = codes[start:stop]
    return part.tolist() if hasattr(part, "tolist") else list(part)


class ColumnSlice(Sequence[ColumnMapping]):
    """One process's column mappings, ``start`` to ``stop`` of a ColumnBlock: a read-only sequence that
    equals (and hashes as) the tuple of the same ColumnMappings, built when read."""

    __slots__ = ("block", "start", "stop")

    def __init__(self, block: ColumnBlock, start: int, stop: int) -> None:
        self.block, self.start, self.stop = block, start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    def source_count(self) -> int:
        """The number of source columns of these mappings (their column edges), read without building them."""
        at = self.block.source_at
        return self.stop - self.start if at is None else int(at[self.stop]) - int(at[self.start])

    @overload
    def __getitem__(self, index: int) -> ColumnMapping: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[ColumnMapping, ...]: ...

    def __getitem__(self, index: int | slice) -> ColumnMapping | tuple[ColumnMapping, ...]:
        return tuple(self)[index]

    def __iter__(self) -> Iterator[ColumnMapping]:
        return iter(self.block.mappings(self.start, self.stop))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ColumnSlice | tuple):
            return len(self) == len(other) and tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return repr(tuple(self))


@slot_init
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
    columns: tuple[ColumnMapping, ...] | ColumnSlice = ()
    ids: tuple[tuple[str, str], ...] = ()
    source: SourceLocation = field(default_factory=lambda: SourceLocation("<memory>"), compare=False)
    derived_by: str = ""  # the tool that read inputs or columns from ``sql`` (e.g. "sqlglot 30.30.0"); "" when declared

    def id_for(self, target: str) -> str | None:
        return dict(self.ids).get(target)

    @property
    def edges(self) -> list[tuple[str, str]]:
        """Every (input key, output key) pair, in a stable order."""
        return [(i.key, o.key) for i in self.inputs for o in self.outputs]


class AssetTable(Mapping[str, Asset]):
    """Many assets as columns, sorted by key, the way a CSV parser finds them: per asset its key, platform,
    database, schema, name, type and connection. A read-only mapping by key (found by bisection) that
    equals the dict of the same Assets, each built when read; ``positions`` reads them by position, as a
    ProcessBlock's inputs and outputs point at them. A translation reads the columns instead."""

    __slots__ = ("connections", "databases", "keys_", "names", "platforms", "schemas", "types")

    def __init__(self, keys: list[str], platforms: list[str], databases: list[str], schemas: list[str],
                 names: list[str], types: list[str], connections: list[str]) -> None:
        self.keys_, self.platforms, self.databases, self.schemas = keys, platforms, databases, schemas
        self.names, self.types, self.connections = names, types, connections

    def at(self, i: int) -> Asset:
        """The asset at position ``i``."""
        return Asset(self.platforms[i], self.databases[i], self.schemas[i], self.names[i], self.types[i],
                     self.connections[i]).with_key(self.keys_[i])

    def _position(self, key: object) -> int | None:
        i = bisect_left(self.keys_, key) if isinstance(key, str) else len(self.keys_)
        return i if i < len(self.keys_) and self.keys_[i] == key else None

    def __getitem__(self, key: str) -> Asset:
        i = self._position(key)
        if i is None:
            raise KeyError(key)
        return self.at(i)

    def __contains__(self, key: object) -> bool:
        return self._position(key) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys_)

    def __len__(self) -> int:
        return len(self.keys_)

    def values(self) -> ValuesView[Asset]:
        return _AssetValues(self)

    def items(self) -> ItemsView[str, Asset]:
        return _AssetItems(self)

    def let_go(self) -> None:
        """Empty the table, for the one it was handed to for its last use (``Lineage.take``): what it held
        is freed as that one lets go of it too."""
        self.keys_, self.platforms, self.databases, self.schemas = [], [], [], []
        self.names, self.types, self.connections = [], [], []

    def positions(self) -> Sequence[Asset]:
        """The assets by position (keys in order)."""
        return AssetPositions(self)

    def __repr__(self) -> str:
        return f"AssetTable({len(self)} assets)"


class _AssetValues(ValuesView[Asset]):
    _mapping: AssetTable

    def __iter__(self) -> Iterator[Asset]:
        return map(self._mapping.at, range(len(self._mapping)))


class _AssetItems(ItemsView[str, Asset]):
    _mapping: AssetTable

    def __iter__(self) -> Iterator[tuple[str, Asset]]:
        return zip(self._mapping.keys_, _AssetValues(self._mapping), strict=True)


class AssetPositions(Sequence[Asset]):
    """An AssetTable's assets by position, each built when read."""

    __slots__ = ("table",)

    def __init__(self, table: AssetTable) -> None:
        self.table = table

    def __len__(self) -> int:
        return len(self.table)

    @overload
    def __getitem__(self, index: int) -> Asset: ...

    @overload
    def __getitem__(self, index: slice) -> list[Asset]: ...

    def __getitem__(self, index: int | slice) -> Asset | list[Asset]:
        if isinstance(index, slice):
            return list(map(self.table.at, range(len(self.table))[index]))
        return self.table.at(range(len(self.table))[index])


class ProcessBlock(Sequence[Process]):
    """Many processes as columns, the way a CSV parser finds them: per process its id, name, details,
    attributes, column mappings and first line, and its inputs and outputs as positions into one list of
    the file's assets (``inputs``: every process's, process after process; ``input_at``: where each
    process's start, one bound more than processes). A read-only sequence that equals the tuple of the
    same Processes, each built when read; a translation into resources reads the columns instead
    (``lineage_resources``): at a million processes, neither the Process objects, their tuples of assets
    and their source locations are made, nor is an asset's key read through the asset.

    ``descriptions``, ``sqls`` and ``owners`` are None where every process has none. Position arrays are
    integer sequences with ``tolist`` and slicing (numpy arrays).
    """

    __slots__ = ("assets", "attributes", "columns", "descriptions", "file", "ids", "input_at", "inputs", "lines",
                 "names", "output_at", "outputs", "owners", "sqls")

    def __init__(self, ids: list[str], names: list[str], assets: Sequence[Asset], inputs: Codes, input_at: Codes,
                 outputs: Codes, output_at: Codes, *, attributes: list[tuple[tuple[str, str], ...]],
                 columns: list[tuple[ColumnMapping, ...] | ColumnSlice], file: str, lines: list[int],
                 descriptions: list[str] | None = None, sqls: list[str] | None = None,
                 owners: list[str] | None = None) -> None:
        self.ids, self.names, self.assets = ids, names, assets
        self.inputs, self.input_at, self.outputs, self.output_at = inputs, input_at, outputs, output_at
        self.attributes, self.columns, self.file, self.lines = attributes, columns, file, lines
        self.descriptions, self.sqls, self.owners = descriptions, sqls, owners

    def __len__(self) -> int:
        return len(self.ids)

    def let_go(self) -> None:
        """Empty the block, for the one it was handed to for its last use (``Lineage.take``): what it held
        is freed as that one lets go of it too."""
        self.ids, self.names, self.assets, self.attributes, self.columns, self.lines = [], [], [], [], [], []
        self.inputs, self.outputs, self.input_at, self.output_at = [], [], [0], [0]
        self.descriptions = self.sqls = self.owners = None

    def ends(self, i: int) -> tuple[list[int], list[int]]:
        """The positions in ``assets`` of process ``i``'s inputs and of its outputs."""
        (a, b), (c, d) = ints_of(self.input_at, i, i + 2), ints_of(self.output_at, i, i + 2)
        return ints_of(self.inputs, a, b), ints_of(self.outputs, c, d)

    def edge_count(self) -> int:
        """Every process's inputs times its outputs, summed, read from the bounds."""
        return sum(map(int.__mul__, *((b - a for a, b in pairwise(ints_of(at, 0, len(at))))
                                      for at in (self.input_at, self.output_at))))

    def _process(self, i: int) -> Process:
        asset = self.assets.__getitem__
        inputs, outputs = self.ends(i)
        return Process(self.ids[i], self.names[i], tuple(map(asset, inputs)), tuple(map(asset, outputs)),
                       self.descriptions[i] if self.descriptions else "", self.sqls[i] if self.sqls else "",
                       self.owners[i] if self.owners else "", self.attributes[i], self.columns[i], (),
                       SourceLocation(self.file, self.lines[i]))

    @overload
    def __getitem__(self, index: int) -> Process: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Process, ...]: ...

    def __getitem__(self, index: int | slice) -> Process | tuple[Process, ...]:
        if isinstance(index, slice):
            return tuple(map(self._process, range(len(self))[index]))
        if not -len(self) <= index < len(self):
            raise IndexError("process index out of range")
        return self._process(index % len(self))

    def __iter__(self) -> Iterator[Process]:
        return map(self._process, range(len(self)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ProcessBlock | tuple | list):
            return len(self) == len(other) and all(map(Process.__eq__, self, other))
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"ProcessBlock({len(self)} processes of {self.file})"


@dataclass(frozen=True)
class Lineage:
    """The desired lineage merged from every manifest: processes sorted by id, assets by key."""

    processes: tuple[Process, ...] | ProcessBlock
    assets: Mapping[str, Asset] = field(default_factory=lambda: MappingProxyType({}))
    warnings: tuple[str, ...] = field(default=(), compare=False)  # e.g. a hand-written process overriding a compiled one
    # Handed over for its last use (``LoadedManifests.hand_over``): whoever holds it may take it apart (``take``).
    owned: bool = field(default=False, compare=False, repr=False)

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
    def build_sorted(cls, processes: tuple[Process, ...] | ProcessBlock,
                     assets: dict[str, Asset] | AssetTable) -> Lineage:
        """``build(processes)`` for values that are already in its shape: ``processes`` sorted by id, and
        ``assets`` every asset they touch (none with per-target ids), each key once, sorted by key.

        A parser that deduplicated assets and numbered processes in id order hands them over as they
        are, instead of a sort and a walk over every process's assets (seconds at a million rows).
        """
        return cls(processes, assets if isinstance(assets, AssetTable) else MappingProxyType(assets))

    def take(self) -> tuple[list[Process] | ProcessBlock, dict[str, Asset] | AssetTable]:
        """The processes and assets of an ``owned`` lineage, handed to its last user, which holds the only
        reference to it: the lineage is left empty, and what the caller drops from the list and the dict
        as it goes is freed then, not when the last of them is done with. A million-row translation so
        never holds the whole lineage beside its whole translation (about 250 MB at 1M Lineage Builder rows).
        A lineage that is not ``owned`` is shared: taking it apart is an error. A ProcessBlock or an
        AssetTable is handed over as it is, for its taker to empty as it goes (their ``let_go``)."""
        if not self.owned:
            raise RuntimeError("only a lineage handed over for its last use can be taken apart")
        processes = self.processes if isinstance(self.processes, ProcessBlock) else list(self.processes)
        assets = self.assets if isinstance(self.assets, AssetTable) else dict(self.assets)
        object.__setattr__(self, "processes", ())
        object.__setattr__(self, "assets", MappingProxyType({}))
        return processes, assets

    @property
    def edge_count(self) -> int:
        if isinstance(self.processes, ProcessBlock):
            return self.processes.edge_count()
        return sum(len(p.inputs) * len(p.outputs) for p in self.processes)

    @property
    def column_edge_count(self) -> int:
        total = 0
        processes = self.processes
        for columns in processes.columns if isinstance(processes, ProcessBlock) else map(_columns_of, processes):  # most processes of table lineage have none
            if columns:
                total += columns.source_count() if isinstance(columns, ColumnSlice) else \
                    sum(len(m.sources) for m in columns)
        return total


_columns_of = attrgetter("columns")
