"""Import reader for Alation: the lineage of the dataflows a filter names, read through documented GETs.

Alation documents no listing of every dataflow, so an import names what it reads (a ConfigError says
so when nothing is named): ``external_id_prefix=[PREFIX]`` takes the dataflows this project's state
records whose external id starts with ``api/<PREFIX>/`` (the target's ``external_id_prefix`` when
empty); ``dataflow=EID[,EID...]`` names external ids; ``table=KEY[,KEY...]`` reads the lineage of
Alation tables (``GET /integration/v2/lineage/?otype=table&oid=KEY&keyField=key``) and follows the
dataflows its paths go through. Selectors add up; ``id`` and ``asset`` globs then narrow the result.
Dataflows are read whole through the Dataflow API (``GET /integration/v2/dataflow/?keyField=external_id``,
up to ``max_dataflows_per_request`` external ids a request), through the target's own client (TOKEN,
retries on 429 and 5xx, refused tokens named).

Each dataflow becomes one process: ``api/<prefix>/<id>`` gives back ``<id>``, any other external id
keeps itself as ``ids: {alation: ...}``; its title is the name; its content is the SQL when it reads
as a SQL statement, else the description (the target sends ``sql or description`` as content, so
either gives the same dataflow back). Table paths give inputs and outputs, column paths column
mappings (Alation keeps no transforms). A dataflow whose table links are not every input to every
output is split into one process per output (not adopted: the target would write new dataflows).
Keys map back to ``platform:database.schema.name`` by inverting ``datasource_ids`` (the shortest
entry name wins where two map one data source); a key the mapping would not give back keeps itself
as an ``ids: {alation: ...}`` override. Alation carries no ownership marker, so ``--owned`` is refused.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ...compile.writer import build_process_id
from ...config import TargetConfig
from ...errors import AuthError, ConfigError, TerminalTargetError
from ...manifest.refs import RefError, split_ref
from ...model import Asset, ColumnMapping, ColumnRef, Lineage, Process, SourceLocation
from ...plan.contract import Current
from .. import http
from ..importers import PARSED_FILTER_KEYS, Advance, HeldProcess, ImportedLineage, ImportSelection
from ..lineage_resources import process_address
from .client import AlationTarget
from .translate import DATAFLOW, FILE_TYPES, LINEAGE, AlationKeys, ObjectRef, split_key

SELECTORS = ("dataflow", "external_id_prefix", "table")
FILTER_KEYS = PARSED_FILTER_KEYS | frozenset(SELECTORS)
COLUMN_OTYPES = frozenset({"column", "attribute"})  # the GET lineage reference calls columns "attribute"
_GLOB = re.compile(r"[*?\[\]]")
_ID_OK = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,199}")
_SQL = re.compile(r"\s*(select|with|insert|create|merge|update|delete|copy|replace|alter|call|unload)\b",
                  re.IGNORECASE)
Obj = tuple[str, str]  # (otype, key) as a path names it


def _values(selection: ImportSelection, name: str, config: TargetConfig) -> list[str]:
    """The comma-separated exact values of one selector; ConfigError for a glob (Alation reads by key)."""
    values = [v.strip() for v in selection.filters.get(name, "").split(",") if v.strip()]
    globbed = [v for v in values if _GLOB.search(v)]
    if globbed:
        raise ConfigError(f"target {config.name!r} (alation): --filter {name}={globbed[0]}: Alation reads lineage "
                          "by exact key, so a glob cannot be answered; list the keys (comma-separated)")
    return values


def _external_id(text: str) -> str:
    return text if text.startswith("api/") else f"api/{text}"


class _AssetNames:
    """Alation object keys -> Assets, inverting ``datasource_ids`` as ``AlationKeys.ref`` applies it."""

    def __init__(self, config: TargetConfig, keys: AlationKeys) -> None:
        self.keys = keys
        raw = config.settings.get("datasource_ids") or {}
        entries = sorted(((str(n), *keys._entry(str(n), v)) for n, v in raw.items()), key=lambda e: (len(e[0]), e[0]))
        self.by_source: dict[str, list[str]] = {}
        for name, ds, _ in entries:
            self.by_source.setdefault(ds, []).append(name)
        self.cache: dict[Obj, Asset] = {}

    def asset(self, obj: Obj) -> Asset:
        found = self.cache.get(obj)
        if found is None:
            found = self.cache[obj] = self._invert(*obj)
        return found

    def _invert(self, otype: str, key: str) -> Asset:
        for candidate in self._candidates(otype, key):
            try:
                if self.keys.ref(candidate) == ObjectRef(otype, key):
                    return candidate
            except ConfigError:  # no datasource_ids entry gives this candidate a key
                continue
        return self._kept(otype, key)

    def _candidates(self, otype: str, key: str) -> Iterable[Asset]:
        if otype == "external":
            try:
                platform, segments = split_ref(key)
            except RefError:
                return
            if platform and len(segments) <= 3:
                database, schema, name = ["", "", *segments][-3:]
                yield Asset(platform, database, schema, name, type="external")
            return
        if otype not in ("table", *FILE_TYPES.values()):
            return
        ds, _, rest = key.partition(".")
        for name in self.by_source.get(ds, []):
            platform, _, database = name.partition("/")
            if otype != "table":
                parts = rest.split("/")
                folder, sub, leaf = [*parts[:2], "/".join(parts[2:])] if len(parts) >= 3 else ["", "", *parts][-3:]
                yield Asset(platform, folder, sub, leaf, type=otype)
                continue
            segments = split_key(rest)
            if len(segments) == 3:
                yield Asset(platform, segments[0], segments[1], segments[2])
            elif len(segments) == 2 and database:
                yield Asset(platform, database, segments[0], segments[1])

    def _kept(self, otype: str, key: str) -> Asset:
        """An asset that keeps its Alation key as an override: named after the key's own segments."""
        override = (("alation", str(ObjectRef(otype, key))),)
        if otype == "table":
            segments = split_key(key)
            names = self.by_source.get(segments[0], [])
            platform = names[0].partition("/")[0] if names else "alation"
            rest = segments[1:] if names else segments
            if len(rest) >= 2:
                return Asset(platform, ".".join(rest[:-2]), rest[-2], rest[-1], ids=override)
        return Asset("alation", "", otype, key, type=otype if otype != "table" else "table", ids=override)


