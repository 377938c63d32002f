"""apply_plan: order, batching, per-item failures, resumability, and the mass-delete rail."""

from __future__ import annotations

import pytest

from lineage_as_code.apply import apply_plan
from lineage_as_code.config import Policy
from lineage_as_code.errors import ApplyError, MassDeleteError, StateConflictError
from lineage_as_code.plan.build import TargetInput, build_plan
from lineage_as_code.plan.contract import InputHandling
from lineage_as_code.state import StateEntry
from lineage_as_code.state.local import LocalStateStore
from lineage_as_code.targets.base import Capabilities
from lineage_as_code.targets.lineage_resources import lineage_resources
from tests.fake_target import FakeTarget
from tests.plan.test_build import lineage


def plan_for(target: FakeTarget, store: LocalStateStore, text: bytes | None = None, policy: Policy | None = None):
    policy = policy or Policy()
    state = store.read()
    known = state.entries(target.name)
    res = lineage_resources(lineage(text) if text else lineage())
    current = target.read(res, {}, True)
    t = TargetInput(target.name, "fake", target.capabilities, policy, res, current, True)
    assert known is not None
    return build_plan([t], state), state


def run(target, store, text=None, policy=None, allow=False, let_go=False):
    policy = policy or Policy()
    plan, state = plan_for(target, store, text, policy)
    return apply_plan(plan, {target.name: target}, {target.name: policy}, store, state, allow_mass_delete=allow,
                      let_go=let_go)


def test_assets_go_first_in_batches_no_larger_than_the_capability(tmp_path):
    target, store = FakeTarget(), LocalStateStore(str(tmp_path / "s.json"))
    report, state = run(target, store)
    assert [len(b) for b in target.batches] == [3, 1, 2]
    assert all(kind.startswith("asset.") for _, kind in target.batches[0] + target.batches[1])
    assert report.created == 6 and store.read() == state


def test_with_no_write_interval_state_is_written_after_every_batch(tmp_path):
    target, store = FakeTarget(), LocalStateStore(str(tmp_path / "s.json"))
    plan, state = plan_for(target, store)
    written = []
    original = store.write
    store.write = lambda s, expected_serial: (written.append(len(s.entries("fake"))), original(s, expected_serial))
    apply_plan(plan, {"fake": target}, {"fake": Policy()}, store, state, state_interval=0)
    # First the lineage id the writes' ownership markers carry, before any of them; then every batch.
    assert written == [0, 3, 4, 6]


def test_a_run_killed_before_its_first_state_write_leaves_a_state_that_knows_its_lineage(tmp_path):
    target, store = FakeTarget(crash_on_batch=1), LocalStateStore(str(tmp_path / "s.json"))
    plan, state = plan_for(target, store)
    assert state.lineage == ""
    with pytest.raises(ApplyError):
        apply_plan(plan, {"fake": target}, {"fake": Policy()}, store, state, lineage="lineage-1")
    assert store.read().lineage == "lineage-1"


def test_policy_batch_size_lowers_the_batch(tmp_path):
    target, store = FakeTarget(), LocalStateStore(str(tmp_path / "s.json"))
    run(target, store, policy=Policy(batch_size=1))
    assert [len(b) for b in target.batches] == [1] * 6


@pytest.mark.parametrize("mode", [InputHandling.UPSERT, InputHandling.PARTIAL])
def test_state_records_each_write_as_planned_however_the_target_orders_its_answers(tmp_path, mode):
    """A batch whose writes all landed is recorded from its fields; any other, change by change: both record
    each change's vendor id, content hash, placeholder flag, edges, manifest file and body."""
    recorded = []
    for reorder in (False, True):
        target, store = FakeTarget(reorder=reorder), LocalStateStore(str(tmp_path / f"{reorder}.json"))
        plan, state = plan_for(target, store, policy=Policy(input_handling=mode))
        changes = list(plan.targets[0].changes)
        report, _ = apply_plan(plan, {"fake": target}, {"fake": Policy(input_handling=mode)}, store, state)
        written = store.read()
        assert report.created == len(changes) == 6
        assert dict(written.entries("fake")) == {
            c.address: StateEntry(c.kind, "id-" + c.address, c.after_hash, c.placeholder, c.edges, "m.yaml")
            for c in changes}
        assert written.content._everything() == {c.after_hash: dict(c.after) for c in changes}
        recorded.append((dict(written.entries("fake")), written.content._everything()))
    assert recorded[0] == recorded[1]
    assert any(e.partial for e in recorded[0][0].values()) is (mode is InputHandling.PARTIAL)


