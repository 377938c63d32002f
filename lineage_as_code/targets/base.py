"""The one target interface every catalog sits behind, and the values that cross it.

A target translates the desired Lineage into its own Resources (pure), reads what it currently
holds, applies one batch of Changes at a time, and closes. What it can do is declared as
Capabilities data, so the engine never asks "is this vendor X?". A new vendor touches only its
own module, its emulator, its tests and one line of the registry in ``targets/__init__.py``.

Resource kinds: ``asset`` is special (input handling decides whether a missing asset is
created in full, as a placeholder, or makes its dependents skip); every other kind is the
target's own (``process``, ``edge``, ``column_process``...), applied in ``kind_order``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..config import InputHandling
from ..model import Lineage

ASSET = "asset"


def content_hash(body: Any) -> str:
    """sha256 of the canonical JSON of ``body``: the identity of a resource's content."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Capabilities:
    """What a target can do, as data the engine reads."""

    max_batch_size: int
    max_parallel: int = 1
    supports_delete: bool = True
    supports_refresh: bool = True
    supports_column_lineage: bool = True
    modes: frozenset[InputHandling] = frozenset(InputHandling)
    kind_order: tuple[str, ...] = (ASSET, "process")
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resource:
    """One thing a target holds, as the manifests want it.

    ``address`` is unique within the target and stable across runs (it is the state key);
    ``body`` is the JSON-able content the target writes; ``requires`` names the addresses that
    must exist first (a process requires its assets); ``edges`` are the table-level (source key,
    target key) pairs the resource establishes, kept in state so a plan can draw what it removes.
    """

    address: str
    kind: str
    body: Mapping[str, Any]
    source: str = ""
    requires: tuple[str, ...] = ()
    edges: tuple[tuple[str, str], ...] = ()
    hash: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.hash:
            object.__setattr__(self, "hash", content_hash(self.body))


@dataclass(frozen=True)
class Current:
    """What a target holds at an address: its vendor id, and the content hash when known."""

    address: str
    kind: str
    id: str
    hash: str | None = None
    partial: bool = False


@dataclass(frozen=True)
class ItemResult:
    """The outcome of one change in a batch: ``ok`` with the vendor id, or an error message."""

    address: str
    ok: bool
    id: str = ""
    error: str = ""


@runtime_checkable
class Target(Protocol):
    """The five methods every target implements."""

    name: str

    @property
    def capabilities(self) -> Capabilities: ...

    def translate(self, lineage: Lineage) -> list[Resource]:
        """Return the target's resources for ``lineage``; pure, no I/O."""
        ...

    def read(self, desired: Sequence[Resource], known: Mapping[str, Current], refresh: bool) -> dict[str, Current]:
        """Return what the target holds: always the assets of ``desired`` that exist (input
        handling needs them); with ``refresh`` also the managed resources in ``known``, and any
        unmanaged lineage it can list cheaply. Absent addresses do not exist."""
        ...

    def apply(self, batch: Sequence[Any]) -> list[ItemResult]:
        """Apply one batch of plan Changes (at most ``max_batch_size``); one result per change.
        Raises TargetError only when the whole batch failed in a way that should stop the run."""
        ...

    def close(self) -> None: ...
