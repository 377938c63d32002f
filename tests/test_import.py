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
from tests.emulators.alation import AlationEmulator
from tests.emulators.atlan import SEARCH, AtlanEmulator
from tests.emulators.base import Faults, Request, Response, serve
from tests.emulators.google import GoogleLineageEmulator
from tests.emulators.secoda import SecodaEmulator
from tests.targets import test_alation, test_atlan, test_google, test_secoda
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


def test_an_adopted_import_shows_the_next_edit_field_by_field(lac, tmp_path, monkeypatch):
    """Adoption records what the target holds as the state's content, so the first edit after an import
    reads as a field-level diff, not only as a changed hash."""
    monkeypatch.setenv(test_atlan.ENV, test_atlan.TOKEN)
    app = AtlanEmulator(test_atlan.TOKEN)
    with serve(app) as server:
        assert lac("apply", "--auto-approve", cwd=atlan_project(tmp_path / "a", server.url)).code == 0
        root = atlan_project(tmp_path / "b", server.url)  # another checkout: nothing in its state
        shutil.rmtree(root / "manifests")
        assert lac("import", "atlan", "--out", "imported", "--adopt", cwd=root).code == 0
        manifest = next((root / "imported").rglob("*.yaml"))
        text = manifest.read_text()
        name = next(line.split("name: ", 1)[1] for line in text.splitlines() if line.strip().startswith("name: "))
        manifest.write_text(text.replace(f"name: {name}\n", "name: Renamed by review\n", 1))
        plan = lac("plan", "imported", cwd=root)
        assert plan.code == 0, plan.err
        assert f'      ~ name: "{name.strip(chr(39) + chr(34))}" -> "Renamed by review"' in plan.out, plan.out


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
        # reads run in parallel, so which request meets every 4th 429 varies from run to run: enough
        # attempts that none gives up by chance (one in a thousand requests would at the default 6)
        make_project(root, test_google.google(server.url, max_attempts=12), manifest)
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


# Alation: the key mapping names every database, so each key maps back to its manifest asset.
ALATION_SOURCES = {**test_alation.SOURCES, "looker/sales": 4}
ALATION_SOURCES.pop("looker")


def alation_project(root: Path, url: str, sources: dict[str, object] | None = None) -> Path:
    make_project(root, test_alation.settings(url, datasource_ids=sources or ALATION_SOURCES))
    return root


def without_transforms(store: Path) -> tuple[set[tuple[str, ...]], set[tuple[str, ...]]]:
    """Table and column edges by process; Alation keeps no column transforms, so they are left out."""
    edges, columns = lineage_rows(store)
    return edges, {c[:5] for c in columns}


def test_alation_round_trip_through_429s_and_5xx_adopted_to_no_changes_and_the_same_lineage(lac, tmp_path,
                                                                                           monkeypatch):
    monkeypatch.setenv(test_alation.ENV, test_alation.TOKEN)
    app = faulty_reads(AlationEmulator)(test_alation.TOKEN)
    with serve(app) as server:
        root = alation_project(tmp_path / "a", server.url)
        assert lac("apply", "--auto-approve", cwd=root).code == 0
        held = app.links("table"), app.links("column")
        app.faults = Faults(throttle_every=2, retry_after=0.01, error_rate=0.3, seed=5)
        result = lac("import", "alation", "--filter", "external_id_prefix=", "--adopt", cwd=root)
        assert result.code == 0, result.err
        assert app.faults_injected.get("429") and app.faults_injected.get("503")
        assert result.out.startswith("4 processes, 5 edges, 7 column edges written to imported")
        assert "adopted" in result.out and "keeps no column transforms" in result.err
        app.faults = Faults()
        plan = lac("plan", "imported", "--detailed-exitcode", cwd=root)
        assert plan.code == 0 and "no changes" in plan.out.lower(), plan.out
        assert (app.links("table"), app.links("column")) == held

    by_hand, imported = project(tmp_path / "b"), tmp_path / "c"
    shutil.copytree(root / "imported", imported / "imported")
    assert lac("apply", "--auto-approve", cwd=by_hand).code == 0
    assert lac("apply", "--auto-approve", "imported", cwd=imported).code == 0
    expected = without_transforms(by_hand / ".lac" / "lineage.duckdb")
    assert without_transforms(imported / ".lac" / "lineage.duckdb") == expected and expected[1]


def test_alation_import_of_a_table_reads_the_dataflows_through_it(lac, tmp_path, monkeypatch):
    monkeypatch.setenv(test_alation.ENV, test_alation.TOKEN)
    app = AlationEmulator(test_alation.TOKEN)
    with serve(app) as server:
        # looker maps to a data source by platform alone: its keys lose the database and cannot be inverted
        root = alation_project(tmp_path, server.url, test_alation.SOURCES)
        assert lac("apply", "--auto-approve", cwd=root).code == 0
        result = lac("import", "alation", "--filter", "table=1.marts.fct_orders", "--adopt", cwd=root)
        assert result.code == 0, result.err
        lineage_reads = [r for r in app.requests("GET") if r.path == test_alation.LINEAGE]
        plan = lac("plan", "imported", "--detailed-exitcode", cwd=root)
    # fct_orders is written by build_fct_orders and read by the dashboard extract and the monthly DAG
    assert result.out.startswith("3 processes, 4 edges"), result.out
    assert len(lineage_reads) == 1
    dashboard = (root / "imported" / "looker" / "_" / "dashboards.yaml").read_text()
    assert "alation: 4.dashboards.revenue" in dashboard
    assert plan.code == 0 and "no changes" in plan.out.lower(), plan.out


