"""One contract, six targets: every target is driven through the CLI the same way, against its
emulator (or a real DuckDB file), and must keep the promises of the plan/target contract.

- a saved plan applies from a fresh process (no state carried on a target object) and converges;
- a tampered saved plan is refused before anything is written;
- removing processes after a plan that filled the translation cache converges to what a clean apply
  of the smaller manifest gives (Alation's shared edges included), or, on a target without a delete,
  is listed for removal by hand;
- a lost state file followed by an apply duplicates nothing and converges;
- each target declares an ambiguous-failure policy it can keep (reconcile only where it can read back);
- a read that says a resource is held as state records it (``as_recorded``) says so only of what is;
- a lineage handed over for its last use translates as a shared one does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from lineage_as_code.targets import open_target
from tests.emulators.base import Faults, serve
from tests.reliability.catalogs import CATALOGS
from tests.targets.harness import make_project, write_generated

TOKEN = "contract-suite-token-51ab"
TARGETS = ["duckdb", *CATALOGS]


@dataclass
class Rig:
    """One target under test: its project folder, a view of what it holds, and its duplicate count."""

    root: Path
    name: str
    view: Callable[[], Any]
    duplicates: Callable[[], int]
    supports_delete: bool = True
    marker: bool = False  # stamps an ownership marker: a lost state is rebuilt from it
    counts_resends: bool = False  # the duplicate counter also counts idempotent re-sends
    app: Any = None  # the emulator (None for DuckDB)

    def manifest(self, processes: int) -> None:
        write_generated(self.root / "m" / "lineage.yaml", processes=processes, inputs=2, outputs=1, columns=2)


def _duckdb_view(path: Path) -> Any:
    if not path.exists():
        return []
    with duckdb.connect(str(path), read_only=True) as db:
        return (db.execute("SELECT address, content_hash, partial FROM assets ORDER BY 1").fetchall(),
                db.execute("SELECT address, content_hash FROM processes ORDER BY 1").fetchall(),
                db.execute("SELECT * FROM edges ORDER BY ALL").fetchall(),
                db.execute("SELECT * FROM column_edges ORDER BY ALL").fetchall())


@contextmanager
def rig(name: str, root: Path, monkeypatch: pytest.MonkeyPatch, processes: int = 6,
        extra: dict[str, Any] | None = None) -> Iterator[Rig]:
    """A project of ``processes`` generated processes applied to nothing yet, for target ``name``."""
    root.mkdir(parents=True, exist_ok=True)
    manifest = root / "m" / "lineage.yaml"
    write_generated(manifest, processes=processes, inputs=2, outputs=1, columns=2)
    if name == "duckdb":
        make_project(root, {"local": {"type": "duckdb", "path": "store.duckdb", **(extra or {})}}, manifest.parent)
        yield Rig(root, name, lambda: _duckdb_view(root / "store.duckdb"), lambda: 0, marker=True)
        return
    catalog = CATALOGS[name]
    monkeypatch.setenv(catalog.token_env, TOKEN)
    app = catalog.emulator(TOKEN, Faults())
    with serve(app) as server:
        settings = catalog.target(server.url, **(extra or {}))
        # What must exist in the vendor first (Secoda's catalog tables), for this size and a larger one.
        seed = write_generated(root / "seed" / "lineage.yaml", processes=processes + 2, inputs=2, outputs=1, columns=2)
        catalog.prepare(app, make_project(root, settings, seed.parent))
        config = make_project(root, settings, manifest.parent)
        yield Rig(root, name, lambda: catalog.view(app), lambda: catalog.duplicates(app),
                  supports_delete=name != "huawei", marker=_marks(config),
                  counts_resends=catalog.counts_resends, app=app)


def _marks(config: Any) -> bool:
    """Whether the target declares an ownership marker (a lost state is then rebuilt from it)."""
    target = open_target(next(iter(config.targets.values())))  # the rig's one target, whatever its name
    try:
        return target.capabilities.ownership_marker
    finally:
        target.close()


@pytest.mark.parametrize("name", TARGETS)
def test_a_saved_plan_applies_from_a_fresh_process_and_converges(name: str, tmp_path: Path, lac: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with rig(name, tmp_path, monkeypatch) as r:
        assert lac("plan", "--out", "plan.json", cwd=tmp_path).code == 0
        applied = lac("apply", "plan.json", cwd=tmp_path)
        assert applied.code == 0, applied.err
        again = lac("plan", "--detailed-exitcode", cwd=tmp_path)
        assert again.code == 0, again.out
        assert r.duplicates() == 0


@pytest.mark.parametrize("name", TARGETS)
def test_a_tampered_saved_plan_is_refused_with_nothing_written(name: str, tmp_path: Path, lac: Any,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    with rig(name, tmp_path, monkeypatch) as r:
        assert lac("apply", "--auto-approve", cwd=tmp_path).code == 0
        r.manifest(7)  # one more process
        assert lac("plan", "--out", "plan.json", cwd=tmp_path).code == 0
        doc = json.loads((tmp_path / "plan.json").read_text())
        changes = doc["targets"][0]["changes"]
        assert changes, "the new process must plan a change"
        changes.append({**changes[0], "address": changes[0]["address"] + "_injected"})
        (tmp_path / "plan.json").write_text(json.dumps(doc))
        held = r.view()
        refused = lac("apply", "plan.json", cwd=tmp_path)
        assert refused.code == 3 and "nothing was changed" in refused.err, refused.err
        assert r.view() == held


@pytest.mark.parametrize("name", TARGETS)
def test_removing_processes_after_a_cached_plan_converges_to_a_clean_apply(name: str, tmp_path: Path, lac: Any,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    with rig(name, tmp_path / "clean", monkeypatch, processes=4) as clean:
        assert lac("apply", "--auto-approve", cwd=clean.root).code == 0
        expected = clean.view()
    with rig(name, tmp_path / "edited", monkeypatch, processes=6) as r:
        assert lac("apply", "--auto-approve", cwd=r.root).code == 0
        r.manifest(4)
        planned = lac("plan", cwd=r.root)  # fills the translation cache; the apply below reads it
        assert planned.code == 0
        applied = lac("apply", "--auto-approve", "--allow-mass-delete", cwd=r.root)
        assert applied.code == 0, applied.err
        if not r.supports_delete:
            assert "Cannot delete on this target" in lac("plan", cwd=r.root).out
            return
        assert r.view() == expected
        assert lac("plan", "--detailed-exitcode", cwd=r.root).code == 0


@pytest.mark.parametrize("name", TARGETS)
def test_a_lost_state_file_then_apply_duplicates_nothing_and_converges(name: str, tmp_path: Path, lac: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    with rig(name, tmp_path, monkeypatch) as r:
        assert lac("apply", "--auto-approve", cwd=tmp_path).code == 0
        held = r.view()
        state = (tmp_path / ".lac" / "state.json").read_text()
        for lost in (tmp_path / ".lac").glob("state.json*"):
            lost.unlink()
        if r.marker:
            refused = lac("plan", cwd=tmp_path)
            assert refused.code == 1 and "lac state rebuild" in refused.err, refused.err
            assert lac("state", "rebuild", cwd=tmp_path).code == 0
            assert json.loads((tmp_path / ".lac" / "state.json").read_text())["targets"] == \
                json.loads(state)["targets"]
        again = lac("apply", "--auto-approve", cwd=tmp_path)
        assert again.code == 0, again.err
        assert r.view() == held
        assert r.counts_resends or r.duplicates() == 0
        assert lac("plan", "--detailed-exitcode", cwd=tmp_path).code == 0


@pytest.mark.parametrize("name", TARGETS)
def test_each_target_declares_an_ambiguous_failure_policy_it_can_keep(name: str, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from lineage_as_code.config import load_config
    from lineage_as_code.plan.contract import AmbiguousFailure
    from lineage_as_code.targets import open_target

    with rig(name, tmp_path, monkeypatch):
        config = load_config(str(tmp_path / "lac.yaml"))
        for tc in config.targets.values():
            target = open_target(tc)
            caps = target.capabilities
            target.close()
            assert caps.ambiguous_failure in set(AmbiguousFailure)
            # reconcile reads the write back before sending it again: only a target that can read can
            if caps.ambiguous_failure is AmbiguousFailure.RECONCILE:
                assert caps.supports_refresh, f"{name} cannot reconcile without reading back"


@pytest.mark.parametrize("name", TARGETS)
def test_a_lineage_handed_over_for_its_last_use_translates_as_a_shared_one(name: str, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A run's last translation is handed the lineage to take apart as it goes (``owned``): whatever a
    target does with it, what it makes is what it makes of a shared lineage, in the same order."""
    from dataclasses import replace

    from lineage_as_code.canonical import canonical_text
    from lineage_as_code.config import load_config
    from lineage_as_code.project import read_manifests

    def made(lineage: Any) -> list[tuple[Any, ...]]:
        target = open_target(next(iter(config.targets.values())))
        try:
            return [(r.address, r.kind, r.source, r.requires, r.edges, r.hash, canonical_text(r.body))
                    for r in target.translate(lineage)]
        finally:
            target.close()

    with rig(name, tmp_path, monkeypatch):
        config = load_config(str(tmp_path / "lac.yaml"))
        loaded = read_manifests(config)
        shared = made(loaded.lineage)
        assert len([m for m in shared if m[1] != "asset"]) >= 6
        assert made(loaded.hand_over()) == shared
        assert made(replace(read_manifests(config).lineage, owned=True)) == shared


