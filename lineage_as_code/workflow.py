"""The project-level operations the CLI calls: plan a project, apply a project or a saved plan.

Each gathers what the pure builders need (manifests, state, what targets hold), calls them, and
makes sure locks are released and targets closed whatever happens.
"""

from __future__ import annotations

import functools
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

from .apply import Advance, ApplyReport, apply_plan
from .cache import CachedFile, CachedResources, ResourceCache
from .canonical import bodies_spilled_to
from .config import Config, TargetConfig
from .errors import ManifestWarning, PlanError, Problem, SourceError, StalePlanError
from .model import bulk_allocation
from .opened import Spill
from .plan.build import TargetInput, build_plan, check_mode
from .plan.contract import Capabilities, KnownResources, resources_made_whole
from .plan.model import Plan, PlanScope, TargetPlan
from .plan.planfile import load_plan, plan_differences
from .project import LoadedManifests, canonical_file, read_manifests
from .sources import is_remote, read_object
from .state import State, StateEntry, StateStore, open_state_store
from .state.entries import uncertain_in
from .targets import open_target
from .targets.base import Target


@dataclass(frozen=True)
class PlanRequest:
    paths: Sequence[str] = ()
    targets: Sequence[str] = ()
    refresh: bool = True
    retry_uncertain: bool = False  # re-send writes state records as uncertain (ambiguous-failure policy hold)


def _uncertain_note(entries: Mapping[str, StateEntry], retrying: bool) -> tuple[str, ...]:
    """The plan's note about writes whose outcome is unknown (none when there are none)."""
    held = sorted(uncertain_in(entries))
    if not held:
        return ()
    listed = ", ".join(held[:10]) + (f" and {len(held) - 10} more" if len(held) > 10 else "")
    if retrying:
        return (f"{len(held)} write(s) of unknown outcome are sent again (--retry-uncertain): {listed}",)
    note = (f"{len(held)} write(s) may or may not have landed and are held as uncertain: {listed}; check them in "
            "the target, then send them again with 'lac apply --retry-uncertain' (this target's policy is hold)")
    return (note,)


def _retrying(state: State) -> State:
    """``state`` with every uncertain entry's hash made unequal to any content, so the plan re-sends it."""
    targets = {t: MappingProxyType({a: e._replace(hash=f"uncertain:{e.hash}") if e.uncertain else e
                                    for a, e in entries.items()})
               for t, entries in state.targets.items()}
    return replace(state, targets=MappingProxyType(targets))


def _scope_test(config: Config, request: PlanRequest, loaded: LoadedManifests) -> Callable[[str], bool] | None:
    """Which recorded manifest files (canonical names) a plan of ``request.paths`` covers: the files it
    read, and files under a folder it was given (a file removed from that folder is covered too).
    None: the whole project is covered (lac.yaml's manifests)."""
    if not request.paths:
        return None
    root = str(config.root)
    read = {canonical_file(f.name, root) for f in loaded.files}
    folders = tuple(canonical_file(p, root).rstrip("/") + "/" for p in request.paths)

    def covers(file: str) -> bool:
        # An entry with no recorded file was written before files were recorded: planned as before.
        return not file or file in read or file.startswith(folders)
    return covers


def _read_again(config: Config, request: PlanRequest, loaded: LoadedManifests) -> LoadedManifests:
    """The manifests read again, when their bytes were let go and a translation needs them after all;
    SourceError when they are no longer what was read (the plan would otherwise mix two versions)."""
    again = read_manifests(config, request.paths, remember=True)
    if again.digest != loaded.digest:
        raise SourceError("the manifests changed while this run read them; run again")
    return again


