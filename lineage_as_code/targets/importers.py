"""Import readers: the optional capability of reading back the lineage a target holds.

Import is not part of the five-method Target protocol: a target that can list what it holds has a
reader module beside it (``<vendor>/importer.py``; DuckDB's is ``duckdb_import.py``), registered here by
target type. A reader takes the
target's own settings and returns an ``ImportedLineage``: the lineage as manifests would declare it,
plus, per process, the vendor id and the project whose ownership marker it carries. Targets without
a reader are refused with a message saying why and what to do instead.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from types import MappingProxyType

from ..config import TargetConfig
from ..errors import ConfigError, UsageError
from ..model import Lineage, Process
from ..plan.contract import Current

Advance = Callable[[int, int], None]


@dataclass(frozen=True)
class HeldProcess:
    """What a target reports about one imported process: its vendor id and ownership marker ('' if none)."""

    vendor_id: str
    owner: str = ""


@dataclass(frozen=True)
class ImportSelection:
    """What to import: ``filters`` as ``key -> glob`` (``id`` on the process id, ``asset`` on any
    input or output asset key; readers may honour vendor keys such as ``connection``). ``known_ids``
    holds, by address, the vendor ids of the processes this project's state records for the target:
    a reader of a target that cannot list what it holds (Alation) starts from them."""

    filters: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    known_ids: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def check(self, config: TargetConfig, allowed: frozenset[str]) -> None:
        """ConfigError naming the target when a filter key is not one its reader honours."""
        unknown = sorted(set(self.filters) - allowed)
        if unknown:
            raise ConfigError(f"target {config.name!r} ({config.type}): unknown filter {', '.join(unknown)}; "
                              f"it filters on {', '.join(sorted(allowed))}")

    def keeps(self, process: Process) -> bool:
        """True when ``process`` passes the ``id`` and ``asset`` filters."""
        pattern = self.filters.get("id")
        if pattern is not None and not fnmatchcase(process.id, pattern):
            return False
        pattern = self.filters.get("asset")
        return pattern is None or any(fnmatchcase(a.key, pattern) for a in (*process.inputs, *process.outputs))


@dataclass(frozen=True)
class ImportedLineage:
    """The lineage a target holds, its processes keyed by id in ``held``, and notes on what was left out.

    ``resources`` names, by the address translate gives them, the resources a target's ``read`` finds
    only when told their vendor ids (Atlan searches managed resources by guid); adopting passes them
    to ``read`` as known."""

    lineage: Lineage
    held: Mapping[str, HeldProcess]
    notes: tuple[str, ...] = ()
    resources: Mapping[str, Current] = field(default_factory=lambda: MappingProxyType({}))


Reader = Callable[[TargetConfig, ImportSelection, Advance], ImportedLineage]

READERS: dict[str, str] = {
    "duckdb": "lineage_as_code.targets.duckdb_import:read_duckdb_lineage",
    "atlan": "lineage_as_code.targets.atlan.importer:read_atlan_lineage",
    "google": "lineage_as_code.targets.google.importer:read_google_lineage",
    "secoda": "lineage_as_code.targets.secoda.importer:read_secoda_lineage",
    "alation": "lineage_as_code.targets.alation.importer:read_alation_lineage",
}

REFUSALS: dict[str, str] = {
    "huawei": "Huawei DataArts Studio offers no public API to read back the lineage this tool writes (lineage-info "
              "is write-only); keep the manifests in Git as the source of truth, or export the lineage from the "
              "DataArts Studio console and convert it to a CSV manifest (process_id, source, target columns)",
}

PARSED_FILTER_KEYS = frozenset({"id", "asset"})


def parse_filters(items: list[str] | None) -> ImportSelection:
    """``KEY=GLOB`` arguments -> an ImportSelection; UsageError for an argument without ``=``."""
    filters: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--filter {item!r}: write KEY=GLOB, e.g. --filter id='orders_*' or "
                             "--filter asset='snowflake:ANALYTICS.marts.*'")
        filters[key.strip()] = value
    return ImportSelection(MappingProxyType(filters))


def read_target_lineage(config: TargetConfig, selection: ImportSelection, advance: Advance) -> ImportedLineage:
    """Read what ``config``'s target holds through its registered reader; ConfigError when it has none."""
    refusal = REFUSALS.get(config.type)
    if refusal:
        raise ConfigError(f"target {config.name!r} ({config.type}) cannot be imported: {refusal}")
    spec = READERS.get(config.type)
    if spec is None:
        raise ConfigError(f"target {config.name!r} ({config.type}): lac import does not read this target yet; "
                          f"it reads {', '.join(sorted(READERS))}")
    module_name, function_name = spec.split(":")
    reader: Reader = getattr(importlib.import_module(module_name), function_name)
    return reader(config, selection, advance)
