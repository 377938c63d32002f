"""``lac state rebuild``: a lost state file rebuilt from the ownership markers the targets hold.

Every resource this tool writes to a target with markers carries the state's lineage id. When the
state file is gone (deleted, a bucket wiped, a broken backend), the resources that carry one
project's marker are that project's: they are recorded in a new state under the same lineage id,
with the vendor ids and content hashes the target reports, so the next plan updates, adopts and
prunes exactly as it would have. Targets without markers are refused by name: nothing can tell
their resources from other people's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from .config import Config
from .errors import ConfigError, StateError
from .model import bulk_allocation
from .plan.contract import Current, Resource
from .project import canonical_file, read_manifests
from .state import StateEntry, open_state_store
from .targets import open_target


@dataclass
class RebuildReport:
    lineage: str = ""
    serial: int = 0
    recorded: dict[str, int] = field(default_factory=dict)


def _lineage_of(held: dict[str, Mapping[str, Current]], wanted: str) -> str:
    """The one lineage id the targets' markers name (or ``wanted``); StateError when it is ambiguous."""
    if wanted:
        return wanted
    owners = Counter(c.owner for current in held.values() for c in current.values() if c.owner)
    if len(owners) > 1:
        listed = ", ".join(f"{o} ({n} resources)" for o, n in owners.most_common())
        raise StateError(f"the targets hold resources of several projects: {listed}; "
                         "name this project's with --lineage ID")
    return next(iter(owners), "")


def _entries(current: Mapping[str, Current], desired: dict[str, Resource], lineage: str,
             root: str) -> dict[str, StateEntry]:
    out = {}
    for address, held in current.items():
        if held.owner != lineage:
            continue
        res = desired.get(address)
        out[address] = StateEntry(held.kind, held.id, held.hash or "", held.partial, res.edges if res else (),
                                  canonical_file(res.file, root) if res else "")
    return out


def rebuild_state(config: Config, targets: list[str], lineage: str = "", force: bool = False) -> RebuildReport:
    """Record in state what the selected targets hold under this project's marker; return what was
    written. Raises ConfigError for a target without markers, StateError when state already holds
    entries for a target (unless ``force``) or the markers name several projects."""
    store = open_state_store(config.state_path)
    lock = store.lock("state rebuild")
    try:
        with ExitStack() as stack, bulk_allocation():
            state = store.read()
            loaded = read_manifests(config)
            held: dict[str, Mapping[str, Current]] = {}
            desired: dict[str, dict[str, Resource]] = {}
            for tc in config.select(targets):
                target = open_target(tc)
                stack.callback(target.close)
                if not target.capabilities.ownership_marker:
                    raise ConfigError(f"target {tc.name!r} ({tc.type}) writes no ownership marker, so its resources "
                                      "cannot be told from other people's; import them instead")
                if state.entries(tc.name) and not force:
                    raise StateError(f"state already records {len(state.entries(tc.name))} resource(s) for "
                                     f"{tc.name!r}; rebuild is for a lost state (add --force to merge into it)")
                resources = target.translate(loaded.lineage)
                desired[tc.name] = {r.address: r for r in resources}
                held[tc.name] = target.read(resources, {}, True)
            found = _lineage_of(held, lineage or state.lineage)
            report = RebuildReport(lineage=found)
            if not found:
                return report
            targets_state = dict(state.targets)
            for name, current in held.items():
                entries = {**state.entries(name), **_entries(current, desired[name], found, str(config.root))}
                targets_state[name] = MappingProxyType(dict(sorted(entries.items())))
                report.recorded[name] = len(entries)
            rebuilt = replace(state, lineage=found, serial=state.serial + 1,
                              targets=MappingProxyType(dict(sorted(targets_state.items()))))
            store.write(rebuilt, expected_serial=state.serial)
            report.serial = rebuilt.serial
            return report
    finally:
        store.unlock(lock)
