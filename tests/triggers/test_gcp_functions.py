"""The Cloud Functions handler, fed the storage 'finalized' CloudEvent for objects on fake-gcs-server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lineage_as_code.errors import ManifestError
from lineage_as_code.triggers.gcp_functions import handler
from tests.servers import Bucket
from tests.triggers.harness import EXAMPLE_PROCESSES, PREFIX, Project, make_project


def finalized_event(bucket: Bucket, key: str, generation: str) -> dict[str, Any]:
    """A structured-mode CloudEvent as Eventarc delivers it (google-cloudevents StorageObjectData)."""
    name = bucket.root.removeprefix("gs://").rstrip("/")
    return {
        "specversion": "1.0", "id": "1234567890", "type": "google.cloud.storage.object.v1.finalized",
        "source": f"//storage.googleapis.com/projects/_/buckets/{name}", "subject": f"objects/{key}",
        "time": "2026-01-01T00:00:00.000Z", "datacontenttype": "application/json",
        "data": {"kind": "storage#object", "id": f"{name}/{key}/{generation}", "name": key, "bucket": name,
                 "generation": generation, "metageneration": "1", "contentType": "application/x-yaml",
                 "timeCreated": "2026-01-01T00:00:00.000Z", "updated": "2026-01-01T00:00:00.000Z",
                 "storageClass": "STANDARD", "size": "1024", "md5Hash": "1B2M2Y8AsgTpgAmY7PhCfg==",
                 "crc32c": "AAAAAA==", "etag": "CKaXlKKnx+wCEAE="}}


class FrameworkCloudEvent:
    """What functions-framework passes: a cloudevents.http.CloudEvent (attributes + data)."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self._attributes = {k: v for k, v in doc.items() if k != "data"}
        self.data = doc["data"]

    def get_attributes(self) -> dict[str, Any]:
        return dict(self._attributes)

    def __getitem__(self, key: str) -> Any:
        return self._attributes[key]


@pytest.fixture
def project(tmp_path: Path, gcs_bucket: Bucket, monkeypatch: pytest.MonkeyPatch) -> Project:
    return make_project(tmp_path, gcs_bucket, monkeypatch)


def test_a_finalized_object_is_applied_and_a_redelivery_changes_nothing(project: Project) -> None:
    project.upload("reporting.csv")
    project.upload("atlan_builder.csv")
    event = FrameworkCloudEvent(finalized_event(project.bucket, PREFIX + "orders.yaml", project.upload("orders.yaml")))

    first = handler(event)
    assert [o["status"] for o in first["outcomes"]] == ["applied"]
    assert project.processes() == EXAMPLE_PROCESSES
    serial = project.state_serial()

    again = handler(event)
    assert [o["status"] for o in again["outcomes"]] == ["unchanged"]
    assert (project.processes(), project.state_serial()) == (EXAMPLE_PROCESSES, serial)


def test_plain_json_cloud_events_work_too(project: Project) -> None:
    event = finalized_event(project.bucket, PREFIX + "orders.yaml", project.upload("orders.yaml"))
    assert handler(event)["outcomes"][0]["status"] == "applied"
    assert project.processes() == ["build_fct_orders", "load_raw_orders"]


def test_an_object_outside_the_prefix_is_ignored(project: Project) -> None:
    generation = project.bucket.put("lineage/manifests-archive/orders.yaml", b"version: 1\n")
    result = handler(finalized_event(project.bucket, "lineage/manifests-archive/orders.yaml", generation))
    assert [o["status"] for o in result["outcomes"]] == ["ignored"]
    assert project.state_serial() == 0


def test_a_bad_manifest_fails_loudly_and_touches_no_target(project: Project) -> None:
    generation = project.upload("broken.yaml", b"version: 1\nprocesses:\n  - name: a process without an id\n")
    with pytest.raises(ManifestError):
        handler(finalized_event(project.bucket, PREFIX + "broken.yaml", generation))
    assert (project.processes(), project.state_serial()) == ([], 0)


def test_other_event_types_are_not_applied(project: Project) -> None:
    event = finalized_event(project.bucket, PREFIX + "orders.yaml", project.upload("orders.yaml"))
    event["type"] = "google.cloud.storage.object.v1.metadataUpdated"
    assert [o["status"] for o in handler(event)["outcomes"]] == ["ignored"]
    assert project.state_serial() == 0
