"""The manifests' digests kept in the cache by their files' stamps: a plan reads no manifest an earlier
plan hashed and nothing has changed since; any change, or a digest this machine did not sign, is a read."""

from __future__ import annotations

import hmac
import json
import os
import shutil

import pytest

from lineage_as_code import project
from lineage_as_code.cache import ResourceCache
from tests.conftest import FIXTURE


@pytest.fixture
def root(tmp_path):
    shutil.copytree(FIXTURE / "manifests", tmp_path / "manifests")
    shutil.copy(FIXTURE / "lac.yaml", tmp_path / "lac.yaml")
    return tmp_path


@pytest.fixture
def settled(monkeypatch):
    """A manifest counts as settled as soon as it is written (a file changed within two seconds of its
    hashing is not remembered, and a test does not wait that long)."""
    from lineage_as_code import sources

    monkeypatch.setattr(sources, "_SETTLED_NS", 0)


def _read(root, remember=True):
    from lineage_as_code.config import load_config

    return project.read_manifests(load_config(str(root / "lac.yaml")), remember=remember)


def test_a_plan_takes_an_unchanged_manifests_digest_from_the_cache_and_reads_its_bytes_only_to_parse(
        lac, root, settled):
    assert lac("plan", cwd=root).code == 0  # the manifests hashed, their digests kept with their stamps
    lazy, read = _read(root), _read(root, remember=False)
    assert [f.data for f in lazy.files] == [b"", b"", b""] and all(f.data for f in read.files)
    assert lazy.digest == read.digest and [f.etag for f in lazy.files] == [f.etag for f in read.files]
    assert lazy.lineage == read.lineage  # read when parsed


def test_a_manifest_edited_after_its_digest_was_kept_is_read_again(lac, root, settled):
    lac("plan", cwd=root)
    path = root / "manifests" / "reporting.csv"
    path.write_text(path.read_text().replace("Revenue dashboard extract", "Revenue dashboard EXTRACT"))  # same size
    assert '"name": "Revenue dashboard EXTRACT"' in lac("plan", "--format", "json", cwd=root).out


def test_a_manifest_changed_after_its_digest_was_taken_from_the_cache_is_an_error_not_a_mix(lac, root, settled):
    from lineage_as_code.errors import SourceError

    lac("plan", cwd=root)
    lazy = _read(root)
    path = root / "manifests" / "reporting.csv"
    path.write_text(path.read_text().replace("Revenue dashboard extract", "Revenue dashboard EXTRACT"))
    with pytest.raises(SourceError, match="reporting.csv: changed while this run read it"):
        _ = lazy.lineage


def test_a_manifest_grown_after_its_digest_was_taken_from_the_cache_is_an_error_without_reading_it(lac, root,
                                                                                                    settled):
    """Its size says it is not the file that was hashed: it is not read (it may be of any size by now)."""
    import tracemalloc

    from lineage_as_code.errors import SourceError

    lac("plan", cwd=root)
    lazy = _read(root)
    os.truncate(root / "manifests" / "reporting.csv", 512 * 2**20)  # (sparse: no disk is written)
    tracemalloc.start()
    try:
        with pytest.raises(SourceError, match="reporting.csv: changed while this run read it"):
            _ = lazy.lineage
        assert tracemalloc.get_traced_memory()[1] < 64 * 2**20
    finally:
        tracemalloc.stop()


def test_a_manifest_changed_just_before_it_was_hashed_is_not_remembered(lac, root, monkeypatch):
    """Its stamp could stay as it is through a second write within the file system's timestamp granularity."""
    from lineage_as_code import sources

    monkeypatch.setattr(sources, "_SETTLED_NS", 3600 * 10**9)  # the files were written within the hour
    lac("plan", cwd=root)
    assert all(f.data for f in _read(root).files)


def test_digests_not_signed_by_this_machine_are_not_believed(lac, root, settled):
    """A pull request can put a digests file in the cache folder; claiming other bytes for a file as it is
    stamped must not change what a plan reads."""
    lac("plan", cwd=root)
    memo = root / ".lac" / "cache" / "digests.json"
    doc = json.loads(memo.read_text())
    for entry in doc["files"].values():
        entry[4] = "00" * 32
    doc["mac"] = hmac.new(b"not this machine's key", json.dumps({k: v for k, v in doc.items() if k != "mac"},
                          sort_keys=True, separators=(",", ":")).encode(), "sha256").hexdigest()
    memo.write_text(json.dumps(doc))
    lazy, read = _read(root), _read(root, remember=False)
    assert all(f.data for f in lazy.files) and lazy.digest == read.digest


def test_the_digests_kept_are_those_of_the_files_read_last(tmp_path, monkeypatch):
    from lineage_as_code import cache as cache_module
    from lineage_as_code.sources import KnownDigests

    monkeypatch.setattr(cache_module, "DIGESTS_KEPT", 2)
    cache = ResourceCache(tmp_path / "cache")
    stamp = (1, 2, 3, 4)
    cache.put_digests(KnownDigests())  # nothing taken: nothing written
    assert not (tmp_path / "cache" / "digests.json").exists()
    first = KnownDigests()
    first.taken = {"/a": (stamp, b"a" * 32), "/b": (stamp, b"b" * 32)}
    cache.put_digests(first)
    second = cache.known_digests()
    assert second is not None and second.known == first.taken
    second.taken = {"/c": (stamp, b"c" * 32), "/a": (stamp, b"a" * 32)}  # /a read again, /b not
    cache.put_digests(second)
    again = cache.known_digests()
    assert again is not None and set(again.known) == {"/a", "/c"}
