"""Alation's wire shapes, pure: object keys from assets, paths and their links, the content digest
a plan compares with a read-back, and the per-object problems of a job result. No I/O."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...errors import ConfigError
from ...model import Asset
from ...plan.model import Action, Change
from ..base import content_hash

LINEAGE = "/integration/v2/lineage/"
DATAFLOW = "/integration/v2/dataflow/"
TABLES = "/integration/v2/table/"
COLUMNS = "/integration/v2/column/"
JOB = "/api/v1/bulk_metadata/job/"
CREATE_TOKEN = "/integration/v1/createAPIAccessToken/"
DEFAULT_TOKEN_ENV = "ALATION_TOKEN"
NO_MARKER_NOTE = ("Alation documents no dataflow field that can carry an ownership marker: a lost state file "
                  "cannot be rebuilt from Alation ('lac state rebuild'); back the state up")
OTYPES = frozenset({"dataflow", "table", "column", "file", "directory", "bi_report", "bi_report_column",
                    "bi_datasource", "bi_datasource_column", "external"})
TABLE_TYPES = frozenset({"table", "view", "materialized_view", "external_table"})
FILE_TYPES = {"file": "file", "directory": "directory", "folder": "directory"}
# Alation requires the database in keys of these sources (a data source spans databases).
MULTI_DATABASE_PLATFORMS = frozenset({"sqlserver", "mssql", "redshift", "netezza"})
JOB_ENDED = frozenset({"successful", "failed", "partially_successful"})
AUTH_STATUSES = (401, 403)
OK_STATUSES = (200, 201, 202, 204)

Link = tuple[str, str, str, str]  # source otype, source key, target otype, target key (keys casefolded)


@dataclass(frozen=True)
class ObjectRef:
    """An Alation object as a lineage path names it."""

    otype: str
    key: str

    @classmethod
    def parse(cls, text: str) -> ObjectRef:
        """``<otype>:<key>`` when the prefix is an Alation otype, else a table key."""
        otype, sep, rest = text.partition(":")
        return cls(otype, rest) if sep and otype in OTYPES else cls("table", text)

    def __str__(self) -> str:
        return self.key if self.otype == "table" else f"{self.otype}:{self.key}"

    def payload(self) -> dict[str, str]:
        return {"otype": self.otype, "key": self.key}


def _segment(name: str) -> str:
    # A dot inside a name would split the key; Alation quotes such segments (UNCONFIRMED form).
    return f'"{name}"' if "." in name else name


def split_key(key: str) -> list[str]:
    """Split a dotted key into segments, honouring double-quoted segments."""
    parts, current, quoted = [], "", False
    for ch in key:
        if ch == '"':
            quoted = not quoted
        elif ch == "." and not quoted:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [*parts, current]


class AlationKeys:
    """Assets -> Alation objects, from ``datasource_ids`` and per-asset ``ids`` overrides."""

    def __init__(self, target: str, settings: Mapping[str, Any]) -> None:
        self.target = target
        raw = settings.get("datasource_ids") or {}
        if not isinstance(raw, Mapping):
            raise ConfigError(f"target {target!r}: datasource_ids must map a platform (or platform/database) "
                              "to an Alation data source id")
        self._sources = {str(name).casefold(): self._entry(str(name), value) for name, value in raw.items()}

    def _entry(self, name: str, value: Any) -> tuple[str, bool | None]:
        ds, with_db = (value.get("id"), value.get("database_in_key")) if isinstance(value, Mapping) else (value, None)
        if isinstance(ds, bool) or not isinstance(ds, int | str) or not str(ds).strip():
            raise ConfigError(f"target {self.target!r}: datasource_ids.{name} must be a data source id "
                              "(or {id: <id>, database_in_key: true|false})")
        return str(ds).strip(), None if with_db is None else bool(with_db)

    def ref(self, asset: Asset) -> ObjectRef:
        """The object a path names for ``asset``; ConfigError when no data source is mapped."""
        override = asset.id_for(self.target) or asset.id_for("alation")
        if override:
            return ObjectRef.parse(override)
        kind = asset.type.casefold()
        if kind not in TABLE_TYPES and kind not in FILE_TYPES:
            return ObjectRef("external", asset.key)
        entry = (self._sources.get(f"{asset.platform}/{asset.database}".casefold())
                 or self._sources.get(asset.platform.casefold()))
        if entry is None:
            raise ConfigError(
                f"target {self.target!r}: no datasource_ids entry for {asset.platform}/{asset.database} or "
                f"{asset.platform} (asset {asset.key}); add one, or give the asset ids: {{alation: <key>}}")
        ds, with_db = entry
        if kind in FILE_TYPES:
            path = "/".join(p for p in (asset.database, asset.schema, asset.name) if p)
            return ObjectRef(FILE_TYPES[kind], f"{ds}.{path}")
        if with_db is None:
            with_db = asset.platform.casefold() in MULTI_DATABASE_PLATFORMS
        parts = [p for p in ((asset.database if with_db else ""), asset.schema, asset.name) if p]
        return ObjectRef("table", ".".join([ds, *(_segment(p) for p in parts)]))


def column_ref(table: ObjectRef, column: str) -> ObjectRef | None:
    """The column object of ``table``; None for objects whose columns Alation keys differently."""
    return ObjectRef("column", f"{table.key}.{_segment(column)}") if table.otype == "table" else None


def path_links(paths: Sequence[Any]) -> dict[str, set[Link]]:
    """Links (first segment x last segment) per dataflow key (casefolded) named in each path."""
    out: dict[str, set[Link]] = {}
    for path in paths:
        if not isinstance(path, list) or len(path) < 3:
            continue
        flows = [o["key"].casefold() for seg in path[1:-1] for o in seg if o.get("otype") == "dataflow"]
        links = {(s["otype"], s["key"].casefold(), t["otype"], t["key"].casefold()) for s in path[0] for t in path[-1]}
        for flow in flows:
            out.setdefault(flow, set()).update(links)
    return out


def dataflow_digest(obj: Mapping[str, Any], links: set[Link], with_title: bool) -> str:
    """The hash of what Alation holds for a dataflow, independent of how paths are grouped or cased,
    so the same value comes from the manifest and from a read-back (drift detection)."""
    return content_hash({"external_id": obj["external_id"], "content": obj.get("content") or "",
                         "title": (obj.get("title") or "") if with_title else "", "links": sorted(links)})


@dataclass(frozen=True)
class DataflowView:
    """A dataflow as read back from Alation."""

    obj: Mapping[str, Any]
    links: frozenset[Link]

    def holds(self, body: Mapping[str, Any], with_title: bool) -> bool:
        """True when this view already carries ``body``'s content and every link it writes."""
        want = body["dataflow_object"]
        same = (self.obj.get("content") or "") == (want.get("content") or "")
        if with_title:
            same = same and (self.obj.get("title") or "") == (want.get("title") or "")
        wanted = path_links(body["paths"]).get(want["external_id"].casefold(), set())
        return same and wanted <= self.links


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def job_problems(result: Any) -> list[Any]:
    """Per-object errors in a job result (``error_objects``, ``failed``, ``errors``, at any depth);
    the result may arrive as a JSON-encoded string."""
    if isinstance(result, str):
        try:
            result = json.loads(result)
        except ValueError:
            return []
    found: list[Any] = []
    if isinstance(result, list):
        for item in result:
            found += job_problems(item)
    elif isinstance(result, Mapping):
        for name in ("error_objects", "failed", "errors"):
            value = result.get(name)
            if isinstance(value, list):
                found += value
    return found


def problem_text(problem: Any) -> str:
    if isinstance(problem, Mapping):
        for name in ("error", "message", "msg", "reason"):
            if problem.get(name):
                return str(problem[name])
    return json.dumps(problem, sort_keys=True, default=str)[:300]


def removed_edges(change: Change) -> set[tuple[str, str]]:
    """The table edges a change takes away: what state recorded and the change no longer declares."""
    prior = change.prior.edges if change.prior is not None else ()
    return set(prior) - set(change.edges)


def restores(changes: Sequence[Change]) -> list[Change]:
    """The desired dataflows that also carry an edge these changes delete, from the plan's private data:
    Alation deletes an edge "regardless of any associated dataflows", so they are posted again."""
    found: dict[str, Change] = {}
    for c in changes:
        for r in (c.private or {}).get("declared_by", []):
            edges = tuple((str(a), str(b)) for a, b in r.get("edges", []))
            found.setdefault(r["address"], Change(c.target, r["address"], r["kind"], Action.UPDATE, r["body"],
                                                  edges=edges))
    return [found[a] for a in sorted(found)]
