"""Pure translation of the Lineage into Google Cloud Data Lineage shapes: FQNs, ids and bodies.

Assets become fully qualified names (``bigquery:project.dataset.table``, the documented prefix
for other Google systems, ``custom:platform.database.schema.name`` for everything else; a
per-asset ``ids.google`` wins). Each process becomes one resource whose body is exactly what the
API holds and returns: the Process (name, displayName, attributes, origin) and its links, sorted.
Because refresh rebuilds this body from what it reads, the same content hash detects drift.
What is written adds four process attributes that are not part of that body: the ownership
marker (``lac_owner``, the state lineage id), the content hash written (``lac_content_hash``), a
hash of the process's own fields (``lac_meta_hash``), so one listing of processes tells an
unchanged process from an edited one without reading its runs and events, and the manifest file
that declared it (``lac_manifest``). Where a process is declared is not its content: moving it to
another file, or importing it into new manifests (``lac import --adopt``), changes nothing to write.
No I/O here; ``client.py`` does the talking.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...model import Asset, Lineage, Process, quote_segment
from ..base import Resource, content_hash
from ..lineage_resources import process_address

PROCESS = "process"
MAX_ID = 200
MAX_LINKS_PER_EVENT = 100
_ID_OK = re.compile(r"[a-zA-Z0-9_\-:.]{1,200}")
_ID_BAD_CHAR = re.compile(r"[^a-zA-Z0-9_\-:.]")
# displayName: "UTF-8 letters/numbers/spaces or _-:&." (proto comment); anything else becomes a space.
_DISPLAY_BAD_CHAR = re.compile(r"[^\w\s\-:&.]")
_DISPLAY_MAX = 200
# Prefixes of the predefined Google formats (fully-qualified-names page); their segments are the
# asset's database, schema and name in order. Formats with more segments need ``ids.google``.
GOOGLE_SYSTEMS = frozenset({"bigquery", "bigtable", "cloudsql_mysql", "cloudsql_postgresql", "dataproc_metastore",
                            "spanner", "gcs", "pubsub", "dataplex", "analytics_hub"})
# BigQuery resources whose format inserts a kind after the prefix: bigquery:routine:p.d.r
_BIGQUERY_KINDS = frozenset({"routine", "sharded", "connection"})
OWNER_ATTRIBUTE = "lac_owner"
HASH_ATTRIBUTE = "lac_content_hash"
META_ATTRIBUTE = "lac_meta_hash"
MANIFEST_ATTRIBUTE = "lac_manifest"
RECORDED_ATTRIBUTES = (OWNER_ATTRIBUTE, HASH_ATTRIBUTE, META_ATTRIBUTE, MANIFEST_ATTRIBUTE)
_REQUEST_ID_NAMESPACE = uuid.UUID("6f0c1f3e-5b1a-4d0e-9a57-6c2b1d7e4f10")


def asset_fqn(asset: Asset, target_name: str = "google") -> str:
    """Return the fully qualified name Google Data Lineage knows ``asset`` by."""
    override = asset.id_for(target_name) or asset.id_for("google")
    if override:
        return override
    segments = ".".join(quote_segment(s) for s in (asset.database, asset.schema, asset.name) if s)
    platform = asset.platform.lower()
    if platform == "bigquery" and asset.type in _BIGQUERY_KINDS:
        return f"bigquery:{asset.type}:{segments}"
    if platform in GOOGLE_SYSTEMS:
        return f"{platform}:{segments}"
    return f"custom:{quote_segment(asset.platform)}.{segments}"


def google_id(text: str) -> str:
    """``text`` as a Data Lineage id (<= 200 chars of ``[a-zA-Z0-9_-:.]``): unchanged when valid,
    else cleaned and suffixed with a hash of the original so two different ids never collide."""
    if _ID_OK.fullmatch(text):
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    cleaned = _ID_BAD_CHAR.sub("_", text)[: MAX_ID - len(digest) - 1]
    return f"{cleaned}-{digest}"


def display_name(text: str, fallback: str) -> str:
    """A displayName Google accepts: disallowed characters become spaces, at most 200 chars."""
    cleaned = " ".join(_DISPLAY_BAD_CHAR.sub(" ", text).split())[:_DISPLAY_MAX].strip()
    return cleaned or fallback[:_DISPLAY_MAX]


def request_id(*parts: str) -> str:
    """A requestId derived from ``parts``: the same write gets the same id. The field is documented
    as a UUID4, so the name-based digest is given version 4's version and variant bits."""
    digest = uuid.uuid5(_REQUEST_ID_NAMESPACE, "\x1f".join(parts))
    return str(uuid.UUID(bytes=digest.bytes, version=4))


def entity(fqn: str, column: str | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"fullyQualifiedName": fqn}
    if column:
        ref["field"] = [column]
    return ref


def link_key(link: Mapping[str, Any]) -> tuple[str, tuple[str, ...], str, tuple[str, ...]]:
    """The sort key of a link; both translate and refresh order links by it."""
    src, tgt = link["source"], link["target"]
    return (src["fullyQualifiedName"], tuple(src.get("field") or ()),
            tgt["fullyQualifiedName"], tuple(tgt.get("field") or ()))


