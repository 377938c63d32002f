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
