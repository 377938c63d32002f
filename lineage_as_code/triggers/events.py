"""Object-store events -> plan and apply of the project whose manifests changed.

Reads the payloads the three clouds deliver when an object is written, duck-typed so no
cloud-function framework has to be installed:
- S3 event notifications (``Records[].s3``, keys URL-encoded), also wrapped in SQS or SNS
  messages, and EventBridge "Object Created" events;
- the ``google.cloud.storage.object.v1.finalized`` CloudEvent (structured JSON, a
  functions-framework CloudEvent object, or the bare object resource);
- Event Grid ``Microsoft.Storage.BlobCreated`` (Event Grid or CloudEvents schema, one event or a
  list, or an azure-functions EventGridEvent object).
An object under one of the project's manifest prefixes runs plan+apply of the whole project under
the state lock; any other object is ignored with a log line. Redelivery is harmless: the apply reads
the manifests as they are now, so a second delivery of the same version finds nothing to change.
A bad manifest raises ManifestError before any target is opened.

Environment: ``LAC_CONFIG`` (local path or object URI of lac.yaml, default ./lac.yaml) and
``LAC_LOCK_TIMEOUT`` (seconds to wait for a state lock held by a concurrent event, default 60).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, unquote_plus, urlsplit

from ..config import Config, load_config
from ..errors import LockError, SourceError
from ..sources import MANIFEST_SUFFIXES, ObjectURI, is_remote, parse_object_uri
from ..workflow import PlanRequest, apply_project

log = logging.getLogger("lineage_as_code.triggers")
if log.level == logging.NOTSET:
    # Function runtimes leave the root logger at WARNING; "ignored ..." lines must still show.
    log.setLevel(logging.INFO)

GCS_FINALIZED = "google.cloud.storage.object.v1.finalized"
BLOB_CREATED = "Microsoft.Storage.BlobCreated"
_LOCK_POLL_SECONDS = 2.0


@dataclass(frozen=True)
class ObjectEvent:
    """One object written: which service, bucket/container, key, account (Azure) and version."""

    service: str
    bucket: str
    key: str
    version: str
    account: str = ""

    def __str__(self) -> str:
        scheme = {"s3": "s3", "gcs": "gs", "azure": "az"}[self.service]
        where = f" (account {self.account})" if self.account else ""
        return f"{scheme}://{self.bucket}/{self.key}{where} version {self.version or '?'}"


@dataclass(frozen=True)
class EventOutcome:
    """What one event led to: ``applied``, ``unchanged`` or ``ignored``, with a line for the log."""

    event: ObjectEvent
    status: str
    detail: str

    def summary(self) -> str:
        return f"{self.status}: {self.event}: {self.detail}"

    def as_dict(self) -> dict[str, str]:
        return {"object": str(self.event), "status": self.status, "detail": self.detail}


def _s3_records(records: Iterable[Mapping[str, Any]]) -> list[ObjectEvent]:
    events: list[ObjectEvent] = []
    for record in records:
        if "body" in record or "Sns" in record:  # S3 -> SQS/SNS -> function: the notification is inside
            inner = record["Sns"]["Message"] if "Sns" in record else record["body"]
            events += read_events(json.loads(inner) if isinstance(inner, str) else inner)
        elif "s3" in record and str(record.get("eventName", "")).startswith("ObjectCreated"):
            obj = record["s3"]["object"]
            # Notification keys are form-encoded: spaces arrive as '+', other bytes as %XX.
            events.append(ObjectEvent("s3", record["s3"]["bucket"]["name"], unquote_plus(obj["key"]),
                                      str(obj.get("eTag") or obj.get("etag") or "")))
    return events


def _gcs_object(data: Mapping[str, Any]) -> ObjectEvent:
    return ObjectEvent("gcs", data["bucket"], data["name"], str(data.get("generation") or ""))


def _azure_blob(event: Mapping[str, Any]) -> ObjectEvent:
    data = event.get("data") or {}
    url = urlsplit(str(data.get("url", "")))
    subject = str(event.get("subject", ""))
    account = url.hostname.split(".", 1)[0] if url.hostname else ""
    topic = str(event.get("topic") or event.get("source") or "")
    if "/storageAccounts/" in topic:
        account = topic.rsplit("/storageAccounts/", 1)[1].split("/", 1)[0]
    if "/containers/" in subject and "/blobs/" in subject:
        container, _, key = subject.split("/containers/", 1)[1].partition("/blobs/")
    else:
        container, _, key = unquote(url.path).lstrip("/").partition("/")
    return ObjectEvent("azure", container, key, str(data.get("eTag") or "").strip('"'), account)


def _one_event(doc: Mapping[str, Any]) -> list[ObjectEvent]:
    kind = str(doc.get("type") or doc.get("eventType") or "")
    if "Records" in doc:
        return _s3_records(doc["Records"])
    if doc.get("source") == "aws.s3" and doc.get("detail-type") == "Object Created":
        detail = doc["detail"]
        return [ObjectEvent("s3", detail["bucket"]["name"], detail["object"]["key"],
                            str(detail["object"].get("etag") or ""))]
    if kind == GCS_FINALIZED:
        return [_gcs_object(doc["data"])]
    if doc.get("kind") == "storage#object":
        return [_gcs_object(doc)]
    if kind == BLOB_CREATED:
        return [_azure_blob(doc)]
    log.info("ignored an event of type %r: not an object-created event", kind or sorted(doc)[:5])
    return []


def _as_document(payload: Any) -> Any:
    """Plain JSON from bytes, text, dicts, or the objects function frameworks pass."""
    if isinstance(payload, bytes | str):
        try:
            return json.loads(payload)
        except ValueError as exc:
            raise SourceError(f"the event payload is not JSON ({exc})") from exc
    if isinstance(payload, Mapping | list):
        return payload
    if hasattr(payload, "get_json") and hasattr(payload, "event_type"):  # azure.functions.EventGridEvent
        return {"id": payload.id, "eventType": payload.event_type, "subject": payload.subject,
                "topic": payload.topic, "data": payload.get_json()}
    if hasattr(payload, "get_attributes") and hasattr(payload, "data"):  # cloudevents CloudEvent
        return {**payload.get_attributes(), "data": payload.data}
    raise SourceError(f"unrecognised event payload of type {type(payload).__name__}")


def read_events(payload: Any) -> list[ObjectEvent]:
    """Return the object-written events in any supported payload (unrelated events are dropped)."""
    doc = _as_document(payload)
    docs: Sequence[Any] = doc if isinstance(doc, list) else [doc]
    events: list[ObjectEvent] = []
    for item in docs:
        if not isinstance(item, Mapping):
            raise SourceError("the event payload is neither an event nor a list of events")
        try:
            events += _one_event(item)
        except (KeyError, TypeError, AttributeError) as exc:
            raise SourceError(f"the event payload lacks a field it needs ({exc})") from exc
    return events


def load_project(location: str | None) -> Config:
    """Load lac.yaml from a local path or an object URI (``LAC_CONFIG`` when None)."""
    return load_config(location or os.environ.get("LAC_CONFIG") or None)


def _under(event: ObjectEvent, spec: ObjectURI) -> bool:
    if (spec.service, spec.bucket) != (event.service, event.bucket):
        return False
    if spec.account and event.account and spec.account != event.account:
        return False
    if event.key == spec.key:
        return True
    prefix = spec.key.rstrip("/") + "/" if spec.key else ""
    relative = event.key[len(prefix):]
    return (event.key.startswith(prefix) and event.key.lower().endswith(MANIFEST_SUFFIXES)
            and not any(part.startswith(".") for part in relative.split("/")))


def _watched(config: Config) -> list[ObjectURI]:
    return [parse_object_uri(m) for m in config.manifests if is_remote(m)]


def _apply_locked(config: Config, progress: Callable[[str], None]) -> str:
    deadline = time.monotonic() + float(os.environ.get("LAC_LOCK_TIMEOUT", "60"))
    while True:
        try:
            _, report = apply_project(config, PlanRequest(), progress=progress)
            return report.summary() if report else "no changes: the targets already match the manifests"
        except LockError as exc:
            # Several objects written together fire several events; they queue for the lock.
            if time.monotonic() >= deadline:
                raise
            progress(f"waiting for the state lock: {exc}")
            time.sleep(_LOCK_POLL_SECONDS)


def handle_event(payload: Any, config_location: str | None = None,
                 progress: Callable[[str], None] = log.info) -> list[EventOutcome]:
    """Apply the project when ``payload`` reports a manifest written under its manifest prefixes.

    Returns one outcome per object event. Raises ManifestError for a bad manifest (no target is
    touched), LockError when the state stays locked past ``LAC_LOCK_TIMEOUT``, and the other
    LineageAsCodeErrors of plan and apply.
    """
    events = read_events(payload)
    if not events:
        return []
    config = load_project(config_location)
    watched = _watched(config)
    relevant = [e for e in events if any(_under(e, spec) for spec in watched)]
    outcomes = [EventOutcome(e, "ignored", "outside the project's manifests") for e in events if e not in relevant]
    for outcome in outcomes:
        progress(outcome.summary())
    if relevant:
        detail = _apply_locked(config, progress)
        status = "unchanged" if detail.startswith("no changes") else "applied"
        outcomes += [EventOutcome(e, status, detail) for e in relevant]
    return outcomes
