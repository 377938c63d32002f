"""apply_plan: execute a Plan through its targets, recording state after every batch.

Order per target: creates and updates by ``kind_order`` (assets before processes), then deletes
in reverse order (processes before assets). Batches never exceed the target's capability (or the
policy's smaller ``batch_size``). After each batch the state is written with serial + 1, so a
crash loses at most the batch in flight, and a re-run converges because every write is an
idempotent upsert keyed by a deterministic id. One failed item never fails its batch: it is
reported, its dependents are skipped, and the run ends with ApplyError listing every failure.
"""

from __future__ import annotations

import time
import uuid
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import repeat
from operator import attrgetter
from types import MappingProxyType
from typing import Any

from .errors import ApplyError, ApplyStoppedError, AuthError, MassDeleteError, TargetError
from .plan.build import mass_delete_problem
from .plan.contract import Capabilities, ItemResult, Policy, source_file
from .plan.model import Action, Change, Changes, Plan, TargetPlan, column, take
from .state import State, StateEntry, StateStore, entry_of
from .state.entries import Overlay, settled
from .targets.base import Target


@dataclass
class ApplyReport:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    adopted: int = 0
    failures: list[str] = field(default_factory=list)
    uncertain: list[str] = field(default_factory=list)  # writes whose outcome is unknown (policy hold)
    batches: int = 0
    done: int = 0
    total: int = 0

    def summary(self) -> str:
        return (f"Apply complete: {self.created} created, {self.updated} updated, {self.deleted} deleted"
                + (f", {self.adopted} adopted" if self.adopted else "")
                + (f", {len(self.failures)} failed" if self.failures else "") + "."
                + (f"\n{len(self.uncertain)} write(s) may or may not have landed and are recorded as uncertain "
                   f"({', '.join(self.uncertain[:10])}{' ...' if len(self.uncertain) > 10 else ''}); "
                   "they are not sent again until 'lac apply --retry-uncertain'" if self.uncertain else ""))


def check_mass_delete(plan: Plan, policies: Mapping[str, Policy], state: State, allow: bool) -> None:
    """Raise MassDeleteError when a target would lose more than its policy allows."""
    if allow:
        return
    for t in plan.targets:
        problem = mass_delete_problem(t, policies[t.name], len(state.entries(t.name)))
        if problem:
            raise MassDeleteError(f"target {t.name!r}: {problem}. If the manifests really lost that much lineage, "
                                  "re-run with --allow-mass-delete.")


def _stages(t: TargetPlan, caps: Capabilities, actions: Sequence[Action]) -> list[array[int]]:
    """The positions of the plan's changes in the order they are applied: writes by ``kind_order`` (kinds
    it does not name last), then deletes in the reverse order; each stage keeps the plan's order. One pass,
    over the changes' kinds and actions: a change is made when its batch is sent (``Changes``)."""
    order = {kind: i for i, kind in enumerate(caps.kind_order)}
    last = len(order)
    writes: dict[int, array[int]] = {}
    deletes: dict[int, array[int]] = {}
    for i, (kind, action) in enumerate(zip(column(t.changes, "kind"), actions, strict=True)):
        if action is Action.DELETE:
            deletes.setdefault(order.get(kind, last), array("q")).append(i)
        elif action in (Action.CREATE, Action.UPDATE, Action.ADOPT):
            writes.setdefault(order.get(kind, last), array("q")).append(i)
    return [writes[r] for r in sorted(writes)] + [deletes[r] for r in sorted(deletes, reverse=True)]


