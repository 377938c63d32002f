"""Plan values: frozen, sorted, and rendered the same way everywhere (``+ ~ -``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

PLAN_FORMAT_VERSION = 1


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    NOOP = "noop"

    @property
    def symbol(self) -> str:
        return {"create": "+", "update": "~", "delete": "-", "noop": " "}[self.value]


@dataclass(frozen=True)
class Change:
    """One create, update or delete at ``address`` in one target.

    ``after`` is the body to write (create/update); ``before`` what state recorded (update/delete):
    ``{"id", "hash", "kind"}``. ``source`` is the manifest ``file:line`` the change comes from.
    """

    target: str
    address: str
    kind: str
    action: Action
    after: Mapping[str, Any] | None = None
    after_hash: str = ""
    before: Mapping[str, Any] | None = None
    source: str = ""
    reason: str = ""
    requires: tuple[str, ...] = ()
    edges: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
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
    changes: tuple[Change, ...] = ()
    unchanged: int = 0
    skipped: tuple[Skip, ...] = ()
    unmanaged: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    refreshed: bool = False

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action is action)

    @property
    def undeletable(self) -> tuple[Skip, ...]:
        """Removals the target cannot perform: the user must delete these by hand."""
        return tuple(s for s in self.skipped if s.cannot_delete)


@dataclass(frozen=True)
class Plan:
    """What an apply would do, per target, made against state ``lineage``/``serial``."""

    targets: tuple[TargetPlan, ...]
    state_lineage: str = ""
    state_serial: int = 0
    manifest_digest: str = ""
    manifests: tuple[tuple[str, str], ...] = field(default=())

    @property
    def changes(self) -> list[Change]:
        return [c for t in self.targets for c in t.changes]

    @property
    def has_changes(self) -> bool:
        return any(t.changes for t in self.targets)

    def count(self, action: Action) -> int:
        return sum(t.count(action) for t in self.targets)
