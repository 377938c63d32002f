"""``lac import``: the lineage a target holds, written back as native manifests and optionally adopted.

The target's import reader (``targets/importers.py``) returns the lineage; it is written as YAML
(or native CSV) manifests, one file per platform/database/schema of each process's first output,
sorted and formatted stably, so a re-import of an unchanged catalog gives byte-identical files and a
small change a small diff. YAML files carry ``compiled_from: lac import TARGET``; CSV has no place
for it, so the CSV files an import wrote are listed with their mark in ``.lac-import.json`` in the
output folder (hidden: manifest folders skip it). The marks are how a later import knows which files
are its own (it replaces those, removes those no longer produced, and refuses to overwrite anything
else without ``force``). With ``csv``, a process CSV cannot carry exactly (an asset type or
connection, identity overrides) is written to a YAML file beside, and a note says so. ``adopt`` then records in state, under the state lock,
what the target holds exactly as the written manifests declare it, so the next plan of those
manifests has nothing to do; it refuses what another project's ownership marker owns.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from .compile.writer import build_manifest_csv, build_manifest_yaml, csv_limit
from .config import Config, TargetConfig
from .errors import ConfigError, StateError, UsageError
from .model import Lineage, Process, bulk_allocation
from .plan.contract import ASSET, Current, InputHandling, KnownResources, Resource
from .plan.creates import asset_hash
from .project import canonical_file, read_manifests
from .sources import write_object
from .state import State, StateEntry, StateStore, open_state_store
from .targets import open_target
from .targets.importers import Advance, ImportedLineage, parse_filters, read_target_lineage

IMPORT_MARK = "lac import "
RECORD = ".lac-import.json"  # the CSV files an import wrote, with their mark
FORMATS = ("yaml", "csv")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class ImportRequest:
    """What ``lac import`` was asked: the target, the output folder and the switches."""

    target: str
    out: str = "imported"
    owned: bool = False
    adopt: bool = False
    force: bool = False
    filters: tuple[str, ...] = ()
    format: str = "yaml"


@dataclass
class ImportReport:
    """What an import wrote: files, counts, resources adopted into state, and notes."""

    out: str
    paths: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    processes: int = 0
    edges: int = 0
    column_edges: int = 0
    adopted: int = 0
    serial: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (f"{self.processes} processes, {self.edges} edges, {self.column_edges} column edges written to "
                f"{self.out} ({len(self.paths)} file(s))")
        if self.removed:
            text += f"; removed {len(self.removed)} file(s) an earlier import wrote"
        if self.serial:
            text += f"; adopted {self.adopted} resource(s) into state (serial {self.serial})"
        return text


def build_import_files(lineage: Lineage) -> dict[str, tuple[Process, ...]]:
    """Processes grouped by file: ``platform/database/schema.yaml`` of each one's first output."""
    files: dict[str, list[Process]] = {}
    for proc in lineage.processes:
        anchor = (proc.outputs or proc.inputs)[0]
        parts = [_UNSAFE.sub("_", p).lstrip(".") or "_" for p in (anchor.platform, anchor.database, anchor.schema)]
        files.setdefault("/".join(parts) + ".yaml", []).append(proc)
    return {name: tuple(procs) for name, procs in sorted(files.items())}


def _import_mark(path: Path) -> str | None:
    """``compiled_from`` of a manifest an import wrote, else None (any other file, or unreadable)."""
    try:
        doc = yaml.safe_load(path.read_bytes())
    except (OSError, yaml.YAMLError):
        return None
    mark = doc.get("compiled_from") if isinstance(doc, dict) else None
    return mark if isinstance(mark, str) and mark.startswith(IMPORT_MARK) else None


def _read_record(out: Path) -> dict[str, str]:
    """The CSV files the record in ``out`` lists, relative name -> mark ({} when absent or unreadable)."""
    try:
        doc = json.loads((out / RECORD).read_bytes())
    except (OSError, ValueError):
        return {}
    files = doc.get("files") if isinstance(doc, dict) else None
    return {str(n): m for n, m in files.items() if isinstance(m, str) and m.startswith(IMPORT_MARK)} \
        if isinstance(files, dict) else {}


