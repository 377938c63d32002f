"""The resource shapes most targets start from: one ``asset.<key>`` per asset and one
``process.<id>`` per process, with the process's inputs, outputs and column mappings in its body.
Vendor targets that need other shapes build their own; this is shared, not imposed.

At a million rows there is one resource per process and per asset, so their cost is the model's:
a body is its canonical JSON, written straight from the model's fields (never from a dict encoded one
at a time), hashed, and kept as that text (``TextBody``), parsed only for the resources a plan shows,
so the lineage it was written from can go once translated. The text is byte for byte what
``content_hash`` of the body's dict encodes (a test pins a few hashes), so state written before plans
"No changes" after.
"""

from __future__ import annotations

import functools
import hashlib
import weakref
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice, pairwise, repeat
from json.encoder import encode_basestring  # the C string encoder json.dumps(ensure_ascii=False) uses
from operator import itemgetter
from typing import Any, TypeVar

from ..canonical import LazyBody, TextBody, body_spill, canonical_json
from ..model import (
    Asset,
    AssetPositions,
    AssetTable,
    ColumnBlock,
    ColumnMapping,
    ColumnSlice,
    Lineage,
    Process,
    ProcessBlock,
    ints_of,
    location_text,
)
from ..opened import Spill
from .base import ASSET, UNPLACED, Digests, Resource, ResourceTable, made_whole

_T = TypeVar("_T")


def asset_address(asset: Asset) -> str:
    return asset_address_of(asset.key)


def asset_address_of(key: str) -> str:
    """The address of the asset whose key is ``key``."""
    return f"asset.{key}"


def process_address(process: Process) -> str:
    return process_address_of(process.id)


def process_address_of(process_id: str) -> str:
    """The address of the process whose id is ``process_id``."""
    return f"process.{process_id}"


def asset_body(asset: Asset) -> dict[str, Any]:
    return {"key": asset.key, "platform": asset.platform, "database": asset.database, "schema": asset.schema,
            "name": asset.name, "type": asset.type, "connection": asset.connection}


def _columns(columns: Iterable[ColumnMapping]) -> list[dict[str, Any]]:
    return [{"sources": [[s.asset, s.column] for s in m.sources], "target": [m.target.asset, m.target.column],
             "transform": m.transform} for m in columns]


def process_body(process: Process) -> dict[str, Any]:
    """A process's content."""
    p = process
    return _process_dict(p.id, p.name, p.description, p.sql, p.owner, p.attributes, p.columns, p.derived_by,
                         [a.key for a in p.inputs], [a.key for a in p.outputs])


def _process_dict(id: str, name: str, description: str, sql: str, owner: str,
                  attributes: tuple[tuple[str, str], ...], columns: Iterable[ColumnMapping], derived_by: str,
                  inputs: list[str], outputs: list[str]) -> dict[str, Any]:
    """The content of the process of these fields and input and output keys. ``derived_by`` (the tool that
    read its inputs or columns from its SQL) is present only for derived processes, so declared ones keep
    the content hash they always had."""
    body = {"id": id, "name": name, "description": description, "sql": sql, "owner": owner,
            "attributes": dict(attributes), "inputs": inputs, "outputs": outputs, "columns": _columns(columns)}
    if derived_by:
        body["derived_by"] = derived_by
    return body


def _asset_text(a: Asset) -> tuple[str, int]:
    """The canonical JSON of ``asset_body(a)`` (sorted keys, no blanks, UTF-8 as is) and where an asset's
    placeholder flag goes in it (``canonical.PLACED``: before ``"platform"``); TypeError where a field is not
    a string."""
    return _asset_text_of(a.connection, a.database, a.key, a.name, a.platform, a.schema, a.type)


