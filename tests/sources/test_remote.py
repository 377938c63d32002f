"""Manifests read from S3 (moto), GCS (fake-gcs-server) and Azure (Azurite), through the one door."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lineage_as_code.errors import SourceError
from lineage_as_code.sources import open_object_store, open_source, read_object, write_object
from lineage_as_code.sources.remote import ObjectChangedError
from tests.servers import AZURITE_ACCOUNT, AZURITE_KEY, Bucket

EXAMPLES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "small" / "manifests"


def _upload_examples(bucket: Bucket, prefix: str) -> dict[str, str]:
    return {p.name: bucket.put(f"{prefix}{p.name}", p.read_bytes()) for p in sorted(EXAMPLES.iterdir())}


def test_plan_from_a_bucket_is_the_plan_from_the_same_files_on_disk(bucket: Bucket, lac, tmp_path: Path) -> None:
    _upload_examples(bucket, "lineage/manifests/")
    (tmp_path / "disk").mkdir()
    (tmp_path / "cloud").mkdir()
    on_disk = lac("plan", str(EXAMPLES), cwd=tmp_path / "disk")
    in_cloud = lac("plan", bucket.uri("lineage/manifests"), cwd=tmp_path / "cloud")

    assert on_disk.code == in_cloud.code == 0, in_cloud.err
    assert "Plan: 10 to create" in in_cloud.out
    # Only where the files came from differs: every change, body and manifest line is the same.
    local_prefix = os.path.relpath(EXAMPLES, tmp_path / "disk") + "/"
    assert in_cloud.out.replace(bucket.uri("lineage/manifests/"), "MANIFESTS/") == \
        on_disk.out.replace(local_prefix, "MANIFESTS/")


def test_every_file_reports_the_version_the_service_gave_it(bucket: Bucket) -> None:
    versions = _upload_examples(bucket, "m/")
    files = open_source(bucket.uri("m/"))
    assert [(f.name, f.etag) for f in files] == [(bucket.uri(f"m/{n}"), v) for n, v in sorted(versions.items())]
    assert files[0].data == (EXAMPLES / files[0].name.rsplit("/", 1)[1]).read_bytes()


def test_a_prefix_lists_recursively_but_only_manifests_under_it(bucket: Bucket) -> None:
    for key in ("m/a.yaml", "m/deep/er/b.yml", "m/c.csv", "m/readme.md", "m/.hidden/d.yaml", "m-old/e.yaml"):
        bucket.put(key, b"version: 1\n")
    names = [f.name for f in open_source(bucket.uri("m"))]
    assert names == [bucket.uri(k) for k in ("m/a.yaml", "m/c.csv", "m/deep/er/b.yml")]


def test_a_single_object_is_read_alone(bucket: Bucket) -> None:
    version = bucket.put("m/orders.yaml", (EXAMPLES / "orders.yaml").read_bytes())
    bucket.put("m/other.yaml", b"version: 1\n")
    [only] = open_source(bucket.uri("m/orders.yaml"))
    assert (only.name, only.etag) == (bucket.uri("m/orders.yaml"), version)


def test_listing_follows_pagination(bucket: Bucket) -> None:
    keys = [f"p/{i:02d}.yaml" for i in range(7)]
    for key in keys:
        bucket.put(key, b"version: 1\n")
    store, _ = open_object_store(bucket.uri("p/"))
    store.page_size = 2  # type: ignore[attr-defined]
    assert sorted(store.list("p/")) == keys


def test_a_missing_prefix_or_bucket_names_the_uri(bucket: Bucket) -> None:
    with pytest.raises(SourceError, match="no such object, and no manifest"):
        open_source(bucket.uri("nothing/here"))
    missing = bucket.uri().replace("lac-", "lac-missing-") + "m/"
    with pytest.raises(SourceError) as err:
        open_source(missing)
    assert str(err.value).startswith(missing)


def test_plan_files_round_trip_through_a_bucket(bucket: Bucket, lac, tmp_path: Path) -> None:
    _upload_examples(bucket, "m/")
    saved = bucket.uri("plans/plan.json")
    planned = lac("plan", bucket.uri("m/"), "--out", saved, cwd=tmp_path)
    assert planned.code == 0, planned.err
    assert b'"manifest_digest"' in read_object(saved)
    applied = lac("apply", "--auto-approve", saved, cwd=tmp_path)
    assert applied.code == 0, applied.err
    assert "Apply complete: 10 created, 0 updated, 0 deleted." in applied.out
    again = lac("plan", bucket.uri("m/"), "--detailed-exitcode", cwd=tmp_path)
    assert again.code == 0, again.out + again.err


def test_lac_yaml_can_list_object_uris(s3_bucket: Bucket, gcs_bucket: Bucket, lac, write, tmp_path: Path) -> None:
    s3_bucket.put("m/orders.yaml", (EXAMPLES / "orders.yaml").read_bytes())
    gcs_bucket.put("m/reporting.csv", (EXAMPLES / "reporting.csv").read_bytes())
    write("lac.yaml", f"""
        version: 1
        manifests: ["{s3_bucket.uri('m/')}", "{gcs_bucket.uri('m/reporting.csv')}"]
        """)
    result = lac("validate", cwd=tmp_path)
    assert result.code == 0, result.err
    assert result.out.startswith("valid: 2 file(s)")


def test_writing_to_a_bucket_name_alone_is_refused(bucket: Bucket) -> None:
    with pytest.raises(SourceError, match="name an object"):
        write_object(bucket.uri(), b"{}")


def test_s3_without_credentials_says_how_to_provide_them(s3_bucket: Bucket, monkeypatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(SourceError, match="no AWS credentials found"):
        open_source(s3_bucket.uri("m/"))


def test_azure_account_key_and_sas_token_work_and_never_appear_in_errors(azure_container: Bucket,
                                                                          azurite_server, monkeypatch) -> None:
    from datetime import UTC, datetime, timedelta

    from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

    azure_container.put("m/orders.yaml", (EXAMPLES / "orders.yaml").read_bytes())
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING")
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT", AZURITE_ACCOUNT)
    monkeypatch.setenv("AZURE_STORAGE_BLOB_ENDPOINT", azurite_server.url)
    monkeypatch.setenv("AZURE_STORAGE_KEY", AZURITE_KEY)
    assert len(open_source(azure_container.uri("m/"))) == 1

    monkeypatch.delenv("AZURE_STORAGE_KEY")
    sas = generate_account_sas(AZURITE_ACCOUNT, AZURITE_KEY, ResourceTypes(container=True, object=True),
                               AccountSasPermissions(read=True, list=True), datetime.now(UTC) + timedelta(hours=1))
    monkeypatch.setenv("AZURE_STORAGE_SAS_TOKEN", sas)
    assert len(open_source(azure_container.uri("m/"))) == 1
    with pytest.raises(SourceError) as err:
        write_object(azure_container.uri("m/new.yaml"), b"version: 1\n")  # the SAS grants no write
    signature = dict(p.split("=", 1) for p in sas.split("&"))["sig"]
    assert "sig=" not in str(err.value) and signature not in str(err.value)

    monkeypatch.setenv("AZURE_STORAGE_KEY", "d3Jvbmcga2V5" * 4)
    with pytest.raises(SourceError) as err:
        open_source(azure_container.uri("m/"))
    assert str(err.value).startswith(azure_container.uri("m/"))
    assert "d3Jvbmcga2V5" not in str(err.value)


def test_az_without_an_account_says_where_it_comes_from(monkeypatch) -> None:
    for name in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SourceError, match="AZURE_STORAGE_ACCOUNT"):
        open_source("az://container/m/")


@pytest.mark.parametrize("uri", ["s3://", "gs:///key", "abfss://container/path", "abfss://c@account.blob.x/p"])
def test_malformed_uris_are_refused_with_the_expected_form(uri: str) -> None:
    with pytest.raises(SourceError, match=uri.replace("/", "/")):
        open_source(uri)


def test_conditional_writes_refuse_a_stale_version_or_an_existing_object(bucket: Bucket) -> None:
    store, _ = open_object_store(bucket.uri())
    first = store.put("k.json", b"1", absent=True)
    with pytest.raises(ObjectChangedError):
        store.put("k.json", b"2", absent=True)
    second = store.put("k.json", b"2", match=first)
    with pytest.raises(ObjectChangedError):
        store.put("k.json", b"3", match=first)
    assert store.get("k.json") == (b"2", second)


def test_lac_yaml_itself_can_live_in_a_bucket(bucket: Bucket, lac, tmp_path: Path) -> None:
    _upload_examples(bucket, "project/manifests/")
    config = f"version: 1\nmanifests: [manifests/]\ntargets:\n  local: {{type: duckdb, path: {tmp_path / 'l.duckdb'}}}\n"
    bucket.put("project/lac.yaml", config.encode())
    result = lac("-c", bucket.uri("project/lac.yaml"), "plan", "--no-refresh", cwd=tmp_path)
    assert result.code == 0, result.err
    assert "Plan: 10 to create" in result.out
    assert bucket.uri("project/manifests/orders.yaml") in result.out