def _marks(out: Path) -> dict[str, str]:
    """Every file in ``out`` an import wrote, relative name -> mark: YAML by its ``compiled_from``, CSV by
    the record."""
    if not out.is_dir():
        return {}
    marks = {p.relative_to(out).as_posix(): m for p in sorted(out.rglob("*.yaml")) if (m := _import_mark(p))}
    marks.update({n: m for n, m in _read_record(out).items() if n.endswith(".csv") and (out / n).is_file()})
    return marks


def _check_out(out: Path, names: Sequence[str], mark: str, force: bool) -> list[Path]:
    """The files an earlier import of this target wrote that this one will not; UsageError for a file in
    the way that is not import output (unless ``force``)."""
    marks = _marks(out)
    blocked = [n for n in names if (out / n).exists() and n not in marks]
    if blocked and not force:
        raise UsageError(f"{out}: {len(blocked)} file(s) that lac import did not write would be overwritten "
                         f"({', '.join(blocked[:3])}); choose another --out folder or add --force")
    return [out / n for n, m in sorted(marks.items()) if m == mark and n not in names]


def build_import_contents(lineage: Lineage, fmt: str, mark: str, separator: str) -> tuple[dict[str, bytes], str]:
    """The bytes of every file an import writes, by relative name, and a note on processes that went to
    YAML because CSV cannot carry them ('' when none did)."""
    contents: dict[str, bytes] = {}
    kept: list[tuple[str, str]] = []
    for name, procs in build_import_files(lineage).items():
        carried = [p for p in procs if fmt == "csv" and not csv_limit(p)]
        rest = [p for p in procs if p not in carried]
        kept += [(p.id, csv_limit(p)) for p in rest if fmt == "csv"]
        if carried:
            contents[name[:-len(".yaml")] + ".csv"] = build_manifest_csv(carried, separator)
        if rest:
            contents[name] = build_manifest_yaml(rest, mark, verbatim=True)
    note = "" if not kept else (f"{len(kept)} process(es) written as YAML: CSV cannot carry them exactly "
                                f"(e.g. {kept[0][0]}: {kept[0][1]})")
    return dict(sorted(contents.items())), note


def _write_record(out: Path, mark: str, names: Sequence[str]) -> None:
    """List this import's CSV files in the record, keeping other imports' entries for files still there."""
    record = {n: m for n, m in _read_record(out).items() if m != mark and (out / n).is_file()}
    record.update({n: mark for n in names if n.endswith(".csv")})
    if record:
        doc = {"about": "CSV manifests lac import wrote (CSV has no place to say so)", "files": dict(sorted(record.items()))}
        write_object((out / RECORD).as_posix(), (json.dumps(doc, indent=1) + "\n").encode())
    elif (out / RECORD).exists():
        (out / RECORD).unlink()


def _select(imported: ImportedLineage, state: State, request: ImportRequest) -> tuple[Lineage, list[str]]:
    """The processes to write; StateError when ``adopt`` meets another project's marker."""
    held = imported.held
    procs = list(imported.lineage.processes)
    notes = list(imported.notes)
    if request.owned:
        procs = [p for p in procs if state.lineage and held[p.id].owner == state.lineage]
        if not state.lineage:
            notes.append("the state has no lineage id yet, so nothing carries this project's marker (--owned)")
    others = sorted({held[p.id].owner for p in procs if held[p.id].owner not in ("", state.lineage)})
    if request.adopt and others:
        count = sum(1 for p in procs if held[p.id].owner in others)
        raise StateError(f"{count} process(es) carry another project's ownership marker ({', '.join(others)}); "
                         "this project will not adopt them. Import with --owned, without --adopt, or filter them "
                         "out; if they are this project's and its state was lost, run 'lac state rebuild'")
    return Lineage.build(procs), notes


def _adoptable(res: Resource, held: Current | None, entry: StateEntry | None, lineage: str,
               tc: TargetConfig) -> bool:
    """Whether the target holds ``res`` exactly as declared, and it is this project's to record."""
    if held is None or (held.owner and held.owner != lineage):
        return False
    if res.kind != ASSET:
        return held.hash == res.hash
    mode = tc.policy.input_handling
    partial = held.partial if mode is InputHandling.UPDATE else mode is InputHandling.PARTIAL
    ours = entry is not None or bool(lineage and held.owner == lineage)
    return ours and held.hash == asset_hash(res, partial)


