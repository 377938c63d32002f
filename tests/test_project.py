"""Loaded manifests: their bytes are handed to the parse and let go, and what the parse said stays true."""

from __future__ import annotations

import pytest

from lineage_as_code.errors import ManifestError
from lineage_as_code.project import LoadedManifests
from lineage_as_code.sources import ManifestFile

GOOD = b"process_id,source,target\np1,pg:d.s.a,pg:d.s.b\n"
BAD = b"process_id,source,target\np1,pg:d.s.a,\n"


def test_the_bytes_are_let_go_once_parsed_and_the_digest_still_covers_them():
    loaded = LoadedManifests((ManifestFile("m.csv", GOOD, "e1"),))
    digest = loaded.digest
    assert [p.id for p in loaded.lineage.processes] == ["p1"]
    assert [f.data for f in loaded.files] == [b""] and [f.etag for f in loaded.files] == ["e1"]
    assert loaded.digest == digest == LoadedManifests((ManifestFile("m.csv", GOOD, "e1"),)).digest
    assert loaded.lineage is loaded.lineage


def test_a_parse_that_failed_fails_the_same_way_when_asked_again():
    loaded = LoadedManifests((ManifestFile("m.csv", BAD, "e1"), ManifestFile("n.csv", GOOD, "e2")))
    with pytest.raises(ManifestError) as first:
        _ = loaded.lineage
    with pytest.raises(ManifestError) as again:  # not a parse of the emptied bytes
        _ = loaded.lineage
    assert [str(p) for p in again.value.problems] == [str(p) for p in first.value.problems]
    assert any("m.csv:2" in str(p) for p in first.value.problems)


def test_a_lineage_let_go_is_not_parsed_again_from_the_emptied_bytes():
    loaded = LoadedManifests((ManifestFile("m.csv", GOOD, "e1"),))
    assert [p.id for p in loaded.lineage.processes] == ["p1"]
    loaded.let_go()
    assert loaded.parsed
    with pytest.raises(RuntimeError, match="let go"):  # never an empty lineage read from the emptied bytes
        _ = loaded.lineage


def test_manifests_let_go_unparsed_drop_their_bytes_and_keep_their_digest():
    """Every target served from the cache: the bytes are not needed, and go; the digest that keyed the
    cache still covers them, and the lineage is never parsed from the emptied bytes."""
    loaded = LoadedManifests((ManifestFile("m.csv", GOOD, "e1"),))
    loaded.let_go()
    assert [f.data for f in loaded.files] == [b""] and [f.etag for f in loaded.files] == ["e1"]
    assert loaded.digest == LoadedManifests((ManifestFile("m.csv", GOOD, "e1"),)).digest
    with pytest.raises(RuntimeError, match="let go"):
        _ = loaded.lineage


def test_a_plan_lets_its_lineage_go_once_translated_unless_asked_to_keep_it(tmp_path, monkeypatch):
    from lineage_as_code.config import load_config
    from lineage_as_code.project import read_manifests
    from lineage_as_code.workflow import PlanRequest, plan_project

    (tmp_path / "m.csv").write_bytes(GOOD)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LAC_NO_CACHE", "1")
    config = load_config(None)
    for keep in (False, True):
        loaded = read_manifests(config, ["m.csv"])
        plan = plan_project(config, PlanRequest(("m.csv",)), loaded, keep_lineage=keep)
        assert [c.address for c in plan.targets[0].changes if c.kind == "process"] == ["process.p1"]
        if keep:  # a markdown plan draws its picture's context from it afterwards
            assert [p.id for p in loaded.lineage.processes] == ["p1"]
        else:
            with pytest.raises(RuntimeError):
                _ = loaded.lineage


