"""Two real ``lac apply`` processes racing on one project, for every state backend (a local file,
S3 on moto, GCS on fake-gcs-server, Azure on Azurite): exactly one applies; the other stops at once
with exit 1 and a message naming the lock holder; the catalog ends as one clean apply leaves it.

The store-level race of three processes for the lock is in ``tests/state/test_contract.py``; this
is the same guarantee seen from the command line, with an apply slow enough that the two overlap.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.emulators.base import Faults, serve
from tests.reliability.catalogs import CATALOGS
from tests.reliability.figures import Figures
from tests.targets.harness import make_project, write_generated

REPO = Path(__file__).resolve().parents[2]
TOKEN = "race-token-2b8f"
BUCKETS = {"s3": "s3_bucket", "gs": "gcs_bucket", "az": "azure_container"}


def state_location(backend: str, request: pytest.FixtureRequest) -> str:
    if backend == "local":
        return ".lac/state.json"
    return str(request.getfixturevalue(BUCKETS[backend]).uri("race/state.json"))


def race(root: Path) -> list[tuple[int, subprocess.CompletedProcess[str]]]:
    """Start two ``lac apply`` at once; return (pid, result) of each."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-m", "lineage_as_code", "apply", "--auto-approve"], cwd=root,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append((proc.pid, subprocess.CompletedProcess(proc.args, proc.returncode, out, err)))
    return results


def _from_is_locked(stderr: str) -> str:
    """The loser's message without the temporary path in front, for the figures."""
    return "... " + stderr[stderr.find("is locked"):].strip()[:110]


@pytest.mark.parametrize("backend", ["local", "s3", "gs", "az"])
def test_two_applies_racing_exactly_one_proceeds_the_other_names_the_holder(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest, lac: Any, figures: Figures,
        monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = CATALOGS["atlan"]
    monkeypatch.setenv(catalog.token_env, TOKEN)
    manifest = write_generated(tmp_path / "m" / "gen.yaml", processes=30, inputs=2, outputs=1)
    state = state_location(backend, request)
    clean_app, app = catalog.emulator(TOKEN, Faults()), catalog.emulator(TOKEN, Faults(latency=0.01))
    with serve(clean_app) as server:
        (tmp_path / "clean").mkdir()
        make_project(tmp_path / "clean", catalog.target(server.url, batch_size=1), manifests=manifest)
        assert lac("apply", "--auto-approve", cwd=tmp_path / "clean").code == 0
    with serve(app) as server:
        (tmp_path / "race").mkdir()
        make_project(tmp_path / "race", catalog.target(server.url, batch_size=1), manifests=manifest)
        lac_yaml = tmp_path / "race" / "lac.yaml"
        lac_yaml.write_text(lac_yaml.read_text().replace("path: .lac/state.json", f"path: {state}"))
        results = race(tmp_path / "race")
        again = lac("plan", "--detailed-exitcode", cwd=tmp_path / "race")
    winners = [(pid, r) for pid, r in results if r.returncode == 0]
    losers = [(pid, r) for pid, r in results if r.returncode != 0]
    figures.add("Concurrency (two lac apply racing)", {
        "state backend": backend, "proceeded": len(winners), "refused": len(losers),
        "loser's message": _from_is_locked(losers[0][1].stderr) if losers else "",
        "duplicated": catalog.duplicates(app)})
    assert len(winners) == 1 and len(losers) == 1, results
    (winner_pid, winner), (_, loser) = winners[0], losers[0]
    assert "Apply complete: " in winner.stdout
    assert loser.returncode == 1 and "is locked: lock " in loser.stderr and "Traceback" not in loser.stderr
    assert f"pid {winner_pid} for apply" in loser.stderr
    assert "force-unlock" in loser.stderr
    assert catalog.view(app) == catalog.view(clean_app) and catalog.duplicates(app) == 0
    assert again.code == 0, again.out