def write_adoption(config: Config, tc: TargetConfig, paths: Sequence[str], store: StateStore,
                   found: Mapping[str, Current]) -> tuple[int, int, list[str]]:
    """Record in state, under its lock, the resources of the manifests at ``paths`` that the target holds
    as declared (``found``: what the import found, by address, for targets that read by vendor id);
    return (resources adopted, new serial, addresses of processes not adopted)."""
    lock = store.lock("import --adopt")
    try:
        with ExitStack() as stack, bulk_allocation():
            state = store.read()
            lineage = read_manifests(config, list(paths)).lineage
            target = open_target(tc)
            stack.callback(target.close)
            resources = target.translate(lineage)
            entries = state.entries(tc.name)
            current = target.read(resources, {**found, **KnownResources(entries)}, True)
            root = str(config.root)
            put: dict[str, StateEntry] = {}
            content: dict[str, Mapping[str, object]] = {}  # what the adopted resources hold: as declared
            missed: list[str] = []
            for res in resources:
                held = current.get(res.address)
                if held is None or not _adoptable(res, held, entries.get(res.address), state.lineage, tc):
                    missed += [] if res.kind == ASSET else [res.address]
                    continue
                edges = () if res.kind == ASSET else res.edges
                put[res.address] = StateEntry(held.kind, held.id, held.hash or "", held.partial, edges,
                                              canonical_file(res.file, root))
                if held.hash:
                    content[held.hash] = {**res.body, "partial": held.partial} if res.kind == ASSET else res.body
            if not put:
                return 0, state.serial, missed
            updated = state.updated(tc.name, put, set(), content)
            store.write(updated, expected_serial=state.serial)
            return len(put), updated.serial, missed
    finally:
        store.unlock(lock)


def _has_marker(tc: TargetConfig) -> bool:
    target = open_target(tc)
    target.close()
    return target.capabilities.ownership_marker


def write_import(config: Config, request: ImportRequest, advance: Advance) -> ImportReport:
    """Read what the target holds, write it as manifests under ``request.out`` and, with ``adopt``,
    record it in state. Raises ConfigError (no reader, unknown target), UsageError (files in the
    way), StateError (another project's marker under ``adopt``) and the target's errors."""
    tc = config.select([request.target])[0]
    if request.owned and not _has_marker(tc):
        raise ConfigError(f"target {tc.name!r} ({tc.type}) writes no ownership marker, so --owned would find "
                          "nothing; import with --all (the default) and a --filter")
    if request.format not in FORMATS:
        raise UsageError(f"--format {request.format}: lac import writes {' or '.join(FORMATS)}")
    store = open_state_store(config.state_path)
    state = store.read()
    known = {a: e.id for a, e in state.entries(tc.name).items() if e.kind != ASSET}
    selection = replace(parse_filters(list(request.filters)), known_ids=known)
    imported = read_target_lineage(tc, selection, advance)
    lineage, notes = _select(imported, state, request)
    mark = f"{IMPORT_MARK}{tc.name}"
    files, kept = build_import_contents(lineage, request.format, mark, config.field_separator or ",")
    notes += [kept] if kept else []
    out = Path(request.out)
    stale = _check_out(out, list(files), mark, request.force)
    report = ImportReport(request.out, notes=notes, processes=len(lineage.processes), edges=lineage.edge_count,
                          column_edges=lineage.column_edge_count)
    for name, data in files.items():
        path = (out / name).as_posix()
        write_object(path, data)
        report.paths.append(path)
    for old in stale:
        old.unlink()
        report.removed.append(old.as_posix())
    if any(n.endswith(".csv") for n in files) or (out / RECORD).exists():
        _write_record(out, mark, list(files))
    if request.adopt and report.paths:
        report.adopted, report.serial, missed = write_adoption(config, tc, report.paths, store,
                                                               imported.resources)
        if missed:
            notes.append(f"{len(missed)} process(es) were not adopted because the target holds them differently "
                         f"than the manifests declare them (e.g. {missed[0]}): the next plan shows them")
    return report

