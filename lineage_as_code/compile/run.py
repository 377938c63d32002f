"""The side-effecting ends of ``lac compile``: read a dbt manifest (and catalog) or OpenLineage
events, compile them with the pure builders beside this module, and write one YAML manifest per
output file. dbt's per-model SQL work runs in a process pool across cores when there is enough of it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..model import Process
from ..sources import write_object
from .dbt import ColumnJob, ColumnResult, build_dbt_project, read_dbt_artifact
from .openlineage import build_openlineage_processes, read_events
from .writer import build_manifest_yaml

POOL_THRESHOLD = 64  # fewer models than this compile faster in one process than a pool starts


@dataclass(frozen=True)
class CompileReport:
    """What a compile wrote: file paths, counts, what the input was, and notes on what was left out."""

    paths: tuple[str, ...]
    processes: int
    column_edges: int
    compiled_from: str
    notes: tuple[str, ...]


def write_manifests(out_dir: str, files: Mapping[str, tuple[Process, ...]], compiled_from: str) -> tuple[str, ...]:
    """Write each file's processes as a YAML manifest under ``out_dir``; return the paths written."""
    paths = []
    for name, processes in sorted(files.items()):
        path = f"{out_dir.rstrip('/')}/{name}"
        write_object(path, build_manifest_yaml(processes, compiled_from))
        paths.append(path)
    return tuple(paths)


def _report(paths: tuple[str, ...], files: Mapping[str, tuple[Process, ...]], compiled_from: str,
            notes: tuple[str, ...]) -> CompileReport:
    procs = [p for group in files.values() for p in group]
    return CompileReport(paths, len(procs), sum(len(m.sources) for p in procs for m in p.columns), compiled_from,
                         notes)


def write_dbt_manifests(manifest_path: str, out_dir: str, catalog_path: str | None = None, columns: bool = True,
                        workers: int | None = None) -> CompileReport:
    """Compile a dbt ``manifest.json`` into manifests under ``out_dir``; raise CompileError/SourceError.

    ``workers`` processes trace column lineage (default: one per core; 1 runs in this process).
    """
    manifest = read_dbt_artifact(manifest_path, "manifest")
    catalog = read_dbt_artifact(catalog_path, "catalog") if catalog_path else None
    workers = workers or os.cpu_count() or 1
    models = sum(1 for n in (manifest.get("nodes") or {}).values() if n.get("resource_type") == "model")
    if workers <= 1 or not columns or models < POOL_THRESHOLD:
        project = build_dbt_project(manifest, catalog, columns)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            chunk = max(1, min(64, models // (workers * 8)))

            def mapper(fn: Callable[[ColumnJob], ColumnResult], jobs: Iterable[ColumnJob]) -> Iterable[Any]:
                return pool.map(fn, jobs, chunksize=chunk)

            project = build_dbt_project(manifest, catalog, columns, mapper)
    paths = write_manifests(out_dir, project.files, project.compiled_from)
    return _report(paths, project.files, project.compiled_from, project.notes)


def write_openlineage_manifests(events_path: str, out_dir: str) -> CompileReport:
    """Compile OpenLineage events (JSON Lines) into manifests under ``out_dir``; raise CompileError."""
    files, notes = build_openlineage_processes(read_events(events_path))
    compiled_from = f"OpenLineage events {os.path.basename(events_path)}"
    paths = write_manifests(out_dir, files, compiled_from)
    return _report(paths, files, compiled_from, notes)