@pytest.mark.parametrize("let_go", [False, True])
def test_a_failed_item_fails_neither_its_batch_nor_unrelated_work_and_a_rerun_finishes(tmp_path, let_go):
    """Also when each batch's changes are let go once recorded (a console run's apply): a later stage still
    knows which of its changes an earlier failure blocks."""
    target = FakeTarget(fail_addresses={"asset.pg:shop.raw.a"})
    store = LocalStateStore(str(tmp_path / "s.json"))
    with pytest.raises(ApplyError) as info:
        run(target, store, let_go=let_go)
    message = str(info.value)
    assert "create asset.pg:shop.raw.a: injected failure" in message
    assert "process.load: not applied because asset.pg:shop.raw.a failed" in message
    recorded = set(store.read().entries("fake"))
    assert "process.mart" in recorded and "process.load" not in recorded
    target.fail_addresses.clear()
    report, _ = run(target, store, let_go=let_go)
    assert report.created == 2 and not plan_for(target, store)[0].has_changes


def test_a_crash_mid_apply_leaves_state_with_what_landed_and_the_rerun_converges(tmp_path):
    target = FakeTarget(crash_on_batch=2)
    store = LocalStateStore(str(tmp_path / "s.json"))
    with pytest.raises(ApplyError):
        run(target, store)
    assert len(store.read().entries("fake")) == 3
    target.crash_on_batch = None
    run(target, store)
    plan, _ = plan_for(target, store)
    assert not plan.has_changes


def test_processes_are_deleted_before_assets(tmp_path):
    target, store = FakeTarget(), LocalStateStore(str(tmp_path / "s.json"))
    run(target, store)
    target.batches.clear()
    smaller = b"version: 1\ndefaults: {platform: pg, database: shop}\nprocesses:\n  - {id: load, inputs: [raw.a, raw.b], outputs: [stg.c]}\n"
    report, _ = run(target, store, smaller)
    assert target.batches == [[("delete", "process.mart")], [("delete", "asset.pg:shop.mart.d")]]
    assert report.deleted == 2


def test_mass_delete_is_refused_before_anything_is_written(tmp_path):
    target, store = FakeTarget(), LocalStateStore(str(tmp_path / "s.json"))
    run(target, store)
    target.batches.clear()
    one = b"version: 1\nprocesses:\n  - {id: other, inputs: ['x:a.b.c'], outputs: ['x:a.b.d']}\n"
    with pytest.raises(MassDeleteError, match=r"deletes 6 resources, more than max_deletes \(2\)"):
        run(target, store, one, Policy(max_deletes=2))
    assert target.batches == []
    report, _ = run(target, store, one, Policy(max_deletes=2), allow=True)
    assert report.deleted == 6


def test_state_written_by_someone_else_mid_run_is_a_conflict(tmp_path):
    target, store = FakeTarget(caps=Capabilities(max_batch_size=100)), LocalStateStore(str(tmp_path / "s.json"))
    plan, state = plan_for(target, store)
    store.write(state.updated("other", {}, set()), expected_serial=0)
    with pytest.raises(StateConflictError):
        apply_plan(plan, {"fake": target}, {"fake": Policy()}, store, state)


@pytest.mark.parametrize(("seconds_per_entry", "longest_gap"), [(0.002, None), (0.00001, 10.0)])
def test_state_writes_take_at_most_a_twentieth_of_an_apply_whose_state_grows(tmp_path, seconds_per_entry,
                                                                               longest_gap):
    """A state written as an apply goes takes longer to write the more it records: the writes are spaced by
    what the next one is expected to take, so those before the last take at most about 5% of the apply;
    a state that is cheap to write is still written every few seconds."""
    from itertools import pairwise

    from lineage_as_code.apply import _Recorder
    from lineage_as_code.state import StateEntry

    now = [0.0]
    store = LocalStateStore(str(tmp_path / "s.json"))
    written = store.write
    writes: list[tuple[float, float]] = []  # (when it ended, what it took)

    def write(state, expected_serial):
        written(state, expected_serial)
        took = seconds_per_entry * len(state.entries("t"))
        now[0] += took
        writes.append((now[0], took))
    store.write = write
    recorder = _Recorder(store, store.read(), interval=1.0, clock=lambda: now[0], lineage="l")
    for batch in range(200):
        now[0] += 1.0  # a batch sent
        recorder.record("t", {f"asset.a{batch}-{i}": StateEntry("asset", f"a{batch}-{i}", "h") for i in range(100)},
                        set())
    recorder.flush()
    assert len(store.read().entries("t")) == 20_000
    assert sum(took for _, took in writes[:-1]) <= 0.05 * now[0]
    if longest_gap is not None:
        assert max(b - a for a, b in pairwise([0.0, *(end for end, _ in writes)])) <= longest_gap