class _Recorder:
    """Records each batch's outcome in state, with compare-and-swap on the serial.

    Small batches against a large state would rewrite the whole file hundreds of times, so writes
    are spaced at least ``interval`` seconds apart, and at least twenty times as long as the next write
    is expected to take (the last one's time per entry, times the entries recorded now: a state that
    grows as the apply goes takes longer to write each time), so state writes cost at most about 5% of
    an apply; and always made at the end (also after a failure). A crash can lose only the writes of that
    last interval; every one of them was an idempotent upsert or delete, so the next plan adopts or
    repeats them and converges.
    """

    def __init__(self, store: StateStore, state: State, interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, lineage: str = "",
                 file_of: Callable[[str], str] = lambda name: name) -> None:
        self.store = store
        self.file_of = file_of
        self.deadline: float | None = None
        self.lineage = state.lineage or lineage or str(uuid.uuid4())
        self.written = state
        self.working: dict[str, dict[str, StateEntry] | Overlay] = {}  # targets changed since the last write
        self.content: dict[str, Mapping[str, Any]] = {}  # bodies written since then, by content hash
        self.interval = interval
        self.per_entry = 0.0  # seconds the last write took per entry of the targets it recorded
        self.clock = clock
        self.last = clock()

    def claim(self) -> None:
        """Before the first write of a project whose state has no lineage yet, record the lineage id
        its ownership markers will carry: a run killed before its first state write then leaves
        resources that the next plan still recognises as this project's."""
        if not self.written.lineage:
            pending = replace(self.written, lineage=self.lineage, serial=self.written.serial + 1)
            self.store.write(pending, expected_serial=self.written.serial)
            self.written = pending

    def out_of_time(self) -> bool:
        return self.deadline is not None and self.clock() >= self.deadline

    @property
    def state(self) -> State:
        """The last state written (``flush`` first to include everything recorded)."""
        return self.written

    def record(self, target: str, put: dict[str, StateEntry], drop: set[str],
               content: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        """Record ``put`` and ``drop`` for ``target``, with the bodies the puts were written with (by hash)."""
        if not put and not drop:
            return
        if content:
            self.content.update(content)
        entries = self.working.get(target)
        if entries is None:
            entries = self.working[target] = Overlay.over(self.written.entries(target))
        for address in drop:
            entries.pop(address, None)
        entries.update(put)
        waited = self.clock() - self.last
        if not self.interval or (waited >= self.interval and waited >= 20 * self.per_entry * self._recorded()):
            self.flush()

    def _recorded(self) -> int:
        """The entries of the targets changed since the last write."""
        return sum(map(len, self.working.values()))

    def flush(self) -> None:
        if not self.working:
            return
        targets = dict(self.written.targets)
        # not copied: the recorder lets each working dict go once it is written (and a failed write's
        # state is never seen), so nothing changes it under the state that holds it
        targets.update({t: settled(entries) for t, entries in self.working.items()})
        pending = State(self.lineage, self.written.serial + 1, MappingProxyType(dict(sorted(targets.items()))),
                        self.written.with_content(self.content), self.written.raw_sections())
        started, recorded = self.clock(), self._recorded()
        self.store.write(pending, expected_serial=self.written.serial)
        self.written = pending
        self.working = {}
        self.content = {}
        self.last = self.clock()
        self.per_entry = (self.last - started) / max(recorded, 1)


Advance = Callable[[int, int], None]


class _OutOfTime(Exception):
    """``max_duration`` ran out before the next batch."""


def _entry(change: Change, vendor_id: str, file_of: Callable[[str], str], uncertain: bool = False) -> StateEntry:
    """What state records for a change that landed (or an adoption, or a write of unknown outcome): the
    vendor id, the content hash, whether it is a placeholder, its edges and the manifest file that declared it."""
    return StateEntry(change.kind, vendor_id, change.after_hash, change.placeholder, change.edges,
                      file_of(source_file(change.source)), uncertain)


def _content(changes: Iterable[Change]) -> dict[str, Mapping[str, Any]]:
    """The bodies ``changes`` wrote, by content hash: what the next plan diffs their updates against."""
    return {c.after_hash: c.after for c in changes if c.after is not None and c.after_hash}


def _all_written(batch: Sequence[Change], results: Sequence[ItemResult], file_of: Callable[[str], str]
                 ) -> tuple[dict[str, StateEntry], dict[str, Mapping[str, Any]], int] | None:
    """What state records of a batch of creates and updates that all landed, their results in the batch's
    order (as a target gives them): the entries, the bodies by content hash and the number of creates, read
    field by field from the batch (``plan.model.column``: a batch of creates is made of resources, and a
    million Changes made to be read once cost an apply seconds). None for any other batch: a delete, a
    failure, an uncertain write, results in another order."""
    addresses = list(column(batch, "address"))
    actions = list(column(batch, "action"))
    if len(results) != len(addresses) or Action.DELETE in actions \
            or not all(r.ok and not r.uncertain for r in results) \
            or list(map(attrgetter("address"), results)) != addresses:
        return None
    hashes = list(column(batch, "after_hash"))
    files = map(file_of, map(source_file, column(batch, "source")))
    entries = map(entry_of, zip(column(batch, "kind"), map(attrgetter("id"), results), hashes,
                                 column(batch, "placeholder"), column(batch, "edges"), files, repeat(False)))
    content = {h: after for h, after in zip(hashes, column(batch, "after")) if after is not None and h}
    return dict(zip(addresses, entries)), content, actions.count(Action.CREATE)


def _outcomes(name: str, batch: Sequence[Change], results: Sequence[ItemResult], file_of: Callable[[str], str],
              report: ApplyReport, failed: set[str]) -> tuple[dict[str, StateEntry], set[str], dict[str, Any]]:
    """What state records of a batch, change by change (the entries put, the addresses dropped, the bodies
    written by content hash), its failures and uncertain writes reported, the failed ones added to
    ``failed``."""
    by_address = {r.address: r for r in results}
    put: dict[str, StateEntry] = {}
    drop: set[str] = set()
    for change in batch:
        res = by_address.get(change.address) or ItemResult(change.address, False, error="no result returned")
        if res.uncertain and change.action is not Action.DELETE:
            # Held, not failed: recorded as written-but-unconfirmed so no later run re-sends it blindly.
            put[change.address] = _entry(change, res.id or (change.prior.id if change.prior else ""), file_of,
                                         uncertain=True)
            report.uncertain.append(f"{name}: {change.address}")
            continue
        if not res.ok:
            failed.add(change.address)
            report.failures.append(f"{name}: {change.action.value} {change.address}: {res.error}")
            continue
        if change.action is Action.DELETE:
            drop.add(change.address)
            report.deleted += 1
            continue
        put[change.address] = _entry(change, res.id, file_of)
        if change.action is Action.CREATE:
            report.created += 1
        else:
            report.updated += 1
    return put, drop, _content(c for c in batch if c.address in put)


def _apply_target(t: TargetPlan, target: Target, policy: Policy, recorder: _Recorder, report: ApplyReport,
                  progress: Callable[[str], None], advance: Advance, let_go: bool = False) -> None:
    caps = target.capabilities
    size = max(1, min(caps.max_batch_size, policy.batch_size or caps.max_batch_size))
    failed: set[str] = set()
    changes = t.changes
    actions = list(column(changes, "action"))
    done = changes.let_go if let_go and isinstance(changes, Changes) else lambda _positions: None
    for stage in _stages(t, caps, actions):
        runnable: Sequence[int] = stage
        if failed:
            runnable = []
            for i in stage:
                change = changes[i]
                blocked = [r for r in change.requires if r in failed]
                if blocked:
                    failed.add(change.address)
                    report.failures.append(f"{t.name}: {change.address}: not applied because {blocked[0]} failed")
                else:
                    runnable.append(i)
        adopting = [i for i in runnable if actions[i] is Action.ADOPT]
        adopted = [changes[i] for i in adopting]
        if adopted:  # already in the target as declared: recorded in state, nothing is sent
            recorder.record(t.name, {c.address: _entry(c, c.prior.id if c.prior else "", recorder.file_of)
                                     for c in adopted}, set(), _content(adopted))
            report.adopted += len(adopted)
            report.done += len(adopted)
            advance(report.done, report.total)
        if adopted:
            done(adopting)
            runnable = [i for i in runnable if actions[i] is not Action.ADOPT]
        for lo in range(0, len(runnable), size):
            batch = take(changes, runnable[lo:lo + size])
            if recorder.out_of_time():
                raise _OutOfTime
            try:
                results = target.apply(batch)
            except AuthError:
                raise
            except TargetError as exc:
                results = [ItemResult(c.address, False, error=str(exc)) for c in batch]
            report.batches += 1
            written = _all_written(batch, results, recorder.file_of)
            if written is None:
                recorder.record(t.name, *_outcomes(t.name, batch, results, recorder.file_of, report, failed))
            else:
                put, content, created = written
                recorder.record(t.name, put, set(), content)
                report.created += created
                report.updated += len(put) - created
            report.done += len(batch)
            del batch
            done(runnable[lo:lo + size])
            progress(f"{t.name}: batch {report.batches} applied ({report.done}/{report.total} changes)")
            advance(report.done, report.total)


def apply_plan(plan: Plan, targets: Mapping[str, Target], policies: Mapping[str, Policy], store: StateStore,
               state: State, *, allow_mass_delete: bool = False, state_interval: float = 1.0,
               progress: Callable[[str], None] = lambda _: None,
               advance: Advance = lambda _done, _total: None, lineage: str = "",
               file_of: Callable[[str], str] = lambda name: name,
               max_duration: float | None = None, let_go: bool = False) -> tuple[ApplyReport, State]:
    """Apply every target's changes; return the report and the final state. Raise ApplyError when
    anything failed (state then holds everything that succeeded, so a re-run resumes). ``lineage``
    is the id a state without one gets (the ownership marker the plan's writes carry); ``file_of`` turns
    a manifest's display name into the name state records. With ``max_duration`` (seconds) apply stops
    at the first batch boundary past it and raises ApplyStoppedError once state records what was done.
    With ``let_go``, the plan is the caller's to drop: each change is let go once state records it
    (``Changes.let_go``), and the plan's changes cannot be read afterwards."""
    check_mass_delete(plan, policies, state, allow_mass_delete)
    report = ApplyReport(total=sum(len(t.changes) for t in plan.targets))
    recorder = _Recorder(store, state, state_interval, lineage=lineage, file_of=file_of)
    recorder.claim()
    if max_duration is not None:
        recorder.deadline = recorder.clock() + max_duration
    try:
        for t in plan.targets:
            if t.changes:
                _apply_target(t, targets[t.name], policies[t.name], recorder, report, progress, advance, let_go)
    except _OutOfTime:
        recorder.flush()
        raise ApplyStoppedError(f"stopped at the --max-duration limit after {report.done} of {report.total} "
                                "change(s), at a batch boundary; state records them. Run apply again to resume "
                                f"(it plans what remains).\n{report.summary()}") from None
    finally:
        recorder.flush()
    if report.failures:
        detail = "\n".join(f"  {f}" for f in report.failures[:50])
        more = f"\n  ... and {len(report.failures) - 50} more" if len(report.failures) > 50 else ""
        raise ApplyError(f"{len(report.failures)} change(s) failed; state records everything that succeeded, "
                         f"so re-running apply resumes:\n{detail}{more}\n{report.summary()}")
    return report, recorder.state