def test_alation_import_names_what_it_cannot_answer(lac, tmp_path, monkeypatch):
    monkeypatch.setenv(test_alation.ENV, test_alation.TOKEN)
    app = AlationEmulator(test_alation.TOKEN)
    with serve(app) as server:
        root = alation_project(tmp_path, server.url)
        lac("apply", "--auto-approve", cwd=root)
        unnamed = lac("import", "alation", cwd=root)
        globbed = lac("import", "alation", "--filter", "table=1.marts.*", cwd=root)
        owned = lac("import", "alation", "--owned", "--filter", "external_id_prefix=", cwd=root)
        other_prefix = lac("import", "alation", "--filter", "external_id_prefix=theirs", cwd=root)
        named = lac("import", "alation", "--filter", "dataflow=lac/load_raw_orders,api/lac/gone", cwd=root)
        unknown_table = lac("import", "alation", "--filter", "table=1.raw.typo", "--out", "typo", cwd=root)
    assert unnamed.code == 1 and "lists every dataflow" in unnamed.err and "external_id_prefix" in unnamed.err
    assert globbed.code == 1 and "exact key" in globbed.err
    assert owned.code == 1 and "--all" in owned.err
    assert other_prefix.code == 0 and other_prefix.out.startswith("0 processes") and "api/theirs/" in other_prefix.err
    assert named.code == 0 and named.out.startswith("1 processes") and "1 named dataflow(s) are not in" in named.err
    assert unknown_table.code == 1 and "table 1.raw.typo" in unknown_table.err and not (root / "typo").exists()


def test_csv_import_is_valid_byte_stable_and_round_trips(lac, tmp_path):
    root = project(tmp_path / "a", EXAMPLES)
    assert lac("apply", "--auto-approve", cwd=root).code == 0
    result = lac("import", "local", "--format", "csv", "--adopt", cwd=root)
    assert result.code == 0, result.err
    written = tree(root / "imported")
    assert [n for n in written if n.endswith(".csv")] and ".lac-import.json" in written
    # the Lineage Builder rows name a connection, which only YAML carries
    assert [n for n in written if n.endswith(".yaml")] and "written as YAML" in result.err
    assert lac("validate", "imported", cwd=root).code == 0
    plan = lac("plan", "imported", "--detailed-exitcode", cwd=root)
    assert plan.code == 0 and "no changes" in plan.out.lower(), plan.out
    assert lac("import", "local", "--format", "csv", cwd=root).code == 0
    assert tree(root / "imported") == written

    fresh = tmp_path / "b"
    shutil.copytree(root / "imported", fresh / "imported")
    assert lac("apply", "--auto-approve", "imported", cwd=fresh).code == 0
    assert lineage_rows(fresh / ".lac" / "lineage.duckdb") == lineage_rows(root / ".lac" / "lineage.duckdb")


def test_csv_import_guards_csv_files_it_did_not_write_and_removes_its_own_when_switching_format(lac, tmp_path):
    root = project(tmp_path)
    lac("apply", "--auto-approve", cwd=root)
    assert lac("import", "local", "--format", "csv", cwd=root).code == 0
    csv_files = sorted((root / "imported").rglob("*.csv"))
    (root / "imported" / ".lac-import.json").unlink()  # as if the CSV files had been written by hand
    refused = lac("import", "local", "--format", "csv", cwd=root)
    assert refused.code == 1 and "--force" in refused.err
    assert lac("import", "local", "--format", "csv", "--force", cwd=root).code == 0
    as_yaml = lac("import", "local", cwd=root)
    assert as_yaml.code == 0 and "removed" in as_yaml.out
    assert csv_files and not list((root / "imported").rglob("*.csv"))
    assert not (root / "imported" / ".lac-import.json").exists()


def test_alation_keys_map_back_to_the_assets_they_were_made_from_or_keep_themselves():
    from lineage_as_code.config import Policy, TargetConfig
    from lineage_as_code.model import Asset
    from lineage_as_code.targets.alation.importer import _AssetNames
    from lineage_as_code.targets.alation.translate import AlationKeys

    settings = {"datasource_ids": {**ALATION_SOURCES, "s3": 7}}
    config = TargetConfig("alation", "alation", settings, Policy())
    names = _AssetNames(config, AlationKeys("alation", settings))
    made = [Asset("snowflake", "FINANCE", "reporting", "monthly_revenue"), Asset("postgres", "shop", "public", "orders"),
            Asset("looker", "sales", "dashboards", "revenue"), Asset("s3", "lake", "raw", "2024/orders.csv", "file"),
            Asset("tableau", "site", "views", "sales", "external")]
    for asset in made:
        ref = names.keys.ref(asset)
        assert names.asset((ref.otype, ref.key)) == asset
    unmapped = names.asset(("table", "9.sales.orders"))
    report = names.asset(("bi_report", "5.bi_report.42"))
    assert unmapped.ids == (("alation", "9.sales.orders"),) and names.keys.ref(unmapped).key == "9.sales.orders"
    assert str(names.keys.ref(report)) == "bi_report:5.bi_report.42"
