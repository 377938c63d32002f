from __future__ import annotations

import dataclasses
from typing import Any

from lineage_as_code.canonical import canonical_text
from lineage_as_code.model import Lineage, ProcessBlock
from lineage_as_code.targets.lineage_resources import lineage_resources


def resources_read_from_columns_equal_those_of_processes(lineage: Lineage) -> None:
    """A lineage whose processes are a parser's ProcessBlock translates into exactly the resources of the
    same Processes built one by one (address, kind, source, requires, edges, hash and body text), shared
    or taken apart for its last use."""
    assert isinstance(lineage.processes, ProcessBlock)
    built = Lineage.build_sorted(tuple(lineage.processes), dict(lineage.assets))

    def facts(found: list[Any]) -> list[tuple[Any, ...]]:
        return [(r.address, r.kind, r.source, r.requires, r.edges, r.hash, canonical_text(r.body)) for r in found]

    want = facts(lineage_resources(built))
    assert facts(lineage_resources(lineage)) == want
    assert facts(lineage_resources(dataclasses.replace(lineage, owned=True), take_apart=True)) == want
