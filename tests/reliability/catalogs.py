"""How each HTTP target is set up against its emulator for the reliability suites, as data.

A Catalog names the emulator, the target's lac.yaml settings (reusing each vendor test's own
settings helper), what must already exist in the vendor before lineage can land (Secoda links only
tables it finds in its catalog), a comparable view of the lineage the emulator stores, and its
duplicate counter. The suites compare a faulted, crashed or raced run's view against a clean run's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from lineage_as_code.config import Config
from lineage_as_code.project import load_manifests
from lineage_as_code.targets import http
from tests.emulators.alation import AlationEmulator
from tests.emulators.atlan import AtlanEmulator
from tests.emulators.base import EmulatorApp, Faults
from tests.emulators.google import GoogleLineageEmulator
from tests.emulators.huawei import DataArtsEmulator
from tests.emulators.secoda import SecodaEmulator
from tests.targets import test_alation, test_atlan, test_google, test_huawei, test_secoda


@dataclass(frozen=True)
class Catalog:
    """One vendor: ``settings(url)`` is its lac.yaml ``targets`` mapping (one target named ``name``)."""

    name: str
    token_env: str
    emulator: Callable[[str, Faults], EmulatorApp]
    settings: Callable[[str], dict[str, dict[str, Any]]]
    view: Callable[[Any], Any]
    duplicates: Callable[[Any], int]
    prepare: Callable[[Any, Config], None] = lambda app, config: None
    # After a crash, the next run re-sends what the dead run may already have written (idempotent
    # upserts). An emulator whose duplicate counter counts such resends says so here: crash trials
    # then report them apart, and rely on the stored lineage equalling a clean run's.
    counts_resends: bool = False

    def target(self, url: str, **extra: Any) -> dict[str, dict[str, Any]]:
        """The settings with ``extra`` merged into the one target."""
        return {name: {**values, **extra} for name, values in self.settings(url).items()}


def _google_view(app: GoogleLineageEmulator) -> Any:
    runs = Counter(name.split("/runs/")[0].rsplit("/", 1)[1] for name in app.runs)
    return app.links(), dict(runs)


def _alation_view(app: AlationEmulator) -> Any:
    return app.links(), app.links("column"), sorted(app.dataflows)


def _huawei_view(app: DataArtsEmulator) -> Any:
    return app.table_edges(), {job: sorted(pairs) for job, pairs in app.column_edges().items()}, sorted(app.nodes)


def _secoda_view(app: SecodaEmulator) -> Any:
    titles = {rid: r["title_full"] for rid, r in app.resources.items()}
    return sorted((titles[a], titles[b]) for a, b in app.edges())


def _secoda_prepare(app: SecodaEmulator, config: Config) -> None:
    test_secoda.seed(app, load_manifests(config).lineage)


def _atlan_view(app: AtlanEmulator) -> Any:
    return app.lineage(), app.lineage("ColumnProcess")


CATALOGS = {
    "google": Catalog("google", test_google.ENV, lambda token, f: GoogleLineageEmulator(token, f),
                      lambda url: test_google.google(url), _google_view, lambda app: app.duplicate_links()),
    "alation": Catalog("alation", test_alation.ENV, lambda token, f: AlationEmulator(token, f),
                       lambda url: test_alation.settings(url, datasource_ids={"snowflake": 1}),
                       _alation_view, lambda app: app.duplicates, counts_resends=True),
    # Re-posting a DataArts node replaces it (the view would show a second copy); resent writes are
    # counted apart, in duplicate_writes, because they are expected after a lost reply.
    "huawei": Catalog("huawei", test_huawei.ENV, lambda token, f: DataArtsEmulator(token, faults=f),
                      lambda url: test_huawei.dataarts(url), _huawei_view, lambda app: 0),
    "secoda": Catalog("secoda", test_secoda.ENV, lambda token, f: SecodaEmulator(token, f),
                      lambda url: test_secoda.target(url), _secoda_view, lambda app: app.duplicates,
                      _secoda_prepare),
    "atlan": Catalog("atlan", test_atlan.ENV, lambda token, f: AtlanEmulator(token, f),
                     lambda url: test_atlan.atlan(url),
                     _atlan_view, lambda app: app.duplicate_entities()),
}


class RecordedStats(http.HttpStats):
    """HttpStats that remember themselves, so a suite can sum the retries of every client a run made."""

    made: ClassVar[list[http.HttpStats]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        RecordedStats.made.append(self)


@contextmanager
def http_stats(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Yield a dict that holds, on exit, the summed counters of every HttpClient created inside."""
    monkeypatch.setattr(http, "HttpStats", RecordedStats)
    RecordedStats.made.clear()
    totals: dict[str, int] = {}
    try:
        yield totals
    finally:
        for name in ("requests", "retries", "throttled", "server_errors", "network_errors"):
            totals[name] = sum(getattr(s, name) for s in RecordedStats.made)


def files_containing(root: Path, needle: bytes) -> list[str]:
    """Every file under ``root`` whose bytes contain ``needle`` (relative paths)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes())
