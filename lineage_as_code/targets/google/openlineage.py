"""Pure translation of the Lineage into OpenLineage run events for Google's ``processOpenLineageRunEvent``.

In this write mode a process is one OpenLineage job (namespace = the target's ``origin_name``,
name = the process id) and one COMPLETE run event per message. Google derives the Process from the
job (displayName ``namespace:name``, attributes = the job's facets), the Run from the run id, and
groups the event's links (every input x every output, table level) into LineageEvents of 100. A
message holds at most 1,000 links and 5 MB, so a process with more is sent as several messages of
the same run. The documented mapping materialises column lineage only for Dataproc, so this mode
sends none. What the plan compares (the resource body) is what Google gives back: the job, this
tool's facet, and the input and output FQNs. The facet also records the ownership marker and the
content hash written, so one listing of processes tells an unchanged process from an edited one.
No I/O here; ``client.py`` does the talking.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ...model import Lineage, Process
from ..base import Resource, content_hash
from ..lineage_resources import process_address
from .translate import PROCESS, GoogleNames, asset_fqn, google_id

SCHEMA_URL = "https://openlineage.io/spec/1-0-5/OpenLineage.json#/$defs/RunEvent"
PRODUCER = "urn:lineage-as-code"
FACET = "lineage_as_code"
FACET_SCHEMA_URL = "urn:lineage-as-code:facets:process"
MAX_LINKS_PER_MESSAGE = 1000   # "The maximum aggregate number of links is 1000."
MAX_MESSAGE_BYTES = 5 * 1024 * 1024  # "Maximum size of a single message is 5 MB."
RECORDED = ("_producer", "_schemaURL", "owner", "content_hash", "meta_hash", "manifest")


def dataset(fqn: str) -> dict[str, str]:
    """An OpenLineage dataset whose namespace and name concatenate to ``fqn`` (``custom`` for custom FQNs)."""
    namespace, _, name = fqn.partition(":")
    return {"namespace": namespace, "name": name}


def _facet(process: Process) -> dict[str, Any]:
    facet: dict[str, Any] = {"process_id": process.id, "name": process.name}
    facet.update({k: v for k, v in (("description", process.description), ("sql", process.sql),
                                    ("owner_name", process.owner)) if v})
    if process.attributes:
        facet["attributes"] = dict(sorted(process.attributes))
    return facet


def build_openlineage_resources(lineage: Lineage, names: GoogleNames) -> list[Resource]:
    """One ``process.<id>`` resource per process: its job, facet and table-level input/output FQNs."""
    fqns = {key: asset_fqn(asset, names.target_name) for key, asset in lineage.assets.items()}
    resources = []
    for p in lineage.processes:
        body = {"job": {"namespace": names.origin_name, "name": google_id(p.id_for("google") or p.id)},
                "facet": _facet(p), "inputs": sorted({fqns[a.key] for a in p.inputs}),
                "outputs": sorted({fqns[a.key] for a in p.outputs})}
        resources.append(Resource(process_address(p), PROCESS, body, str(p.source), (), tuple(p.edges)))
    return resources


def _meta(display: str, facet: Mapping[str, Any]) -> str:
    return content_hash({"displayName": display, "facet": {k: v for k, v in facet.items() if k not in RECORDED}})


def _groups(inputs: list[str], outputs: list[str]) -> list[tuple[list[str], list[str]]]:
    """(inputs, outputs) slices whose links (their product) stay within one message's 1,000."""
    if len(inputs) > MAX_LINKS_PER_MESSAGE:
        return [(inputs[i:i + MAX_LINKS_PER_MESSAGE], [o]) for o in outputs
                for i in range(0, len(inputs), MAX_LINKS_PER_MESSAGE)]
    per = max(1, MAX_LINKS_PER_MESSAGE // max(1, len(inputs)))
    return [(inputs, outputs[i:i + per]) for i in range(0, len(outputs), per)]


def build_messages(body: Mapping[str, Any], run_id: str, event_time: str, digest: str,
                   owner: str, manifest: str = "") -> list[dict[str, Any]]:
    """The run events that write ``body``: one per slice of at most 1,000 links, all of run ``run_id``.
    The facet records, beside the body, the marker, the hashes and the manifest file (not content)."""
    job = dict(body["job"])
    display = f"{job['namespace']}:{job['name']}"
    facet = {"_producer": PRODUCER, "_schemaURL": FACET_SCHEMA_URL, **body["facet"], "content_hash": digest,
             "meta_hash": _meta(display, body["facet"])}
    if owner:
        facet["owner"] = owner
    if manifest:
        facet["manifest"] = manifest
    return [{"eventTime": event_time, "eventType": "COMPLETE", "producer": PRODUCER, "schemaURL": SCHEMA_URL,
             "run": {"runId": run_id}, "job": {**job, "facets": {FACET: facet}},
             "inputs": [dataset(f) for f in ins], "outputs": [dataset(f) for f in outs]}
            for ins, outs in _groups(list(body["inputs"]), list(body["outputs"]))]


def message_size(message: Mapping[str, Any]) -> int:
    return len(json.dumps(message, separators=(",", ":")).encode())


def process_id_of(process: Mapping[str, Any], names: GoogleNames) -> str:
    """The manifest process id of a Process this mode wrote ('' for anyone else's)."""
    facet = (process.get("attributes") or {}).get(FACET)
    if not isinstance(facet, Mapping) or not str(process.get("displayName", "")).startswith(f"{names.origin_name}:"):
        return ""
    return str(facet.get("process_id", ""))


def owner_of(process: Mapping[str, Any]) -> str:
    facet = (process.get("attributes") or {}).get(FACET)
    return str(facet.get("owner", "")) if isinstance(facet, Mapping) else ""


def recorded_hash(process: Mapping[str, Any]) -> str | None:
    """The content hash the facet records, or one matching nothing when the Process was edited since."""
    facet = (process.get("attributes") or {}).get(FACET)
    if not isinstance(facet, Mapping) or "content_hash" not in facet:
        return None
    now = _meta(str(process.get("displayName", "")), facet)
    return str(facet["content_hash"]) if now == facet.get("meta_hash") else f"edited:{now}"


def body_from_process(process: Mapping[str, Any], links: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The resource body as Google holds it: the job from displayName, the facet, the links' ends."""
    namespace, _, name = str(process.get("displayName", "")).partition(":")
    facet = (process.get("attributes") or {}).get(FACET) or {}
    return {"job": {"namespace": namespace, "name": name},
            "facet": {k: v for k, v in facet.items() if k not in RECORDED},
            "inputs": sorted({link["source"]["fullyQualifiedName"] for link in links}),
            "outputs": sorted({link["target"]["fullyQualifiedName"] for link in links})}
