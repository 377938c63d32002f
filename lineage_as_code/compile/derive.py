"""SQL-derived lineage inside manifests: a process with ``sql:`` and ``derive: columns`` gets its
column mappings from the SQL, and with ``derive: all`` its inputs too; ``build_sql_findings`` says
where the declared inputs and the SQL disagree (``lac validate --check-sql``).

Both are pure: the manifest layer calls ``build_derived_process`` once per deriving process while it
builds the Lineage, with a function that turns a table name into an Asset under that file's
defaults. The dialect comes from the platform of the process's first output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

from ..errors import Problem
from ..model import Asset, ColumnMapping, ColumnRef, Lineage, Process
from .sql import DERIVED_BY, SqlLineage, SqlLineageError, TableName, build_sql_lineage, dialect_for

DERIVE_MODES = ("columns", "all")


def _segments(asset: Asset) -> list[str]:
    return [p.lower() for p in (asset.database, asset.schema, asset.name) if p]


def match_table(table: TableName, assets: Iterable[Asset]) -> Asset | None:
    """The one asset whose trailing segments equal ``table``'s (case-insensitive), if exactly one."""
    wanted = [p.lower() for p in table]
    found = [a for a in assets if _segments(a)[-len(wanted):] == wanted]
    return found[0] if len(found) == 1 else None


def _dialect(proc: Process) -> str | None:
    return dialect_for(proc.outputs[0].platform) if proc.outputs else None


def _target(read: SqlLineage, outputs: tuple[Asset, ...]) -> Asset | None:
    for table in read.writes:
        asset = match_table(table, outputs)
        if asset is not None:
            return asset
    return outputs[0] if len(outputs) == 1 else None


def build_derived_process(proc: Process, mode: str, asset_for: Callable[[TableName], Asset]) -> Process:
    """``proc`` with what its SQL says added: column mappings (``columns``) and inputs (``all``).

    Declared inputs and mappings stay; a derived mapping whose target column is declared is dropped.
    ``asset_for`` names a table the SQL reads that no input lists. Raises SqlLineageError.
    """
    if not proc.sql.strip():
        raise SqlLineageError("derive needs the process's sql")
    read = build_sql_lineage(proc.sql, _dialect(proc))
    inputs = list(proc.inputs)
    if mode == "all":
        for table in read.reads:
            if match_table(table, inputs) is None:
                inputs.append(asset_for(table))
    target = _target(read, proc.outputs)
    declared = {m.target for m in proc.columns}
    mappings = list(proc.columns)
    if target is not None:
        for flow in read.columns:
            sources = [ColumnRef(a.key, col) for table, col in flow.sources
                       if (a := match_table(table, inputs)) is not None]
            to = ColumnRef(target.key, flow.target)
            if sources and to not in declared:
                mappings.append(ColumnMapping(tuple(dict.fromkeys(sources)), to, flow.transform))
    return replace(proc, inputs=tuple(dict.fromkeys(inputs)), columns=tuple(mappings), derived_by=DERIVED_BY)


def build_sql_findings(lineage: Lineage) -> list[Problem]:
    """Where a process's ``sql`` and its declared inputs disagree, one Problem per table, at the process's line."""
    problems = []
    for proc in lineage.processes:
        if not proc.sql.strip():
            continue
        where = proc.source
        try:
            read = build_sql_lineage(proc.sql, _dialect(proc), columns=False)
        except SqlLineageError as exc:
            problems.append(Problem(where.file, where.line, "sql", f"process {proc.id!r}: {exc}"))
            continue
        for table in read.reads:
            if match_table(table, proc.inputs) is None:
                problems.append(Problem(where.file, where.line, "",
                                        f"sql reads {'.'.join(table)}, which inputs do not list"))
        tables = list(read.reads)
        for asset in proc.inputs:
            if not any(_segments(asset)[-len(t):] == [p.lower() for p in t] for t in tables):
                problems.append(Problem(where.file, where.line, "",
                                        f"inputs list {asset.key}, which sql does not read"))
    return problems