def _asset_text_of(connection: str, database: str, key: str, name: str, platform: str, schema: str, type: str,
                   e: Callable[[str], str] = encode_basestring) -> tuple[str, int]:
    """``_asset_text`` of the asset of these fields. The flag's place is known as the text is written: an
    apply puts it into every asset's text it writes, and finding it again took 2 us an asset."""
    head = f'{{"connection":{e(connection)},"database":{e(database)},"key":{e(key)},"name":{e(name)},'
    return f'{head}"platform":{e(platform)},"schema":{e(schema)},"type":{e(type)}}}', len(head)


def _asset_json(a: Asset) -> tuple[str, int | None]:
    """``_asset_text`` of ``a``, or its canonical JSON by the generic encoder where a field is not a string
    (an asset built by hand), whose flag's place is then found when needed (None)."""
    try:
        return _asset_text(a)
    except TypeError:
        return canonical_json(asset_body(a)), None


def _asset_texts(columns: list[list[str]]) -> tuple[list[str], list[int | None]]:
    """``_asset_text_of`` of each asset of ``columns`` (connections, databases, keys, names, platforms, schemas,
    types) and where its flag goes; an asset with a field that is not a string written by the generic
    encoder (its flag's place then unknown)."""
    written: list[tuple[str, int | None]]
    try:
        written = list(map(_asset_text_of, *columns))
    except TypeError:  # a field that is not a string: each asset as ``_asset_json`` writes it
        written = [_asset_json(Asset(platform, database, schema, name, type_, connection).with_key(key))
                   for connection, database, key, name, platform, schema, type_ in zip(*columns)]
    return list(map(itemgetter(0), written)), list(map(itemgetter(1), written))


def _attributes_text(attributes: tuple[tuple[str, str], ...], e: Callable[[str], str] = encode_basestring) -> str:
    """The canonical JSON of ``dict(attributes)``; raises TypeError where it is not written directly (a
    name twice or out of order: the dict decides; a value that is not a string: the encoder does)."""
    if any(a[0] >= b[0] for a, b in pairwise(attributes)):
        raise TypeError("attributes not in strictly increasing name order")
    return "{" + ",".join([f"{e(k)}:{e(v)}" for k, v in attributes]) + "}"


def _columns_text(columns: tuple[ColumnMapping, ...] | ColumnSlice, runs: _MappingTexts | None = None) -> str:
    """The canonical JSON of a process's ``_columns``. Mappings held as a ColumnSlice are written from their
    block's columns through ``runs`` when one is given (a run of many processes' mappings at a time)."""
    e = encode_basestring
    if isinstance(columns, ColumnSlice) and runs is not None:
        return "[" + ",".join(runs(columns)) + "]"
    parts = []
    for sources, (target, column), transform in columns:
        if len(sources) == 1:  # the common shape: no list of one
            ((asset, from_column),) = sources
            read = f"[{e(asset)},{e(from_column)}]"
        else:
            read = ",".join([f"[{e(s.asset)},{e(s.column)}]" for s in sources])
        parts.append(f'{{"sources":[{read}],"target":[{e(target)},{e(column)}],"transform":{e(transform)}}}')
    return "[" + ",".join(parts) + "]"


