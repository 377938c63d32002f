"""Blast radius: what lies downstream of the lineage a plan removes or re-points. Pure.

For every table edge a change takes away (a deleted process's edges, the edges an update no longer
declares), the assets reachable downstream of the edge's target through the lineage as it stands
now (the edges state records for every managed resource) are the ones whose upstream the plan
breaks. They are bounded in hops and count and grouped by asset type, dashboards first, so a
reviewer sees first what a person looks at.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from ..state import StateEntry
from .model import Action, Change

MAX_HOPS = 6
MAX_ASSETS = 50
TYPE_ORDER = ("dashboard", "report", "notebook", "ml_model", "view", "table", "file")


@dataclass(frozen=True)
class Impact:
    """One change that removes or re-points edges, and the downstream assets that lose lineage."""

    address: str
    removed: tuple[tuple[str, str], ...]
    downstream: tuple[tuple[str, tuple[str, ...]], ...]  # (asset type, keys), dashboards first
    more: int = 0  # downstream assets past the bound

    @property
    def count(self) -> int:
        return sum(len(keys) for _, keys in self.downstream) + self.more


def _removed(change: Change) -> tuple[tuple[str, str], ...]:
    if change.prior is None or change.action not in (Action.UPDATE, Action.DELETE):
        return ()
    return tuple(sorted(set(change.prior.edges) - set(change.edges)))


def _reach(starts: Iterable[str], graph: Mapping[str, list[str]]) -> list[str]:
    seen: dict[str, None] = {}
    frontier = list(dict.fromkeys(starts))
    for _ in range(MAX_HOPS):
        nxt: list[str] = []
        for node in frontier:
            if node in seen:
                continue
            seen[node] = None
            nxt.extend(graph.get(node, ()))
        frontier = nxt
        if not frontier or len(seen) > 10 * MAX_ASSETS:
            break
    seen.update(dict.fromkeys(n for n in frontier if n not in seen))
    return list(seen)


def build_impacts(changes: Iterable[Change], state: Mapping[str, StateEntry],
                  types: Callable[[], Mapping[str, str]]) -> tuple[Impact, ...]:
    """The blast radius of each change that removes edges; ``types`` gives asset keys' types (asked only
    when some change removes edges: it reads every asset's body)."""
    removing = [(c, edges) for c in changes if c.prior is not None and (edges := _removed(c))]
    if not removing:
        return ()
    kinds = types()
    graph: dict[str, list[str]] = {}
    for entry in state.values():
        for source, target in entry.edges:
            graph.setdefault(source, []).append(target)
    out = []
    order = {t: i for i, t in enumerate(TYPE_ORDER)}
    for change, edges in removing:
        reached = _reach((target for _, target in edges), graph)
        shown, more = reached[:MAX_ASSETS], max(0, len(reached) - MAX_ASSETS)
        grouped: dict[str, list[str]] = {}
        for key in shown:
            grouped.setdefault(kinds.get(key, "asset"), []).append(key)
        downstream = tuple((t, tuple(sorted(keys))) for t, keys in
                           sorted(grouped.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))
        out.append(Impact(change.address, edges, downstream, more))
    return tuple(out)
