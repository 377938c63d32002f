"""Request efficiency of every vendor target, measured against its emulator with latency injected.

For each vendor, one generated manifest (10,000 table edges by default: 5,000 processes x 2
inputs x 1 output, chained so inputs repeat as in a warehouse) is applied once through the real
workflow to the vendor's emulator answering every request after ``--latency`` seconds. The
emulator's request log gives the requests made, split into writes, reads (lookups, listings) and
polls (async jobs, long-running operations); they are compared with the fewest the vendor's
documented limits allow for that manifest (formulas beside each vendor below). The wall time of
the apply is compared with the latency bound ``requests x latency / parallelism``, parallelism
being the target's default ``max_parallel``. A second apply must change nothing; its requests
(the refresh reads that detect drift) are counted too. Prints one table and a final JSON line.

The plan's own cost estimate (``TargetPlan.requests``, from the target's ``Capabilities``: requests
per batch, per change, per request size) is printed beside the write requests the apply made and
the documented minimum, with how far the estimate is off; more than 10% means the target's cost
model is wrong.

The same apply is first timed without latency: that wall time is the fixed cost (parsing,
planning, state writes, and the emulator's own work, which shares this process), so
``(wall - fixed) / bound`` shows how well the requests' waiting overlaps, apart from CPU.

    python bench/requests.py [--edges 10000] [--latency 0.02] [--vendors google,atlan] [--max-parallel N]
                             [--no-baseline]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Run as ``python bench/requests.py``: the emulators and the test harness live under tests/.
REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from lineage_as_code.config import Config
from lineage_as_code.model import Lineage, Process
from lineage_as_code.project import load_manifests
from lineage_as_code.targets import open_target
from lineage_as_code.workflow import PlanRequest, apply_project
from tests.emulators.alation import AlationEmulator
from tests.emulators.atlan import SEARCH, AtlanEmulator
from tests.emulators.base import EmulatorApp, Faults, LoggedRequest, serve
from tests.emulators.google import GoogleLineageEmulator
from tests.emulators.huawei import DataArtsEmulator
from tests.emulators.secoda import SecodaEmulator
from tests.targets.harness import make_project, write_generated

INPUTS, OUTPUTS = 2, 1                              # the manifest's shape, the same for every vendor
POLL_PATHS = ("/operations/", "/bulk_metadata/job/")  # Google LRO and Alation job status reads
READ_POSTS = (SEARCH,)                               # Atlan's index search reads through POST
SECODA_RATE_LIMIT = 1e9                              # requests/min: the limiter off (see secoda_settings)
SECODA_DEFAULT_RATE = 30                             # Secoda's documented write limit, the target's default
ATLAN_RATE_LIMIT = 1e9                               # requests/min: the limiter off (see atlan_settings)
ATLAN_DEFAULT_RATE = 400                             # Atlan's documented per-instance limit, the target's default


@dataclass(frozen=True)
class Counts:
    writes: int = 0
    reads: int = 0
    polls: int = 0

    @property
    def total(self) -> int:
        return self.writes + self.reads + self.polls


def count(log: Sequence[LoggedRequest]) -> Counts:
    """Split the requests an emulator answered (injected faults excluded) into writes, reads and polls."""
    writes = reads = polls = 0
    for r in log:
        if r.fault:
            continue
        if any(p in r.path for p in POLL_PATHS):
            polls += 1
        elif r.method == "GET" or r.path in READ_POSTS:
            reads += 1
        else:
            writes += 1
    return Counts(writes, reads, polls)


def _links(p: Process) -> int:
    """Table links plus column links of a process (Google writes both as links)."""
    return len(p.inputs) * len(p.outputs) + sum(len(m.sources) for m in p.columns)


def _sources(lineage: Lineage) -> set[str]:
    return {i.key for p in lineage.processes for i in p.inputs}


# -- the minimum per vendor -------------------------------------------------------------------------

def google_minimum(lineage: Lineage, app: EmulatorApp) -> Counts:
    # Per process: CreateProcess + CreateRun + ceil(links / 100) CreateLineageEvent (<= 100 links an
    # event); creates are synchronous, so no operation polls. One ListProcesses page (<= 100 a page;
    # empty here) lets a run whose state was lost adopt what this tool wrote instead of meeting 409s.
    writes = sum(2 + math.ceil(_links(p) / 100) for p in lineage.processes)
    return Counts(writes, reads=1, polls=0)


def _alation_jobs(lineage: Lineage) -> int:
    # Alation recommends at most 100 paths and 1,000 dataflows a lineage request; a dataflow's paths
    # (one table path, one per column mapping) travel together, so a request holds whole dataflows.
    paths = [1 + len(p.columns) for p in lineage.processes]
    jobs, held, flows = 0, 0, 0
    for n in paths:
        if jobs == 0 or held + n > 100 or flows >= 1000:
            jobs, held, flows = jobs + 1, 0, 0
        held, flows = held + n, flows + 1
    return jobs


def google_openlineage_minimum(lineage: Lineage, app: EmulatorApp) -> Counts:
    # write_mode openlineage: one processOpenLineageRunEvent per process while its table links fit
    # one message (<= 1,000 links; Google groups them into events of 100 itself); column lineage is
    # not sent in this mode. One ListProcesses page, as in the API mode.
    writes = sum(math.ceil(len(p.inputs) * len(p.outputs) / 1000) for p in lineage.processes)
    return Counts(writes, reads=1, polls=0)


def alation_minimum(lineage: Lineage, app: EmulatorApp) -> Counts:
    # PARTIAL: lineage POSTs of <= 100 paths (Alation's recommendation), each an async job polled
    # until it ends: >= 1 poll a job on a real instance, ``job_polls`` on the emulator (its jobs are
    # still running at the first poll). No catalog read: Alation resolves keys or makes TMP objects.
    jobs = _alation_jobs(lineage)
    return Counts(jobs, reads=0, polls=jobs * int(getattr(app, "job_polls", 1)))


def alation_update_minimum(lineage: Lineage, app: EmulatorApp) -> Counts:
    # UPDATE also needs to know which tables (and columns) exist: the table listing of each (data
    # source, schema) the assets live in, 1,000 rows a page (the target's page_size), plus the column
    # listing of each schema whose columns a path names (none in this manifest).
    groups: dict[tuple[str, str, str], int] = {}
    for a in lineage.assets.values():
        groups[(a.platform, a.database, a.schema)] = groups.get((a.platform, a.database, a.schema), 0) + 1
    columns = {(a.platform, a.database, a.schema) for p in lineage.processes for m in p.columns
               for a in (lineage.assets[m.target.asset], *(lineage.assets[s.asset] for s in m.sources))}
    pages = sum(math.ceil(n / 1000) for n in groups.values())
    partial = alation_minimum(lineage, app)
    return Counts(partial.writes, reads=pages + len(columns), polls=partial.polls)


def huawei_minimum(lineage: Lineage, app: EmulatorApp) -> Counts:
    # One lineage-info POST per job node; a node lists 1-100 tables a side (and <= 100 column
    # lineages), so a process needs ceil(inputs/100) x ceil(outputs/100) nodes. No bulk call, no
    # reads (DataArts offers no read-back this target could use), no async jobs.
    writes = sum(math.ceil(len(p.inputs) / 100) * math.ceil(len(p.outputs) / 100) for p in lineage.processes)
    return Counts(writes)


def secoda_minimum(lineage: Lineage, app: EmulatorApp) -> Counts:
    # No bulk endpoint: one POST per distinct table pair. Assets are found by title in the catalog,
    # lookup_chunk_size (50) titles per filtered GET, the <= 50 hits of a chunk on one page. POST has
    # no idempotency key, so before creating, the lineage of the source entities is listed, 50 per
    # GET (one page each while nothing exists): that is what keeps re-runs and retries duplicate-free.
    pairs = {e for p in lineage.processes for e in p.edges}
    reads = math.ceil(len(lineage.assets) / 50) + math.ceil(len(_sources(lineage)) / 50)
    return Counts(len(pairs), reads=reads)


def atlan_minimum(lineage: Lineage, app: EmulatorApp) -> Counts:
    # Bulk upserts of entities_per_request (20) entities: assets first (placeholders for what the catalog
    # lacks, input handling PARTIAL), then processes, so ceil(assets/20) + ceil(processes/20).
    # Existing assets are looked up by index search, 100 qualifiedNames a query, one page each
    # while few exist: ceil(assets/100).
    assets, processes = len(lineage.assets), len(lineage.processes)
    return Counts(math.ceil(assets / 20) + math.ceil(processes / 20), reads=math.ceil(assets / 100))


# -- how each vendor is set up ----------------------------------------------------------------------

def google_settings(url: str) -> dict[str, Any]:
    return {"type": "google", "project": "proj-1", "location": "us", "base_url": url,
            "token_env": "BENCH_GOOGLE_TOKEN", "operation_poll_interval": 0.01}


def google_openlineage_settings(url: str) -> dict[str, Any]:
    return {**google_settings(url), "write_mode": "openlineage"}


def alation_settings(url: str) -> dict[str, Any]:
    # poll_interval (default 3 s) is a sleep between job polls, not a request: kept small so the
    # wall time reflects requests.
    return {"type": "alation", "base_url": url, "token_env": "BENCH_ALATION_TOKEN", "poll_interval": 0.01,
            "datasource_ids": {"snowflake": 1}}


def alation_update_settings(url: str) -> dict[str, Any]:
    return {**alation_settings(url), "input_handling": "UPDATE"}


def seed_alation(app: EmulatorApp, lineage: Lineage) -> None:
    """UPDATE skips what the catalog lacks: the catalog must hold every table first."""
    assert isinstance(app, AlationEmulator)
    for asset in lineage.assets.values():
        app.add_table(f"1.{asset.schema}.{asset.name}")


def huawei_settings(url: str) -> dict[str, Any]:
    return {"type": "huawei", "base_url": url, "token_env": "BENCH_HUAWEI_TOKEN", "project_id": "proj-1",
            "workspace": "ws-1"}


def secoda_settings(url: str) -> dict[str, Any]:
    # Secoda documents 30 writes a minute, the target's default: 10,000 POSTs would take 5.6 hours.
    # The limiter is turned off here to measure requests and parallelism, not the vendor's quota.
    return {"type": "secoda", "base_url": url, "token_env": "BENCH_SECODA_TOKEN", "input_handling": "UPDATE",
            "rate_limit_per_minute": SECODA_RATE_LIMIT}


def atlan_settings(url: str) -> dict[str, Any]:
    # Atlan documents 400 requests a minute per instance, the target's default; turned off here too.
    return {"type": "atlan", "base_url": url, "token_env": "BENCH_ATLAN_TOKEN",
            "connections": {"snowflake": "default/snowflake/1657025257"}, "rate_limit_per_minute": ATLAN_RATE_LIMIT}


def seed_secoda(app: EmulatorApp, lineage: Lineage) -> None:
    """Secoda creates no assets (input handling UPDATE): the catalog must hold every table first."""
    assert isinstance(app, SecodaEmulator)
    for asset in lineage.assets.values():
        app.add_table(".".join(p for p in (asset.database, asset.schema, asset.name) if p), asset.platform)


@dataclass(frozen=True)
class Vendor:
    name: str
    emulator: Callable[[str, Faults], EmulatorApp]
    settings: Callable[[str], dict[str, Any]]
    minimum: Callable[[Lineage, EmulatorApp], Counts]
    seed: Callable[[EmulatorApp, Lineage], None] | None = None


VENDORS = {v.name: v for v in (
    Vendor("google", lambda token, faults: GoogleLineageEmulator(token, faults), google_settings, google_minimum),
    Vendor("google-openlineage", lambda token, faults: GoogleLineageEmulator(token, faults),
           google_openlineage_settings, google_openlineage_minimum),
    Vendor("alation", lambda token, faults: AlationEmulator(token, faults), alation_settings, alation_minimum),
    Vendor("alation_update", lambda token, faults: AlationEmulator(token, faults), alation_update_settings,
           alation_update_minimum, seed_alation),
    Vendor("huawei", lambda token, faults: DataArtsEmulator(token, faults=faults), huawei_settings, huawei_minimum),
    Vendor("secoda", lambda token, faults: SecodaEmulator(token, faults), secoda_settings, secoda_minimum,
           seed_secoda),
    Vendor("atlan", lambda token, faults: AtlanEmulator(token, faults), atlan_settings, atlan_minimum),
)}


# -- one measurement --------------------------------------------------------------------------------

@dataclass
class Result:
    vendor: str
    parallelism: int
    counts: Counts
    minimum: Counts
    wall: float
    bound: float
    noop: Counts
    noop_wall: float
    noop_changes: bool
    notes: list[str] = field(default_factory=list)
    fixed: float | None = None  # wall time of the same apply without latency
    estimate: int = 0  # the write requests the plan said the apply would send

    @property
    def estimate_error(self) -> float | None:
        """How far the plan's estimate is from the writes the apply made (0.1 = 10% off)."""
        return (self.estimate - self.counts.writes) / self.counts.writes if self.counts.writes else None

    @property
    def net_ratio(self) -> float | None:
        """How far the wall time beyond the fixed cost is from the latency bound."""
        if self.fixed is None or not self.bound:
            return None
        return (self.wall - self.fixed) / self.bound

    @property
    def extra(self) -> int:
        return self.counts.total - self.minimum.total

    @property
    def ratio(self) -> float:
        return self.wall / self.bound if self.bound else math.inf


