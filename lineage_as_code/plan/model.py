"""Plan values: frozen, sorted, and rendered the same way everywhere (``+ ~ -``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from operator import attrgetter
from typing import Any

from ..model import items_equal, slot_init
from ..state import StateEntry

PLAN_FORMAT_VERSION = 2


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    ADOPT = "adopt"
    NOOP = "noop"

    @property
    def symbol(self) -> str:
        return {"create": "+", "update": "~", "delete": "-", "adopt": "=", "noop": " "}[self.value]


@slot_init
@dataclass(frozen=True, slots=True)
class Change:
    """One create, update, delete or adoption at ``address`` in one target.

    ``after`` is the body to write (create/update); ``prior`` the state entry it replaces or removes
    (its vendor id is the only id apply ever uses), or for an adoption or an orphan of this project
    what the target was read to hold. ``placeholder`` marks a lineage-only asset (PARTIAL).
    ``private`` is what the plan hands the target for apply beyond the body (Terraform's planned
    private data): JSON-able, made by pure functions at plan time, e.g. edges another resource
    still declares. ``owner`` is the state lineage id a target stamps as its ownership marker; it is
    set when the plan is built for an apply and is not part of the saved plan. ``source`` is the
    manifest ``file:line`` the change comes from.
    """

    target: str
    address: str
    kind: str
    action: Action
    after: Mapping[str, Any] | None = None
    after_hash: str = ""
    prior: StateEntry | None = None
    source: str = ""
    reason: str = ""
    requires: tuple[str, ...] = ()
    edges: tuple[tuple[str, str], ...] = ()
    placeholder: bool = False
    private: Mapping[str, Any] | None = None
    owner: str = field(default="", compare=False)
    # The body the prior entry was written with (state keeps it by content hash): what a reviewer's
    # field-level diff compares ``after`` with. None when state does not hold it (written by an older
    # version, or read from the target).
    prior_body: Mapping[str, Any] | None = field(default=None, compare=False)

    @property
    def before(self) -> dict[str, Any] | None:
        """The prior entry as a document: ``{"id", "hash", "kind", "partial", "edges"?, "content"?}``."""
        e = self.prior
        if e is None:
            return None
        doc: dict[str, Any] = {"id": e.id, "hash": e.hash, "kind": e.kind, "partial": e.partial}
        if e.edges:
            doc["edges"] = [list(x) for x in e.edges]
        if self.prior_body is not None:
            doc["content"] = dict(self.prior_body)
        return doc


# What a change shares with the resource it comes from: read from the resource while the change is pending.
_SHARED = frozenset({"address", "kind", "source", "requires", "edges"})


class Changes(Sequence[Change]):
    """A target plan's changes, in order, where most of them are the create of a resource that neither
    state nor the target holds: such a change is kept as its resource, or that resource's position in a
    ``ResourceTable`` (``pending``), and made, by ``make``, each time it is read. A first plan of a million rows then holds no Change, body view or asset hash per
    row (about 350 bytes each), and whoever counts the changes by action or kind reads ``column`` without
    making them. Reads as the tuple of its changes: equal to it, in the same order."""

    __slots__ = ("_given", "_items", "_made", "_make", "_taken_from")

    def __init__(self, items: Sequence[Any], make: Callable[[Any], Change], keep: bool = False,
                 taken_from: tuple[Changes, list[int]] | None = None) -> None:
        self._items = items  # each a Change, or what ``make`` makes a create of (a resource, or its position)
        self._make = make
        self._made: list[int] | None = None  # the positions of the Changes among them, once asked for
        # with ``keep`` (a batch: a target and then state read the same fields of it), the fields ``make``
        # gave, by name, made once; ``taken_from``: the kept batch, and the positions in it, this part of it
        # was taken from (a target's assets, its processes), whose fields it reads
        self._given: dict[str, list[Any]] | None = {} if keep else None
        self._taken_from = taken_from

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return Changes(self._items[index], self._make)
        item = self._items[index]
        return item if type(item) is Change else self._make(item)

    def __iter__(self) -> Iterator[Change]:
        make = self._make
        for item in self._items:
            yield item if type(item) is Change else make(item)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __eq__(self, other: object) -> bool:
        return items_equal(self, other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        pending = sum(1 for item in self._items if type(item) is not Change)
        return f"Changes({len(self._items)}, {pending} pending)"

    def take(self, positions: Iterable[int]) -> Changes:
        """The changes at ``positions``, in that order, those pending still pending (an apply's batch: the
        fields read of its pending changes are made once, and kept as long as it is; a part taken of such a
        batch reads them from it, so that a target's reads and state's are of the same values)."""
        items = self._items
        at = list(positions)
        return Changes([items[i] for i in at], self._make, keep=True,
                       taken_from=(self, at) if self._given is not None else None)

    def let_go(self, positions: Iterable[int]) -> None:
        """Drop the changes at ``positions``, done with (an apply's batch, once state records it): a million
        creates' resources are then freed batch by batch, not held to the end of the run beside what state
        records of them. Reading one of them afterwards is an error."""
        items = self._items
        if not isinstance(items, list):
            return
        for i in positions:
            items[i] = None

    def _kept(self, name: str) -> list[Any] | None:
        """``name`` of each change, as ``make`` gives it, made once and kept (a batch only); None otherwise."""
        if self._given is None:
            return None
        kept = self._given.get(name)
        if kept is None:
            if self._taken_from is not None:
                whole, at = self._taken_from
                of_whole = whole._kept(name)
                if of_whole is None:
                    return None
                kept = [of_whole[i] for i in at]
            else:
                give = getattr(self._make, "column", None)
                given = give(self._items, name) if give is not None else None
                if given is None:
                    return None
                kept = list(given)
            self._given[name] = kept
        return kept

    def column(self, name: str) -> Iterator[Any]:
        """Each change's ``name``, in order, without making a pending change for what its resource holds
        (``_SHARED``), for its action (a create), or for what ``make`` can give of it alone (its
        ``column(items, name)``, None for a field it cannot)."""
        if name == "action":  # every one a create, but for the few made: one list, not a call per change
            items = self._items
            if self._made is None:
                self._made = [i for i, item in enumerate(items) if type(item) is Change]
            actions = [Action.CREATE] * len(items)
            for i in self._made:
                actions[i] = items[i].action
            return iter(actions)
        if name in _SHARED:  # (a pending create kept as a position: ``make.shared`` reads it)
            shared = getattr(self._make, "shared", None)
            return map(attrgetter(name), self._items) if shared is None else shared(self._items, name)
        kept = self._kept(name)
        if kept is not None:
            return iter(kept)
        give = getattr(self._make, "column", None)
        given = give(self._items, name) if give is not None and self._given is None else None
        return map(attrgetter(name), self) if given is None else given


def column(changes: Sequence[Change], name: str) -> Iterator[Any]:
    """Each change's ``name``, in order (``Changes.column`` where it can spare making them)."""
    if isinstance(changes, Changes):
        return changes.column(name)
    return map(attrgetter(name), changes)


def take(changes: Sequence[Change], positions: Iterable[int]) -> Sequence[Change]:
    """The changes at ``positions``, in that order (``Changes.take``: those pending still pending)."""
    if isinstance(changes, Changes):
        return changes.take(positions)
    return [changes[i] for i in positions]


def with_action(changes: Sequence[Change], action: Action) -> list[Change]:
    """The changes of ``action``, in order, made only if they are (deletes are never pending)."""
    return [changes[i] for i, a in enumerate(column(changes, "action")) if a is action]


@slot_init
@dataclass(frozen=True, slots=True)
class Skip:
    """A resource left out of the plan, and why (UPDATE mode, an unsupported feature, ...)."""

    target: str
    address: str
    reason: str
    source: str = ""
    cannot_delete: bool = False


@dataclass(frozen=True)
class TargetPlan:
    name: str
    type: str
    changes: Sequence[Change] = ()  # a tuple, or ``Changes``
    unchanged: int = 0
    skipped: tuple[Skip, ...] = ()
    unmanaged: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    refreshed: bool = False
    out_of_scope: int = 0  # managed resources a partial plan leaves alone (declared by files it did not read)
    impacts: tuple[Any, ...] = ()  # plan.impact.Impact: downstream assets the removed edges break
    requests: int = 0  # what an apply of this plan will send (estimate from the target's capabilities)
    seconds: float | None = None  # how long that takes at the target's rate limit (None: not limited)

    @cached_property
    def _counts(self) -> Counter[Action]:
        return Counter(column(self.changes, "action"))  # once: a plan's summary asks for each action

    def count(self, action: Action) -> int:
        return self._counts[action]

    @property
    def writes(self) -> int:
        """Changes that send something to the target (adoptions only record state)."""
        return sum(1 for action in column(self.changes, "action") if action is not Action.ADOPT)

    @property
    def undeletable(self) -> tuple[Skip, ...]:
        """Removals the target cannot perform: the user must delete these by hand."""
        return tuple(s for s in self.skipped if s.cannot_delete)


@dataclass(frozen=True)
class PlanScope:
    """What a plan was asked for, so apply can re-derive it: the manifest paths given on the command
    line (empty: lac.yaml's list), the targets selected (empty: all), whether targets were refreshed,
    and whether the plan covers the whole project (a partial plan only prunes what its files declared)."""

    paths: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    refresh: bool = True
    whole_project: bool = True


@dataclass(frozen=True)
class Plan:
    """What an apply would do, per target, made against state ``lineage``/``serial``."""

    targets: tuple[TargetPlan, ...]
    state_lineage: str = ""
    state_serial: int = 0
    manifest_digest: str = ""
    manifests: tuple[tuple[str, str], ...] = field(default=())
    scope: PlanScope = field(default_factory=PlanScope)

    @property
    def changes(self) -> list[Change]:
        return [c for t in self.targets for c in t.changes]

    @property
    def has_changes(self) -> bool:
        return any(t.changes for t in self.targets)

    def count(self, action: Action) -> int:
        return sum(t.count(action) for t in self.targets)
