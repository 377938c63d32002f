"""Import reader for Google Cloud Data Lineage: the processes of a project and location, their runs'
lineage events, table and column links.

Lists go through the Google target's own client (retries, 429, token refresh) and follow
``nextPageToken``; the runs and events of the processes are read in parallel (``max_parallel``).
A fully qualified name maps back to ``platform:database.schema.name`` by inverting the target's
FQN rules (``custom:platform.database.schema.name``, ``bigquery:project.dataset.table``, ...);
an FQN the rules would not give back keeps itself as an ``ids: {google: ...}`` override. A process
this tool wrote gives back its manifest id, description, SQL, owner and attributes; one written by
another tool is named after its Data Lineage id and, when its table links are not every input to
every output, split into one process per output. Google keeps no column transforms.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

from ...compile.writer import build_process_id
from ...config import TargetConfig
from ...manifest.refs import RefError, split_ref
from ...model import Asset, ColumnMapping, ColumnRef, Lineage, Process, SourceLocation, freeze_mapping
from ..importers import PARSED_FILTER_KEYS, Advance, HeldProcess, ImportedLineage, ImportSelection
from .client import GoogleTarget
from .translate import GOOGLE_SYSTEMS, asset_fqn, google_id

_ID_OK = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,199}")
_OWN_ATTRIBUTES = ("lac_process_id", "lac_manifest", "description", "sql", "owner")
Link = dict[str, Any]


def build_asset(fqn: str, target_name: str) -> Asset:
    """The asset Google knows by ``fqn``: inverted from the target's FQN rules, else kept as an override."""
    system, _, rest = fqn.partition(":")
    try:
        kind, segments = split_ref(rest)
    except RefError:
        kind, segments = None, []
    candidate: Asset | None = None
    if system == "custom" and kind is None and len(segments) == 4:
        candidate = Asset(segments[0], segments[1], segments[2], segments[3])
    elif system in GOOGLE_SYSTEMS and len(segments) == 3:
        candidate = Asset(system, segments[0], segments[1], segments[2], kind or "table")
    if candidate is not None and asset_fqn(candidate, target_name) == fqn:
        return candidate
    return Asset(system or "google", "", "", rest or fqn, ids=(("google", fqn),))


def _table_and_column(ref: Mapping[str, Any]) -> tuple[str, str]:
    fields = ref.get("field") or []
    return str(ref.get("fullyQualifiedName", "")), str(fields[0]) if fields else ""


def _identity(process: Mapping[str, Any], origin: Mapping[str, Any]) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The manifest id of a listed process and its ``ids`` override ('' when the name derives from it)."""
    attrs = process.get("attributes") or {}
    own = (process.get("origin") or {}) == origin and attrs.get("lac_process_id")
    google = str(process["name"]).rsplit("/", 1)[-1]
    pid = str(attrs["lac_process_id"]) if own else google
    if not _ID_OK.fullmatch(pid):
        pid = build_process_id(pid)
    return pid, () if google_id(pid) == google else (("google", google),)


def _processes(process: Mapping[str, Any], links: list[Link], origin: Mapping[str, Any],
               target_name: str) -> list[Process]:
    """One listed process as manifest processes (several when its table links are not a full product)."""
    pid, ids = _identity(process, origin)
    attrs = {str(k): str(v) for k, v in (process.get("attributes") or {}).items()}
    own = (process.get("origin") or {}) == origin and "lac_process_id" in attrs
    extra = {k: v for k, v in attrs.items() if not (own and k in _OWN_ATTRIBUTES)}
    assets: dict[str, Asset] = {}

    def asset(fqn: str) -> Asset:
        return assets.setdefault(fqn, build_asset(fqn, target_name))

    pairs = list(dict.fromkeys((link["source"]["fullyQualifiedName"], link["target"]["fullyQualifiedName"])
                               for link in links if not link["source"].get("field")))
    inputs = list(dict.fromkeys(s for s, _ in pairs))
    outputs = list(dict.fromkeys(t for _, t in pairs))
    groups = [(inputs, outputs)] if len(pairs) == len(inputs) * len(outputs) else \
        [([s for s, t in pairs if t == o], [o]) for o in outputs]
    out = []
    for n, (ins, outs) in enumerate(groups):
        columns: dict[ColumnRef, list[ColumnRef]] = {}
        for link in links:
            (src, src_col), (tgt, tgt_col) = _table_and_column(link["source"]), _table_and_column(link["target"])
            if src_col and tgt_col and tgt in outs and src in ins:
                columns.setdefault(ColumnRef(asset(tgt).key, tgt_col), []).append(ColumnRef(asset(src).key, src_col))
        out.append(Process(
            id=pid if len(groups) == 1 else f"{pid}.{n}", name=str(process.get("displayName") or pid),
            inputs=tuple(asset(f) for f in ins), outputs=tuple(asset(f) for f in outs),
            description=attrs.get("description", "") if own else "", sql=attrs.get("sql", "") if own else "",
            owner=attrs.get("owner", "") if own else "", attributes=freeze_mapping(extra),
            columns=tuple(ColumnMapping(tuple(dict.fromkeys(srcs)), tgt) for tgt, srcs in columns.items()),
            ids=ids if len(groups) == 1 else (), source=SourceLocation(f"{target_name}:{process['name']}")))
    return out


def read_google_lineage(config: TargetConfig, selection: ImportSelection, advance: Advance) -> ImportedLineage:
    """Every process of the target's project and location that ``selection`` keeps, with its links."""
    selection.check(config, PARSED_FILTER_KEYS)
    target = GoogleTarget(config)
    done = [0]
    lock = threading.Lock()
    try:
        listed = target._list(f"{target.names.parent}/processes", "processes")

        def links_of(process: Mapping[str, Any]) -> list[Link]:
            links = [link for run in target._list(f"{process['name']}/runs", "runs")
                     for event in target._list(f"{run['name']}/lineageEvents", "lineageEvents")
                     for link in event.get("links", [])]
            with lock:
                done[0] += 1
                advance(done[0], len(listed))
            return links

        all_links = target._http().map(links_of, listed)
    finally:
        target.close()
    origin = target.names.origin()
    procs: list[Process] = []
    held: dict[str, HeldProcess] = {}
    for process, links in zip(listed, all_links, strict=True):
        for proc in _processes(process, links, origin, config.name):
            if proc.inputs and proc.outputs and selection.keeps(proc) and proc.id not in held:
                procs.append(proc)
                held[proc.id] = HeldProcess(str(process["name"]))
    notes = ("Google Cloud Data Lineage keeps no column transforms: imported column mappings have none",) \
        if any(p.columns for p in procs) else ()
    return ImportedLineage(Lineage.build(procs), held, notes)
