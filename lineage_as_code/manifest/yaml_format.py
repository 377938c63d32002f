"""YAML manifests (``version: 1``): defaults, shorthand refs, aliases, column lineage, id overrides.

``parse_yaml`` turns one file into processes and declared assets plus every Problem found in it,
each at its ``file:line``. A process whose own entry broke the schema is left out of the result
(its problems are reported), so one typo never hides the findings in the rest of the file.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..display import excerpt
from ..errors import Problem
from ..model import (
    Asset,
    AssetTable,
    ColumnBlock,
    ColumnMapping,
    ColumnRef,
    ColumnSlice,
    Process,
    ProcessBlock,
    SourceLocation,
    freeze_mapping,
)
from .refs import RefError, build_asset, parse_asset, split_ref
from .validate import did_you_mean, field_path, is_valid, schema_problems
from .yaml_reader import LineMap, load_yaml, read_yaml_items


@dataclass
class ParsedFile:
    """What one manifest contributes: processes, file-level assets, and problems."""

    processes: list[Process] | ProcessBlock = field(default_factory=list)  # a CSV parser's: a ProcessBlock
    assets: list[Asset] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    compiled_from: str = ""  # set when ``lac compile`` wrote the file: its processes yield to hand-written ones
    warnings: list[Problem] = field(default_factory=list)
    # Set by a parser whose processes come sorted by id, each id once: every asset they touch, each
    # key once, sorted by key. The Lineage of such a file alone is built from them as they are.
    touched: dict[str, Asset] | AssetTable | None = None


class _Mappings:
    """A file's column mappings as one ColumnBlock, filled as its processes are read: each distinct asset
    key, column name and transform kept once, and per mapping the codes of its sources, target and
    transform (a few bytes a mapping, where tuples of named tuples took hundreds). A process's mappings are
    the slice of the block its own added."""

    def __init__(self) -> None:
        self._codes: tuple[dict[str, int], dict[str, int], dict[str, int]] = ({}, {}, {})
        self.keys: list[str] = []
        self.columns: list[str] = []
        self.transforms: list[str] = []
        self.source_key, self.source_column, self.source_at = array("q"), array("q"), array("q", [0])
        self.target_key, self.target_column, self.transform_of = array("q"), array("q"), array("q")
        self.block = ColumnBlock(self.keys, self.columns, self.transforms, source_key=self.source_key,
                                 source_column=self.source_column, source_at=self.source_at,
                                 target_key=self.target_key, target_column=self.target_column,
                                 transform_of=self.transform_of)

    @staticmethod
    def _code(codes: dict[str, int], values: list[str], value: str) -> int:
        code = codes.get(value)
        if code is None:
            code = codes[value] = len(values)
            values.append(value)
        return code

    def add(self, sources: list[ColumnRef], target: ColumnRef, transform: str) -> None:
        keys, columns, transforms = self._codes
        for ref in sources:
            self.source_key.append(self._code(keys, self.keys, ref.asset))
            self.source_column.append(self._code(columns, self.columns, ref.column))
        self.source_at.append(len(self.source_key))
        self.target_key.append(self._code(keys, self.keys, target.asset))
        self.target_column.append(self._code(columns, self.columns, target.column))
        self.transform_of.append(self._code(transforms, self.transforms, transform))

    def since(self, start: int) -> ColumnSlice | tuple[ColumnMapping, ...]:
        """The mappings added since there were ``start``."""
        stop = len(self.target_key)
        return ColumnSlice(self.block, start, stop) if stop > start else ()


class _FileContext:
    def __init__(self, name: str, lines: LineMap, defaults: Mapping[str, str]) -> None:
        self.name = name
        self.mappings = _Mappings()
        self.lines = lines
        self.defaults = defaults
        self.aliases: dict[str, Asset] = {}
        self.declared: dict[str, Asset] = {}
        self.problems: list[Problem] = []
        self.used: set[str] = set()  # aliases referenced, and asset keys any process touches

    def problem(self, path: tuple[str | int, ...], message: str) -> None:
        self.problems.append(Problem(self.name, self.lines.line(path), field_path(path), message))


def _asset_from_entry(entry: Any, ctx: _FileContext, path: tuple[str | int, ...], aliases: dict[str, Asset]) -> Asset | None:
    try:
        if isinstance(entry, str):
            if "." not in entry and ":" not in entry and "`" not in entry:
                return _one_segment(entry, ctx, path, aliases)
            asset = parse_asset(entry, ctx.defaults)
            return ctx.declared.get(asset.key, asset)
        ids = freeze_mapping({str(k): str(v) for k, v in (entry.get("ids") or {}).items()})
        if "ref" in entry:
            platform, segments = split_ref(entry["ref"])
        else:
            platform = entry.get("platform")
            segments = [entry.get("database", ctx.defaults.get("database", "")),
                        entry.get("schema", ctx.defaults.get("schema", "")), entry["name"]]
        asset = build_asset(platform, segments, ctx.defaults, type_=entry.get("type"),
                            connection=entry.get("connection"), ids=ids)
    except RefError as exc:
        ctx.problem(path, str(exc))
        return None
    declared = ctx.declared.get(asset.key)
    if declared is not None and not asset.ids:
        asset = declared
    alias = entry.get("alias")
    if alias:
        if alias in aliases and aliases[alias].key != asset.key:
            ctx.problem((*path, "alias"), f"alias {alias!r} already names {aliases[alias].key}")
        aliases[alias] = asset
    return asset


def _one_segment(entry: str, ctx: _FileContext, path: tuple[str | int, ...], aliases: dict[str, Asset]) -> Asset | None:
    """A reference without a dot or colon is an alias, or an asset declared under ``assets``: read
    as a bare table name it would turn a typo in an alias into a new asset."""
    if entry in aliases:
        ctx.used.add(entry)
        return aliases[entry]
    try:
        declared = ctx.declared.get(parse_asset(entry, ctx.defaults).key)
    except RefError:
        declared = None
    if declared is not None:
        return declared
    ctx.problem(path, f"{excerpt(repr(entry))} is not an alias declared in this file{did_you_mean(entry, aliases)}; "
                      "name an asset as schema.table or platform:database.schema.table")
    return None


class _Candidates:
    """The assets a process's column references may name (its inputs, or its outputs), indexed once per
    process by every trailing run of their segments (``t``, ``s.t``, ``d.s.t``) as the references are
    resolved: a process with many column mappings no longer compares each against every asset."""

    __slots__ = ("_by_suffix", "_keys", "assets")

    def __init__(self, assets: tuple[Asset, ...]) -> None:
        self.assets = assets
        self._by_suffix: dict[tuple[str, ...], list[Asset]] | None = None
        self._keys: set[str] | None = None

    def has(self, asset: Asset) -> bool:
        if self._keys is None:
            self._keys = {a.key for a in self.assets}
        return asset.key in self._keys

    def ending(self, platform: str | None, part: tuple[str, ...]) -> list[Asset]:
        """The assets (in order) whose non-empty segments end with ``part``, on ``platform`` when given."""
        if self._by_suffix is None:
            index: dict[tuple[str, ...], list[Asset]] = {}
            for a in self.assets:
                segments = tuple(s for s in (a.database, a.schema, a.name) if s)
                for k in range(1, len(segments) + 1):
                    index.setdefault(segments[-k:], []).append(a)
            self._by_suffix = index
        return [a for a in self._by_suffix.get(part, ()) if platform is None or a.platform == platform]


def _resolve_column(text: str, candidates: _Candidates, aliases: Mapping[str, Asset],
                    role: str, ctx: _FileContext, path: tuple[str | int, ...]) -> ColumnRef | None:
    try:
        platform, segments = split_ref(text)
    except RefError as exc:
        ctx.problem(path, str(exc))
        return None
    if len(segments) < 2:
        ctx.problem(path, f"{excerpt(repr(text))} names no asset: write <alias or asset>.<column>")
        return None
    *asset_part, column = segments
    if platform is None and len(asset_part) == 1 and asset_part[0] in aliases:
        ctx.used.add(asset_part[0])
        asset = aliases[asset_part[0]]
        if not candidates.has(asset):
            ctx.problem(path, f"alias {asset_part[0]!r} ({asset.key}) is not among the process's {role}")
            return None
        return ColumnRef(asset.key, column)
    matches = candidates.ending(platform, tuple(asset_part))
    if len(matches) == 1:
        return ColumnRef(matches[0].key, column)
    ref = ".".join(asset_part)
    if len(matches) > 1:
        ctx.problem(path, f"{ref!r} matches several {role}: {', '.join(sorted(a.key for a in matches))}")
    elif len(asset_part) == 1 and platform is None:
        ctx.problem(path, f"alias or asset {ref!r} does not resolve to any of the process's {role}"
                          f"{did_you_mean(ref, aliases)}")
    else:
        ctx.problem(path, f"{ref!r} is not among the process's {role}")
    return None


def _process(entry: dict[str, Any], index: int, ctx: _FileContext) -> Process | None:
    base: tuple[str | int, ...] = ("processes", index)
    aliases = dict(ctx.aliases)
    before = len(ctx.problems)
    inputs = [_asset_from_entry(e, ctx, (*base, "inputs", i), aliases) for i, e in enumerate(entry.get("inputs", []))]
    outputs = [_asset_from_entry(e, ctx, (*base, "outputs", i), aliases) for i, e in enumerate(entry.get("outputs", []))]
    if not inputs and entry.get("derive") != "all":
        ctx.problem((*base, "inputs") if "inputs" in entry else base, "process has no inputs")
    if not outputs:
        ctx.problem((*base, "outputs") if "outputs" in entry else base, "process has no outputs")
    ins = tuple(dict.fromkeys(a for a in inputs if a is not None))
    outs = tuple(dict.fromkeys(a for a in outputs if a is not None))
    mappings = ctx.mappings
    first = len(mappings.target_key)
    from_inputs, to_outputs = _Candidates(ins), _Candidates(outs)
    for j, col in enumerate(entry.get("columns", [])):
        cpath = (*base, "columns", j)
        froms = col["from"] if isinstance(col["from"], list) else [col["from"]]
        if isinstance(col["from"], list):
            sources = [_resolve_column(f, from_inputs, aliases, "inputs", ctx, (*cpath, "from", k)) for k, f in enumerate(froms)]
        else:
            sources = [_resolve_column(froms[0], from_inputs, aliases, "inputs", ctx, (*cpath, "from"))]
        target = _resolve_column(col["to"], to_outputs, aliases, "outputs", ctx, (*cpath, "to"))
        if target is not None and all(s is not None for s in sources):
            mappings.add([s for s in sources if s], target, str(col.get("transform", "")))
    if len(ctx.problems) > before:
        return None
    ctx.used.update(a.key for a in (*ins, *outs))
    proc = Process(
        id=entry["id"],
        name=str(entry.get("name") or entry["id"]),
        inputs=ins,
        outputs=outs,
        description=str(entry.get("description", "")),
        sql=str(entry.get("sql", "")),
        owner=str(entry.get("owner", "")),
        attributes=freeze_mapping({str(k): str(v) for k, v in (entry.get("attributes") or {}).items()}),
        columns=mappings.since(first),
        ids=freeze_mapping({str(k): str(v) for k, v in (entry.get("ids") or {}).items()}),
        source=SourceLocation(ctx.name, ctx.lines.line(base)),
        derived_by=str(entry.get("derived_by", "")),
    )
    return _derived(proc, entry, ctx, base) if entry.get("derive") else proc


def _derived(proc: Process, entry: dict[str, Any], ctx: _FileContext, base: tuple[str | int, ...]) -> Process | None:
    """The process with what its SQL says added (``derive: columns|all``); sqlglot loads only here."""
    from ..compile.derive import build_derived_process
    from ..compile.sql import SqlLineageError

    platform = proc.outputs[0].platform if proc.outputs else None
    try:
        derived = build_derived_process(proc, entry["derive"], lambda t: build_asset(platform, list(t), ctx.defaults))
    except (SqlLineageError, RefError) as exc:
        ctx.problem((*base, "sql") if "sql" in entry else (*base, "derive"), str(exc))
        return None
    if not derived.inputs:
        ctx.problem((*base, "sql"), "process has no inputs: its sql reads no table")
        return None
    return derived


def parse_yaml(name: str, data: bytes, defaults: Mapping[str, str] | None = None) -> ParsedFile:
    """Parse one YAML manifest; ``defaults`` (from lac.yaml) sit under the file's own defaults."""
    read = _parse_as_read(name, data, defaults)
    return read if read is not None else _parse_whole(name, data, defaults)


