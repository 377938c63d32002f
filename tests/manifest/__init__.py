from __future__ import annotations

import dataclasses
import json
from typing import Any

from lineage_as_code.canonical import canonical_json, canonical_text
from lineage_as_code.model import Lineage, ProcessBlock
from lineage_as_code.plan.creates import After as _After
from lineage_as_code.targets.lineage_resources import lineage_resources


def resources_read_from_columns_equal_those_of_processes(lineage: Lineage) -> None:
    """A lineage whose processes are a parser's ProcessBlock translates into exactly the resources of the
    same Processes built one by one (address, kind, source, requires, edges, hash and body text), shared
    or taken apart for its last use; an asset's text with its placeholder flag put in is that of its dict
    with the flag."""
    assert isinstance(lineage.processes, ProcessBlock)
    built = Lineage.build_sorted(tuple(lineage.processes), dict(lineage.assets))

    def facts(found: list[Any]) -> list[tuple[Any, ...]]:
        return [(r.address, r.kind, r.source, r.requires, r.edges, r.hash, canonical_text(r.body),
                 canonical_text(_After(r.body, True)) if r.kind == "asset" else "") for r in found]

    want = facts(lineage_resources(built))
    for fact in want:
        if fact[1] == "asset":
            assert fact[7] == canonical_json({**json.loads(fact[6]), "partial": True})
    assert facts(lineage_resources(lineage)) == want
    assert facts(lineage_resources(dataclasses.replace(lineage, owned=True), take_apart=True)) == want
