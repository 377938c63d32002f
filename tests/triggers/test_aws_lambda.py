"""The Lambda handler, fed S3 event notifications (AWS's documented sample shape) for objects on moto."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote_plus

import pytest

from lineage_as_code.errors import ManifestError
from lineage_as_code.triggers.aws_lambda import handler
from tests.servers import Bucket
from tests.triggers.harness import EXAMPLE_PROCESSES, PREFIX, Project, make_project


def s3_notification(bucket: Bucket, key: str, etag: str) -> dict:
    """The 'Event message structure' sample from the S3 docs, for one object."""
    name = bucket.root.removeprefix("s3://").rstrip("/")
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-01-01T00:00:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AIDAJDPLRKLG7UEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5W"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "lac-manifests",
               "bucket": {"name": name, "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                          "arn": f"arn:aws:s3:::{name}"},
               "object": {"key": quote_plus(key, safe="/"), "size": 1024, "eTag": etag,
                          "sequencer": "0055AED6DCD90281E5"}}}]}


@pytest.fixture
def project(tmp_path: Path, s3_bucket: Bucket, monkeypatch: pytest.MonkeyPatch) -> Project:
    return make_project(tmp_path, s3_bucket, monkeypatch)


def test_an_uploaded_manifest_is_applied_and_a_redelivery_changes_nothing(project: Project) -> None:
    project.upload("reporting.csv")
    project.upload("atlan_builder.csv")
    etag = project.upload("orders.yaml")
    event = s3_notification(project.bucket, PREFIX + "orders.yaml", etag)

    first = handler(event, None)
    assert [o["status"] for o in first["outcomes"]] == ["applied"]
    assert "Apply complete: 10 created" in first["outcomes"][0]["detail"]
    assert project.processes() == EXAMPLE_PROCESSES
    serial = project.state_serial()

    again = handler(event, None)
    assert [o["status"] for o in again["outcomes"]] == ["unchanged"]
    assert (project.processes(), project.state_serial()) == (EXAMPLE_PROCESSES, serial)


def test_url_encoded_keys_are_decoded(project: Project) -> None:
    key = "team a/orders+v2 (final).yaml"
    etag = project.upload(key, (Path(__file__).resolve().parents[2] / "examples/manifests/orders.yaml").read_bytes())
    event = s3_notification(project.bucket, PREFIX + key, etag)
    assert "team+a/orders%2Bv2+%28final%29.yaml" in json.dumps(event)
    assert handler(event, None)["outcomes"][0]["status"] == "applied"
    assert project.processes() == ["build_fct_orders", "load_raw_orders"]


def test_an_object_outside_the_prefix_is_ignored(project: Project, caplog: pytest.LogCaptureFixture) -> None:
    project.upload("orders.yaml")
    etag = project.bucket.put("elsewhere/orders.yaml", b"version: 1\n")
    with caplog.at_level("INFO", logger="lineage_as_code.triggers"):
        result = handler(s3_notification(project.bucket, "elsewhere/orders.yaml", etag), None)
    assert [o["status"] for o in result["outcomes"]] == ["ignored"]
    assert "outside the project's manifests" in caplog.text
    assert (project.processes(), project.state_serial()) == ([], 0)


def test_a_bad_manifest_fails_loudly_and_touches_no_target(project: Project) -> None:
    handler(s3_notification(project.bucket, PREFIX + "orders.yaml", project.upload("orders.yaml")), None)
    serial = project.state_serial()
    bad = project.upload("broken.yaml", b"version: 1\nprocesses:\n  - id: x\n    inputs: 7\n")
    with pytest.raises(ManifestError) as err:
        handler(s3_notification(project.bucket, PREFIX + "broken.yaml", bad), None)
    assert "broken.yaml" in str(err.value)
    assert (project.processes(), project.state_serial()) == (["build_fct_orders", "load_raw_orders"], serial)


def test_notifications_delivered_through_sqs_are_unwrapped(project: Project) -> None:
    etag = project.upload("orders.yaml")
    inner = s3_notification(project.bucket, PREFIX + "orders.yaml", etag)
    sqs = {"Records": [{"messageId": "059f36b4-87a3-44ab-83d2-661975830a7d", "eventSource": "aws:sqs",
                        "body": json.dumps(inner)}]}
    assert handler(sqs, None)["outcomes"][0]["status"] == "applied"
    assert project.processes() == ["build_fct_orders", "load_raw_orders"]


def test_the_s3_test_event_is_ignored(project: Project) -> None:
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-01-01T00:00:00.000Z",
                  "Bucket": "lac", "RequestId": "5582815E1AEA5ADF", "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"}
    assert handler(test_event, None) == {"outcomes": [{"object": "S3 test event for bucket lac", "status": "ignored",
                                                       "detail": "names no object; nothing to do"}]}
