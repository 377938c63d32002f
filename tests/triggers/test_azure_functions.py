"""The Azure Functions handler, fed Event Grid BlobCreated events for blobs on Azurite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lineage_as_code.errors import ManifestError
from lineage_as_code.triggers.azure_functions import handler
from tests.servers import AZURITE_ACCOUNT, Bucket
from tests.triggers.harness import EXAMPLE_PROCESSES, PREFIX, Project, make_project


def blob_created(bucket: Bucket, key: str, etag: str, account: str = AZURITE_ACCOUNT) -> list[dict[str, Any]]:
    """The Event Grid schema sample for Microsoft.Storage.BlobCreated (a list, as Event Grid posts it)."""
    container = bucket.root.removeprefix("az://").rstrip("/")
    return [{
        "topic": f"/subscriptions/0000/resourceGroups/Storage/providers/Microsoft.Storage/storageAccounts/{account}",
        "subject": f"/blobServices/default/containers/{container}/blobs/{key}",
        "eventType": "Microsoft.Storage.BlobCreated", "eventTime": "2026-01-01T00:00:00.9584103Z",
        "id": "831e1650-001e-001b-66ab-eeb76e069631",
        "data": {"api": "PutBlob", "clientRequestId": "6d79dbfb-0e37-4fc4-981f-442c9ca65760",
                 "requestId": "831e1650-001e-001b-66ab-eeb76e000000", "eTag": etag,
                 "contentType": "application/x-yaml", "contentLength": 524, "blobType": "BlockBlob",
                 "url": f"https://{account}.blob.core.windows.net/{container}/{key}",
                 "sequencer": "00000000000004420000000000028963",
                 "storageDiagnostics": {"batchId": "b68529f3-68cd-4744-baa4-3c0498ec19f0"}},
        "dataVersion": "", "metadataVersion": "1"}]


class FunctionsEventGridEvent:
    """What the azure-functions Event Grid trigger passes: azure.functions.EventGridEvent."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.id, self.topic, self.subject = doc["id"], doc["topic"], doc["subject"]
        self.event_type, self._data = doc["eventType"], doc["data"]

    def get_json(self) -> Any:
        return self._data


@pytest.fixture
def project(tmp_path: Path, azure_container: Bucket, monkeypatch: pytest.MonkeyPatch) -> Project:
    return make_project(tmp_path, azure_container, monkeypatch)


def test_a_created_blob_is_applied_and_a_redelivery_changes_nothing(project: Project) -> None:
    project.upload("reporting.csv")
    project.upload("atlan_builder.csv")
    [doc] = blob_created(project.bucket, PREFIX + "orders.yaml", project.upload("orders.yaml"))
    event = FunctionsEventGridEvent(doc)

    assert [o["status"] for o in handler(event)["outcomes"]] == ["applied"]
    assert project.processes() == EXAMPLE_PROCESSES
    serial = project.state_serial()

    assert [o["status"] for o in handler(event)["outcomes"]] == ["unchanged"]
    assert (project.processes(), project.state_serial()) == (EXAMPLE_PROCESSES, serial)


def test_an_event_grid_list_applies_once_for_many_blobs(project: Project) -> None:
    events = (blob_created(project.bucket, PREFIX + "orders.yaml", project.upload("orders.yaml"))
              + blob_created(project.bucket, PREFIX + "reporting.csv", project.upload("reporting.csv")))
    outcomes = handler(events)["outcomes"]
    assert [o["status"] for o in outcomes] == ["applied", "applied"]
    assert project.state_serial() > 0
    assert project.processes() == ["build_fct_orders", "load_raw_orders", "rpt_revenue"]


def test_an_abfss_project_matches_its_account_only(tmp_path: Path, abfss_container: Bucket,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_project(tmp_path, abfss_container, monkeypatch, manifests_uri=abfss_container.uri(PREFIX))
    etag = project.upload("orders.yaml")
    az = Bucket("az", abfss_container.root.split("@")[0].replace("abfss://", "az://") + "/", abfss_container.put)
    assert handler(blob_created(az, PREFIX + "orders.yaml", etag, "otheraccount"))["outcomes"][0]["status"] == "ignored"
    assert handler(blob_created(az, PREFIX + "orders.yaml", etag))["outcomes"][0]["status"] == "applied"
    assert project.processes() == ["build_fct_orders", "load_raw_orders"]


def test_a_blob_outside_the_prefix_is_ignored(project: Project) -> None:
    etag = project.bucket.put("notes/readme.yaml", b"version: 1\n")
    assert handler(blob_created(project.bucket, "notes/readme.yaml", etag))["outcomes"][0]["status"] == "ignored"
    assert project.state_serial() == 0


def test_a_bad_manifest_fails_loudly_and_touches_no_target(project: Project) -> None:
    etag = project.upload("broken.csv", b"not,a,lineage\nfile,at,all\n")
    with pytest.raises(ManifestError):
        handler(blob_created(project.bucket, PREFIX + "broken.csv", etag))
    assert (project.processes(), project.state_serial()) == ([], 0)
