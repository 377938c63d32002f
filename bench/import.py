"""``lac import`` at scale: 10,000 processes read back from each target that has a reader.

For each target, a generated manifest (``--processes`` processes, 2 inputs x 1 output and one
column mapping each) is applied once, cleanly, through the real workflow. Then faults are switched
on (for an emulator: every ``--throttle-every``th request answers 429 with Retry-After, and
``--error-rate`` of the rest 503) and the target is imported with ``--adopt``. The imported lineage
must equal the applied one exactly (process ids, table edges, column edges), and a plan of the
imported manifests must have no changes. For the emulators, the search requests the import made
are printed beside the fewest the page size allows (``ceil(entities / page size)`` per entity
type for Atlan; for Google one list of processes per 100, one list of runs per process and one list
of events per run), faulted answers counted apart. Google keeps no column transforms and hashes the
manifest file a process was declared in, so its lineage is compared without transforms and its
re-plan is not expected empty. Secoda's catalog and manual lineage are seeded directly (an apply at
its documented 30 writes a minute would take hours), and since it has no processes its lineage is
compared as flows between tables and between columns. Alation lists no dataflows: the import names
this project's by ``--filter external_id_prefix=`` (from state) and reads them through the Dataflow
API, 1,000 external ids a request, so the minimum is ``ceil(processes / 1000)``; Alation keeps no
column transforms, so its lineage is compared without them. Prints one table and a final JSON line.

    python bench/import.py [--processes 10000] [--targets duckdb,atlan,google,secoda,alation] [--page-size 100]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

# Run as ``python bench/import.py``: the emulators and the test harness live under tests/.
REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from lineage_as_code.catalog_import import ImportRequest, write_import
from lineage_as_code.config import Config
from lineage_as_code.model import Lineage
from lineage_as_code.project import load_manifests
from lineage_as_code.workflow import PlanRequest, apply_project, plan_project
from tests.emulators.alation import AlationEmulator
from tests.emulators.atlan import SEARCH, AtlanEmulator
from tests.emulators.base import Faults, Request, Response, serve
from tests.emulators.google import GoogleLineageEmulator
from tests.emulators.secoda import SecodaEmulator
from tests.targets import test_secoda
from tests.targets.harness import make_project, write_generated

TOKEN, TOKEN_ENV = "bench-import-token", "LAC_BENCH_IMPORT_TOKEN"
CONNECTIONS = {"snowflake": "default/snowflake/1657025257"}


def lineage_view(lineage: Lineage) -> tuple[set[tuple[str, str, str]], set[tuple[str, ...]]]:
    """Table edges and column edges by process id, as sets: what an exact round trip preserves."""
    edges = {(p.id, i, o) for p in lineage.processes for i, o in p.edges}
    columns = {(p.id, s.asset, s.column, m.target.asset, m.target.column, m.transform)
               for p in lineage.processes for m in p.columns for s in m.sources}
    return edges, columns


def _import(config: Config, target: str, root: Path, exact_ids: bool = True) -> tuple[float, bool, bool]:
    """Import with --adopt; return wall time, whether the lineage is exact, whether the re-plan is empty."""
    started = time.perf_counter()
    report = write_import(config, ImportRequest(target, str(root / "imported"), adopt=True), lambda _d, _t: None)
    wall = time.perf_counter() - started
    view = lineage_view if exact_ids else pair_view
    exact = view(load_manifests(config, report.paths).lineage) == view(load_manifests(config).lineage)
    plan = plan_project(config, PlanRequest((str(root / "imported"),)))
    return wall, exact, not plan.has_changes


def measure_duckdb(root: Path, processes: int) -> dict[str, Any]:
    manifest = write_generated(root / "manifests" / "lineage.yaml", processes, inputs=2, outputs=1, columns=1)
    config = make_project(root, {"local": {"type": "duckdb", "path": str(root / ".lac" / "lineage.duckdb")}},
                          manifest)
    apply_project(config, PlanRequest())
    wall, exact, empty = _import(config, "local", root)
    return {"target": "duckdb", "processes": processes, "wall_s": round(wall, 2), "exact": exact,
            "replan_empty": empty, "requests": None, "minimum": None, "faults": {}}


def measure_atlan(root: Path, processes: int, page_size: int, throttle_every: int, error_rate: float) -> dict[str, Any]:
    manifest = write_generated(root / "manifests" / "lineage.yaml", processes, inputs=2, outputs=1, columns=1)
    os.environ[TOKEN_ENV] = TOKEN
    app = AtlanEmulator(TOKEN)
    with serve(app) as server:
        settings = {"type": "atlan", "base_url": server.url, "token_env": TOKEN_ENV, "connections": CONNECTIONS,
                    "search_page_size": page_size, "retry_base_delay": 0.01, "batch_size": 100}
        config = make_project(root, {"atlan": settings}, manifest)
        apply_project(config, PlanRequest())
        column_processes = len(app.of_type("ColumnProcess"))
        app.log.clear()
        app.faults = Faults(throttle_every=throttle_every, retry_after=0.01, error_rate=error_rate, seed=11)
        started = time.perf_counter()
        report = write_import(config, ImportRequest("atlan", str(root / "imported")), lambda _d, _t: None)
        wall = time.perf_counter() - started
        searches = [r for r in app.log if r.path == SEARCH]
        faults = dict(app.faults_injected)
        app.faults = Faults()
        exact = lineage_view(load_manifests(config, report.paths).lineage) == \
            lineage_view(load_manifests(config).lineage)
        _, _, empty = _import(config, "atlan", root)
    minimum = math.ceil(processes / page_size) + math.ceil(column_processes / page_size)
    return {"target": "atlan", "processes": processes, "wall_s": round(wall, 2), "exact": exact,
            "replan_empty": empty, "requests": len([r for r in searches if not r.fault]),
            "faulted": len([r for r in searches if r.fault]), "minimum": minimum, "faults": faults}


class FaultyReadsGoogle(GoogleLineageEmulator):
    """The Google emulator with its write faults (429, 5xx) dealt to reads too: an import only lists."""

    def pre_fault(self, request: Request) -> tuple[str, Response | None]:
        return super().pre_fault(replace(request, method="POST") if request.method == "GET" else request)


class FaultyReadsSecoda(SecodaEmulator):
    """The Secoda emulator with its write faults dealt to reads too."""

    def pre_fault(self, request: Request) -> tuple[str, Response | None]:
        return super().pre_fault(replace(request, method="POST") if request.method == "GET" else request)


def measure_google(root: Path, processes: int, throttle_every: int, error_rate: float) -> dict[str, Any]:
    manifest = write_generated(root / "manifests" / "lineage.yaml", processes, inputs=2, outputs=1, columns=1)
    os.environ[TOKEN_ENV] = TOKEN
    app = FaultyReadsGoogle(TOKEN)
    with serve(app) as server:
        settings = {"type": "google", "project": "proj-1", "location": "us", "base_url": server.url,
                    "token_env": TOKEN_ENV, "retry_base_delay": 0.01, "operation_poll_interval": 0.01}
        config = make_project(root, {"google": settings}, manifest)
        apply_project(config, PlanRequest())
        runs = len(app.runs)
        app.log.clear()
        app.faults = Faults(throttle_every=throttle_every, retry_after=0.01, error_rate=error_rate, seed=11)
        started = time.perf_counter()
        report = write_import(config, ImportRequest("google", str(root / "imported")), lambda _d, _t: None)
        wall = time.perf_counter() - started
        faults = dict(app.faults_injected)
        reads = list(app.log)
        app.faults = Faults()
        exact = google_view(load_manifests(config, report.paths).lineage) == \
            google_view(load_manifests(config).lineage)
        _, _, empty = _import(config, "google", root)  # again with --adopt, no faults: is the next plan empty?
    # one page of processes per 100, one runs list per process, one events list per run
    minimum = math.ceil(processes / 100) + processes + runs
    return {"target": "google", "processes": processes, "wall_s": round(wall, 2), "exact": exact,
            "replan_empty": empty, "requests": len([r for r in reads if not r.fault]),
            "faulted": len([r for r in reads if r.fault]), "minimum": minimum, "faults": faults}


def measure_secoda(root: Path, processes: int, throttle_every: int, error_rate: float) -> dict[str, Any]:
    """Secoda's catalog and manual lineage seeded directly (an apply at Secoda's write rate would take hours)."""
    manifest = write_generated(root / "manifests" / "lineage.yaml", processes, inputs=2, outputs=1, columns=1)
    os.environ[TOKEN_ENV] = TOKEN
    app = FaultyReadsSecoda(TOKEN)
    with serve(app) as server:
        settings = {"type": "secoda", "base_url": server.url, "token_env": TOKEN_ENV, "retry_base_delay": 0.01,
                    "rate_limit_per_minute": 1_000_000, "input_handling": "UPDATE"}
        config = make_project(root, {"secoda": settings}, manifest)
        lineage = load_manifests(config).lineage
        ids = test_secoda.seed(app, lineage)
        for p in lineage.processes:
            for src, dst in p.edges:
                app.add_edge(ids[src], ids[dst])
            for m in p.columns:
                for ref in m.sources:
                    app.add_edge(ids[str(ref)], ids[str(m.target)])
        rows, ends = len(app.lineage), len({e for pair in app.edges() for e in pair})
        app.log.clear()
        app.faults = Faults(throttle_every=throttle_every, retry_after=0.01, error_rate=error_rate, seed=11)
        started = time.perf_counter()
        report = write_import(config, ImportRequest("secoda", str(root / "imported")), lambda _d, _t: None)
        wall = time.perf_counter() - started
        faults = dict(app.faults_injected)
        reads = list(app.log)
        app.faults = Faults()
        exact = pair_view(load_manifests(config, report.paths).lineage) == pair_view(lineage)
        _, _, empty = _import(config, "secoda", root, exact_ids=False)
    page, chunk = 50, 50  # the emulator's page size, the target's default lookup_chunk_size
    minimum = math.ceil(rows / page) + math.ceil(ends / chunk)
    return {"target": "secoda", "processes": processes, "wall_s": round(wall, 2), "exact": exact,
            "replan_empty": empty, "requests": len([r for r in reads if not r.fault]),
            "faulted": len([r for r in reads if r.fault]), "minimum": minimum, "faults": faults}


class FaultyReadsAlation(AlationEmulator):
    """The Alation emulator with its write faults dealt to reads too."""

    def pre_fault(self, request: Request) -> tuple[str, Response | None]:
        return super().pre_fault(replace(request, method="POST") if request.method == "GET" else request)


def measure_alation(root: Path, processes: int, throttle_every: int, error_rate: float) -> dict[str, Any]:
    manifest = write_generated(root / "manifests" / "lineage.yaml", processes, inputs=2, outputs=1, columns=1)
    os.environ[TOKEN_ENV] = TOKEN
    app = FaultyReadsAlation(TOKEN, job_polls=1)
    with serve(app) as server:
        # 1,000 dataflows of 2 paths a request: the apply is setup, not what is measured
        settings = {"type": "alation", "base_url": server.url, "token_env": TOKEN_ENV, "retry_base_delay": 0.01,
                    "poll_interval": 0.01, "datasource_ids": {"snowflake": {"id": 1, "database_in_key": True}},
                    "max_paths_per_request": 2000}
        config = make_project(root, {"alation": settings}, manifest)
        apply_project(config, PlanRequest())
        app.log.clear()
        app.faults = Faults(throttle_every=throttle_every, retry_after=0.01, error_rate=error_rate, seed=11)
        request = ImportRequest("alation", str(root / "imported"), filters=("external_id_prefix=",))
        started = time.perf_counter()
        report = write_import(config, request, lambda _d, _t: None)
        wall = time.perf_counter() - started
        faults = dict(app.faults_injected)
        reads = [r for r in app.log if r.method == "GET" and r.path == "/integration/v2/dataflow/"]
        app.faults = Faults()
        exact = google_view(load_manifests(config, report.paths).lineage) == \
            google_view(load_manifests(config).lineage)
        write_import(config, replace(request, adopt=True), lambda _d, _t: None)
        empty = not plan_project(config, PlanRequest((str(root / "imported"),))).has_changes
    return {"target": "alation", "processes": processes, "wall_s": round(wall, 2), "exact": exact,
            "replan_empty": empty, "requests": len([r for r in reads if not r.fault]),
            "faulted": len([r for r in reads if r.fault]), "minimum": math.ceil(processes / 1000), "faults": faults}


def pair_view(lineage: Lineage) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """Secoda has no processes and no transforms: the flows between tables and between columns."""
    edges = {(i, o) for p in lineage.processes for i, o in p.edges}
    columns = {(str(s), str(m.target)) for p in lineage.processes for m in p.columns for s in m.sources}
    return edges, columns


def google_view(lineage: Lineage) -> tuple[set[tuple[str, str, str]], set[tuple[str, ...]]]:
    """Google keeps no column transforms: the lineage compared without them."""
    edges, columns = lineage_view(lineage)
    return edges, {c[:-1] for c in columns}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=10_000)
    parser.add_argument("--targets", default="duckdb,atlan,google,secoda,alation")
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--throttle-every", type=int, default=7)
    parser.add_argument("--error-rate", type=float, default=0.05)
    args = parser.parse_args()
    rows = []
    for name in args.targets.split(","):
        with tempfile.TemporaryDirectory(prefix=f"lac-import-{name}-") as tmp:
            root = Path(tmp)
            if name == "duckdb":
                rows.append(measure_duckdb(root, args.processes))
            elif name == "secoda":
                rows.append(measure_secoda(root, args.processes, args.throttle_every, args.error_rate))
            elif name == "alation":
                rows.append(measure_alation(root, args.processes, args.throttle_every, args.error_rate))
            elif name == "google":
                rows.append(measure_google(root, args.processes, args.throttle_every, args.error_rate))
            elif name == "atlan":
                rows.append(measure_atlan(root, args.processes, args.page_size, args.throttle_every,
                                          args.error_rate))
            else:
                parser.error(f"no import bench for {name!r}")
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)  # each figure as soon as it is measured
    print("| target | processes | import wall | exact lineage | re-plan empty | read requests (ok + faulted) "
          "| page-size minimum | faults injected |")
    print("|---|--:|--:|---|---|--:|--:|---|")
    for r in rows:
        requests = f"{r['requests']} + {r['faulted']}" if r["requests"] is not None else "-"
        print(f"| {r['target']} | {r['processes']:,} | {r['wall_s']} s | {r['exact']} | {'-' if r['replan_empty'] is None else r['replan_empty']} | "
              f"{requests} | {r['minimum'] if r['minimum'] is not None else '-'} | {r['faults'] or '-'} |")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