class _MappingTexts:
    """The canonical JSON of each mapping of a ColumnBlock, written a run of mappings at a time: every
    asset key and column name of a block is encoded once, and a mapping's text is one f-string of lookups
    by its codes (numpy's object-array concatenation was slower). Processes asked in block order (a
    Lineage's order, the parser's) share each run; a process's mappings are then a slice of it. A run
    grows while it is read in order and shrinks when it is not, so a body read alone costs its own.
    Blocks of several files, whose processes interleave in id order, each keep their own run."""

    RUN = 1 << 16  # the most mappings in one run

    def __init__(self) -> None:
        self.runs: weakref.WeakKeyDictionary[ColumnBlock, _Run] = weakref.WeakKeyDictionary()

    def __call__(self, columns: ColumnSlice) -> list[str]:
        block = columns.block
        run = self.runs.get(block)
        if run is None:
            run = self.runs[block] = _Run(_encoded(block.keys), _encoded(block.columns))
        if columns.start < run.start or columns.stop > run.stop:
            in_order = run.start <= columns.start <= run.stop  # the next process, or one the run cut
            run.size = min(run.size * 2, self.RUN) if in_order else max(run.size // 8, 1)
            run.start, run.stop = columns.start, min(max(columns.stop, columns.start + run.size), len(block))
            run.texts = _mapping_texts(block, run.start, run.stop, run.keys, run.columns)
        return run.texts[columns.start - run.start:columns.stop - run.start]


@dataclass
class _Run:
    """One block's encoded keys and column names (lists by code), and its current run of texts."""

    keys: list[str]
    columns: list[str]
    start: int = 0
    stop: int = 0
    size: int = 1024
    texts: list[str] = field(default_factory=list)


def _encoded(strings: Sequence[str]) -> list[str]:
    """``encode_basestring`` of each string (TypeError when one is not a string)."""
    return list(map(encode_basestring, strings))


def _mapping_texts(block: ColumnBlock, start: int, stop: int, keys: list[str], columns: list[str]) -> list[str]:
    """The canonical JSON of mappings ``start`` to ``stop`` of ``block``, given the encoded text of each
    of its keys and column names: one f-string per mapping from table lookups, no encoding per mapping."""
    k, c = keys, columns
    how = ints_of(block.transform_of, start, stop)
    transforms = {code: encode_basestring(block.transforms[code]) for code in set(how)}  # a few distinct ones
    targets = zip(ints_of(block.target_key, start, stop), ints_of(block.target_column, start, stop), how)
    if block.source_at is None:
        return [f'{{"sources":[[{k[a]},{c[b]}]],"target":[{k[t]},{c[u]}],"transform":{transforms[x]}}}'
                for a, b, (t, u, x) in zip(ints_of(block.source_key, start, stop), ints_of(block.source_column, start, stop),
                                           targets)]
    at = ints_of(block.source_at, start, stop + 1)
    first, last = at[0], at[-1]
    each = [f"[{k[a]},{c[b]}]" for a, b in zip(ints_of(block.source_key, first, last),
                                               ints_of(block.source_column, first, last))]
    return [f'{{"sources":[{each[a - first] if b - a == 1 else ",".join(each[a - first:b - first])}],'
            f'"target":[{k[t]},{c[u]}],"transform":{transforms[x]}}}' for a, b, (t, u, x) in zip(at, at[1:], targets)]


def _process_text(id: str, name: str, description: str, sql: str, owner: str, attributes: str, columns: str,
                  derived_by: str, inputs: list[str], outputs: list[str]) -> str:
    """The canonical JSON of a process's ``process_body``, given its fields, its attributes' and column
    mappings' text (attributes mostly shared) and its inputs' and outputs' keys."""
    e = encode_basestring
    derived = f'"derived_by":{e(derived_by)},' if derived_by else ""
    return (f'{{"attributes":{attributes},"columns":{columns},{derived}"description":{e(description)},'
            f'"id":{e(id)},"inputs":[{",".join(map(e, inputs))}],"name":{e(name)},'
            f'"outputs":[{",".join(map(e, outputs))}],"owner":{e(owner)},"sql":{e(sql)}}}')


class _ProcessTexts:
    """The canonical JSON of many processes' bodies, written straight from their fields: each distinct
    attribute set written once and kept (a translation's processes share a few), column mappings written
    in runs (``_MappingTexts``); the generic encoder writes a process where a field is not a string."""

    def __init__(self) -> None:
        self._attributes: dict[tuple[tuple[str, str], ...], str] = {}
        self.runs = _MappingTexts()

    def of(self, id: str, name: str, description: str, sql: str, owner: str,
           attributes: tuple[tuple[str, str], ...], columns: tuple[ColumnMapping, ...] | ColumnSlice,
           derived_by: str, inputs: list[str], outputs: list[str]) -> str:
        """The canonical JSON of the ``process_body`` of the process of these fields; TypeError where a field
        is not a string."""
        attributes_text = self._attributes.get(attributes)
        if attributes_text is None:
            attributes_text = self._attributes[attributes] = _attributes_text(attributes)
        return _process_text(id, name, description, sql, owner, attributes_text,
                             _columns_text(columns, self.runs) if columns else "[]", derived_by, inputs, outputs)

    def __call__(self, process: Process, inputs: list[str], outputs: list[str]) -> str:
        """The canonical JSON of ``process_body(process)``: ``written`` of its fields (the generic encoder's
        where one is not a string, as in a process built by hand)."""
        p = process
        return self.written(p.id, p.name, p.description, p.sql, p.owner, p.attributes, p.columns, p.derived_by,
                            inputs, outputs)

    def written(self, id: str, name: str, description: str, sql: str, owner: str,
                attributes: tuple[tuple[str, str], ...], columns: tuple[ColumnMapping, ...] | ColumnSlice,
                derived_by: str, inputs: list[str], outputs: list[str]) -> str:
        """``of``, or the generic encoder's text where a field is not a string."""
        try:
            return self.of(id, name, description, sql, owner, attributes, columns, derived_by, inputs, outputs)
        except TypeError:
            return canonical_json(_process_dict(id, name, description, sql, owner, attributes, columns, derived_by,
                                                inputs, outputs))


class _Made:
    """The columns of the resources a translation makes, in order: a ``ResourceTable``, no Resource or body
    object per resource. Each body's canonical JSON is encoded once, hashed, and written to the run's spill
    (``bodies_spilled_to``), read back from there when needed, or, with none, kept as a ``TextBody``. No
    body refers to the Asset or Process it was written from, so a run can let the lineage go once it is
    translated; writing a body again (the cache, state's content, a DuckDB row) takes its text as it is."""

    def __init__(self, spill: Spill | None) -> None:
        self.spill = spill
        self.addresses: list[str] = []
        self.kinds: list[str] = []
        self.hashes = Digests()
        self.sources: list[str] = []
        self.requires: list[tuple[str, ...]] = []
        self.edges: list[tuple[tuple[str, str], ...]] = []
        self.starts, self.ends, self.placed = array("q"), array("q"), array("q")
        self.bodies: list[Mapping[str, Any]] | None = None if spill is not None else []

    def extend(self, kind: str, addresses: Sequence[str], texts: Sequence[str], sources: Sequence[str],
               requires: Sequence[tuple[str, ...]], edges: Sequence[tuple[tuple[str, str], ...]],
               placed: Sequence[int | None]) -> None:
        """A run of resources of one ``kind``, a column each: their bodies' canonical JSON ``texts`` and, per body,
        where an asset's placeholder flag goes in it when known (``placed``). The run's bodies are encoded,
        hashed and spilled a column at a time: a call per resource for each took as long as writing the texts."""
        data = [text.encode() for text in texts]
        sha = hashlib.sha256
        self.hashes.extend(Digests(b"".join([sha(d).digest() for d in data])))
        if self.bodies is None:
            bounds = array("q", self.spill.add_all(data))  # type: ignore[union-attr]
            self.starts += bounds[:-1]
            self.ends += bounds[1:]
            self.placed += array("q", [UNPLACED if at is None else at for at in placed])
        else:
            self.bodies += map(TextBody, data, placed)
        self.addresses += addresses
        self.kinds += [kind] * len(data)
        self.sources += sources
        self.requires += requires
        self.edges += edges

    def table(self, *after: _Made) -> Sequence[Resource]:
        """These resources, then those of each of ``after`` (made beside the same spill), as one table."""
        for other in after:
            for name in ("addresses", "kinds", "hashes", "sources", "requires", "edges", "starts", "ends", "placed"):
                getattr(self, name).extend(getattr(other, name))
            if self.bodies is not None and other.bodies is not None:
                self.bodies.extend(other.bodies)
        return ResourceTable(self.addresses, self.kinds, self.hashes, self.sources, self.requires, self.edges,
                             data=self.spill, starts=self.starts, ends=self.ends, placed=self.placed,
                             bodies=self.bodies)


class _Objects:
    """What ``_Made`` makes, made one by one: a Resource each, its body the same text (within
    ``resources_made_whole``: an apply makes every resource, and lets each go as state records it)."""

    def __init__(self, spill: Spill | None) -> None:
        self.spill = spill
        self.made: list[Resource] = []

    def extend(self, kind: str, addresses: Sequence[str], texts: Sequence[str], sources: Sequence[str],
               requires: Sequence[tuple[str, ...]], edges: Sequence[tuple[tuple[str, str], ...]],
               placed: Sequence[int | None]) -> None:
        """``_Made.extend``: the same bodies, as objects (their spans' ints shared, one body's end the next one's
        start)."""
        data = [text.encode() for text in texts]
        spill, sha = self.spill, hashlib.sha256
        if spill is None:
            bodies: Iterable[TextBody] = map(TextBody, data, placed)
        else:
            bounds = spill.add_all(data)
            bodies = map(functools.partial(LazyBody, spill), bounds, bounds[1:], placed)
        self.made += map(Resource, addresses, repeat(kind), bodies, sources, requires, edges,
                         [sha(d).hexdigest() for d in data])

    def table(self, *after: _Objects) -> Sequence[Resource]:
        """These resources, then those of each of ``after``."""
        for other in after:
            self.made.extend(other.made)
        return self.made


def _made(spill: Spill | None) -> _Made | _Objects:
    """Where a translation puts the resources it makes: columns, or objects within ``resources_made_whole``."""
    return _Objects(spill) if made_whole() else _Made(spill)


RUN = 1 << 14  # the most resources made in one ``extend``: their texts and encoded bodies are held at once

# what a translation gives of each resource: its address, body text, source, requires, edges, flag's place
_Row = tuple[str, str, str, tuple[str, ...], tuple[tuple[str, str], ...], int | None]


def _extend_in_runs(made: _Made | _Objects, kind: str, rows: Iterable[_Row]) -> None:
    """``made.extend`` of ``rows``, RUN of them at a time."""
    rows = iter(rows)
    while run := list(islice(rows, RUN)):
        addresses, texts, sources, requires, edges, placed = zip(*run)
        del run
        made.extend(kind, addresses, texts, sources, requires, edges, placed)


def _handed(values: list[Any]) -> Iterator[Any]:
    """Each of ``values`` in order, let go from the list as it is given."""
    for i in range(len(values)):
        value, values[i] = values[i], None
        yield value


def _popped(values: dict[str, _T]) -> Iterator[_T]:
    """Each of ``values`` in key order, popped from the dict as it is given."""
    for key in list(values):
        yield values.pop(key)


def lineage_resources(lineage: Lineage, take_apart: bool = False) -> Sequence[Resource]:
    """Assets first, then processes, each process requiring its assets. An asset's source is the
    first process (in id order) that references it.

    One pass over the processes does all of a process's work, reading each of its assets' keys once:
    at a million rows the assets lie scattered in memory, and every extra walk costs seconds. With
    ``take_apart``, from a translation that reads nothing of the lineage afterwards, a lineage handed over
    for its last use (``owned``) is taken apart as it is translated: each process and asset goes once its
    resources are made.
    """
    if take_apart and lineage.owned:
        processes, assets = lineage.take()
        if isinstance(processes, ProcessBlock):
            return _block_resources(processes, assets if isinstance(assets, AssetTable) else _popped(assets),
                                    owned=True)
        return _resources(_handed(processes), assets.values() if isinstance(assets, AssetTable) else _popped(assets))
    if isinstance(lineage.processes, ProcessBlock):
        given = lineage.assets
        return _block_resources(lineage.processes, given if isinstance(given, AssetTable) else given.values())
    return _resources(lineage.processes, lineage.assets.values())


def _edges_held(inputs: list[str], outputs: list[str], requires: list[str]
                ) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """A process's table edges (every input to every output) and the addresses it requires, each once, in
    order (``requires``: its inputs' and outputs' addresses)."""
    if len(inputs) == 1 and len(outputs) == 1:  # the common shape, without a dict
        return ((inputs[0], outputs[0]),), tuple(requires) if requires[0] != requires[1] else (requires[0],)
    return tuple([(i, o) for i in inputs for o in outputs]), tuple(dict.fromkeys(requires))


def _resources(processes: Iterable[Process], assets: Iterable[Asset]) -> Sequence[Resource]:
    # asset key -> (its address, one string shared by the asset and its users; the source of the first
    # process that uses it): one lookup per reference
    used: dict[str, tuple[str, str]] = {}
    texts = _ProcessTexts()

    def process_rows() -> Iterator[_Row]:
        for p in processes:
            source = str(p.source)
            inputs, outputs = [a.key for a in p.inputs], [a.key for a in p.outputs]
            requires = []
            for key in (*inputs, *outputs):
                found = used.get(key)
                if found is None:
                    found = used[key] = (asset_address_of(key), source)
                requires.append(found[0])
            edges, held = _edges_held(inputs, outputs, requires)
            yield process_address(p), texts(p, inputs, outputs), source, held, edges, None

    def asset_rows() -> Iterator[_Row]:  # (once every process is read: ``used`` is then whole)
        for a in assets:
            at, source = used.get(a.key) or (asset_address(a), "")
            text, placed = _asset_json(a)
            yield at, text, source, (), (), placed

    spill = body_spill()
    made = _made(spill)
    _extend_in_runs(made, "process", process_rows())
    resources = _made(spill)
    _extend_in_runs(resources, ASSET, asset_rows())
    return resources.table(made)  # type: ignore[arg-type]  # (both made by ``_made``, alike)


def _table_assets(made: _Made | _Objects, table: AssetTable, addresses: list[str], first_user: list[int],
                  sources: list[str]) -> None:
    """The resources of an AssetTable's assets, in order, a run at a time: each one's address, and the source of
    its first user (``first_user``: a position in ``sources``, by process, then "" for none)."""
    columns = (table.connections, table.databases, table.keys_, table.names, table.platforms, table.schemas,
               table.types)
    for lo in range(0, len(addresses), RUN):
        texts, places = _asset_texts([column[lo:lo + RUN] for column in columns])
        none = [()] * len(texts)
        made.extend(ASSET, addresses[lo:lo + RUN], texts, list(map(sources.__getitem__, first_user[lo:lo + RUN])),
                    none, none, places)


def _asset_rows(assets: Iterable[Asset], position_of: Mapping[str, int], addresses: list[str], first_user: list[int],
                sources: list[str]) -> Iterator[_Row]:
    """The rows of ``assets`` of a block's positions (``position_of`` their keys): at each position, its address
    and the source of its first user (``sources``, by process, then "" for none); an asset at none, or that no
    process uses, has its own address and no source."""
    none = len(sources) - 1
    for asset in assets:
        pos = position_of.get(asset.key)
        used = none if pos is None else first_user[pos]
        text, placed = _asset_json(asset)
        yield addresses[pos] if pos is not None and used < none else asset_address(asset), text, sources[used], (), (), placed


def _block_resources(block: ProcessBlock, assets: Iterable[Asset] | AssetTable, owned: bool = False
                     ) -> Sequence[Resource]:
    """``_resources`` of a ProcessBlock's processes, read from its columns, equal to those of its Processes
    (a test holds them so): each asset's key and address found once, by its position in the block, and
    the first process that uses each asset found from the positions before any resource is made, not by a
    lookup per reference; no Process is built. An ``owned`` block (a lineage's last use: ``Lineage.take``)
    is emptied as it is read, so that what it held is freed as it goes."""
    import numpy as np  # (a ProcessBlock comes from a CSV parser, which imported it)

    n = len(block)
    sources = [location_text(block.file, line) for line in block.lines]
    table = block.assets.table if isinstance(block.assets, AssetPositions) else None
    # (a position no process uses may be None)
    keys = table.keys_ if table is not None else [a.key if a is not None else "" for a in block.assets]
    ends = [array("q", np.asarray(codes, dtype=np.int64).tobytes())
            for codes in (block.inputs, block.input_at, block.outputs, block.output_at)]
    given = (block.ids, block.names, block.descriptions, block.sqls, block.owners, block.attributes, block.columns)
    if owned:
        block.let_go()
    # per position: the first position of its key (positions may share one), its address (one per key,
    # shared by the asset and its users) and the first process that uses its key
    position_of: dict[str, int] = {}
    if table is not None:  # an AssetTable holds each key once
        addresses = list(map(asset_address_of, keys))
    else:
        addresses = []
        for j, key in enumerate(keys):
            known = position_of.setdefault(key, j)
            addresses.append(asset_address_of(key) if known == j else addresses[known])
    first = np.full(len(keys), n, dtype=np.int64)
    inputs_of, input_at, outputs_of, output_at = ends
    for values, bounds in ((inputs_of, input_at), (outputs_of, output_at)):
        np.minimum.at(first, np.frombuffer(values, dtype=np.int64), np.repeat(np.arange(n), np.diff(bounds)))
    if table is None and len(position_of) < len(keys):
        np.minimum.at(first, np.array([position_of[key] for key in keys], dtype=np.int64), first.copy())
    first_user = first.tolist()
    del first
    made = _made(body_spill())
    source_of = [*sources, ""]  # by the first process that uses an asset; n: none does
    if table is not None and assets is table:  # the assets the positions point at, as columns: read in order
        _table_assets(made, table, addresses, first_user, source_of)
    else:
        _extend_in_runs(made, ASSET, _asset_rows(assets.values() if isinstance(assets, AssetTable) else assets,
                                                 position_of or {key: j for j, key in enumerate(keys)}, addresses,
                                                 first_user, source_of))
    del position_of, first_user, source_of
    if owned and isinstance(assets, AssetTable):
        assets.let_go()  # (``keys`` is kept: the processes' text reads it)
    process_texts = _ProcessTexts()
    ids, names, descriptions, sqls, owners, attributes_of, columns_of = given
    del given
    empty = repeat("")

    def process_rows() -> Iterator[_Row]:
        for pid, name, description, sql, owner, attributes, columns, source, (a, b), (c, d) in zip(
                _handed(ids) if owned else ids, _handed(names) if owned else names, descriptions or empty,
                sqls or empty, owners or empty, attributes_of, columns_of, sources, pairwise(input_at),
                pairwise(output_at)):
            if b - a == 1 and d - c == 1:  # one input, one output: the common shape, without slices
                i, o = inputs_of[a], outputs_of[c]
                inputs, outputs = [keys[i]], [keys[o]]
                edges, held = _edges_held(inputs, outputs, [addresses[i], addresses[o]])
            else:
                ends_at = inputs_of[a:b] + outputs_of[c:d]
                inputs, outputs = [keys[j] for j in ends_at[:b - a]], [keys[j] for j in ends_at[b - a:]]
                edges, held = _edges_held(inputs, outputs, [addresses[j] for j in ends_at])
            yield (process_address_of(pid), process_texts.written(pid, name, description, sql, owner, attributes,
                                                                  columns, "", inputs, outputs),
                   source, held, edges, None)

    _extend_in_runs(made, "process", process_rows())
    return made.table()
