"""The fault matrix: every HTTP target applies a generated manifest while its emulator injects one
kind of fault at a set rate; the lineage the emulator then holds must equal a clean run's (nothing
missing), with nothing stored twice, and a further plan must find no changes.

Faults: 429 with and without Retry-After, 500/502/503, read timeouts, connections dropped before
the write is processed and after it (the ambiguous case). ``make test`` runs one mixed profile per
target; ``make reliability`` runs every fault at 5% and 20%.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lineage_as_code.errors import ApplyError
from lineage_as_code.state import open_state_store
from tests.emulators.base import Faults, serve
from tests.reliability.catalogs import CATALOGS, Catalog, http_stats
from tests.reliability.figures import Figures
from tests.targets.harness import apply, make_project, plan, write_generated

TOKEN = "fault-matrix-token-3c9e"
PROCESSES = 40
RETRY = {"retry_base_delay": 0.01, "max_attempts": 12, "timeout": 0.5}
# Batches of one make every process its own request, so a 5% rate still lands on several writes.
SMALL_BATCHES = {"alation": {"max_dataflows_per_request": 1}, "atlan": {"batch_size": 2}}


def faults(kind: str, rate: float, seed: int) -> Faults:
    every = max(2, round(1 / rate))
    return {
        "429 + Retry-After": Faults(throttle_every=every, retry_after=0.01, seed=seed),
        "429, no Retry-After": Faults(throttle_every=every, retry_after=None, seed=seed),
        "500": Faults(error_rate=rate, error_status=500, seed=seed),
        "502": Faults(error_rate=rate, error_status=502, seed=seed),
        "503": Faults(error_rate=rate, error_status=503, seed=seed),
        "read timeout": Faults(timeout_rate=rate, timeout_seconds=1.0, seed=seed),
        "drop before": Faults(drop_rate=rate, seed=seed),
        "drop after": Faults(drop_after_rate=rate, seed=seed),
        "mixed": Faults(throttle_every=every, retry_after=0.01, error_rate=rate / 2, drop_after_rate=rate / 2,
                        drop_rate=rate / 4, seed=seed),
    }[kind]


def run_once(catalog: Catalog, root: Path, fault: Faults, manifest: Path,
             monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Apply ``manifest`` under ``fault``; return the emulator's view and what it took."""
    root.mkdir(parents=True, exist_ok=True)
    app = catalog.emulator(TOKEN, fault)
    outcome: dict[str, Any] = {"applies": 0, "failed items": 0}
    with serve(app) as server, http_stats(monkeypatch) as stats:
        config = make_project(root, catalog.target(server.url, **RETRY, **SMALL_BATCHES.get(catalog.name, {})),
                              manifests=manifest)
        catalog.prepare(app, config)  # in-process seeding: no request, so no fault is spent on it
        for _ in range(3):  # an item that exhausted its retries is re-applied, as the error message says
            outcome["applies"] += 1
            try:
                # A write held as uncertain (policy hold) is re-sent only when asked, as the plan says.
                apply(config, retry_uncertain=outcome["applies"] > 1)
                if not _held(config):
                    break
            except ApplyError as exc:
                outcome["failed items"] += int(str(exc).split(" change(s) failed")[0])
        outcome["replan changes"] = len(plan(config).changes)
        app.faults = Faults()
    outcome.update(view=catalog.view(app), duplicates=catalog.duplicates(app), injected=dict(app.faults_injected),
                   stats=stats, requests=len(app.log))
    return outcome


def _held(config: Any) -> bool:
    """Whether state records a write of unknown outcome (a target whose ambiguous-failure policy is hold)."""
    state = open_state_store(config.state_path).read()
    return any(e.uncertain for entries in state.targets.values() for e in entries.values())


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Each catalog's view after a clean apply of the same manifest (computed lazily, once)."""
    return {}


def check_cell(catalog: Catalog, kind: str, rate: float, tmp_path: Path, references: dict[str, Any],
               figures: Figures, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = write_generated(tmp_path / "m" / "gen.yaml", processes=PROCESSES, inputs=2, outputs=1, columns=1)
    monkeypatch.setenv(catalog.token_env, TOKEN)
    if catalog.name not in references:
        references[catalog.name] = run_once(catalog, tmp_path / "clean", Faults(), manifest, monkeypatch)["view"]
    seed = sum(map(ord, f"{catalog.name}{kind}{rate}"))
    got = run_once(catalog, tmp_path / "faulted", faults(kind, rate, seed), manifest, monkeypatch)
    stats = got["stats"]
    lost = got["view"] != references[catalog.name]
    figures.add("Fault matrix", {
        "target": catalog.name, "fault": kind, "rate": f"{rate:.0%}", "injected": sum(got["injected"].values()),
        "requests": got["requests"], "retries": stats["retries"], "applies": got["applies"],
        "items retried by re-apply": got["failed items"], "lost or wrong": "yes" if lost else 0,
        "duplicated": got["duplicates"], "re-plan changes": got["replan changes"]})
    assert got["view"] == references[catalog.name]
    assert got["duplicates"] == 0 and got["replan changes"] == 0
    assert sum(got["injected"].values()) > 0


@pytest.mark.parametrize("name", list(CATALOGS))
def test_mixed_faults_end_in_exactly_the_manifests(name: str, tmp_path: Path, references: dict[str, Any],
                                                   figures: Figures, monkeypatch: pytest.MonkeyPatch) -> None:
    check_cell(CATALOGS[name], "mixed", 0.1, tmp_path, references, figures, monkeypatch)


FULL_KINDS = ["429 + Retry-After", "429, no Retry-After", "500", "502", "503", "read timeout", "drop before",
              "drop after"]


@pytest.mark.reliability_full
@pytest.mark.parametrize("rate", [0.05, 0.2])
@pytest.mark.parametrize("kind", FULL_KINDS)
@pytest.mark.parametrize("name", list(CATALOGS))
def test_fault_matrix_ends_in_exactly_the_manifests(name: str, kind: str, rate: float, tmp_path: Path,
                                                    references: dict[str, Any], figures: Figures,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    check_cell(CATALOGS[name], kind, rate, tmp_path, references, figures, monkeypatch)
