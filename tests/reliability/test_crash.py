"""Crash consistency: ``lac apply`` killed with SIGKILL at seeded random points, then re-run.

Each trial starts a real ``lac apply`` process, kills it after a random number of applied batches
plus a random few milliseconds (so the kill lands inside a vendor write, a DuckDB transaction or a
state write), then recovers the way a user would: ``lac apply`` names the dead run's lock,
``lac force-unlock`` removes it, ``lac apply`` again. The target must then hold exactly what a
clean apply gives, with nothing stored twice, and ``lac plan --detailed-exitcode`` must exit 0.
State is written at most once a second, so the kill often loses state for writes that landed:
the re-run must adopt them, not duplicate them.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from lineage_as_code.state import open_state_store
from tests.emulators.base import Faults, serve
from tests.reliability.catalogs import CATALOGS
from tests.reliability.figures import Figures
from tests.targets.harness import make_project, write_generated

REPO = Path(__file__).resolve().parents[2]
TOKEN = "crash-trial-token-71d2"
FAST, FULL = 2, 20
TABLES = {
    "assets": "address, key, platform, database, schema, name, type, connection, partial, content_hash",
    "processes": "address, id, name, description, sql, owner, attributes, content_hash",
    "edges": "process_id, source, target",
    "column_edges": "process_id, source, source_column, target, target_column, transform",
}


@dataclass
class Trial:
    """One trial's project: where it lives, how to read its target, and the state location."""

    root: Path
    view: Callable[[], Any]
    duplicates: Callable[[], int]
    resends: Callable[[], int] = lambda: 0
    state: str = ".lac/state.json"
    marker: bool = False  # the target stamps ownership markers: state must come back whole


def recorded(trial: Trial) -> dict[str, Any]:
    """What state records per address, vendor ids aside (an HTTP vendor may mint new ones)."""
    location = trial.state if "://" in trial.state else str(trial.root / trial.state)
    state = open_state_store(location).read()
    return {t: {a: (e.kind, e.hash, e.partial, e.edges) for a, e in entries.items()}
            for t, entries in state.targets.items()}


def pruned(lac: Any, trial: Trial, manifest: Path) -> Any:
    """Empty the manifest and apply: what the target holds afterwards."""
    manifest.write_text("version: 1\nprocesses: []\n")
    result = lac("apply", "--auto-approve", "--allow-mass-delete", cwd=trial.root)
    assert result.code == 0, result.err
    return trial.view()


def duckdb_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with duckdb.connect(str(path), read_only=True) as db:
        return {table: sorted(db.execute(f"SELECT {cols} FROM {table}").fetchall(), key=repr)
                for table, cols in TABLES.items()}


def duckdb_trial(root: Path, manifest: Path, state: str) -> Trial:
    targets = {"local": {"type": "duckdb", "path": ".lac/lineage.duckdb"}}
    make_project(root, targets, manifests=manifest, defaults={"batch_size": 10})
    text = (root / "lac.yaml").read_text().replace("path: .lac/state.json", f"path: {state}")
    (root / "lac.yaml").write_text(text)
    db = root / ".lac" / "lineage.duckdb"
    return Trial(root, lambda: duckdb_rows(db),
                 lambda: sum(len(rows) - len(set(rows)) for rows in duckdb_rows(db).values()), state=state, marker=True)


