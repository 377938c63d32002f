"""The project-level operations the CLI calls: plan a project, apply a project or a saved plan.

Each gathers what the pure builders need (manifests, state, what targets hold), calls them, and
makes sure locks are released and targets closed whatever happens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass

from .apply import Advance, ApplyReport, apply_plan
from .cache import CachedResources, ResourceCache
from .config import Config, TargetConfig
from .errors import ConfigError, StalePlanError
from .model import bulk_allocation
from .plan.build import TargetInput, build_plan
from .plan.model import Plan
from .plan.planfile import load_plan
from .project import read_manifests
from .sources import read_object
from .state import State, StateEntry, StateStore, open_state_store
from .targets import open_target
from .targets.base import Current, Target


class KnownResources(Mapping[str, Current]):
    """State entries seen as what a target last held, built only for the addresses a target reads."""

    def __init__(self, entries: Mapping[str, StateEntry]) -> None:
        self._entries = entries

    def __getitem__(self, address: str) -> Current:
        e = self._entries[address]
        return Current(address, e.kind, e.id, e.hash, e.partial)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class PlanRequest:
    paths: Sequence[str] = ()
    targets: Sequence[str] = ()
    refresh: bool = True


def _gather(config: Config, request: PlanRequest, state: State, stack: ExitStack) -> tuple[Plan, dict[str, Target]]:
    """Read manifests (or the cached translation), what each target holds, and build the plan.
    Callers run it inside ``bulk_allocation``."""
    loaded = read_manifests(config, request.paths)
    cache = ResourceCache(config.cache_dir)
    opened: dict[str, Target] = {}
    inputs = []
    for tc in config.select(list(request.targets)):
        target = open_target(tc)
        stack.callback(target.close)
        opened[tc.name] = target
        caps = target.capabilities
        key = cache.key(loaded.digest, tc)
        cached = cache.get(tc.name, key)
        if cached is None:
            cached = CachedResources(target.translate(loaded.lineage), loaded.lineage.column_edge_count)
            cache.put(tc.name, key, cached)
        desired = cached.resources
        known = KnownResources(state.entries(tc.name))
        refresh = request.refresh and caps.supports_refresh
        current = target.read(desired, known, refresh)
        inputs.append(TargetInput(tc.name, tc.type, caps, tc.policy, desired, current, refresh,
                                  cached.column_edges, caps.notes))
    plan = build_plan(inputs, state, loaded.digest, [(f.name, f.etag) for f in loaded.files])
    return plan, opened


def plan_project(config: Config, request: PlanRequest) -> Plan:
    """Build the plan for the project's manifests against its state and targets."""
    store = open_state_store(config.state_path)
    with ExitStack() as stack, bulk_allocation():
        plan, _ = _gather(config, request, store.read(), stack)
    return plan


def _check_fresh(plan: Plan, state: State, where: str) -> None:
    if plan.state_lineage != state.lineage or plan.state_serial != state.serial:
        raise StalePlanError(
            f"{where} was made against state serial {plan.state_serial}, but the state is now at serial "
            f"{state.serial}{' of another lineage' if plan.state_lineage and plan.state_lineage != state.lineage else ''}; "
            "run plan again and review the new plan")


def _check_manifests(config: Config, request: PlanRequest, plan: Plan, where: str) -> None:
    """A saved plan is stale once the manifests it was made from have changed (when they can be read)."""
    if not plan.manifest_digest or not (request.paths or config.manifests):
        return
    digest = read_manifests(config, request.paths).digest
    if digest != plan.manifest_digest:
        raise StalePlanError(f"{where} was made from other manifests than the ones here now (they changed since); "
                             "run plan again and review the new plan")


def _targets_for(config: Config, plan: Plan, stack: ExitStack) -> dict[str, Target]:
    opened = {}
    for t in plan.targets:
        tc: TargetConfig | None = config.targets.get(t.name)
        if tc is None:
            raise ConfigError(f"the plan names target {t.name!r}, which lac.yaml no longer defines")
        target = open_target(tc)
        stack.callback(target.close)
        opened[t.name] = target
    return opened


def apply_project(config: Config, request: PlanRequest, *, plan_file: str | None = None,
                  allow_mass_delete: bool = False, confirm: Callable[[Plan], bool] = lambda _: True,
                  progress: Callable[[str], None] = lambda _: None, advance: Advance = lambda _d, _t: None,
                  store: StateStore | None = None) -> tuple[Plan, ApplyReport | None]:
    """Plan (or load ``plan_file``) and apply it under the state lock.

    Returns the plan and the report (None when nothing changed or ``confirm`` declined). Raises
    StalePlanError for a saved plan that the state or the manifests have moved past, ApplyError
    when changes failed.
    """
    store = store or open_state_store(config.state_path)
    lock = store.lock("apply")
    try:
        with ExitStack() as stack, bulk_allocation():
            state = store.read()
            if plan_file:
                plan = load_plan(read_object(plan_file), plan_file)
                _check_fresh(plan, state, plan_file)
                _check_manifests(config, request, plan, plan_file)
                targets = _targets_for(config, plan, stack)
            else:
                plan, targets = _gather(config, request, state, stack)
            if not plan.has_changes or not confirm(plan):
                return plan, None
            policies = {name: config.targets[name].policy for name in targets}
            report, _ = apply_plan(plan, targets, policies, store, state, allow_mass_delete=allow_mass_delete,
                                   progress=progress, advance=advance)
            return plan, report
    finally:
        store.unlock(lock)