def canonical_links(links: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Links without duplicates, sorted; only source and target count (the API may add more)."""
    unique = {link_key(link): {"source": link["source"], "target": link["target"]} for link in links}
    return [unique[k] for k in sorted(unique)]


def chunk_links(links: list[dict[str, Any]], size: int = MAX_LINKS_PER_EVENT) -> list[list[dict[str, Any]]]:
    """Links split into events of at most ``size`` (the API refuses more than 100 per event)."""
    return [links[i:i + size] for i in range(0, len(links), size)]


def process_body(name: str, display: str, attributes: Mapping[str, Any], origin: Mapping[str, Any],
                 links: list[dict[str, Any]]) -> dict[str, Any]:
    """The canonical, hashable body of one managed process, as written and as read back (the
    recorded attributes stripped: they say what was written, they are not its content)."""
    kept = {k: v for k, v in sorted(attributes.items()) if k not in RECORDED_ATTRIBUTES}
    return {"name": name, "displayName": display, "attributes": kept, "origin": dict(origin),
            "links": canonical_links(links)}


def meta_hash(process: Mapping[str, Any]) -> str:
    """The hash of a Process's own fields (not its links), recorded attributes stripped."""
    body = process_body(str(process.get("name", "")), str(process.get("displayName", "")),
                        process.get("attributes") or {}, process.get("origin") or {}, [])
    del body["links"]
    return content_hash(body)


def written_process(body: Mapping[str, Any], digest: str, owner: str, manifest: str = "") -> dict[str, Any]:
    """The Process message for ``body``: its fields plus the recorded attributes (the marker only
    when there is an owner to record, the manifest file only when it is known)."""
    process = {k: body[k] for k in ("name", "displayName", "attributes", "origin")}
    recorded = {HASH_ATTRIBUTE: digest, META_ATTRIBUTE: meta_hash(process)}
    if owner:
        recorded[OWNER_ATTRIBUTE] = owner
    if manifest:
        recorded[MANIFEST_ATTRIBUTE] = manifest
    return {**process, "attributes": {**process["attributes"], **recorded}}


def recorded_hash(process: Mapping[str, Any]) -> str | None:
    """The content hash a listed Process says was written: the recorded one when its own fields are
    as written, a hash that matches no content when they were edited since, None when nothing was
    recorded (written by an older version: only reading its events can tell)."""
    attributes = process.get("attributes") or {}
    if HASH_ATTRIBUTE not in attributes or META_ATTRIBUTE not in attributes:
        return None
    now = meta_hash(process)
    return str(attributes[HASH_ATTRIBUTE]) if now == attributes[META_ATTRIBUTE] else f"edited:{now}"


def owner_of(process: Mapping[str, Any]) -> str:
    """The ownership marker a Process carries ('' when none)."""
    return str((process.get("attributes") or {}).get(OWNER_ATTRIBUTE, ""))


@dataclass(frozen=True)
class GoogleNames:
    """Where a target's resources live and how they are labelled."""

    project: str
    location: str
    origin_name: str
    target_name: str = "google"
    column_lineage: bool = True

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    def process_name(self, process: Process) -> str:
        return f"{self.parent}/processes/{google_id(process.id_for('google') or process.id)}"

    def origin(self) -> dict[str, str]:
        return {"sourceType": "CUSTOM", "name": self.origin_name}


def _attributes(process: Process) -> dict[str, str]:
    # The manifest file is recorded when written (written_process), outside the content: moving a
    # process between files, or editing the one above it, must not rewrite it.
    attrs = {k: v for k, v in (("description", process.description), ("sql", process.sql),
                               ("owner", process.owner)) if v}
    attrs.update(dict(process.attributes))
    attrs["lac_process_id"] = process.id
    return attrs


def _links(process: Process, fqns: Mapping[str, str], column_lineage: bool) -> list[dict[str, Any]]:
    links = [{"source": entity(fqns[i.key]), "target": entity(fqns[o.key])}
             for i in process.inputs for o in process.outputs]
    if column_lineage:
        for mapping in process.columns:
            target = entity(fqns[mapping.target.asset], mapping.target.column)
            links += [{"source": entity(fqns[s.asset], s.column), "target": target} for s in mapping.sources]
    return links


def build_resources(lineage: Lineage, names: GoogleNames) -> list[Resource]:
    """One ``process.<id>`` resource per process; no asset resources (Google does not check FQNs)."""
    fqns = {key: asset_fqn(asset, names.target_name) for key, asset in lineage.assets.items()}
    resources = []
    for p in lineage.processes:
        name = names.process_name(p)
        body = process_body(name, display_name(p.name, p.id), _attributes(p), names.origin(),
                            _links(p, fqns, names.column_lineage))
        resources.append(Resource(process_address(p), PROCESS, body, str(p.source), (), tuple(p.edges)))
    return resources