def _gather(config: Config, request: PlanRequest, state: State, stack: ExitStack, owner: str = "",
            loaded: LoadedManifests | None = None, keep_lineage: bool = False) -> tuple[Plan, dict[str, Target]]:
    """Read manifests (or the cached translation), what each target holds, and build the plan.
    ``loaded`` is the manifests of ``request.paths`` when the caller has read them already; their
    lineage is let go once every target has translated it, unless ``keep_lineage``. A new translation
    writes its bodies to the cache file as it makes them (with the cache off, to a file no name reaches),
    and the run reads each from there when it needs it: a plan, and an apply, which writes each twice (to
    the target in the order they were made, read ahead a few hundred at a time; to state by content hash),
    holds none of their text (about 215 MB at 1M Lineage Builder rows). A plan keeps the resources as the
    columns they were made in (``ResourceTable``); an apply runs it within ``resources_made_whole``, where
    the translation and the cache give each as a Resource, which the apply lets go once state records it.
    Callers run it inside ``bulk_allocation``."""
    manifests = loaded or read_manifests(config, request.paths, remember=True)
    if request.retry_uncertain:
        state = _retrying(state)
    cache = ResourceCache(config.cache_dir)
    in_scope = _scope_test(config, request, manifests)
    opened: dict[str, Target] = {}
    inputs = []
    # What a partial plan covers (the paths it was given, as state names files): part of its inputs.
    covered = tuple(canonical_file(p, str(config.root)) for p in request.paths)
    remembered: dict[str, TargetPlan] = {}  # targets whose plan is known to be a no-op
    noop_keys: dict[str, tuple[str, tuple[Problem, ...]]] = {}  # where to remember a no-op, and its notes
    repeated: list[tuple[Problem, ...]] = []
    looked: list[tuple[TargetConfig, Target, Capabilities, bool, CachedFile | None, str, str]] = []
    found: list[tuple[TargetConfig, Target, Capabilities, bool, CachedResources | None, str, str]] = []
    translated: list[tuple[TargetConfig, Target, Capabilities, bool, CachedResources, str, Spill | None]] = []
    served: list[tuple[Problem, ...]] = []  # the warnings of plans served from the cache

    def repeat(notes: tuple[Problem, ...]) -> None:
        if not manifests.parsed and notes not in repeated:
            repeated.append(notes)  # the manifests are not parsed: say what parsing them said
            for note in notes:
                warnings.warn(ManifestWarning(note), stacklevel=3)
    for tc in config.select(list(request.targets)):
        target = open_target(tc)
        stack.callback(target.close)
        opened[tc.name] = target
        caps = target.capabilities
        check_mode(tc.name, tc.type, caps, tc.policy)  # before any request: a refused mode costs nothing
        key = cache.key(manifests.digest, tc)
        refresh = request.refresh and caps.supports_refresh
        noop_key = "" if request.retry_uncertain else _noop_key(cache, key, state, tc.name, target, refresh, owner,
                                                                 covered)
        hit = cache.get_noop(tc.name, noop_key) if noop_key else None
        if hit is not None:
            remembered[tc.name] = hit[0]
            served.append(hit[1])
            continue
        file = cache.find(tc.name, key)
        if file is not None:
            served.append(file.notes)
        looked.append((tc, target, caps, refresh, file, key, noop_key))
    if not keep_lineage and all(f[4] is not None for f in looked):
        manifests.let_go()  # every target served from the cache (or remembered): its bytes go before it is read
    for tc, target, caps, refresh, file, key, noop_key in looked:
        cached = cache.read(file) if file is not None else None
        found.append((tc, target, caps, refresh, cached, "" if cached is not None else key, noop_key))
    if manifests.bytes_gone and any(f[4] is None for f in found):  # a file found could not be read after all
        manifests = _read_again(config, request, manifests)
    # The targets the cache does not serve translate the lineage, in config order, the last one taking it
    # apart as it goes (unless ``keep_lineage``): it is not held whole beside a whole translation.
    last = max((i for i, f in enumerate(found) if f[4] is None), default=-1)
    for i, (tc, target, caps, refresh, cached, key, noop_key) in enumerate(found):
        spill = None
        if cached is None:
            edges = manifests.lineage.column_edge_count
            lineage = manifests.hand_over() if i == last and not keep_lineage else manifests.lineage
            spill = cache.spill(tc.name) or Spill.anonymous()  # where the bodies go as they are made
            if spill is not None:
                stack.callback(spill.discard)
            with bodies_spilled_to(spill):
                cached = CachedResources(target.translate(lineage), edges, manifests.notes)
            del lineage
        if noop_key:
            noop_keys[tc.name] = (noop_key, cached.notes)
        translated.append((tc, target, caps, refresh, cached, key, spill))
    for notes in served:  # said once: a parse above said them already
        repeat(notes)
    for tc, target, caps, refresh, cached, key, spill in translated:
        if key:  # a new translation: cached, and from then on its bodies are read from the cache file
            cache.put(tc.name, key, cached, spill=spill)
        desired = cached.resources
        known = KnownResources(state.entries(tc.name))
        current = target.read(desired, known, refresh)
        inputs.append(TargetInput(tc.name, tc.type, caps, tc.policy, desired, current, refresh, cached.column_edges,
                                  # notes read after read(): what the target found may add to them
                                  target.capabilities.notes
                                  + _uncertain_note(state.entries(tc.name), request.retry_uncertain),
                                  in_scope))
    scope = PlanScope(tuple(request.paths), tuple(request.targets), request.refresh, in_scope is None)
    plan = build_plan(inputs, state, manifests.digest, [(f.name, f.etag) for f in manifests.files], scope, owner,
                      remembered)
    for t in plan.targets:
        if t.name in noop_keys and not t.changes:
            noop_key, notes = noop_keys[t.name]
            cache.put_noop(t.name, noop_key, t, notes)
    return plan, opened