def test_a_plan_served_from_the_cache_lets_the_manifests_bytes_go_unless_asked_to_keep_the_lineage(tmp_path,
                                                                                                   monkeypatch):
    from lineage_as_code.config import load_config
    from lineage_as_code.project import read_manifests
    from lineage_as_code.workflow import PlanRequest, plan_project

    (tmp_path / "m.csv").write_bytes(GOOD)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LAC_NO_CACHE", raising=False)
    config = load_config(None)
    plan_project(config, PlanRequest(("m.csv",)))  # translated, and cached
    for keep in (False, True):
        loaded = read_manifests(config, ["m.csv"])
        plan = plan_project(config, PlanRequest(("m.csv",)), loaded, keep_lineage=keep)
        assert [c.address for c in plan.targets[0].changes if c.kind == "process"] == ["process.p1"]
        assert not loaded.parsed  # served from the cache
        if keep:  # a markdown plan draws its picture's context from it afterwards: parsed from the bytes kept
            assert [p.id for p in loaded.lineage.processes] == ["p1"]
        else:
            assert [f.data for f in loaded.files] == [b""]
            with pytest.raises(RuntimeError, match="let go"):
                _ = loaded.lineage


def test_a_run_served_from_the_cache_lets_the_bytes_go_before_it_reads_the_cached_resources(tmp_path, monkeypatch):
    """At a million rows the bytes and the cached resources would otherwise be in memory at once."""
    from lineage_as_code.cache import ResourceCache
    from lineage_as_code.config import load_config
    from lineage_as_code.project import read_manifests
    from lineage_as_code.workflow import PlanRequest, plan_project

    (tmp_path / "m.csv").write_bytes(GOOD)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LAC_NO_CACHE", raising=False)
    config = load_config(None)
    plan_project(config, PlanRequest(("m.csv",)))  # translated, and cached
    loaded = read_manifests(config, ["m.csv"])
    held_while_read = []
    read = ResourceCache.read

    def reading(found):
        held_while_read.append(sum(len(f.data) for f in loaded.files))
        return read(found)
    monkeypatch.setattr(ResourceCache, "read", staticmethod(reading))
    plan = plan_project(config, PlanRequest(("m.csv",)), loaded)
    assert [c.address for c in plan.targets[0].changes if c.kind == "process"] == ["process.p1"]
    assert held_while_read == [0]


@pytest.mark.parametrize("edited", [False, True])
def test_a_cache_file_found_but_unreadable_after_the_bytes_went_is_planned_from_the_manifests_read_again(
        tmp_path, monkeypatch, edited):
    """The cache file checked out, the bytes went, and then its resources could not be read (the file cut
    in place meanwhile): the manifests are read again and translated, unless they are no longer the bytes
    that keyed the cache, which is an error rather than a plan of a mix of the two."""
    from lineage_as_code.cache import ResourceCache
    from lineage_as_code.config import load_config
    from lineage_as_code.errors import SourceError
    from lineage_as_code.workflow import PlanRequest, plan_project

    (tmp_path / "m.csv").write_bytes(GOOD)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LAC_NO_CACHE", raising=False)
    config = load_config(None)
    plan_project(config, PlanRequest(("m.csv",)))  # translated, and cached

    def unreadable(_found):
        if edited:
            (tmp_path / "m.csv").write_bytes(GOOD.replace(b"p1", b"p2"))
    monkeypatch.setattr(ResourceCache, "read", staticmethod(unreadable))
    if edited:
        with pytest.raises(SourceError, match="changed while this run read them"):
            plan_project(config, PlanRequest(("m.csv",)))
        return
    plan = plan_project(config, PlanRequest(("m.csv",)))
    assert [c.address for c in plan.targets[0].changes if c.kind == "process"] == ["process.p1"]


def test_a_lineage_handed_over_for_its_last_use_is_let_go_here():
    loaded = LoadedManifests((ManifestFile("m.csv", GOOD, "e1"),))
    handed = loaded.hand_over()
    assert handed.owned and [p.id for p in handed.processes] == ["p1"]
    with pytest.raises(RuntimeError, match="let go"):  # nobody else reads it while it is taken apart
        _ = loaded.lineage
    processes, assets = handed.take()
    assert [p.id for p in processes] == ["p1"] and sorted(assets) == ["pg:d.s.a", "pg:d.s.b"]
    assert handed.processes == () and not handed.assets
