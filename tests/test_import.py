"""lac import as a user runs it: the embedded store round-trips into manifests that plan to no changes."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import duckdb

from lineage_as_code.config import load_config
from lineage_as_code.project import load_manifests
from tests.conftest import EXAMPLES, FIXTURE
from tests.emulators.atlan import SEARCH, AtlanEmulator
from tests.emulators.base import Faults, Request, Response, serve
from tests.emulators.google import GoogleLineageEmulator
from tests.emulators.secoda import SecodaEmulator
from tests.targets import test_atlan, test_google, test_secoda
from tests.targets.harness import make_project, write_generated


def project(root: Path, source: Path = FIXTURE, state: str = ".lac/state.json") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source / "manifests", root / "manifests")
    text = (source / "lac.yaml").read_text().replace("path: .lac/state.json", f"path: {state}")
    (root / "lac.yaml").write_text(text)
    return root


def lineage_rows(store: Path) -> tuple[set[tuple[str, ...]], set[tuple[str, ...]]]:
    """The store's table edges and column edges, as sets."""
    with duckdb.connect(str(store), read_only=True) as db:
        edges = set(db.execute("SELECT process_id, source, target FROM edges").fetchall())
        columns = set(db.execute("SELECT process_id, source, source_column, target, target_column, "
                                 "coalesce(transform, '') FROM column_edges").fetchall())
    return edges, columns


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_examples_round_trip_adopted_to_no_changes_and_to_the_same_lineage_elsewhere(lac, tmp_path):
    root = project(tmp_path / "a", EXAMPLES)
    assert lac("apply", "--auto-approve", cwd=root).code == 0
    result = lac("import", "local", "--out", "imported", "--adopt", cwd=root)
    assert result.code == 0, result.err
    edges, columns = lineage_rows(root / ".lac" / "lineage.duckdb")
    assert f"{len({e[0] for e in edges})} processes, {len(edges)} edges, {len(columns)} column edges written to " \
           "imported" in result.out
    plan = lac("plan", "imported", "--detailed-exitcode", cwd=root)
    assert plan.code == 0 and "no changes" in plan.out.lower(), plan.out

    fresh = tmp_path / "b"
    shutil.copytree(root / "imported", fresh / "imported")
    assert lac("apply", "--auto-approve", "imported", cwd=fresh).code == 0
    assert lineage_rows(fresh / ".lac" / "lineage.duckdb") == (edges, columns)
    assert columns  # the examples declare column lineage, so the comparison covers it


def test_an_edge_to_an_asset_row_someone_deleted_is_still_imported(lac, tmp_path):
    root = project(tmp_path)
    lac("apply", "--auto-approve", cwd=root)
    with duckdb.connect(str(root / ".lac" / "lineage.duckdb")) as db:
        db.execute("DELETE FROM assets WHERE key = 'snowflake:ANALYTICS.raw.orders'")
    result = lac("import", "local", "--filter", "id=load_raw_orders", cwd=root)
    assert result.code == 0 and "snowflake:ANALYTICS.raw.orders" in (root / "imported/snowflake/ANALYTICS/raw.yaml").read_text()


def test_a_reimport_of_an_unchanged_store_is_byte_identical(lac, tmp_path):
    root = project(tmp_path)
    lac("apply", "--auto-approve", cwd=root)
    assert lac("import", "local", cwd=root).code == 0
    first = tree(root / "imported")
    again = lac("import", "local", cwd=root)
    assert again.code == 0 and tree(root / "imported") == first and len(first) > 1


def test_import_refuses_to_overwrite_files_it_did_not_write_unless_forced(lac, tmp_path):
    root = project(tmp_path)
    lac("apply", "--auto-approve", cwd=root)
    lac("import", "local", cwd=root)
    victim = min((root / "imported").rglob("*.yaml"))
    victim.write_text("version: 1\nprocesses: []\n")
    refused = lac("import", "local", cwd=root)
    assert refused.code == 1 and "--force" in refused.err
    assert victim.read_text() == "version: 1\nprocesses: []\n"
    assert lac("import", "local", "--force", cwd=root).code == 0
    assert "lac import local" in victim.read_text()


def test_a_second_import_removes_its_own_files_that_no_longer_apply(lac, tmp_path):
    root = project(tmp_path)
    lac("apply", "--auto-approve", cwd=root)
    lac("import", "local", cwd=root)
    before = set(tree(root / "imported"))
    narrowed = lac("import", "local", "--filter", "id=load_raw_orders", cwd=root)
    after = set(tree(root / "imported"))
    assert narrowed.code == 0 and "1 processes" in narrowed.out and len(after) == 1 and after < before


