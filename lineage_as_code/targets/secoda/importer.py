"""Import reader for Secoda: the manual lineage of a workspace, table and column edges.

Rows are listed page by page (``GET /api/v1/lineage/manual/``) and their ends looked up in the
resource catalog by UUID (``lookup_chunk_size`` per request, in parallel), all through the Secoda
target's own client (rate limit, 429 ``Retry-After``, 5xx retries). Secoda has no process object,
so the edges into each downstream table become one process, ``secoda.<table key>``, whose inputs are
its upstream tables; column edges join the process of their downstream table. A table's
``title_full`` (``database.schema.name``) and integration give back its key; a title that does not
split into three parts keeps the table's UUID as an ``ids: {secoda: ...}`` override. Secoda holds
no ownership marker of this tool. Automatic (integration-made) lineage is not read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...compile.writer import build_process_id
from ...config import TargetConfig
from ...model import Asset, ColumnMapping, ColumnRef, Lineage, Process, SourceLocation
from ..importers import PARSED_FILTER_KEYS, Advance, HeldProcess, ImportedLineage, ImportSelection
from .client import CATALOG, MANUAL, SecodaTarget
from .translate import row_pair

Resource = dict[str, Any]


def _table(resource: Mapping[str, Any]) -> Asset:
    parts = str(resource.get("title_full") or "").split(".")
    platform = str(resource.get("integration_type") or "secoda")
    if len(parts) == 3 and all(parts):
        return Asset(platform, parts[0], parts[1], parts[2])
    return Asset(platform, "", "", str(resource.get("title") or resource["id"]), ids=(("secoda", str(resource["id"])),))


def _read(target: SecodaTarget, advance: Advance) -> tuple[list[tuple[str, str]], dict[str, Resource]]:
    """Every manual (upstream, downstream) pair and the catalog resources of their ends and parents."""
    pairs = []
    for n, row in enumerate(target._pages(MANUAL, {}), 1):
        pair = row_pair(row)
        if pair is not None:
            pairs.append(pair)
        advance(n, n)
    resources: dict[str, Resource] = {}
    wanted = sorted({end for pair in pairs for end in pair})
    while wanted:
        chunks = [wanted[i:i + target.chunk] for i in range(0, len(wanted), target.chunk)]
        pages = target._client().map(lambda chunk: list(target._pages(CATALOG, {"filter": _id_filter(chunk)})),
                                     chunks)
        for page in pages:
            resources.update({str(r["id"]): r for r in page})
        # the tables of columns, once
        wanted = sorted({str(r["parent_id"]) for r in resources.values() if r.get("parent_id")} - set(resources))
    return list(dict.fromkeys(pairs)), resources


def _id_filter(chunk: list[str]) -> str:
    return '{"operator":"in","field":"id","value":[' + ",".join(f'"{c}"' for c in chunk) + "]}"


def read_secoda_lineage(config: TargetConfig, selection: ImportSelection, advance: Advance) -> ImportedLineage:
    """The manual lineage Secoda holds, one process per downstream table, that ``selection`` keeps."""
    selection.check(config, PARSED_FILTER_KEYS)
    target = SecodaTarget(config)
    try:
        pairs, resources = _read(target, advance)
    finally:
        target.close()
    tables = {rid: _table(r) for rid, r in resources.items() if not r.get("parent_id")}

    def column(rid: str) -> tuple[Asset, str] | None:
        r = resources.get(rid)
        parent = str(r.get("parent_id") or "") if r else ""
        return (tables[parent], str(r["title"])) if r and parent in tables else None

    inputs: dict[str, dict[str, Asset]] = {}
    outputs: dict[str, Asset] = {}
    for src, dst in pairs:
        if src in tables and dst in tables:
            out = tables[dst]
            outputs[out.key] = out
            inputs.setdefault(out.key, {})[tables[src].key] = tables[src]
    columns: dict[str, dict[ColumnRef, list[ColumnRef]]] = {}
    skipped = 0
    for src, dst in pairs:
        a, b = column(src), column(dst)
        if a is None or b is None:
            continue
        if a[0].key not in inputs.get(b[0].key, {}):
            skipped += 1  # column lineage between tables without table lineage: no process holds it
            continue
        target_ref = ColumnRef(b[0].key, b[1])
        columns.setdefault(b[0].key, {}).setdefault(target_ref, []).append(ColumnRef(a[0].key, a[1]))
    procs = []
    for key, out in sorted(outputs.items()):
        proc = Process(id=build_process_id(f"secoda.{key}"), name=f"Lineage into {out.name}",
                       inputs=tuple(v for _, v in sorted(inputs[key].items())), outputs=(out,),
                       columns=tuple(ColumnMapping(tuple(s), t) for t, s in sorted(columns.get(key, {}).items())),
                       source=SourceLocation(f"{config.name}:{key}"))
        if selection.keeps(proc):
            procs.append(proc)
    notes = [f"{skipped} column edge(s) left out: their tables have no table-level lineage in Secoda"] if skipped \
        else []
    return ImportedLineage(Lineage.build(procs), {p.id: HeldProcess("") for p in procs}, tuple(notes))
