"""The mass-delete guard: a manifest accidentally emptied, or a source that lists nothing, must not
wipe a target. The plan shows the deletions (and the Markdown plan warns); apply refuses more than
``max_deletes`` unless ``--allow-mass-delete`` is given; a source that yields no manifest at all is
an error before any target is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.emulators.base import Faults, serve
from tests.reliability.catalogs import CATALOGS
from tests.reliability.figures import Figures
from tests.targets.harness import make_project, write_generated

PROCESSES = 150
EMPTIED = "version: 1\nprocesses: []\n"


def process_count(root: Path) -> int:
    with duckdb.connect(str(root / ".lac" / "lineage.duckdb"), read_only=True) as db:
        row = db.execute("SELECT count(*) FROM processes").fetchone()
    return int(row[0]) if row else 0


@pytest.fixture
def applied(tmp_path: Path, lac: Any) -> Path:
    """A DuckDB project with 150 processes applied (max_deletes: 100, the default)."""
    manifest = write_generated(tmp_path / "m" / "lineage.yaml", processes=PROCESSES)
    make_project(tmp_path, {"local": {"type": "duckdb", "path": ".lac/lineage.duckdb"}}, manifests=manifest.parent)
    assert lac("apply", "--auto-approve", cwd=tmp_path).code == 0
    assert process_count(tmp_path) == PROCESSES
    return tmp_path


def test_an_emptied_manifest_is_planned_as_deletes_and_refused_until_allowed(applied: Path, lac: Any,
                                                                             figures: Figures) -> None:
    (applied / "m" / "lineage.yaml").write_text(EMPTIED)
    planned = lac("plan", cwd=applied)
    markdown = lac("plan", "--format", "markdown", cwd=applied)
    refused = lac("apply", "--auto-approve", cwd=applied)
    kept = process_count(applied)
    allowed = lac("apply", "--auto-approve", "--allow-mass-delete", cwd=applied)
    figures.add("Mass-delete guard", {"case": "manifest emptied (duckdb, 150 processes, max_deletes 100)",
                                      "plan": planned.out.strip().splitlines()[-1], "apply": refused.err.strip()[:120],
                                      "processes kept": kept, "with --allow-mass-delete": allowed.out.strip().splitlines()[-1]})
    assert "to delete" in planned.out and f"- process.proc_{PROCESSES - 1:05d}" in planned.out
    assert "> [!WARNING]" in markdown.out and "**deletes " in markdown.out
    assert refused.code == 1 and "more than max_deletes (100)" in refused.err and "--allow-mass-delete" in refused.err
    assert kept == PROCESSES
    assert allowed.code == 0 and process_count(applied) == 0


def test_deletes_within_max_deletes_apply_without_the_flag(applied: Path, lac: Any) -> None:
    write_generated(applied / "m" / "lineage.yaml", processes=PROCESSES - 20)
    result = lac("apply", "--auto-approve", cwd=applied)
    assert result.code == 0 and process_count(applied) == PROCESSES - 20


@pytest.mark.parametrize("case", ["empty file", "empty folder"])
def test_a_source_that_yields_nothing_is_an_error_before_any_target_is_touched(case: str, applied: Path,
                                                                              lac: Any, figures: Figures) -> None:
    if case == "empty file":
        (applied / "m" / "lineage.yaml").write_text("")
    else:
        (applied / "m" / "lineage.yaml").unlink()
    planned = lac("plan", cwd=applied)
    applied_again = lac("apply", "--auto-approve", "--allow-mass-delete", cwd=applied)
    figures.add("Mass-delete guard", {"case": f"{case} (duckdb)", "plan": planned.err.strip().splitlines()[0],
                                      "apply": f"exit {applied_again.code}", "processes kept": process_count(applied)})
    assert planned.code == applied_again.code == 1
    assert process_count(applied) == PROCESSES


def test_a_bucket_prefix_that_lists_nothing_is_an_error(s3_bucket: Any, tmp_path: Path, lac: Any,
                                                        figures: Figures) -> None:
    s3_bucket.put("lineage/lineage.yaml", write_generated(tmp_path / "g.yaml", processes=20).read_bytes())
    make_project(tmp_path, {"local": {"type": "duckdb", "path": ".lac/lineage.duckdb"}},
                 manifests=s3_bucket.uri("lineage/"))
    assert lac("apply", "--auto-approve", cwd=tmp_path).code == 0
    (tmp_path / "lac.yaml").write_text((tmp_path / "lac.yaml").read_text().replace("lineage/", "lineage-typo/"))
    result = lac("apply", "--auto-approve", "--allow-mass-delete", cwd=tmp_path)
    figures.add("Mass-delete guard", {"case": "S3 prefix that lists nothing", "plan": "",
                                      "apply": result.err.strip()[:120], "processes kept": process_count(tmp_path)})
    assert result.code == 1 and "no manifest" in result.err
    assert process_count(tmp_path) == 20


def test_an_http_target_keeps_its_lineage_when_the_manifest_is_emptied(tmp_path: Path, lac: Any, figures: Figures,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = CATALOGS["atlan"]
    monkeypatch.setenv(catalog.token_env, "mass-delete-token")
    app = catalog.emulator("mass-delete-token", Faults())
    manifest = write_generated(tmp_path / "m" / "lineage.yaml", processes=30)
    with serve(app) as server:
        make_project(tmp_path, catalog.target(server.url, max_deletes=10), manifests=manifest)
        assert lac("apply", "--auto-approve", cwd=tmp_path).code == 0
        before = catalog.view(app)
        manifest.write_text(EMPTIED)
        refused = lac("apply", "--auto-approve", cwd=tmp_path)
        kept = catalog.view(app)
        allowed = lac("apply", "--auto-approve", "--allow-mass-delete", cwd=tmp_path)
    figures.add("Mass-delete guard", {"case": "manifest emptied (atlan, 30 processes, max_deletes 10)",
                                      "apply": refused.err.strip()[:120], "processes kept": len(kept[0]),
                                      "with --allow-mass-delete": allowed.out.strip().splitlines()[-1]})
    assert refused.code == 1 and "more than max_deletes (10)" in refused.err
    assert kept == before and len(kept[0]) == 30
    assert allowed.code == 0 and catalog.view(app) == ({}, {})