def _noop_key(cache: ResourceCache, key: str, state: State, name: str, target: Target, refresh: bool, owner: str,
              covered: tuple[str, ...]) -> str:
    """Where a plan of this target that finds nothing to do is remembered ('' when it cannot be: the
    cache is off, or only a read of the target can tell what it holds). The key covers every input of the
    target's plan: the translation's key (manifests, settings, policy, tool version), the state's lineage
    and this target's entries, the ownership marker, what the target holds and what the plan covers."""
    if not cache.enabled:
        return ""
    held = target.held_digest(refresh)
    if held is None:
        return ""
    return cache.noop_key(key, state.lineage, state.entries_digest(name), owner or state.lineage, held, refresh,
                          covered)


def plan_project(config: Config, request: PlanRequest, loaded: LoadedManifests | None = None,
                 keep_lineage: bool = False) -> Plan:
    """Build the plan for the project's manifests against its state and targets. Pass ``loaded``
    (``read_manifests`` of ``request.paths``) to use the manifests afterwards without reading them
    again, and ``keep_lineage`` to read their lineage afterwards."""
    store = open_state_store(config.state_path)
    with ExitStack() as stack, bulk_allocation():
        plan, _ = _gather(config, request, store.read(), stack, loaded=loaded, keep_lineage=keep_lineage)
    return plan


def _check_fresh(plan: Plan, state: State, where: str) -> None:
    if plan.state_lineage != state.lineage or plan.state_serial != state.serial:
        raise StalePlanError(
            f"{where} was made against state serial {plan.state_serial}, but the state is now at serial "
            f"{state.serial}{' of another lineage' if plan.state_lineage and plan.state_lineage != state.lineage else ''}; "
            "run plan again and review the new plan")


def _store_of(uri: str) -> str:
    """``scheme://bucket`` (or container@account) of an object URI."""
    scheme, _, rest = uri.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def _trusted_request(config: Config, saved: Plan, where: str) -> PlanRequest:
    """The request a saved plan was made for, from an untrusted file: its local manifest paths must lie
    inside the project, its object-store URIs under lac.yaml's or in the bucket the plan file itself
    is in (whoever can write the plan there can write manifests there), its targets must be lac.yaml's."""
    root = config.root.resolve()
    for spec in saved.scope.paths:
        if is_remote(spec):
            listed = any(spec.startswith(m) for m in config.manifests if is_remote(m))
            if not listed and not (is_remote(where) and _store_of(spec) == _store_of(where)):
                raise PlanError(f"{where}: names manifests at {spec!r}, which lac.yaml does not list")
            continue
        resolved = (root / spec).resolve() if not Path(spec).is_absolute() else Path(spec).resolve()
        if resolved != root and root not in resolved.parents:
            raise PlanError(f"{where}: names manifests at {spec!r}, outside the project folder {root}")
    config.select(list(saved.scope.targets))
    return PlanRequest(saved.scope.paths, saved.scope.targets, saved.scope.refresh)


