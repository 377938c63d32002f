"""OpenLineage events (JSON Lines: RunEvents and JobEvents) -> processes: one per job, from the
latest event of that job that names any dataset, with inputs, outputs and the ``columnLineage``
facet of its outputs as column mappings.

A dataset's platform is its namespace's scheme (``postgres://db:5432`` -> ``postgres``) or the
namespace itself (``bigquery``); object-store datasets (``s3://bucket`` + ``/path``) become file
assets in their bucket; table names split into database, schema and name. Pure except
``read_events``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import CompileError
from ..model import Asset, ColumnMapping, ColumnRef, Process, freeze_mapping
from .writer import build_process_id

FILE_SCHEMES = frozenset({"s3", "s3a", "gs", "gcs", "abfss", "wasbs", "az", "file", "hdfs", "dbfs"})


@dataclass(frozen=True)
class Event:
    """One decoded event line: where it was, when it happened, and its JSON."""

    line: int
    time: datetime
    body: Mapping[str, Any]


def read_events(path: str) -> list[Event]:
    """Decode a JSON Lines file of OpenLineage events; raise CompileError naming the bad line."""
    try:
        with open(path, encoding="utf-8") as handle:
            return list(build_events(handle, path))
    except OSError as exc:
        raise CompileError(f"cannot read the OpenLineage events {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise CompileError(f"{path} is not UTF-8 text ({exc.reason})") from exc


def build_events(lines: Iterable[str], name: str) -> Iterator[Event]:
    """Events from JSON Lines text; blank lines are skipped, anything else must be an event."""
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CompileError(f"{name}:{number}: not JSON ({exc.msg})") from exc
        if not isinstance(body, dict) or "eventTime" not in body:
            raise CompileError(f"{name}:{number}: not an OpenLineage event (no eventTime)")
        if "job" not in body:
            continue  # a DatasetEvent: no job, so no process
        try:
            time = datetime.fromisoformat(str(body["eventTime"]))
        except ValueError as exc:
            raise CompileError(f"{name}:{number}: eventTime {body['eventTime']!r} is not an ISO 8601 time") from exc
        if time.tzinfo is None:
            raise CompileError(f"{name}:{number}: eventTime {body['eventTime']!r} has no time zone")
        yield Event(number, time, body)


def build_dataset_asset(namespace: str, name: str) -> Asset:
    """The asset an OpenLineage dataset (namespace, name) names."""
    scheme, sep, authority = namespace.partition("://")
    platform = scheme if sep else namespace
    if platform.lower() in FILE_SCHEMES:
        return Asset(platform=platform, database=authority.strip("/"), schema="", name=name, type="file")
    parts = name.split(".")
    if len(parts) > 3:
        parts = [".".join(parts[:-2]), parts[-2], parts[-1]]
    database, schema, table = ["", "", *parts][-3:]
    return Asset(platform=platform, database=database, schema=schema, name=table)


def _asset(dataset: Mapping[str, Any]) -> Asset:
    return build_dataset_asset(str(dataset.get("namespace", "")), str(dataset.get("name", "")))


def _columns(outputs: list[Mapping[str, Any]], inputs: list[Asset]) -> list[ColumnMapping]:
    mappings = []
    for dataset in outputs:
        target = _asset(dataset)
        fields = ((dataset.get("facets") or {}).get("columnLineage") or {}).get("fields") or {}
        for column, spec in sorted(fields.items()):
            sources = []
            for field in spec.get("inputFields") or []:
                source = _asset(field)
                if source not in inputs:
                    inputs.append(source)  # a column read from a dataset the event did not list
                sources.append(ColumnRef(source.key, str(field.get("field", ""))))
            if sources:
                mappings.append(ColumnMapping(tuple(dict.fromkeys(sources)), ColumnRef(target.key, column),
                                              str(spec.get("transformationDescription") or "")))
    return mappings


def _process(event: Event) -> Process | None:
    job = event.body["job"]
    facets = job.get("facets") or {}
    inputs = [_asset(d) for d in event.body.get("inputs") or []]
    outputs_json = list(event.body.get("outputs") or [])
    outputs = [_asset(d) for d in outputs_json]
    mappings = _columns(outputs_json, inputs)
    if not inputs or not outputs:
        return None
    owners = (facets.get("ownership") or {}).get("owners") or [{}]
    job_type = facets.get("jobType") or {}
    attributes = {"openlineage_namespace": str(job.get("namespace", "")), "openlineage_job": str(job.get("name", "")),
                  "openlineage_event_time": event.time.isoformat()}
    attributes.update({f"openlineage_{k}": str(v) for k, v in job_type.items() if not k.startswith("_") and v})
    return Process(
        id=build_process_id(f"{job.get('namespace', '')}.{job.get('name', '')}"),
        name=str(job.get("name") or "job"),
        inputs=tuple(sorted(set(inputs), key=lambda a: a.key)),
        outputs=tuple(sorted(set(outputs), key=lambda a: a.key)),
        description=str((facets.get("documentation") or {}).get("description") or ""),
        sql=str((facets.get("sql") or {}).get("query") or ""),
        owner=str(owners[0].get("name") or ""),
        attributes=freeze_mapping(attributes),
        columns=tuple(mappings),
    )


def build_openlineage_processes(events: Iterable[Event]) -> tuple[dict[str, tuple[Process, ...]], tuple[str, ...]]:
    """Processes per output file (one file per job namespace) and notes on jobs left out.

    The same job seen in many runs is one process, built from its latest event that names any
    dataset (later lines win ties); events that name none (e.g. a bare COMPLETE) change nothing.
    """
    latest: dict[tuple[str, str], Event] = {}
    for event in events:
        job = event.body["job"]
        if not (event.body.get("inputs") or event.body.get("outputs")):
            continue
        key = (str(job.get("namespace", "")), str(job.get("name", "")))
        if key not in latest or (event.time, event.line) >= (latest[key].time, latest[key].line):
            latest[key] = event
    files: dict[str, list[Process]] = {}
    notes = []
    for (namespace, name), event in sorted(latest.items()):
        proc = _process(event)
        if proc is None:
            notes.append(f"line {event.line}: job {namespace}/{name} has no inputs or no outputs; left out")
            continue
        files.setdefault(f"openlineage_{build_process_id(namespace)}.yaml", []).append(proc)
    return {k: tuple(sorted(v, key=lambda p: p.id)) for k, v in sorted(files.items())}, tuple(notes)