def _timed_apply(config: Config, app: EmulatorApp) -> tuple[Counts, float, bool, int]:
    """Apply once; return the requests it made, its wall time, whether the plan had changes, and the
    plan's estimate of the requests the apply would send."""
    app.log.clear()
    started = time.perf_counter()
    plan, _ = apply_project(config, PlanRequest())
    wall = time.perf_counter() - started
    return count(app.log), wall, plan.has_changes, sum(t.requests for t in plan.targets)


def measure(vendor: Vendor, root: Path, edges: int, latency: float, max_parallel: int | None) -> Result:
    """Apply the generated manifest to ``vendor``'s emulator twice and return the figures."""
    manifest = write_generated(root / "manifests" / "lineage.yaml", processes=edges // (INPUTS * OUTPUTS),
                               inputs=INPUTS, outputs=OUTPUTS)
    token = f"bench-{vendor.name}-token"
    app = vendor.emulator(token, Faults(latency=latency))
    with serve(app) as server:
        settings = {**vendor.settings(server.url), "retry_base_delay": 0.01}
        if max_parallel:
            settings["max_parallel"] = max_parallel
        os.environ[settings["token_env"]] = token
        config = make_project(root, {vendor.name: settings}, manifest)
        lineage = load_manifests(config).lineage
        if vendor.seed is not None:
            vendor.seed(app, lineage)
        target = open_target(config.targets[vendor.name])
        parallelism = target.capabilities.max_parallel
        target.close()
        counts, wall, _, estimate = _timed_apply(config, app)
        noop, noop_wall, noop_changes, _ = _timed_apply(config, app)
    bound = counts.total * latency / parallelism
    result = Result(vendor.name, parallelism, counts, vendor.minimum(lineage, app), wall, bound, noop, noop_wall,
                    noop_changes, estimate=estimate)
    if vendor.name == "secoda":
        hours = counts.writes / SECODA_DEFAULT_RATE / 60
        result.notes.append(f"rate_limit_per_minute set to {SECODA_RATE_LIMIT:g} (off); at Secoda's documented "
                            f"{SECODA_DEFAULT_RATE}/min the {counts.writes} writes would take {hours:.1f} h")
    if vendor.name == "atlan":
        minutes = counts.total / ATLAN_DEFAULT_RATE
        result.notes.append(f"rate_limit_per_minute set to {ATLAN_RATE_LIMIT:g} (off); at Atlan's documented "
                            f"{ATLAN_DEFAULT_RATE}/min the {counts.total} requests would take {minutes:.1f} min")
    if noop_changes:
        result.notes.append("the second apply found changes: the first one did not converge")
    return result