def test_adopt_refuses_what_another_projects_marker_owns(lac, tmp_path):
    root = project(tmp_path)
    assert lac("apply", "--auto-approve", cwd=root).code == 0
    other = root / "other.yaml"  # a second project over the same store, with its own state
    other.write_text((root / "lac.yaml").read_text().replace(".lac/state.json", ".other/state.json"))
    refused = lac("import", "local", "--out", "theirs", "--adopt", "-c", str(other), cwd=root)
    assert refused.code == 1 and "another project's ownership marker" in refused.err
    assert not (root / ".other" / "state.json").exists() and not (root / "theirs").exists()
    owned = lac("import", "local", "--out", "mine", "--owned", "-c", str(other), cwd=root)
    assert owned.code == 0 and owned.out.startswith("0 processes")
    assert lac("import", "local", "--out", "theirs", "-c", str(other), cwd=root).code == 0


def test_owned_imports_what_this_project_wrote(lac, tmp_path):
    root = project(tmp_path)
    lac("apply", "--auto-approve", cwd=root)
    state = json.loads((root / ".lac" / "state.json").read_text())
    processes = [a for a in state["targets"]["local"] if a.startswith("process.")]
    owned = lac("import", "local", "--owned", cwd=root)
    assert owned.code == 0 and owned.out.startswith(f"{len(processes)} processes")


def test_huawei_is_refused_with_what_to_do_instead(lac, write, tmp_path):
    write("lac.yaml", """
        version: 1
        manifests: [m/]
        targets:
          dataarts: {type: huawei, endpoint: "http://127.0.0.1:1", project_id: p, workspace: w, token_env: T}
    """)
    result = lac("import", "dataarts", cwd=tmp_path)
    assert result.code == 1 and "no public API" in result.err and "CSV manifest" in result.err
    assert not (tmp_path / "imported").exists()


def test_an_unknown_filter_is_an_error_that_names_the_known_ones(lac, tmp_path):
    root = project(tmp_path)
    lac("apply", "--auto-approve", cwd=root)
    result = lac("import", "local", "--filter", "connection=x", cwd=root)
    assert result.code == 1 and "asset, id" in result.err


def atlan_project(root: Path, url: str, **settings: object) -> Path:
    make_project(root, test_atlan.atlan(url, search_page_size=3, **settings))
    return root


def test_atlan_round_trip_through_paged_searches_with_429s_and_5xx(lac, tmp_path, monkeypatch):
    monkeypatch.setenv(test_atlan.ENV, test_atlan.TOKEN)
    app = AtlanEmulator(test_atlan.TOKEN)
    with serve(app) as server:
        root = atlan_project(tmp_path / "a", server.url)
        assert lac("apply", "--auto-approve", cwd=root).code == 0
        held = app.lineage(), app.lineage("ColumnProcess")
        app.faults = Faults(throttle_every=3, retry_after=0.01, error_rate=0.2, seed=5)
        result = lac("import", "atlan", "--out", "imported", "--adopt", cwd=root)
        assert result.code == 0, result.err
        searches = [r for r in app.requests() if r.path == SEARCH and not r.fault]
        assert app.faults_injected and len(searches) >= 2
        app.faults = Faults()
        plan = lac("plan", "imported", "--detailed-exitcode", cwd=root)
        assert plan.code == 0 and "no changes" in plan.out.lower(), plan.out
        assert (app.lineage(), app.lineage("ColumnProcess")) == held and not app.duplicate_entities()

    by_hand, imported = project(tmp_path / "b"), tmp_path / "c"
    shutil.copytree(root / "imported", imported / "imported")
    assert lac("apply", "--auto-approve", cwd=by_hand).code == 0
    assert lac("apply", "--auto-approve", "imported", cwd=imported).code == 0
    assert lineage_rows(imported / ".lac" / "lineage.duckdb") == lineage_rows(by_hand / ".lac" / "lineage.duckdb")


def test_atlan_import_of_one_connection_and_refusal_of_owned(lac, tmp_path, monkeypatch):
    monkeypatch.setenv(test_atlan.ENV, test_atlan.TOKEN)
    app = AtlanEmulator(test_atlan.TOKEN)
    with serve(app) as server:
        root = atlan_project(tmp_path, server.url)
        lac("apply", "--auto-approve", cwd=root)
        looker = lac("import", "atlan", "--filter", f"connection={test_atlan.LK}", cwd=root)
        owned = lac("import", "atlan", "--owned", "--out", "owned", cwd=root)
    assert looker.code == 0 and looker.out.startswith("1 processes")
    assert owned.code == 1 and "--all" in owned.err and not (root / "owned").exists()