def _verified(config: Config, saved: Plan, state: State, stack: ExitStack, owner: str,
              where: str) -> tuple[Plan, dict[str, Target]]:
    """Re-derive the plan a saved plan claims to be, from the manifests and state here now; return it
    (with the targets opened for it) when it equals the saved one change for change, else raise
    StalePlanError saying what differs. Nothing in the file is executed as written."""
    _check_fresh(saved, state, where)
    fresh, targets = _gather(config, _trusted_request(config, saved, where), state, stack, owner)
    if fresh.manifest_digest != saved.manifest_digest:
        raise StalePlanError(f"{where} was made from other manifests than the ones here now (they changed since); "
                             "run plan again and review the new plan")
    differences = plan_differences(saved, fresh)
    if differences:
        listed = "\n".join(f"  {d}" for d in differences)
        raise StalePlanError(f"{where} is not what apply would do now, so it was refused and nothing was changed:\n"
                             f"{listed}\nRun plan again and review the new plan.")
    return fresh, targets


def apply_project(config: Config, request: PlanRequest, *, plan_file: str | None = None,
                  saved_plan: Plan | None = None, allow_mass_delete: bool = False, confirm: Callable[[Plan], bool] = lambda _: True,
                  progress: Callable[[str], None] = lambda _: None, advance: Advance = lambda _d, _t: None,
                  store: StateStore | None = None,
                  max_duration: float | None = None, let_go: bool = False) -> tuple[Plan, ApplyReport | None]:
    """Plan (or load ``plan_file``, or take ``saved_plan``, already loaded from it) and apply it under the
    state lock.

    A saved plan is verified before any request: it must be a valid plan file, made against this
    state's lineage and serial, from manifests with the same digest, and equal change for change to
    the plan re-derived here now; what runs is that re-derived plan, so vendor ids come from state.
    Returns the plan and the report (None when nothing changed or ``confirm`` declined). Raises
    PlanError for a file that is not a valid plan, StalePlanError for one that the state or the
    manifests have moved past or that differs from what apply would do, ApplyError when changes failed.
    ``let_go``: the caller reads nothing of the plan's changes once it is applied (``apply_plan``).
    """
    store = store or open_state_store(config.state_path)
    lock = store.lock("apply")
    try:
        with ExitStack() as stack, bulk_allocation(), resources_made_whole():  # an apply makes every resource
            state = store.read()
            owner = state.lineage or str(uuid.uuid4())  # the lineage id the first write gives the state
            if plan_file:
                saved = saved_plan or load_plan(read_object(plan_file), plan_file, bodies=False)
                saved_plan = None  # once verified, only the re-derived plan is used: let the saved one go
                plan, targets = _verified(config, saved, state, stack, owner, plan_file)
                del saved
            else:
                plan, targets = _gather(config, request, state, stack, owner)
            if not plan.has_changes or not confirm(plan):
                return plan, None
            policies = {name: config.targets[name].policy for name in targets}
            report, _ = apply_plan(plan, targets, policies, store, state, allow_mass_delete=allow_mass_delete,
                                   progress=progress, advance=advance, lineage=owner,
                                   # one realpath per manifest, not per change (a million of them)
                                   file_of=functools.cache(lambda name: canonical_file(name, str(config.root))),
                                   max_duration=max_duration, let_go=let_go)
            return plan, report
    finally:
        store.unlock(lock)