# -- output -----------------------------------------------------------------------------------------

HEADER = ("vendor", "requests", "minimum", "extra", "parallel", "wall s", "bound s", "ratio", "fixed s",
          "net ratio", "no-op req", "no-op s")


def _optional(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table_rows(results: Sequence[Result]) -> list[tuple[str, ...]]:
    return [(r.vendor, str(r.counts.total), str(r.minimum.total), str(r.extra), str(r.parallelism),
             f"{r.wall:.1f}", f"{r.bound:.1f}", f"{r.ratio:.2f}", _optional(r.fixed, 1), _optional(r.net_ratio, 2),
             str(r.noop.total), f"{r.noop_wall:.1f}")
            for r in results]


def split_rows(results: Sequence[Result]) -> list[tuple[str, ...]]:
    def pair(got: int, floor: int) -> str:
        return f"{got}/{floor}"
    return [(r.vendor, pair(r.counts.writes, r.minimum.writes), pair(r.counts.reads, r.minimum.reads),
             pair(r.counts.polls, r.minimum.polls), f"{r.noop.writes}/{r.noop.reads}/{r.noop.polls}")
            for r in results]


ESTIMATE_HEADER = ("vendor", "estimate", "measured writes", "minimum writes", "estimate off")


def estimate_rows(results: Sequence[Result]) -> list[tuple[str, ...]]:
    return [(r.vendor, str(r.estimate), str(r.counts.writes), str(r.minimum.writes),
             "-" if r.estimate_error is None else f"{r.estimate_error:+.0%}") for r in results]


def render(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    lines = ["  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths,
                                                                                             strict=True)))
             for row in (header, *rows)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary(results: Sequence[Result], edges: int, latency: float) -> dict[str, Any]:
    return {"bench": "requests", "edges": edges, "latency": latency, "shape": f"{INPUTS}x{OUTPUTS}",
            "vendors": {r.vendor: {"requests": asdict(r.counts), "minimum": asdict(r.minimum), "extra": r.extra,
                                   "parallelism": r.parallelism, "wall": round(r.wall, 3),
                                   "bound": round(r.bound, 3), "ratio": round(r.ratio, 3),
                                   "fixed": None if r.fixed is None else round(r.fixed, 3),
                                   "net_ratio": None if r.net_ratio is None else round(r.net_ratio, 3),
                                   "noop_requests": asdict(r.noop), "noop_wall": round(r.noop_wall, 3),
                                   "noop_changes": r.noop_changes, "estimate": r.estimate,
                                   "notes": r.notes} for r in results}}


