"""build_plan: desired resources vs state and what each target holds -> a Plan. Pure: no I/O, no clock.

Ownership: state is the ledger of what this tool created. Only addresses in state are updated or
deleted; lineage a target holds that state does not know is reported as unmanaged, never touched.
Input handling (Atlan Lineage Builder's vocabulary) decides what happens to assets the target
lacks: UPSERT creates them, PARTIAL creates placeholders, UPDATE skips whatever depends on them
(or fails the plan when ``fail_on_errors``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..config import InputHandling, Policy
from ..errors import PlanError
from ..state import State, StateEntry
from ..targets.base import ASSET, Capabilities, Current, Resource
from .model import Action, Change, Plan, Skip, TargetPlan


@dataclass(frozen=True)
class TargetInput:
    """Everything build_plan needs to know about one target, gathered by the caller."""

    name: str
    type: str
    capabilities: Capabilities
    policy: Policy
    desired: Sequence[Resource]
    current: Mapping[str, Current]
    refreshed: bool = False
    column_edges: int = 0
    notes: tuple[str, ...] = field(default=())


def _before(entry: StateEntry) -> dict[str, object]:
    before: dict[str, object] = {"id": entry.id, "hash": entry.hash, "kind": entry.kind, "partial": entry.partial}
    if entry.edges:
        before["edges"] = [list(e) for e in entry.edges]
    return before


class _Lookup:
    """Find what a target holds at an address, honouring case_sensitive_match."""

    def __init__(self, current: Mapping[str, Current], case_sensitive: bool) -> None:
        self.case_sensitive = case_sensitive
        self.exact = current
        self.folded = {} if case_sensitive else {k.casefold(): v for k, v in current.items()}

    def get(self, address: str) -> Current | None:
        hit = self.exact.get(address)
        if hit is None and not self.case_sensitive:
            hit = self.folded.get(address.casefold())
        return hit


def asset_hash(res: Resource, partial: bool) -> str:
    """The recorded hash of an asset: its content and whether it is a placeholder."""
    return f"{res.hash}:{'partial' if partial else 'full'}"


def _asset_change(res: Resource, entry: StateEntry | None, held: Current | None, t: TargetInput) -> Change | str | None:
    """A Change for one asset, ``"missing"`` when UPDATE mode cannot resolve it, None when nothing to do."""
    mode = t.policy.input_handling
    partial = mode is InputHandling.PARTIAL
    if entry is None and held is not None:
        return None  # it exists and is not ours: use it, never touch it
    if entry is None:
        if mode is InputHandling.UPDATE:
            return "missing"
        body = {**res.body, "partial": partial}
        reason = "placeholder for an asset the target lacks (PARTIAL)" if partial else "asset the target lacks (UPSERT)"
        return Change(t.name, res.address, res.kind, Action.CREATE, body, asset_hash(res, partial), None, res.source,
                      reason)
    partial = entry.partial if mode is InputHandling.UPDATE else partial
    digest = asset_hash(res, partial)
    if digest == entry.hash and not (t.refreshed and held is None):
        return None
    body = {**res.body, "partial": partial}
    if t.refreshed and held is None:
        return Change(t.name, res.address, res.kind, Action.CREATE, body, digest, _before(entry), res.source,
                      "recorded in state but missing from the target")
    return Change(t.name, res.address, res.kind, Action.UPDATE, body, digest, _before(entry), res.source)


def _resource_change(res: Resource, entry: StateEntry | None, held: Current | None, t: TargetInput) -> Change | None:
    if entry is None:
        reason = "exists in the target; will be adopted" if held is not None else ""
        return Change(t.name, res.address, res.kind, Action.CREATE, dict(res.body), res.hash, None, res.source, reason,
                      res.requires, res.edges)
    if t.refreshed and held is None:
        return Change(t.name, res.address, res.kind, Action.CREATE, dict(res.body), res.hash, _before(entry), res.source,
                      "recorded in state but missing from the target", res.requires, res.edges)
    drifted = t.refreshed and held is not None and held.hash is not None and held.hash != entry.hash
    if res.hash != entry.hash or drifted:
        reason = "changed in the target since the last apply" if res.hash == entry.hash else ""
        return Change(t.name, res.address, res.kind, Action.UPDATE, dict(res.body), res.hash, _before(entry), res.source,
                      reason, res.requires, res.edges)
    return None


def build_target_plan(t: TargetInput, state: Mapping[str, StateEntry]) -> TargetPlan:
    """Diff one target; raise PlanError when its policy cannot be honoured."""
    caps, policy = t.capabilities, t.policy
    if policy.input_handling not in caps.modes:
        honoured = ", ".join(sorted(m.value for m in caps.modes))
        raise PlanError(f"target {t.name!r} ({t.type}) cannot honour input_handling {policy.input_handling.value}: "
                        f"it honours only {honoured}. Set input_handling for this target in lac.yaml.")
    lookup = _Lookup(t.current, policy.case_sensitive_match)
    changes: list[Change] = []
    skipped: list[Skip] = []
    unresolved: dict[str, str] = {}
    unchanged = 0
    for res in (r for r in t.desired if r.kind == ASSET):
        entry = state.get(res.address)
        outcome = _asset_change(res, entry, lookup.get(res.address), t)
        if outcome == "missing":
            unresolved[res.address] = f"{res.address} not found in {t.name} (UPDATE mode creates no assets)"
        elif isinstance(outcome, Change):
            changes.append(outcome)
        elif entry is not None:
            unchanged += 1
    kept: set[str] = set()
    for res in (r for r in t.desired if r.kind != ASSET):
        missing = [unresolved[a] for a in res.requires if a in unresolved]
        if missing:
            unresolved[res.address] = missing[0]
            skipped.append(Skip(t.name, res.address, "skipped: " + "; ".join(missing), res.source))
            if res.address in state:
                kept.add(res.address)
            continue
        change = _resource_change(res, state.get(res.address), lookup.get(res.address), t)
        if change is None:
            unchanged += 1
        else:
            changes.append(change)
    if skipped and policy.fail_on_errors:
        lines = "\n".join(f"  {s.source}: {s.address}: {s.reason}" for s in skipped)
        raise PlanError(f"target {t.name!r}: {len(skipped)} resource(s) reference assets the target lacks "
                        f"(input_handling UPDATE, fail_on_errors true):\n{lines}")
    desired = {r.address for r in t.desired}
    warnings = list(t.notes)
    for address in sorted(set(state) - desired - kept):
        entry = state[address]
        if not caps.supports_delete:
            skipped.append(Skip(t.name, address, f"no longer in the manifests, but {t.type} offers no delete: "
                                "remove it by hand", cannot_delete=True))
            continue
        reason = "already gone from the target" if t.refreshed and lookup.get(address) is None else ""
        changes.append(Change(t.name, address, entry.kind, Action.DELETE, None, "", _before(entry), "", reason))
    for address in sorted(kept):
        warnings.append(f"{address} is kept as it was: this run skipped it")
    if t.column_edges and not caps.supports_column_lineage:
        warnings.append(f"{t.column_edges} column edge(s) not sent: {t.type} does not take column lineage")
    unmanaged = sorted(a for a, c in t.current.items() if c.kind != ASSET and a not in state and a not in desired)
    return TargetPlan(
        name=t.name, type=t.type, changes=tuple(sorted(changes, key=lambda c: c.address)), unchanged=unchanged,
        skipped=tuple(sorted(skipped, key=lambda s: s.address)), unmanaged=tuple(unmanaged),
        warnings=tuple(warnings), refreshed=t.refreshed,
    )


def build_plan(inputs: Sequence[TargetInput], state: State, manifest_digest: str = "",
               manifests: Sequence[tuple[str, str]] = ()) -> Plan:
    """Return the Plan for every target in ``inputs``, sorted by target then address."""
    targets = tuple(build_target_plan(t, state.entries(t.name)) for t in sorted(inputs, key=lambda t: t.name))
    return Plan(targets, state.lineage, state.serial, manifest_digest, tuple(sorted(manifests)))
