"""One contract for every state backend: a local file, S3 (moto), GCS (fake-gcs-server), Azure (Azurite).

Each test runs once per backend; the lock race uses real separate processes.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from lineage_as_code.errors import LockError, StateConflictError, StateError
from lineage_as_code.state import State, StateEntry, open_state_store

RACERS = 3


@dataclass
class Backend:
    location: str
    put_raw: Callable[[bytes], None]
    env: dict[str, str]


@pytest.fixture(params=["local", "s3", "gs", "az"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        path = tmp_path / "lac" / "state.json"

        def write_file(data: bytes) -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

        return Backend(str(path), write_file, {})
    bucket = request.getfixturevalue({"s3": "s3_bucket", "gs": "gcs_bucket", "az": "azure_container"}[request.param])

    def put_object(data: bytes) -> None:
        bucket.put("lac/state.json", data)

    return Backend(bucket.uri("lac/state.json"), put_object, bucket.env)


def _next(state: State, address: str = "asset.a") -> State:
    return state.updated("local", {address: StateEntry("asset", f"id-{address}", "h1")}, set())


def test_a_new_store_reads_an_empty_state(backend: Backend) -> None:
    assert open_state_store(backend.location).read() == State()


def test_a_write_reads_back_with_the_next_serial(backend: Backend) -> None:
    store = open_state_store(backend.location)
    first = _next(State())
    store.write(first, expected_serial=0)
    second = _next(first, "asset.b")
    store.write(second, expected_serial=1)

    again = open_state_store(backend.location).read()
    assert (again.serial, again.lineage) == (2, first.lineage)
    assert dict(again.entries("local")) == {"asset.a": StateEntry("asset", "id-asset.a", "h1"),
                                            "asset.b": StateEntry("asset", "id-asset.b", "h1")}


def test_a_stale_serial_is_refused_and_the_state_kept(backend: Backend) -> None:
    store = open_state_store(backend.location)
    first = _next(State())
    store.write(first, expected_serial=0)
    with pytest.raises(StateConflictError, match="re-run plan"):
        store.write(_next(first, "asset.late"), expected_serial=0)
    assert store.read() == first


def test_two_runs_that_read_the_same_state_cannot_both_write(backend: Backend) -> None:
    one, two = open_state_store(backend.location), open_state_store(backend.location)
    seen_by_one, seen_by_two = one.read(), two.read()
    one.write(_next(seen_by_one, "asset.one"), expected_serial=seen_by_one.serial)
    with pytest.raises(StateConflictError):
        two.write(_next(seen_by_two, "asset.two"), expected_serial=seen_by_two.serial)
    assert list(open_state_store(backend.location).read().entries("local")) == ["asset.one"]


def test_a_held_lock_names_its_holder_and_the_way_out(backend: Backend) -> None:
    store = open_state_store(backend.location)
    held = store.lock("apply")
    with pytest.raises(LockError) as err:
        open_state_store(backend.location).lock("plan")
    message = str(err.value)
    assert f"lock {held.id} held by {held.who} for apply" in message
    assert f"lac force-unlock {held.id}" in message
    store.unlock(held)
    store.unlock(store.lock("apply"))  # free again


def test_force_unlock_needs_the_holders_id(backend: Backend) -> None:
    store = open_state_store(backend.location)
    with pytest.raises(LockError, match="not locked"):
        store.force_unlock("0f0f0f0f-0000-4000-8000-000000000000")
    held = store.lock("apply")
    with pytest.raises(LockError, match="does not match"):
        store.force_unlock("0f0f0f0f-0000-4000-8000-000000000000")
    open_state_store(backend.location).force_unlock(held.id)
    store.unlock(store.lock("apply"))


def test_a_corrupt_state_is_reported_not_replaced(backend: Backend) -> None:
    backend.put_raw(b"{not json")
    store = open_state_store(backend.location)
    with pytest.raises(StateError, match="corrupt"):
        store.read()
    with pytest.raises(StateError, match="corrupt"):
        store.write(_next(State()), expected_serial=0)


def _race_for_lock(location: str, env: dict[str, str], barrier: object, results: object) -> None:
    os.environ.update(env)
    store = open_state_store(location)
    barrier.wait()  # type: ignore[attr-defined]
    try:
        held = store.lock("race")
        results.put(("won", held.id))  # type: ignore[attr-defined]
    except LockError as exc:
        results.put(("lost", str(exc)))  # type: ignore[attr-defined]


def test_processes_racing_for_the_lock_exactly_one_wins(backend: Backend) -> None:
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters, like separate lac runs
    barrier, results = ctx.Barrier(RACERS), ctx.Queue()
    racers = [ctx.Process(target=_race_for_lock, args=(backend.location, backend.env, barrier, results))
              for _ in range(RACERS)]
    for p in racers:
        p.start()
    outcomes = [results.get(timeout=60) for _ in racers]
    for p in racers:
        p.join(timeout=30)

    winners = [detail for kind, detail in outcomes if kind == "won"]
    assert len(winners) == 1, outcomes
    losers = [detail for kind, detail in outcomes if kind == "lost"]
    assert all("is locked" in m for m in losers), losers
    assert all(f"lock {winners[0]} held by" in m for m in losers), losers
    open_state_store(backend.location).force_unlock(winners[0])


def test_the_cli_works_on_state_in_the_backend(backend: Backend, lac, write, tmp_path: Path) -> None:
    shutil.copytree(Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "small" / "manifests",
                    tmp_path / "manifests")
    write("lac.yaml", f"""
        version: 1
        manifests: [manifests/]
        state: {{path: "{backend.location}"}}
        targets: {{local: {{type: duckdb, path: {tmp_path / 'lineage.duckdb'}}}}}
        """)
    applied = lac("apply", "--auto-approve", "--auto-approve", cwd=tmp_path)
    assert "Apply complete: 10 created" in applied.out, applied.err
    listed = lac("state", "list", cwd=tmp_path)
    assert "local\tprocess.build_fct_orders\t" in listed.out
    assert lac("plan", "--detailed-exitcode", cwd=tmp_path).code == 0

    held = open_state_store(backend.location).lock("apply")
    blocked = lac("apply", "--auto-approve", "--auto-approve", cwd=tmp_path)
    assert blocked.code == 1 and held.id in blocked.err
    assert lac("force-unlock", held.id, cwd=tmp_path).out.strip() == f"Lock {held.id} removed."
    assert lac("apply", "--auto-approve", "--auto-approve", cwd=tmp_path).code == 0


def _threads_race_for_lock(location: str, racers: int) -> tuple[list[str], list[str]]:
    """``racers`` threads released together each try to take the lock once: (winning ids, refusals)."""
    import threading

    start = threading.Barrier(racers)
    won: list[str] = []
    refused: list[str] = []

    def take() -> None:
        start.wait()
        try:
            won.append(open_state_store(location).lock("apply").id)
        except LockError as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=take) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return won, refused


def test_a_racer_never_sees_a_half_written_local_lock(tmp_path: Path) -> None:
    """Threads racing for one local lock: every loser names the winner, never 'unreadable lock file'."""
    location = str(tmp_path / "lac" / "state.json")
    for _ in range(60):
        won, refused = _threads_race_for_lock(location, 4)
        assert len(won) == 1 and len(refused) == 3
        assert all(f"lock {won[0]} held by" in message for message in refused), refused
        open_state_store(location).force_unlock(won[0])
        assert not list((tmp_path / "lac").glob(".*.tmp"))


def test_a_state_laid_out_by_hand_is_still_compared_before_it_is_replaced(backend: Backend) -> None:
    """A write compares serials from the state's first line where this tool laid it out; a state
    pretty-printed by hand has no such line and is read whole for it, never taken as absent."""
    import json

    first = _next(State())
    laid_out = json.dumps(json.loads(first.to_json()), indent=2).encode()
    assert not laid_out.startswith(first.to_json()[:30])
    backend.put_raw(laid_out)
    store = open_state_store(backend.location)
    with pytest.raises(StateConflictError, match="serial 1, expected 0"):
        store.write(_next(first, "asset.late"), expected_serial=0)
    store.write(_next(first, "asset.b"), expected_serial=1)
    assert open_state_store(backend.location).read().serial == 2