class _Whole(Exception):
    """The file is to be read whole (``_parse_whole``): only that reading reports what was found."""


def _start(name: str, value: dict[str, Any], lines: LineMap, defaults: Mapping[str, str] | None,
           out: ParsedFile) -> _FileContext:
    """The context a file's processes are read in: its defaults over lac.yaml's, its declared assets."""
    out.compiled_from = str(value.get("compiled_from", ""))
    ctx = _FileContext(name, lines, {**(defaults or {}), **(value.get("defaults") or {})})
    for i, entry in enumerate(value.get("assets") or []):
        asset = _asset_from_entry(entry, ctx, ("assets", i), ctx.aliases)
        if asset is not None:
            ctx.declared[asset.key] = asset
            out.assets.append(asset)
    return ctx


def _parse_as_read(name: str, data: bytes, defaults: Mapping[str, str] | None) -> ParsedFile | None:
    """``_parse_whole``'s result for a file whose processes come last and are each valid, each process read
    as soon as its entry is (the entry is then let go: a large file's entries never all exist at once);
    None for any other file, which is then read whole, and only so reported."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    processes: list[Process] = []
    out = ParsedFile(processes)
    contexts: list[_FileContext] = []

    def read(index: int, entry: Any, head: dict[str, Any], lines: LineMap) -> None:
        if not contexts:  # what comes before the processes must be all there is, and valid
            if not is_valid({**head, "processes": []}, "manifest"):
                raise _Whole
            contexts.append(_start(name, head, lines, defaults, out))
        if not is_valid(entry, "manifest", "process"):
            raise _Whole
        proc = _process(entry, index, contexts[0])
        if proc is not None:
            processes.append(proc)

    try:
        value = read_yaml_items(text, "processes", read)
    except Exception:  # noqa: BLE001 - whatever stopped it, the whole reading decides and reports
        return None
    if not contexts or not isinstance(value, dict) or list(value)[-1] != "processes":
        return None  # no process, or keys after them (defaults written after the processes they apply to)
    ctx = contexts[0]
    out.problems.extend(ctx.problems)
    out.warnings.extend(_unused_aliases(value.get("assets") or [], ctx))
    return out


def _parse_whole(name: str, data: bytes, defaults: Mapping[str, str] | None = None) -> ParsedFile:
    """``parse_yaml`` of any file: the document read whole, checked against the schema whole (every
    problem reported), then its processes read."""
    value, lines, problems = load_yaml(name, data)
    processes: list[Process] = []
    out = ParsedFile(processes, problems=list(problems))
    if problems:
        return out
    if value is None:
        out.problems.append(Problem(name, 1, "", "empty manifest: expected 'version: 1' and 'processes'"))
        return out
    schema_errors = schema_problems(value, "manifest", name, lines.line)
    out.problems.extend(schema_errors)
    if not isinstance(value, dict) or any(not p.field.startswith("processes[") for p in schema_errors):
        return out  # only errors inside single processes leave the rest of the file worth checking
    broken = {p.field.split("]")[0] + "]" for p in schema_errors if p.field.startswith("processes[")}
    ctx = _start(name, value, lines, defaults, out)
    entries = value.get("processes") or []
    for i, entry in enumerate(entries):
        entries[i] = None  # each entry let go once read: a large file's values and its processes never all coexist
        if f"processes[{i}]" in broken:
            continue
        proc = _process(entry, i, ctx)
        if proc is not None:
            processes.append(proc)
    out.problems.extend(ctx.problems)
    out.warnings.extend(_unused_aliases(value.get("assets") or [], ctx))
    return out


def _unused_aliases(entries: list[Any], ctx: _FileContext) -> list[Problem]:
    """A warning per asset declared with an alias that no process of the file uses, by alias or
    by reference: usually a typo elsewhere left it orphaned."""
    found = []
    for i, entry in enumerate(entries):
        alias = entry.get("alias") if isinstance(entry, dict) else None
        asset = ctx.aliases.get(alias) if alias else None
        if asset is not None and alias not in ctx.used and asset.key not in ctx.used:
            path = ("assets", i, "alias")
            found.append(Problem(ctx.name, ctx.lines.line(path), field_path(path),
                                 f"alias {alias!r} ({asset.key}) is declared but no process uses it"))
    return found
