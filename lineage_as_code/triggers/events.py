"""Object-store events -> plan and apply of the project whose manifests changed.

Reads the payloads the three clouds deliver when an object is written or removed, duck-typed so no
cloud-function framework has to be installed:
- S3 event notifications (``Records[].s3``, keys URL-encoded; ``ObjectCreated:*`` and
  ``ObjectRemoved:*``), also wrapped in SQS or SNS messages, and EventBridge "Object Created" /
  "Object Deleted" events;
- the ``google.cloud.storage.object.v1.finalized`` and ``.deleted`` CloudEvents (structured JSON,
  a functions-framework CloudEvent object, or the bare object resource);
- Event Grid ``Microsoft.Storage.BlobCreated`` / ``BlobDeleted`` (Event Grid or CloudEvents schema,
  one event or a list, or an azure-functions EventGridEvent object).
An object written or removed under one of the project's manifest prefixes runs plan+apply of the
whole project under the state lock: a removed manifest's lineage is planned as deletes, through the
usual guards (``max_deletes``; an emptied prefix is an error). Every other delivery gets an
``ignored`` outcome saying why (an object outside the prefixes, another event type, an S3 test
event, an Event Grid subscription check); nothing is dropped silently. A payload of no supported
shape, or no project configuration, is an error. Redelivery is harmless: the apply reads the
manifests as they are now, so a second delivery of the same version finds nothing to change.
A bad manifest raises ManifestError before any target is opened.

Environment: ``LAC_CONFIG`` (local path or object URI of lac.yaml, default ./lac.yaml) and
``LAC_LOCK_TIMEOUT`` (seconds to wait for a state lock held by a concurrent event, default 60).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, unquote_plus, urlsplit

from ..config import CONFIG_NAME, Config, load_config
from ..errors import ConfigError, LockError, SourceError
from ..sources import MANIFEST_SUFFIXES, ObjectURI, is_remote, parse_object_uri
from ..workflow import PlanRequest, apply_project

log = logging.getLogger("lineage_as_code.triggers")
if log.level == logging.NOTSET:
    # Function runtimes leave the root logger at WARNING; "ignored ..." lines must still show.
    log.setLevel(logging.INFO)

GCS_FINALIZED = "google.cloud.storage.object.v1.finalized"
GCS_DELETED = "google.cloud.storage.object.v1.deleted"
BLOB_CREATED = "Microsoft.Storage.BlobCreated"
BLOB_DELETED = "Microsoft.Storage.BlobDeleted"
CREATED, REMOVED = "created", "removed"
EXPECTED = ("an S3 event notification ({'Records': [{'eventName': 'ObjectCreated:...', 's3': ...}]}, also inside "
            "SQS or SNS), an EventBridge S3 'Object Created'/'Object Deleted' event, a Cloud Storage CloudEvent "
            f"({GCS_FINALIZED} or .deleted) or object resource, or an Event Grid {BLOB_CREATED}/BlobDeleted "
            "event, or a list of these")
_LOCK_POLL_SECONDS = 2.0


@dataclass(frozen=True)
class ObjectEvent:
    """One object event: service, bucket/container, key, account (Azure), version, and ``action``:
    ``created``, ``removed``, or the event type of one this tool does not act on."""

    service: str
    bucket: str
    key: str
    version: str
    account: str = ""
    action: str = CREATED

    def __str__(self) -> str:
        scheme = {"s3": "s3", "gcs": "gs", "azure": "az"}[self.service]
        where = f" (account {self.account})" if self.account else ""
        return f"{scheme}://{self.bucket}/{self.key}{where} version {self.version or '?'}"


@dataclass(frozen=True)
class EventOutcome:
    """What one event led to: ``applied``, ``unchanged`` or ``ignored``, with a line for the log.
    ``event`` is None for a delivery that names no object (an S3 test event, an Event Grid
    subscription check); ``subject`` then says what it was."""

    event: ObjectEvent | None
    status: str
    detail: str
    subject: str = ""

    def summary(self) -> str:
        return f"{self.status}: {self.event or self.subject}: {self.detail}"

    def as_dict(self) -> dict[str, str]:
        return {"object": str(self.event or self.subject), "status": self.status, "detail": self.detail}


# A parsed delivery: object events, and the deliveries that name no object (described in words).
Parsed = tuple[list[ObjectEvent], list[str]]


def _s3_action(name: str) -> str:
    return CREATED if name.startswith("ObjectCreated") else REMOVED if name.startswith("ObjectRemoved") else name


def _s3_records(records: Any) -> Parsed:
    if not isinstance(records, list) or not records:
        raise SourceError("the event payload's Records list is empty: it names no object; expected " + EXPECTED)
    events: list[ObjectEvent] = []
    notes: list[str] = []
    for record in records:
        if "body" in record or "Sns" in record:  # S3 -> SQS/SNS -> function: the notification is inside
            inner = record["Sns"]["Message"] if "Sns" in record else record["body"]
            more, more_notes = read_deliveries(json.loads(inner) if isinstance(inner, str) else inner)
            events, notes = events + more, notes + more_notes
        elif "s3" in record:
            obj = record["s3"]["object"]
            # Notification keys are form-encoded: spaces arrive as '+', other bytes as %XX.
            events.append(ObjectEvent("s3", record["s3"]["bucket"]["name"], unquote_plus(obj["key"]),
                                      str(obj.get("eTag") or obj.get("etag") or obj.get("sequencer") or ""),
                                      action=_s3_action(str(record.get("eventName", "")))))
        else:
            raise SourceError(f"an event record has neither 's3' nor an SQS/SNS body (keys {sorted(record)[:5]}); "
                              "expected " + EXPECTED)
    return events, notes


def _gcs_object(data: Mapping[str, Any], action: str = CREATED) -> ObjectEvent:
    return ObjectEvent("gcs", data["bucket"], data["name"], str(data.get("generation") or ""), action=action)


def _azure_blob(event: Mapping[str, Any], action: str) -> ObjectEvent:
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
    return ObjectEvent("azure", container, key, str(data.get("eTag") or "").strip('"'), account, action)


def _eventbridge(doc: Mapping[str, Any]) -> Parsed:
    kind = str(doc.get("detail-type", ""))
    action = {"Object Created": CREATED, "Object Deleted": REMOVED}.get(kind, kind)
    detail = doc["detail"]
    return [ObjectEvent("s3", detail["bucket"]["name"], detail["object"]["key"],
                        str(detail["object"].get("etag") or ""), action=action)], []


def _one_event(doc: Mapping[str, Any]) -> Parsed:
    kind = str(doc.get("type") or doc.get("eventType") or "")
    if "Records" in doc:
        return _s3_records(doc["Records"])
    if doc.get("source") == "aws.s3" and "detail" in doc:
        return _eventbridge(doc)
    if doc.get("Event") == "s3:TestEvent":
        return [], [f"S3 test event for bucket {doc.get('Bucket', '?')}"]
    if kind.startswith("google.cloud.storage.object.v1."):
        return [_gcs_object(doc["data"], {GCS_FINALIZED: CREATED, GCS_DELETED: REMOVED}.get(kind, kind))], []
    if doc.get("kind") == "storage#object":
        return [_gcs_object(doc)], []
    if kind.startswith("Microsoft.Storage."):
        return [_azure_blob(doc, {BLOB_CREATED: CREATED, BLOB_DELETED: REMOVED}.get(kind, kind))], []
    if kind.startswith("Microsoft.EventGrid."):
        return [], [f"Event Grid {kind.rsplit('.', 1)[-1]}"]
    shown = repr(kind) if kind else f"with keys {sorted(map(str, doc))[:5]}"
    raise SourceError(f"unrecognised event {shown}; expected " + EXPECTED)


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


def read_deliveries(payload: Any) -> Parsed:
    """Return the object events in any supported payload, and the deliveries that name no object.

    Raises SourceError naming what was expected when the payload (or any event in a list) is not
    one of the supported shapes, or holds no event at all.
    """
    doc = _as_document(payload)
    docs: Sequence[Any] = doc if isinstance(doc, list) else [doc]
    if not docs:
        raise SourceError("the event payload is an empty list; expected " + EXPECTED)
    events: list[ObjectEvent] = []
    notes: list[str] = []
    for item in docs:
        if not isinstance(item, Mapping):
            raise SourceError("the event payload is neither an event nor a list of events; expected " + EXPECTED)
        try:
            more, more_notes = _one_event(item)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise SourceError(f"the event payload lacks a field it needs ({exc})") from exc
        events, notes = events + more, notes + more_notes
    return events, notes


def read_events(payload: Any) -> list[ObjectEvent]:
    """The object events of ``payload`` (see ``read_deliveries``)."""
    return read_deliveries(payload)[0]


def load_project(location: str | None) -> Config:
    """Load lac.yaml from a local path or an object URI (``LAC_CONFIG`` when None, then ./lac.yaml).

    Raises ConfigError when there is none: an event handler without a project would drop every
    event, and the zero-configuration project watches no bucket.
    """
    location = location or os.environ.get("LAC_CONFIG") or None
    if location is None and not Path(CONFIG_NAME).is_file():
        raise ConfigError("handle-event needs the project's lac.yaml: pass -c/--config, set LAC_CONFIG (a path or "
                          "an s3://, gs:// or az:// URI), or run it in the project's folder")
    config = load_config(location)
    if not _watched(config):
        raise ConfigError(f"{location or CONFIG_NAME} names no manifests in an object store (s3://, gs://, az://, "
                          "abfss://), so no object event can concern it")
    return config


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
            _, report = apply_project(config, PlanRequest(), progress=progress, let_go=True)  # (the plan is dropped)
            return report.summary() if report else "no changes: the targets already match the manifests"
        except LockError as exc:
            # Several objects written together fire several events; they queue for the lock.
            if time.monotonic() >= deadline:
                raise
            progress(f"waiting for the state lock: {exc}")
            time.sleep(_LOCK_POLL_SECONDS)


def _ignored(event: ObjectEvent) -> EventOutcome:
    if event.action in (CREATED, REMOVED):
        return EventOutcome(event, "ignored", "outside the project's manifests")
    return EventOutcome(event, "ignored", f"a {event.action!r} event changes no manifest's content")


def handle_event(payload: Any, config_location: str | None = None,
                 progress: Callable[[str], None] = log.info) -> list[EventOutcome]:
    """Apply the project when ``payload`` reports a manifest written or removed under its prefixes.

    A removed manifest is applied like a written one: the project is planned from the manifests
    that remain, so the removed file's lineage is planned as deletes, under the usual guards
    (``max_deletes``; no manifest left at all is an error before any target is touched).
    Returns one outcome per event. Raises SourceError for a payload that is not a supported
    event, ConfigError without a project, ManifestError for a bad manifest (no target is
    touched), LockError when the state stays locked past ``LAC_LOCK_TIMEOUT``, and the other
    LineageAsCodeErrors of plan and apply.
    """
    events, notes = read_deliveries(payload)
    config = load_project(config_location)
    watched = _watched(config)
    relevant = [e for e in events if e.action in (CREATED, REMOVED) and any(_under(e, spec) for spec in watched)]
    outcomes = [EventOutcome(None, "ignored", "names no object; nothing to do", note) for note in notes]
    outcomes += [_ignored(e) for e in events if e not in relevant]
    for outcome in outcomes:
        progress(outcome.summary())
    if relevant:
        detail = _apply_locked(config, progress)
        status = "unchanged" if detail.startswith("no changes") else "applied"
        outcomes += [EventOutcome(e, status, detail if e.action == CREATED else
                                  f"manifest removed; its lineage is planned for deletion: {detail}")
                     for e in relevant]
    return outcomes