# A vendor setting the lac.yaml schema leaves open (the shared ones, such as max_parallel, it checks itself).
VENDOR_NUMBERS = {"google": "operation_timeout", "alation": "poll_interval", "huawei": "catalogs",
                  "secoda": "lookup_chunk_size", "atlan": "search_page_size"}


@pytest.mark.parametrize("name", list(CATALOGS))
def test_a_setting_of_the_wrong_shape_is_refused_up_front_naming_it(name: str, tmp_path: Path) -> None:
    from lineage_as_code.config import parse_config
    from lineage_as_code.errors import ConfigError

    settings = CATALOGS[name].target("https://catalog.example")
    (entry,) = settings.values()
    entry[VENDOR_NUMBERS[name]] = "several"  # valid YAML of the wrong shape: refused when the target is opened
    doc = {"version": 1, "manifests": ["m"], "targets": settings}
    config = parse_config("lac.yaml", json.dumps(doc).encode(), tmp_path)
    with pytest.raises(ConfigError) as excinfo:
        open_target(next(iter(config.targets.values())))
    assert VENDOR_NUMBERS[name] in str(excinfo.value)


@pytest.mark.parametrize("name", list(CATALOGS))
def test_a_refused_token_stops_the_run_with_one_message_naming_the_variable(name: str, tmp_path: Path, lac: Any,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "refused-token-0c41d7"
    with rig(name, tmp_path, monkeypatch) as r:
        assert lac("apply", "--auto-approve", cwd=tmp_path).code == 0
        r.manifest(8)  # two more processes to write (the catalog holds the assets of 8)
        assert lac("plan", "--out", "plan.json", cwd=tmp_path).code == 0
        monkeypatch.setenv(CATALOGS[name].token_env, wrong)  # refused from the first write on
        refused = lac("apply", "plan.json", cwd=tmp_path)
    assert refused.code == 1 and refused.err.count("error:") == 1, refused.err
    assert CATALOGS[name].token_env in refused.err and ("401" in refused.err or "403" in refused.err)
    assert wrong not in refused.out + refused.err
    assert "created" not in refused.out + refused.err  # no per-item failures, no partial summary


@pytest.mark.parametrize("name", CATALOGS)
def test_the_plans_request_estimate_is_what_the_apply_sends(name: str, tmp_path: Path, lac: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.emulators.atlan import SEARCH

    with rig(name, tmp_path, monkeypatch, processes=150) as r:
        planned = lac("plan", "--out", "plan.json", cwd=tmp_path)
        assert planned.code == 0, planned.err
        estimate = json.loads((tmp_path / "plan.json").read_text())["targets"][0]["estimate"]["requests"]
        r.app.log.clear()
        assert lac("apply", "plan.json", cwd=tmp_path).code == 0
        # writes: what a rate limit on writes holds back (Atlan's index search reads through POST)
        sent = [q for q in r.app.log if q.method != "GET" and q.path != SEARCH and not q.fault]
    assert estimate == len(sent), f"{name}: the plan said {estimate} requests, the apply sent {len(sent)}"


@pytest.mark.parametrize("name", TARGETS)
def test_a_row_a_target_reports_as_recorded_is_what_state_records(name: str, tmp_path: Path, lac: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A read may say a resource is held exactly as state records it (``as_recorded``), and a plan then
    makes no Current for it: whatever it says so of must be what its Current says."""
    from lineage_as_code.config import load_config
    from lineage_as_code.plan.contract import KnownResources
    from lineage_as_code.state import open_state_store

    with rig(name, tmp_path, monkeypatch) as r:
        applied = lac("apply", "--auto-approve", cwd=tmp_path)
        assert applied.code == 0, applied.err
        config = load_config(cwd=tmp_path)
        state = open_state_store(config.state_path).read()
        (tc,) = config.targets.values()
        entries = state.entries(tc.name)
        edited = ""
        if name == "duckdb":  # one row edited in place since the apply: it is not as state records it
            with duckdb.connect(str(tmp_path / "store.duckdb")) as db:
                edited = db.execute("UPDATE processes SET name = name || ' (edited)' WHERE address = "
                                    "(SELECT min(address) FROM processes) RETURNING address").fetchone()[0]
        target = open_target(tc)
        try:
            held = target.read([], KnownResources(entries), True)
            recorded = getattr(held, "as_recorded", None)
            if recorded is None:
                return  # the hook is optional: this target's plans make a Current for every row
            said = [a for a in entries if recorded(a)]
            assert said or r.name != "duckdb"  # DuckDB's other rows are as recorded right after an apply
            assert edited not in said
            for address in said:
                entry, current = entries[address], held[address]
                assert (current.kind, current.id, current.hash, current.partial) == \
                    (entry.kind, entry.id, entry.hash, entry.partial), address
        finally:
            target.close()