def test_google_import_pages_through_every_process_and_gives_back_the_same_edges(lac, tmp_path, monkeypatch):
    monkeypatch.setenv(test_google.ENV, test_google.TOKEN)
    app = FaultyReadsGoogle(test_google.TOKEN)
    root = tmp_path / "g"
    root.mkdir()
    manifest = write_generated(root / "manifests" / "lineage.yaml", 105, inputs=2, outputs=1, columns=1)
    with serve(app) as server:
        make_project(root, test_google.google(server.url), manifest)
        assert lac("apply", "--auto-approve", cwd=root).code == 0
        app.faults = Faults(throttle_every=4, retry_after=0.01, error_rate=0.1, seed=3)
        result = lac("import", "google", "--out", "imported", "--adopt", cwd=root)
        pages = [r for r in app.requests("GET") if r.path.endswith("/processes")]
        assert app.faults_injected.get("429") and app.faults_injected.get("503")
    assert result.code == 0 and result.out.startswith("105 processes, 210 edges, 105 column edges"), result.err
    assert len(pages) >= 2  # more processes than one page holds
    assert "keeps no column transforms" in result.err and "adopted 105 resource(s)" in result.out
    declared = load_manifests(make_config(root)).lineage
    imported = load_manifests(make_config(root), [str(root / "imported")]).lineage
    assert edge_view(imported) == edge_view(declared)


def test_google_examples_imported_with_adopt_plan_to_no_changes(lac, tmp_path, monkeypatch):
    # The file a process is declared in is recorded on the Process but is not its content: the
    # imported manifests declare the same lineage from other files, and nothing needs writing.
    monkeypatch.setenv(test_google.ENV, test_google.TOKEN)
    app = GoogleLineageEmulator(test_google.TOKEN)
    root = tmp_path / "g"
    root.mkdir()
    with serve(app) as server:
        make_project(root, test_google.google(server.url), EXAMPLES / "manifests")
        assert lac("apply", "--auto-approve", cwd=root).code == 0
        written = len([r for r in app.requests() if r.method != "GET"])
        result = lac("import", "google", "--out", "imported", "--adopt", cwd=root)
        assert result.code == 0 and "not adopted" not in result.err, result.err
        plan = lac("plan", "imported", "--detailed-exitcode", cwd=root)
        assert plan.code == 0 and "no changes" in plan.out.lower(), plan.out
        again = lac("apply", "--auto-approve", "imported", cwd=root)
        assert again.code == 0 and len([r for r in app.requests() if r.method != "GET"]) == written


def faulty_reads(emulator: type) -> type:
    """``emulator`` dealing its write faults (429, 5xx) to reads too: an import only lists."""

    class FaultyReads(emulator):  # type: ignore[misc,valid-type]
        def pre_fault(self, request: Request) -> tuple[str, Response | None]:
            return super().pre_fault(replace(request, method="POST") if request.method == "GET" else request)

    return FaultyReads


FaultyReadsGoogle = faulty_reads(GoogleLineageEmulator)


def test_secoda_manual_lineage_round_trips_through_pages_and_faults_to_no_changes(lac, tmp_path, monkeypatch):
    monkeypatch.setenv(test_secoda.ENV, test_secoda.TOKEN)
    app = faulty_reads(SecodaEmulator)(test_secoda.TOKEN, page_size=3)
    with serve(app) as server:
        root = tmp_path / "s"
        config = make_project(root, test_secoda.target(server.url))
        test_secoda.seed(app, load_manifests(config).lineage)
        assert lac("apply", "--auto-approve", cwd=root).code == 0
        app.faults = Faults(throttle_every=3, retry_after=0.01, error_rate=0.2, seed=5)
        result = lac("import", "secoda", "--out", "imported", "--adopt", cwd=root)
        assert result.code == 0, result.err
        assert app.faults_injected.get("429") and app.faults_injected.get("503")
        app.faults = Faults()
        plan = lac("plan", "imported", "--detailed-exitcode", cwd=root)
        assert plan.code == 0 and "no changes" in plan.out.lower(), plan.out
    by_hand, imported = project(tmp_path / "b"), tmp_path / "c"
    shutil.copytree(root / "imported", imported / "imported")
    assert lac("apply", "--auto-approve", cwd=by_hand).code == 0
    assert lac("apply", "--auto-approve", "imported", cwd=imported).code == 0
    # Secoda has no processes and no transforms: the flows between tables and columns must match
    assert pair_view(imported / ".lac" / "lineage.duckdb") == pair_view(by_hand / ".lac" / "lineage.duckdb")


def pair_view(store: Path) -> tuple[set[tuple[str, ...]], set[tuple[str, ...]]]:
    edges, columns = lineage_rows(store)
    return {e[1:] for e in edges}, {c[1:5] for c in columns}


def make_config(root: Path):
    return load_config(str(root / "lac.yaml"))


def edge_view(lineage):
    """Table and column edges by process id (Google keeps no transforms, so they are left out)."""
    return ({(p.id, i, o) for p in lineage.processes for i, o in p.edges},
            {(p.id, str(s), str(m.target)) for p in lineage.processes for m in p.columns for s in m.sources})
