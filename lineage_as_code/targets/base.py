"""The one target interface every catalog sits behind, and the values that cross it.

A target translates the desired Lineage into its own Resources (pure: the same lineage gives the
same resources on any target object, and apply never depends on state kept on the object since
translate), reads what it currently holds, applies one batch of Changes at a time, and closes.
The values that cross this interface live in ``plan/contract.py``. What it can do is declared as
Capabilities data, so the engine never asks "is this vendor X?". A new vendor touches only its
own module, its emulator, its tests and one line of the registry in ``targets/__init__.py``.

Resource kinds: ``asset`` is special (input handling decides whether a missing asset is
created in full, as a placeholder, or makes its dependents skip); every other kind is the
target's own (``process``, ``edge``, ``column_process``...), applied in ``kind_order``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from ..model import Lineage
from ..plan.contract import (
    ASSET,
    UNPLACED,
    Capabilities,
    Current,
    Digests,
    ItemResult,
    Resource,
    ResourceTable,
    content_hash,
    made_whole,
)

__all__ = ["ASSET", "UNPLACED", "Capabilities", "Current", "Digests", "ItemResult", "Resource", "ResourceTable", "Target",
           "content_hash", "made_whole"]


@runtime_checkable
class Target(Protocol):
    """The methods every target implements."""

    name: str

    @property
    def capabilities(self) -> Capabilities: ...

    def translate(self, lineage: Lineage) -> Sequence[Resource]:
        """Return the target's resources for ``lineage``; pure, no I/O. A lineage handed over for its last
        use (``owned``) may be taken apart as it is translated (``Lineage.take``), by a translation that
        reads nothing of it afterwards."""
        ...

    def read(self, desired: Sequence[Resource], known: Mapping[str, Current], refresh: bool) -> Mapping[str, Current]:
        """Return what the target holds: always the assets of ``desired`` that exist (input
        handling needs them); with ``refresh`` also the managed resources in ``known``, and any
        unmanaged lineage it can list cheaply. Absent addresses do not exist. The mapping may also answer
        ``as_recorded(address)``: whether the target holds ``address`` exactly as ``known`` records it (a
        plan then needs no Current for it)."""
        ...

    def held_digest(self, refresh: bool) -> str | None:
        """A digest of everything ``read(..., refresh)`` can return, taken without reading it out (equal
        digests: the same answer), or None when only a read can tell. A plan that found nothing to do is
        remembered under it, so the next one with the same manifests, state and digest is not diffed again."""
        ...

    def apply(self, batch: Sequence[Any]) -> list[ItemResult]:
        """Apply one batch of plan Changes (at most ``max_batch_size``); one result per change.
        Raises TargetError only when the whole batch failed in a way that should stop the run."""
        ...

    def close(self) -> None: ...
