"""build_plan: desired resources vs state and what each target holds -> a Plan. Pure: no I/O, no clock.

Ownership: state is the ledger of what this tool created. Only addresses in state are updated or
deleted; lineage a target holds that state does not know is reported as unmanaged, never touched.
A resource a target holds with this project's ownership marker is ours even when state lost it
(a crash between the vendor write and the state write): it is adopted (state only) or, when no
manifest declares it any more, deleted. Input handling (Atlan Lineage Builder's vocabulary)
decides what happens to assets the target lacks: UPSERT creates them, PARTIAL creates
placeholders, UPDATE skips whatever depends on them (or fails the plan when ``fail_on_errors``).
A plan of some of the project's files (``scope``) prunes only what those files declared.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import repeat
from operator import attrgetter
from typing import Any

from ..canonical import plain_dict
from ..errors import PlanError
from ..state import State, StateEntry
from ..state.content import Content
from ..state.entries import files_of, hash_lookup
from .contract import ASSET, Capabilities, Current, InputHandling, Policy, Resource, ResourceTable
from .creates import After, Creates, asset_hash, placed_flag, written
from .impact import build_impacts
from .model import Action, Change, Changes, Plan, PlanScope, Skip, TargetPlan


@dataclass(frozen=True)
class TargetInput:
    """Everything build_plan needs to know about one target, gathered by the caller.

    ``in_scope`` says whether a state entry's manifest file is covered by this plan (None: the
    whole project is, so everything in state may be pruned).
    """

    name: str
    type: str
    capabilities: Capabilities
    policy: Policy
    desired: Sequence[Resource]
    current: Mapping[str, Current]
    refreshed: bool = False
    column_edges: int = 0
    notes: tuple[str, ...] = field(default=())
    in_scope: Callable[[str], bool] | None = None


# What a target holds at an address exactly as state's entry there records it (its read said so: ``as_recorded``):
# present, and not known to differ from that entry. Only ever read beside that entry.
_AS_RECORDED = Current("", "", "", None)


class _Lookup:
    """Find what a target holds at an address, honouring case_sensitive_match."""

    def __init__(self, current: Mapping[str, Current], case_sensitive: bool) -> None:
        self.case_sensitive = case_sensitive
        self.exact = current
        self.folded = {} if case_sensitive else {k.casefold(): v for k, v in current.items()}
        self.recorded: Callable[[str], bool] | None = getattr(current, "as_recorded", None)

    def get(self, address: str) -> Current | None:
        hit = self.exact.get(address)
        if hit is None and self.folded:  # (empty when case_sensitive)
            hit = self.folded.get(address.casefold())
        return hit

    def held(self, address: str, entry: StateEntry | None) -> Current | None:
        """What the target holds at ``address``, beside state's ``entry`` there: ``_AS_RECORDED`` when the
        target's read found it as ``entry`` records it (a re-plan of a million unchanged rows makes no
        Current for them)."""
        if entry is not None and self.recorded is not None and self.recorded(address):
            return _AS_RECORDED
        return self.get(address)


@dataclass(frozen=True)
class _Context:
    t: TargetInput
    lineage: str  # the state lineage id: what this project's ownership markers carry ('' before the first apply)
    owner: str  # the marker new writes carry: the state lineage, or the one the first apply will give it
    creates: Creates  # the create of a resource neither state nor the target holds

    def ours(self, held: Current | None) -> bool:
        return bool(held is not None and self.lineage and held.owner == self.lineage)

    def change(self, res: Resource, action: Action, after_hash: str, prior: StateEntry | None, reason: str = "",
               placeholder: bool = False, body: Mapping[str, object] | None = None) -> Change:
        return Change(self.t.name, res.address, res.kind, action, body if body is not None else written(res.body),
                      after_hash, prior, res.source, reason, res.requires, res.edges, placeholder, None, self.owner)


def _held_entry(held: Current, file: str = "") -> StateEntry:
    """What the target was read to hold, as a state entry (adoptions and orphans of this project)."""
    return StateEntry(held.kind, held.id, held.hash or "", held.partial, (), file)


def _asset_change(res: Resource, entry: StateEntry | None, held: Current | None, ctx: _Context) -> Change | str | None:
    """A Change for one asset, ``"missing"`` when UPDATE mode cannot resolve it, None when nothing to do."""
    mode = ctx.t.policy.input_handling
    partial = mode is InputHandling.PARTIAL
    if entry is None and held is not None and not ctx.ours(held):
        return None  # it exists and is not ours: use it, never touch it
    if entry is None and held is not None:  # ours by its marker, lost from state
        partial = held.partial if mode is InputHandling.UPDATE else partial
        digest = asset_hash(res, partial)
        if held.hash == digest:
            return ctx.change(res, Action.ADOPT, digest, _held_entry(held), "carries this project's ownership "
                              "marker; recorded in state again", partial, After(res.body, partial))
        return ctx.change(res, Action.UPDATE, digest, _held_entry(held), "carries this project's ownership marker",
                          partial, After(res.body, partial))
    if entry is None:
        return "missing" if mode is InputHandling.UPDATE else ctx.creates(res)
    partial = entry.partial if mode is InputHandling.UPDATE else partial
    digest = asset_hash(res, partial)
    gone = ctx.t.refreshed and held is None
    if digest == entry.hash and not gone:
        return None
    body = After(res.body, partial)
    if gone:
        return ctx.change(res, Action.CREATE, digest, entry, "recorded in state but missing from the target", partial,
                          body)
    return ctx.change(res, Action.UPDATE, digest, entry, "", partial, body)


def _resource_change(res: Resource, entry: StateEntry | None, held: Current | None, ctx: _Context) -> Change | None:
    if entry is None:
        if (held is not None and held.hash == res.hash and ctx.t.capabilities.adopt_by_hash
                and (ctx.ours(held) or not held.owner)):
            return ctx.change(res, Action.ADOPT, res.hash, _held_entry(held), "exists in the target as declared; "
                              "recorded in state")
        if held is not None and held.owner and not ctx.ours(held):
            raise PlanError(f"{res.source}: {res.address} exists in target {ctx.t.name!r} and carries another "
                            f"project's ownership marker ({held.owner}); this project will not take it over. If it "
                            "is this project's and its state file was lost, run 'lac state rebuild'")
        if held is None:
            return ctx.creates(res)
        return ctx.change(res, Action.CREATE, res.hash, _held_entry(held), "exists in the target; will be adopted")
    if ctx.t.refreshed and held is None:
        return ctx.change(res, Action.CREATE, res.hash, entry, "recorded in state but missing from the target")
    drifted = ctx.t.refreshed and held is not None and held.hash is not None and held.hash != entry.hash
    if res.hash != entry.hash or drifted:
        reason = "changed in the target since the last apply" if res.hash == entry.hash else ""
        return ctx.change(res, Action.UPDATE, res.hash, entry, reason)
    return None


def _skip_or_fail(t: TargetInput, skipped: list[Skip]) -> None:
    if skipped and t.policy.fail_on_errors:
        lines = "\n".join(f"  {s.source}: {s.address}: {s.reason}" for s in skipped)
        raise PlanError(f"target {t.name!r}: {len(skipped)} resource(s) reference assets the target lacks "
                        f"(input_handling UPDATE, fail_on_errors true):\n{lines}")


def check_mode(name: str, type_: str, caps: Capabilities, policy: Policy) -> None:
    """Raise PlanError when a target cannot honour the policy's input handling; callers check this
    before reading the target, so a refused mode sends no request."""
    if policy.input_handling not in caps.modes:
        honoured = ", ".join(sorted(m.value for m in caps.modes))
        raise PlanError(f"target {name!r} ({type_}) cannot honour input_handling {policy.input_handling.value}: "
                        f"it honours only {honoured}. Set input_handling for this target in lac.yaml.")


def _folded(edge: tuple[str, str]) -> tuple[str, str]:
    return edge[0].casefold(), edge[1].casefold()


class _Declared:
    """Which desired resources declare each table edge, built on first use (only deletes and
    shrinking updates ask). A change that takes edges away carries, as private data, the edges
    other resources still declare and those resources themselves: a vendor whose edge delete is
    not scoped to one process (Alation) puts them back from there, with no state kept on the target."""

    def __init__(self, desired: Sequence[Resource]) -> None:
        self.desired = desired
        self.index: dict[tuple[str, str], list[Resource]] | None = None

    def kept(self, change: Change) -> Change:
        prior = change.prior
        removed = set(prior.edges) - set(change.edges) if prior is not None else set()
        if not removed:
            return change
        if self.index is None:
            # Casefolded: a vendor whose keys ignore case (Alation) deletes every spelling of an edge.
            self.index = {}
            for r in self.desired:
                for e in r.edges:
                    self.index.setdefault(_folded(e), []).append(r)
        carriers = {r.address: r for e in removed for r in self.index.get(_folded(e), ())
                    if r.address != change.address}
        if not carriers:
            return change
        kept = sorted([list(e) for e in removed
                       if any(r.address in carriers for r in self.index.get(_folded(e), ()))])
        private = {"edges_still_declared": kept,
                   "declared_by": [{"address": r.address, "kind": r.kind, "body": dict(r.body),
                                    "edges": [list(e) for e in r.edges]} for _, r in sorted(carriers.items())]}
        return replace(change, private=private)


def _unchanged_test(t: TargetInput, state: Mapping[str, StateEntry],
                    lookup: _Lookup) -> Callable[[str, str], bool] | None:
    """Where state keeps its entries as columns (``hash_lookup``), a test of whether the resource at an address
    is unchanged without making its entry: state records that very hash there, and (when the target was read)
    the target holds it as state records it (``as_recorded``). None where there is no such test. A resource
    the test does not pass is looked at in full, so the test only ever spares work: a million unchanged
    resources make no entry."""
    hash_of = hash_lookup(state)
    if hash_of is None:
        return None
    if not t.refreshed:
        return lambda address, digest: hash_of(address) == digest
    held = lookup.recorded
    if held is None:
        return None
    return lambda address, digest: hash_of(address) == digest and held(address)


def _desired_rows(desired: Sequence[Resource], hashes: bool
                  ) -> tuple[Callable[[], Iterator[tuple[Any, str, str, str]]], Callable[[Any], Resource]]:
    """How ``_desired_changes`` walks ``desired``: a walk giving each resource's handle (what a pending create
    keeps: the resource, or its position in a ``ResourceTable``), address, kind and hash (only when
    ``hashes``: a table's are made as they are read, and a first plan compares none); and the resource of a
    handle. A table's walk reads its columns: a resource found unchanged, or left pending, is never made."""
    if isinstance(desired, ResourceTable):
        table = desired
        return (lambda: zip(range(len(table)), table.addresses, table.kinds,
                            table.hashes if hashes else repeat(""))), table.__getitem__
    return (lambda: ((r, r.address, r.kind, r.hash) for r in desired)), (lambda r: r)


def _desired_changes(t: TargetInput, state: Mapping[str, StateEntry], ctx: _Context,
                     lookup: _Lookup) -> tuple[list[Change | Resource | int], list[Skip], set[str], int]:
    """Changes for what the manifests declare; returns (changes, skipped, kept addresses, unchanged). The
    create of a resource that neither state nor the target holds is left pending: the resource, or its
    position in the target's table, stands for it (``Changes``)."""
    changes: list[Change | Resource | int] = []
    skipped: list[Skip] = []
    unresolved: dict[str, str] = {}
    unchanged = 0
    pending = t.policy.input_handling is not InputHandling.UPDATE  # (UPDATE creates no asset)
    flag = placed_flag(t.policy.input_handling is InputHandling.PARTIAL)  # (``asset_hash``)
    entry_of, held_at, add = state.get, lookup.held, changes.append
    same = _unchanged_test(t, state, lookup)
    rows, resource = _desired_rows(t.desired, same is not None)
    for handle, address, kind, digest in rows():
        if kind != ASSET:
            continue
        if same is not None and pending and same(address, digest + flag):
            unchanged += 1
            continue
        entry = entry_of(address)
        held = held_at(address, entry)
        if entry is None and held is None and pending:
            add(handle)
            continue
        outcome = _asset_change(resource(handle), entry, held, ctx)
        if outcome == "missing":
            unresolved[address] = f"{address} not found in {t.name} (UPDATE mode creates no assets)"
        elif isinstance(outcome, Change):
            changes.append(outcome)
        elif entry is not None:
            unchanged += 1
    kept: set[str] = set()
    for handle, address, kind, digest in rows():
        if kind == ASSET:
            continue
        if unresolved:
            res = resource(handle)
            missing = [unresolved[a] for a in res.requires if a in unresolved]
            if missing:
                unresolved[address] = missing[0]
                skipped.append(Skip(t.name, address, "skipped: " + "; ".join(missing), res.source))
                if address in state:
                    kept.add(address)
                continue
        if same is not None and same(address, digest):
            unchanged += 1
            continue
        entry = entry_of(address)
        held = held_at(address, entry)
        if entry is None and held is None:
            add(handle)
            continue
        change = _resource_change(resource(handle), entry, held, ctx)
        if change is None:
            unchanged += 1
        else:
            add(change)
    return changes, skipped, kept, unchanged


def _removals(t: TargetInput, state: Mapping[str, StateEntry], ctx: _Context, lookup: _Lookup,
              kept: set[str], desired: set[str]) -> tuple[list[Change], list[Skip], int]:
    """Deletes of what state owns (in scope) and of this project's marked orphans; what cannot be deleted."""
    caps = t.capabilities
    changes: list[Change] = []
    skipped: list[Skip] = []
    out_of_scope = 0
    in_scope = t.in_scope
    used_elsewhere: set[str] = set()  # asset keys the lineage this plan leaves alone still uses
    if in_scope is not None and not all(map(in_scope, files_of(state))):  # (most plans cover every file)
        used_elsewhere = {k for e in state.values() if e.kind != ASSET and not in_scope(e.file)
                          for edge in e.edges for k in edge}
    for address in sorted(set(state) - desired - kept):
        entry = state[address]
        if in_scope is not None and (not in_scope(entry.file) or (
                entry.kind == ASSET and address.removeprefix(ASSET + ".") in used_elsewhere)):
            out_of_scope += 1
            continue
        if not caps.supports_delete:
            skipped.append(Skip(t.name, address, f"no longer in the manifests, but {t.type} offers no delete: "
                                "remove it by hand", cannot_delete=True))
            continue
        reason = "already gone from the target" if t.refreshed and lookup.get(address) is None else ""
        changes.append(Change(t.name, address, entry.kind, Action.DELETE, None, "", entry, "", reason))
    if t.in_scope is None and caps.supports_delete:
        for address in sorted(a for a in t.current if a not in state and a not in desired):
            held = t.current[address]
            if ctx.ours(held):
                changes.append(Change(t.name, address, held.kind, Action.DELETE, None, "", _held_entry(held), "",
                                      "carries this project's ownership marker but is missing from state"))
    return changes, skipped, out_of_scope


def _edges_left_behind(t: TargetInput, changes: Sequence[Change | Resource | int]) -> list[Skip]:
    """On a target without delete, the table edges an update stops declaring: the re-sent resource may
    not replace what it held (the vendor does not say), so they are listed for removal by hand."""
    found = []
    for c in changes:
        if type(c) is Change and c.action is Action.UPDATE and c.prior is not None:
            for source, target in sorted(set(c.prior.edges) - set(c.edges)):
                found.append(Skip(t.name, f"{c.address}: {source} -> {target}",
                                  f"{c.address} no longer declares this edge, but {t.type} offers no delete: "
                                  "remove it by hand", c.source, cannot_delete=True))
    return found


def mass_delete_problem(t: TargetPlan, policy: Policy, managed: int) -> str:
    """Why deleting ``t``'s deletes needs --allow-mass-delete ('' when it does not): more than
    ``max_deletes``, or more than ``max_delete_fraction`` of the ``managed`` resources."""
    deletes = t.count(Action.DELETE)
    if deletes > policy.max_deletes:
        return f"the plan deletes {deletes} resources, more than max_deletes ({policy.max_deletes})"
    if deletes and deletes > policy.max_delete_fraction * managed:
        share = f"{deletes / managed:.0%} of the {managed}" if managed else f"{deletes} of the 0"
        return (f"the plan deletes {share} resources this project manages there, more than max_delete_fraction "
                f"({policy.max_delete_fraction:g})")
    return ""


def _with_prior_body(changes: list[Change | Resource | int], content: Content | None
                     ) -> list[Change | Resource | int]:
    """Each change with the body its state entry was written with, when state holds it (a pending create
    replaces nothing)."""
    if not content:
        return changes
    bodies = content.get_many(c.prior.hash for c in changes if type(c) is Change and c.prior is not None)
    return [replace(c, prior_body=bodies[c.prior.hash])
            if type(c) is Change and c.prior is not None and c.prior.hash in bodies else c for c in changes]


def build_target_plan(t: TargetInput, state: Mapping[str, StateEntry], lineage: str = "",
                      owner: str = "", content: Content | None = None) -> TargetPlan:
    """Diff one target; raise PlanError when its policy cannot be honoured. ``content`` is state's
    bodies by content hash (the prior side of each update's field-level diff)."""
    check_mode(t.name, t.type, t.capabilities, t.policy)
    table = t.desired if isinstance(t.desired, ResourceTable) else None
    creates = Creates(t.name, owner or lineage, t.policy.input_handling is InputHandling.PARTIAL, table)
    ctx = _Context(t, lineage, owner or lineage, creates)
    lookup = _Lookup(t.current, t.policy.case_sensitive_match)
    changes, skipped, kept, unchanged = _desired_changes(t, state, ctx, lookup)
    _skip_or_fail(t, skipped)
    # (asked for only when state or the target holds something: a first plan needs no set of a million addresses)
    desired: set[str] = (set(table.addresses) if table is not None else {r.address for r in t.desired}
                         ) if state or t.current else set()
    removals, undeletable, out_of_scope = _removals(t, state, ctx, lookup, kept, desired)
    declared = _Declared(t.desired)
    changes = [declared.kept(c) if type(c) is Change and c.action in (Action.UPDATE, Action.DELETE) else c
               for c in changes + removals]
    changes = _with_prior_body(changes, content)
    if not t.capabilities.supports_delete:
        undeletable += _edges_left_behind(t, changes)
    warnings = list(t.notes)
    warnings += [f"{address} is kept as it was: this run skipped it" for address in sorted(kept)]
    if t.column_edges and not t.capabilities.supports_column_lineage:
        warnings.append(f"{t.column_edges} column edge(s) not sent: {t.type} does not take column lineage")
    ordered = Changes(sorted(changes, key=attrgetter("address") if table is None else
                             lambda c: table.addresses[c] if type(c) is int else c.address), creates)
    guard = mass_delete_problem(TargetPlan(t.name, t.type, ordered), t.policy, len(state))
    if guard:
        warnings.insert(0, f"{guard}: apply will refuse this plan without --allow-mass-delete")
    unmanaged = sorted(a for a in t.current if a not in state and a not in desired
                       and (c := t.current[a]).kind != ASSET and not ctx.ours(c))
    return TargetPlan(
        name=t.name, type=t.type, changes=ordered, unchanged=unchanged,
        skipped=tuple(sorted(skipped + undeletable, key=lambda s: s.address)), unmanaged=tuple(unmanaged),
        warnings=tuple(warnings), refreshed=t.refreshed, out_of_scope=out_of_scope,
        impacts=build_impacts([c for c in changes if type(c) is Change], state, lambda: _asset_types(t.desired)),
        **_estimate(t, ordered),
    )


def _estimate(t: TargetInput, ordered: Changes) -> dict[str, Any]:
    """What an apply of ``ordered`` (sorted by address, the order apply sends them in) will send."""
    caps = t.capabilities
    writes: dict[tuple[str, bool], list[int]] = {}
    if not caps.request_units:  # every change is one unit: count them (a million creates, a million ones)
        counted: Counter[tuple[str, bool]] = Counter()
        for (kind, action), n in Counter(zip(ordered.column("kind"), ordered.column("action"))).items():
            if action is not Action.ADOPT:
                counted[kind, action is Action.DELETE] += n
        writes = {group: [1] * n for group, n in counted.items()}
    for c in ordered if caps.request_units else ():
        if c.action is not Action.ADOPT:
            writes.setdefault((c.kind, c.action is Action.DELETE), []).append(caps.units(c.after))
    requests, seconds = caps.estimate(writes, t.policy.batch_size or 0)
    return {"requests": requests, "seconds": seconds}


def _asset_types(desired: Sequence[Resource]) -> dict[str, str]:
    """Asset key -> type, from the asset resources that carry both. Each body is read as a dict made for
    the purpose (``plain_dict``): read key by key, a body kept as text keeps what it parsed, a dict per
    asset for the rest of the run."""
    out = {}
    for r in desired:
        if r.kind == ASSET:
            body = plain_dict(r.body)
            key, kind = body.get("key"), body.get("type")
            if isinstance(key, str) and isinstance(kind, str):
                out[key] = kind
    return out


def build_plan(inputs: Sequence[TargetInput], state: State, manifest_digest: str = "",
               manifests: Sequence[tuple[str, str]] = (), scope: PlanScope | None = None, owner: str = "",
               known: Mapping[str, TargetPlan] | None = None) -> Plan:
    """Return the Plan for every target in ``inputs`` and ``known``, sorted by target then address.
    ``owner`` is the ownership marker new writes carry when the state has no lineage yet (the first apply
    gives it one); ``known`` holds target plans already known for these very inputs (a remembered no-op)."""
    built = {t.name: build_target_plan(t, state.entries(t.name), state.lineage, owner, state.content)
             for t in inputs}
    targets = tuple(plan for _, plan in sorted({**(known or {}), **built}.items()))
    return Plan(targets, state.lineage, state.serial, manifest_digest, tuple(sorted(manifests)),
                scope or PlanScope())