def run_vendor(vendor: Vendor, edges: int, latency: float, max_parallel: int | None, baseline: bool) -> Result:
    """Measure ``vendor`` (first without latency when ``baseline``), each run in a fresh project."""
    fixed = None
    if baseline and latency:
        with tempfile.TemporaryDirectory(prefix=f"bench-{vendor.name}-") as tmp:
            fixed = measure(vendor, Path(tmp), edges, 0.0, max_parallel).wall
    with tempfile.TemporaryDirectory(prefix=f"bench-{vendor.name}-") as tmp:
        result = measure(vendor, Path(tmp), edges, latency, max_parallel)
    result.fixed = fixed
    print(f"  {vendor.name}: {result.counts.total} requests in {result.wall:.1f}s"
          + ("" if fixed is None else f" ({fixed:.1f}s without latency)")
          + f"; no-op apply {result.noop.total} requests in {result.noop_wall:.1f}s", flush=True)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edges", type=int, default=10_000, help="table edges in the manifest (default 10000)")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added to every request (default 0.02)")
    parser.add_argument("--vendors", default=",".join(VENDORS), help="comma-separated subset of " + ", ".join(VENDORS))
    parser.add_argument("--max-parallel", type=int, default=None, help="override every target's max_parallel")
    parser.add_argument("--no-baseline", action="store_true", help="skip the run without latency (fixed cost)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.vendors.split(",") if n.strip()]
    unknown = [n for n in names if n not in VENDORS]
    if unknown:
        parser.error(f"unknown vendor(s): {', '.join(unknown)}")
    processes = args.edges // (INPUTS * OUTPUTS)
    print(f"{processes} processes x {INPUTS} inputs x {OUTPUTS} output = {processes * INPUTS * OUTPUTS} table "
          f"edges; {args.latency * 1000:g} ms latency on every request", flush=True)
    results = [run_vendor(VENDORS[name], args.edges, args.latency, args.max_parallel, not args.no_baseline)
               for name in names]
    print()
    print(render(HEADER, table_rows(results)))
    print()
    print(render(("vendor", "writes/min", "reads/min", "polls/min", "no-op w/r/p"), split_rows(results)))
    print()
    print(render(ESTIMATE_HEADER, estimate_rows(results)))
    for r in results:
        for note in r.notes:
            print(f"note: {r.vendor}: {note}")
    print(json.dumps(summary(results, args.edges, args.latency), sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