def killed_apply(root: Path, batches: int, jitter: float) -> str:
    """Run ``lac apply`` and SIGKILL it ``jitter`` s after its ``batches``-th progress line."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "lineage_as_code", "apply", "--auto-approve"], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen = 0
    while seen < batches:
        line = proc.stderr.readline()
        if not line:
            break
        seen += " applied (" in line
    if proc.poll() is None:
        try:
            proc.wait(timeout=jitter)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    return "killed" if proc.returncode == -signal.SIGKILL else "finished first"


def recover(lac: Any, root: Path) -> tuple[bool, Any]:
    """What a user does after a crash; return (a stale lock was removed, the final apply's result)."""
    result = lac("apply", "--auto-approve", cwd=root)
    held = re.search(r"run 'lac force-unlock (\S+)'", result.err)
    if result.code == 1 and held:
        assert lac("force-unlock", held.group(1), cwd=root).code == 0
        return True, lac("apply", "--auto-approve", cwd=root)
    return False, result


def run_trials(kind: str, trials: int, make: Callable[[Path], Iterator[Trial]], tmp_path: Path, lac: Any,
               figures: Figures) -> None:
    """``make(root)`` yields a fresh trial project (its target served for as long as the trial runs)."""
    with contextmanager(make)(tmp_path / "clean") as clean:
        assert lac("apply", "--auto-approve", cwd=clean.root).code == 0
        reference, reference_state = clean.view(), recorded(clean)
        batches = lac("apply", "--auto-approve", cwd=clean.root)  # a no-op, for the batch count below
        left = pruned(lac, clean, _manifest_of(clean.root))
    assert "No changes" in batches.out
    rng = random.Random(f"crash-{kind}")
    tally = {"trials": trials, "killed mid-apply": 0, "stale locks removed": 0, "writes re-sent": 0, "failures": 0}
    problems: list[str] = []
    for i in range(trials):
        with contextmanager(make)(tmp_path / f"trial-{i}") as trial:
            outcome = killed_apply(trial.root, rng.randint(0, 12), rng.uniform(0, 0.05))
            tally["killed mid-apply"] += outcome == "killed"
            unlocked, final = recover(lac, trial.root)
            tally["stale locks removed"] += unlocked
            again = lac("plan", "--detailed-exitcode", cwd=trial.root)
            view, duplicated = trial.view(), trial.duplicates()
            state_differs = trial.marker and recorded(trial) != reference_state
            tally["writes re-sent"] += trial.resends()
            prune_differs = trial.marker and pruned(lac, trial, _manifest_of(trial.root)) != left
        wrong = [name for name, bad in (("apply failed", final.code != 0), ("differs from a clean apply",
                                        view != reference), ("duplicates", duplicated),
                                        ("plan not empty", again.code != 0),
                                        ("state differs from a clean apply's", state_differs),
                                        ("pruning leaves more than a clean run", prune_differs)) if bad]
        if wrong:
            tally["failures"] += 1
            problems.append(f"trial {i}: {', '.join(wrong)}: {final.err[-300:]}")
    figures.add("Crash consistency (SIGKILL, then apply)", {"target": kind, **tally})
    assert not problems, problems
    assert tally["killed mid-apply"] > 0


def _duckdb_maker(manifest: Path, state: Callable[[Path], str]) -> Callable[[Path], Iterator[Trial]]:
    def make(root: Path) -> Iterator[Trial]:
        root.mkdir(parents=True)
        yield duckdb_trial(root, manifest, state(root))
    return make


def _http_maker(name: str, manifest: Path) -> Callable[[Path], Iterator[Trial]]:
    catalog = CATALOGS[name]

    def make(root: Path) -> Iterator[Trial]:
        root.mkdir(parents=True)
        app = catalog.emulator(TOKEN, Faults(latency=0.002))
        with serve(app) as server:
            extra = {"retry_base_delay": 0.01, "batch_size": 4}
            config = make_project(root, catalog.target(server.url, **extra), manifests=manifest)
            catalog.prepare(app, config)
            if catalog.counts_resends:
                yield Trial(root, lambda: catalog.view(app), lambda: 0, lambda: catalog.duplicates(app))
            else:
                yield Trial(root, lambda: catalog.view(app), lambda: catalog.duplicates(app))
    return make


def _manifest_of(root: Path) -> Path:
    """The trial project's own copy of the manifest (make_project copies it into the project)."""
    return next((root / "manifests").glob("*.yaml"))


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    return write_generated(tmp_path / "m" / "gen.yaml", processes=120, inputs=2, outputs=1, columns=1)


def _local_state(root: Path) -> str:
    return ".lac/state.json"


def test_sigkill_during_a_duckdb_apply_then_apply_equals_a_clean_apply(manifest: Path, tmp_path: Path, lac: Any,
                                                                      figures: Figures) -> None:
    run_trials("duckdb, local state", FAST, _duckdb_maker(manifest, _local_state), tmp_path, lac, figures)


def test_sigkill_during_an_http_apply_then_apply_equals_a_clean_apply(manifest: Path, tmp_path: Path, lac: Any,
                                                                     figures: Figures,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CATALOGS["atlan"].token_env, TOKEN)
    run_trials("atlan, local state", FAST, _http_maker("atlan", manifest), tmp_path, lac, figures)


@pytest.mark.reliability_full
def test_full_sigkill_duckdb_local_state(manifest: Path, tmp_path: Path, lac: Any, figures: Figures) -> None:
    run_trials("duckdb, local state", FULL, _duckdb_maker(manifest, _local_state), tmp_path, lac, figures)


@pytest.mark.reliability_full
def test_full_sigkill_duckdb_state_in_s3(manifest: Path, tmp_path: Path, lac: Any, figures: Figures,
                                        s3_bucket: Any) -> None:
    maker = _duckdb_maker(manifest, lambda root: s3_bucket.uri(f"{root.name}/state.json"))
    run_trials("duckdb, state in S3 (moto)", FULL, maker, tmp_path, lac, figures)


@pytest.mark.reliability_full
@pytest.mark.parametrize("name", list(CATALOGS))
def test_full_sigkill_http_targets(name: str, manifest: Path, tmp_path: Path, lac: Any, figures: Figures,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CATALOGS[name].token_env, TOKEN)
    run_trials(f"{name}, local state", FULL, _http_maker(name, manifest), tmp_path, lac, figures)