def _column(obj: Obj, tables: Mapping[str, Asset], refs: Mapping[str, str]) -> ColumnRef | None:
    """The column an Alation column key names, on one of ``tables`` (by casefolded table key)."""
    key = obj[1].casefold()
    best = max((t for t in refs if key.startswith(t + ".")), key=len, default=None)
    if best is None:
        return None
    name = obj[1][len(best) + 1:]
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1]
    return ColumnRef(tables[refs[best]].key, name) if name else None


class _Dataflow:
    """One dataflow as the Dataflow API returned it: its object and its (source, target) links."""

    def __init__(self, obj: Mapping[str, Any]) -> None:
        self.obj = obj
        self.eid = str(obj.get("external_id") or "")
        self.links: dict[tuple[Obj, Obj], None] = {}

    def processes(self, names: _AssetNames, prefix: str, target: str) -> tuple[list[Process], int]:
        """The processes this dataflow gives back, and how many column links were left out."""
        tables = [(names.asset(s), names.asset(t)) for s, t in self.links
                  if s[0] not in COLUMN_OTYPES and t[0] not in COLUMN_OTYPES]
        columns = [(s, t) for s, t in self.links if s[0] in COLUMN_OTYPES and t[0] in COLUMN_OTYPES]
        if not tables:
            return [], len(columns)
        inputs = {a.key: a for a, _ in sorted(tables, key=lambda p: p[0].key)}
        outputs = {a.key: a for _, a in sorted(tables, key=lambda p: p[1].key)}
        pairs = {(a.key, b.key) for a, b in tables}
        groups = [(inputs, outputs)] if len(pairs) == len(inputs) * len(outputs) else \
            [({k: a for k, a in inputs.items() if (k, o) in pairs}, {o: outputs[o]}) for o in outputs]
        pid, ids = self._identity(prefix)
        content = str(self.obj.get("content") or "")
        sql = content if _SQL.match(content) else ""
        out, used = [], 0
        for n, (ins, outs) in enumerate(groups):
            assets = {**ins, **outs}
            objects = {k: names.keys.ref(a) for k, a in assets.items()}
            refs = {o.key.casefold(): k for k, o in objects.items() if o.otype == "table"}
            mapped: dict[ColumnRef, list[ColumnRef]] = {}
            for s, t in columns:
                src, tgt = _column(s, assets, refs), _column(t, assets, refs)
                if src is not None and tgt is not None and src.asset in ins and tgt.asset in outs:
                    mapped.setdefault(tgt, []).append(src)
                    used += 1
            single = len(groups) == 1
            out.append(Process(
                id=pid if single else f"{pid}.{n}", name=str(self.obj.get("title") or "") or pid,
                inputs=tuple(ins.values()), outputs=tuple(outs.values()), description="" if sql else content,
                sql=sql, ids=ids if single else (), source=SourceLocation(f"{target}:{self.eid}"),
                columns=tuple(ColumnMapping(tuple(sorted(set(s))), t) for t, s in sorted(mapped.items()))))
        return out, len(columns) - used

    def _identity(self, prefix: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        head = f"api/{prefix}/" if prefix else "api/"
        rest = self.eid[len(head):] if self.eid.startswith(head) else ""
        if rest and _ID_OK.fullmatch(rest):
            return rest, ()
        text = self.eid.removeprefix("api/")
        return build_process_id(text), (("alation", self.eid),)


def _read_dataflows(target: AlationTarget, eids: Sequence[str], advance: Advance) -> list[_Dataflow]:
    """The dataflows Alation holds among ``eids``, with their links, ``max_dataflows`` per request."""
    flows: dict[str, _Dataflow] = {}
    what = f"target {target.name!r}: GET {DATAFLOW}"
    for start in range(0, len(eids), target.max_dataflows):
        chunk = list(eids[start:start + target.max_dataflows])
        body = http.expect_shape(target._call("GET", DATAFLOW, params={"keyField": "external_id"},
                                              json=chunk).json() or {}, dict, what)
        for obj in http.expect_shape(body.get("dataflow_objects") or [], list, what):
            flow = _Dataflow(http.expect_shape(obj, dict, what))
            flows.setdefault(flow.eid.casefold(), flow)
        for path in http.expect_shape(body.get("paths") or [], list, what):
            for eid, link in _path_links(path):
                if eid in flows:
                    flows[eid].links[link] = None
        advance(start + len(chunk), len(eids))
    return [flows[k] for k in sorted(flows)]


def _objects(segment: Any) -> list[Obj]:
    return [(str(o.get("otype") or "table"), str(o["key"])) for o in (segment if isinstance(segment, list) else [])
            if isinstance(o, dict) and o.get("key")]


def _path_links(path: Any) -> list[tuple[str, tuple[Obj, Obj]]]:
    """(casefolded dataflow key, (source, target)) for each dataflow a path goes through: the first
    segment times the last, as the target writes and as Alation describes paths."""
    if not isinstance(path, list) or len(path) < 2:
        return []
    flows = [k.casefold() for seg in path[1:-1] for o, k in _objects(seg) if o == "dataflow"]
    links = [(s, t) for s in _objects(path[0]) for t in _objects(path[-1])]
    return [(f, link) for f in flows for link in links]


def _table_dataflows(target: AlationTarget, keys: Sequence[str], advance: Advance) -> tuple[list[str], int]:
    """The external ids of the dataflows the lineage of each table key goes through, and the number of
    direct paths (through no dataflow) seen, which no process can hold."""
    found: dict[str, str] = {}
    direct = 0
    what = f"target {target.name!r}: GET {LINEAGE}"
    for n, key in enumerate(keys, 1):
        try:
            response = target._call("GET", LINEAGE, params={"otype": "table", "oid": key, "keyField": "key"})
        except AuthError:
            raise
        except TerminalTargetError as exc:  # e.g. a key Alation does not know
            raise TerminalTargetError(f"the lineage of table {key} could not be read ({exc}); check the key: "
                                      "<ds id>.<schema>.<table>, with the database for multi-database sources") from exc
        for path in http.expect_shape(http.expect_shape(response.json() or {}, dict, what).get("paths") or [],
                                      list, what):
            flows = [k for seg in (path[1:-1] if isinstance(path, list) else []) for o, k in _objects(seg)
                     if o == "dataflow"]
            direct += not flows
            for flow in flows:
                found.setdefault(flow.casefold(), flow)
        advance(n, len(keys))
    return list(found.values()), direct


def _selected(target: AlationTarget, config: TargetConfig, selection: ImportSelection,
              advance: Advance) -> tuple[list[str], list[str]]:
    """The external ids the selectors name, and notes on what they could not name."""
    if not set(SELECTORS) & set(selection.filters):
        raise ConfigError(
            f"target {config.name!r} (alation): Alation documents no API that lists every dataflow, so name what "
            "to import: --filter external_id_prefix=[PREFIX] (this project's dataflows as its state records them), "
            "--filter dataflow=<external id>[,...] or --filter table=<ds id>.<schema>.<table>[,...]")
    eids: list[str] = [_external_id(v) for v in _values(selection, "dataflow", config)]
    notes: list[str] = []
    if "external_id_prefix" in selection.filters:
        prefix = selection.filters["external_id_prefix"].strip().strip("/") or target.prefix
        head = f"{_external_id(prefix)}/".casefold()
        known = sorted({v for v in selection.known_ids.values() if v.casefold().startswith(head)})
        if not known:
            notes.append(f"this project's state records no dataflow of {config.name!r} whose external id starts with "
                         f"{head}; name dataflows with --filter dataflow=... or tables with --filter table=...")
        eids += known
    tables = _values(selection, "table", config)
    if tables:
        flows, direct = _table_dataflows(target, tables, advance)
        eids += flows
        if direct:
            notes.append(f"{direct} path(s) of the named tables go through no dataflow; no process holds them, "
                         "so they are left out")
    unique: dict[str, str] = {}
    for eid in eids:
        unique.setdefault(eid.casefold(), eid)
    return list(unique.values()), notes


def _renamed(proc: Process, eid: str) -> Process:
    """A process whose id another dataflow's already gave (two external ids that sanitise alike):
    its id gets a hash of its external id, which it keeps as its override."""
    digest = hashlib.sha256(eid.encode()).hexdigest()[:12]
    return replace(proc, id=build_process_id(f"{proc.id}-{digest}"), ids=(("alation", eid),))


def read_alation_lineage(config: TargetConfig, selection: ImportSelection, advance: Advance) -> ImportedLineage:
    """The dataflows the selection names, as processes; ConfigError for an unknown filter key, for no
    selector at all, or for a glob where Alation reads by exact key."""
    selection.check(config, FILTER_KEYS)
    target = AlationTarget(config)
    try:
        eids, notes = _selected(target, config, selection, advance)
        flows = _read_dataflows(target, eids, advance)
    finally:
        target.close()
    names = _AssetNames(config, target.keys)
    procs: list[Process] = []
    held: dict[str, HeldProcess] = {}
    resources: dict[str, Current] = {}
    dropped = split = empty = 0
    for flow in flows:
        found, left_out = flow.processes(names, target.prefix, config.name)
        dropped += left_out
        empty += not found
        split += len(found) > 1
        for proc in (p for p in found if selection.keeps(p)):
            proc = _renamed(proc, flow.eid) if proc.id in held else proc
            procs.append(proc)
            held[proc.id] = HeldProcess(flow.eid)
            if len(found) == 1:
                resources[process_address(proc)] = Current(process_address(proc), "process", flow.eid)
    missing = len(eids) - len(flows)
    if missing:
        notes.append(f"{missing} named dataflow(s) are not in Alation")
    if empty:
        notes.append(f"{empty} dataflow(s) have no table-level paths; they are left out")
    if split:
        notes.append(f"{split} dataflow(s) link inputs to outputs unevenly; each is written as one process per "
                     "output, which the next plan creates as new dataflows")
    if dropped:
        notes.append(f"{dropped} column link(s) left out: their tables are not an input and an output of the process")
    if any(p.columns for p in procs):
        notes.append("Alation keeps no column transforms: imported column mappings have none")
    return ImportedLineage(Lineage.build(procs), held, tuple(notes), resources)
