"""The resource cache: a re-plan of unchanged manifests skips parsing; any change is seen."""

from __future__ import annotations

import shutil

import pytest

from lineage_as_code import project
from tests.conftest import FIXTURE


@pytest.fixture
def root(tmp_path):
    shutil.copytree(FIXTURE / "manifests", tmp_path / "manifests")
    shutil.copy(FIXTURE / "lac.yaml", tmp_path / "lac.yaml")
    return tmp_path


def forbid_parsing(monkeypatch):
    def refuse(*_a, **_k):
        raise AssertionError("manifests were parsed")
    monkeypatch.setattr(project, "build_lineage", refuse)


def test_an_unchanged_project_plans_from_the_cache_without_parsing(lac, root, monkeypatch):
    first = lac("plan", cwd=root)
    assert list((root / ".lac" / "cache").glob("local-*.pickle"))
    forbid_parsing(monkeypatch)
    assert lac("plan", cwd=root).out == first.out


def test_an_edited_manifest_misses_the_cache(lac, root, monkeypatch):
    lac("plan", cwd=root)
    path = root / "manifests" / "reporting.csv"
    path.write_text(path.read_text().replace("Revenue dashboard extract", "Revenue extract"))
    result = lac("plan", "--format", "json", cwd=root)
    assert '"name": "Revenue extract"' in result.out


def test_a_changed_target_setting_misses_the_cache(lac, root):
    lac("plan", cwd=root)
    text = (root / "lac.yaml").read_text().replace("input_handling: PARTIAL", "input_handling: UPSERT")
    (root / "lac.yaml").write_text(text)
    assert "asset the target lacks (UPSERT)" in lac("plan", cwd=root).out


def test_a_corrupt_cache_is_ignored_and_lac_no_cache_bypasses_it(lac, root, monkeypatch):
    expected = lac("plan", cwd=root).out
    for cached in (root / ".lac" / "cache").glob("*.pickle"):
        cached.write_bytes(b"not a pickle")
    assert lac("plan", cwd=root).out == expected
    monkeypatch.setenv("LAC_NO_CACHE", "1")
    forbid_parsing(monkeypatch)
    with pytest.raises(AssertionError, match="manifests were parsed"):
        lac("plan", cwd=root)
