"""``lac handle-event`` takes any of the three clouds' payloads, so any runner can drive it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml

from lineage_as_code.state import open_state_store
from lineage_as_code.triggers.events import read_events
from tests.servers import Bucket
from tests.triggers.harness import EXAMPLES, PREFIX, make_project
from tests.triggers.test_aws_lambda import s3_notification
from tests.triggers.test_azure_functions import blob_created
from tests.triggers.test_gcp_functions import finalized_event

PAYLOADS = {"s3": s3_notification, "gs": finalized_event, "az": blob_created}


@pytest.mark.parametrize("server", ["s3_bucket", "gcs_bucket", "azure_container"])
def test_handle_event_applies_each_clouds_payload_from_a_file(server: str, request: pytest.FixtureRequest, lac,
                                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket: Bucket = request.getfixturevalue(server)
    project = make_project(tmp_path, bucket, monkeypatch)
    event = PAYLOADS[bucket.scheme](bucket, PREFIX + "orders.yaml", project.upload("orders.yaml"))
    (tmp_path / "event.json").write_text(json.dumps(event))

    first = lac("handle-event", str(tmp_path / "event.json"), cwd=tmp_path)
    assert first.code == 0, first.err
    assert first.out.startswith(f"applied: {bucket.uri(PREFIX + 'orders.yaml')}")
    assert "Apply complete: 6 created" in first.out
    again = lac("handle-event", str(tmp_path / "event.json"), cwd=tmp_path)
    assert again.out.startswith("unchanged: ")
    assert project.processes() == ["build_fct_orders", "load_raw_orders"]


def test_handle_event_reads_stdin_and_a_config_kept_in_the_bucket(s3_bucket: Bucket, lac, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    doc = {"version": 1, "manifests": ["manifests/"],  # relative to the lac.yaml's folder in the bucket
           "targets": {"local": {"type": "duckdb", "path": str(tmp_path / "lineage.duckdb")}}}
    s3_bucket.put("lineage/lac.yaml", yaml.safe_dump(doc).encode())
    etag = s3_bucket.put(PREFIX + "orders.yaml", (EXAMPLES / "orders.yaml").read_bytes())
    monkeypatch.setenv("LAC_CONFIG", s3_bucket.uri("lineage/lac.yaml"))
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(
        json.dumps(s3_notification(s3_bucket, PREFIX + "orders.yaml", etag)).encode())))

    result = lac("handle-event", "-", cwd=tmp_path)
    assert result.code == 0, result.err
    assert result.out.startswith("applied: ")
    # State defaults to .lac/state.json beside the remote lac.yaml, not on this machine.
    assert open_state_store(s3_bucket.uri("lineage/.lac/state.json")).read().serial > 0
    assert not (tmp_path / ".lac").exists()


def test_a_locked_state_fails_with_the_holder_once_the_wait_is_over(s3_bucket: Bucket, lac, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_project(tmp_path, s3_bucket, monkeypatch)
    event = s3_notification(s3_bucket, PREFIX + "orders.yaml", project.upload("orders.yaml"))
    (tmp_path / "event.json").write_text(json.dumps(event))
    held = open_state_store(s3_bucket.uri("lineage/state.json")).lock("apply")

    result = lac("handle-event", str(tmp_path / "event.json"), cwd=tmp_path)
    assert result.code == 1
    assert held.id in result.err and project.processes() == []


def test_events_that_are_not_object_writes_name_no_object_to_apply() -> None:
    validation = [{"id": "2d1781af", "topic": "/subscriptions/x", "subject": "",
                   "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
                   "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}}]
    deleted = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectRemoved:Delete",
                            "s3": {"bucket": {"name": "b"}, "object": {"key": "k.yaml"}}}]}
    assert read_events(validation) == []
    assert [e.action for e in read_events(json.dumps(deleted).encode())] == ["removed"]


def test_a_payload_that_is_no_event_is_an_error(lac, tmp_path: Path) -> None:
    (tmp_path / "event.json").write_text("[1, 2]")
    result = lac("handle-event", str(tmp_path / "event.json"), cwd=tmp_path)
    assert result.code == 1 and result.err.startswith("error: the event payload is neither an event nor a list of events")
    (tmp_path / "event.json").write_text("{oops")
    assert "not JSON" in lac("handle-event", str(tmp_path / "event.json"), cwd=tmp_path).err


def removed_notification(bucket: Bucket, key: str) -> dict:
    event = s3_notification(bucket, key, "")
    event["Records"][0]["eventName"] = "ObjectRemoved:Delete"
    return event


def test_without_a_project_handle_event_is_an_error(s3_bucket: Bucket, lac, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAC_CONFIG", raising=False)
    etag = s3_bucket.put(PREFIX + "orders.yaml", (EXAMPLES / "orders.yaml").read_bytes())
    (tmp_path / "event.json").write_text(json.dumps(s3_notification(s3_bucket, PREFIX + "orders.yaml", etag)))
    result = lac("handle-event", "event.json", cwd=tmp_path)
    assert result.code == 1 and "needs the project's lac.yaml" in result.err and "LAC_CONFIG" in result.err
    assert not (tmp_path / ".lac").exists()


def test_a_project_with_only_local_manifests_is_an_error(s3_bucket: Bucket, lac, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAC_CONFIG", raising=False)
    (tmp_path / "lac.yaml").write_text("version: 1\nmanifests: [manifests]\n")
    (tmp_path / "event.json").write_text(json.dumps(s3_notification(s3_bucket, PREFIX + "orders.yaml", "e")))
    result = lac("handle-event", "event.json", cwd=tmp_path)
    assert result.code == 1 and "names no manifests in an object store" in result.err


@pytest.mark.parametrize("payload", ['{"hello": 1}', "[]", '{"Records": []}', '{"type": "com.example.other"}',
                                     '[{"Records": [{"eventName": "ObjectCreated:Put"}]}]'])
def test_an_unrecognised_payload_is_an_error_naming_what_was_expected(payload: str, s3_bucket: Bucket, lac,
                                                                      tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    make_project(tmp_path, s3_bucket, monkeypatch)
    (tmp_path / "event.json").write_text(payload)
    result = lac("handle-event", "event.json", cwd=tmp_path)
    assert result.code == 1 and "expected an S3 event notification" in result.err and result.out == ""


def test_a_removed_manifest_plans_its_lineage_away_through_the_guards(s3_bucket: Bucket, lac, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from lineage_as_code.sources import open_object_store

    project = make_project(tmp_path, s3_bucket, monkeypatch)
    project.upload("reporting.csv")
    etag = project.upload("orders.yaml")
    (tmp_path / "event.json").write_text(json.dumps(s3_notification(s3_bucket, PREFIX + "orders.yaml", etag)))
    assert lac("handle-event", "event.json", cwd=tmp_path).code == 0
    applied = project.processes()
    store, _ = open_object_store(s3_bucket.uri(PREFIX))
    store.delete(PREFIX + "orders.yaml")
    (tmp_path / "removed.json").write_text(json.dumps(removed_notification(s3_bucket, PREFIX + "orders.yaml")))

    doc = yaml.safe_load(project.config.read_text())
    project.config.write_text(yaml.safe_dump({**doc, "defaults": {"max_deletes": 1}}))
    guarded = lac("handle-event", "removed.json", cwd=tmp_path)
    assert guarded.code == 1 and "max_deletes" in guarded.err and project.processes() == applied

    # The relative guard counts too: the project is small, so removing one file is most of it.
    project.config.write_text(yaml.safe_dump({**doc, "defaults": {"max_delete_fraction": 1.0}}))
    removed = lac("handle-event", "removed.json", cwd=tmp_path)
    assert removed.code == 0, removed.err
    assert removed.out.startswith(f"applied: {s3_bucket.uri(PREFIX + 'orders.yaml')}")
    assert "manifest removed; its lineage is planned for deletion" in removed.out and "deleted" in removed.out
    assert set(project.processes()) == set(applied) - {"build_fct_orders", "load_raw_orders"}
    again = lac("handle-event", "removed.json", cwd=tmp_path)
    assert again.code == 0 and again.out.startswith("unchanged: ")


def test_other_deliveries_are_reported_not_dropped(s3_bucket: Bucket, lac, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    make_project(tmp_path, s3_bucket, monkeypatch)
    tagging = s3_notification(s3_bucket, PREFIX + "orders.yaml", "e")
    tagging["Records"][0]["eventName"] = "ObjectTagging:Put"
    outside = s3_notification(s3_bucket, "elsewhere/orders.yaml", "e")
    (tmp_path / "event.json").write_text(json.dumps([tagging, outside]))
    result = lac("handle-event", "event.json", cwd=tmp_path)
    lines = result.out.splitlines()
    assert result.code == 0 and len(lines) == 2 and all(line.startswith("ignored: ") for line in lines)
    assert "'ObjectTagging:Put' event" in lines[0] and "outside the project's manifests" in lines[1]
