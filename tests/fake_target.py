"""A first-class fake target with fault knobs, driving the engine tests without any network."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from lineage_as_code.config import InputHandling
from lineage_as_code.errors import TransientTargetError
from lineage_as_code.model import Lineage
from lineage_as_code.plan.model import Action, Change
from lineage_as_code.targets.base import ASSET, Capabilities, Current, ItemResult, Resource
from lineage_as_code.targets.lineage_resources import lineage_resources


@dataclass
class FakeTarget:
    name: str = "fake"
    caps: Capabilities = field(default_factory=lambda: Capabilities(max_batch_size=3))
    existing: dict[str, Current] = field(default_factory=dict)     # what the "catalog" holds
    fail_addresses: set[str] = field(default_factory=set)           # items that always fail
    crash_on_batch: int | None = None                               # raise on the Nth batch
    reorder: bool = False                                           # answer a batch last item first
    batches: list[list[tuple[str, str]]] = field(default_factory=list)

    @property
    def capabilities(self) -> Capabilities:
        return self.caps

    def translate(self, lineage: Lineage) -> list[Resource]:
        return lineage_resources(lineage)

    def held_digest(self, refresh: bool) -> str | None:
        return None

    def read(self, desired: Sequence[Resource], known: Mapping[str, Current], refresh: bool) -> dict[str, Current]:
        return {a: c for a, c in self.existing.items() if refresh or c.kind == ASSET}

    def apply(self, batch: Sequence[Change]) -> list[ItemResult]:
        if self.crash_on_batch is not None and len(self.batches) + 1 == self.crash_on_batch:
            self.batches.append([])
            raise TransientTargetError("injected: the whole batch failed")
        self.batches.append([(c.action.value, c.address) for c in batch])
        results = []
        for c in batch:
            if c.address in self.fail_addresses:
                results.append(ItemResult(c.address, False, error="injected failure"))
                continue
            if c.action is Action.DELETE:
                self.existing.pop(c.address, None)
            else:
                self.existing[c.address] = Current(c.address, c.kind, "id-" + c.address, c.after_hash)
            results.append(ItemResult(c.address, True, id="id-" + c.address))
        return results[::-1] if self.reorder else results

    def close(self) -> None:
        return None


UPDATE_ONLY = Capabilities(max_batch_size=10, modes=frozenset({InputHandling.UPDATE}))
