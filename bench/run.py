"""make bench: how lac scales, against a floor measured on the same machine in the same run.

For each input (native CSV at 10k, 100k and 1M column edges; YAML at 100k) in a fresh project:
  validate+plan   `lac plan FILE` against empty state (every change rendered), wall time and peak RSS;
  floor           a fresh interpreter reading the same file (pandas.read_csv / yaml.load with the C
                  loader) and hashing every row (or process): the least any tool must do;
  apply           `lac apply FILE` into the embedded DuckDB target;
  full re-plan    `lac plan FILE` after the apply with the cache off (parse, translate, diff);
  no-op re-plan   the same with the cache on: unchanged files are skipped by digest.
Each command runs as its own process; peak RSS comes from the kernel's rusage for that process.

    python bench/run.py [--sizes csv:10000,csv:100000,csv:1000000,yaml:100000] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work"
LAC = [sys.executable, "-m", "lineage_as_code"]
sys.path.insert(0, str(HERE))

from generate import generate, write_native_csv, write_yaml

FLOOR_CSV = """
import hashlib, sys, pandas as pd
frame = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)
digest = pd.util.hash_pandas_object(frame, index=False).sum()
"""
FLOOR_YAML = """
import hashlib, json, sys, yaml
doc = yaml.load(open(sys.argv[1], 'rb'), Loader=yaml.CSafeLoader)
digests = [hashlib.sha256(json.dumps(p, sort_keys=True).encode()).digest() for p in doc['processes']]
"""


@dataclass
class Row:
    input: str
    column_edges: int
    plan_s: float
    plan_rss_mb: float
    floor_s: float
    apply_s: float
    apply_rss_mb: float
    full_replan_s: float
    noop_replan_s: float

    @property
    def ratio(self) -> float:
        return self.plan_s / self.floor_s

    @property
    def noop_share(self) -> float:
        return self.noop_replan_s / self.full_replan_s


def timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run ``cmd``; return (wall seconds, peak RSS in MB). Raise when it fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 2):
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr.read().decode() if proc.stderr else ''}")
    return wall, usage.ru_maxrss / 1024


def manifest(fmt: str, edges: int) -> Path:
    folder = WORK / f"{edges}"
    path = folder / ("lineage.csv" if fmt == "csv" else "lineage.yaml")
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        procs = generate(edges)
        (write_native_csv if fmt == "csv" else write_yaml)(procs, path)
    return path


def measure(fmt: str, edges: int) -> Row:
    path = manifest(fmt, edges)
    project = WORK / f"run-{fmt}-{edges}"
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    floor, _ = timed([sys.executable, "-c", FLOOR_CSV if fmt == "csv" else FLOOR_YAML, str(path)], project)
    no_cache = {"LAC_NO_CACHE": "1"}
    plan_s, plan_rss = timed([*LAC, "plan", str(path)], project, no_cache)
    apply_s, apply_rss = timed([*LAC, "apply", "--auto-approve", str(path)], project)
    full_s, _ = timed([*LAC, "plan", str(path)], project, no_cache)
    noop_s, _ = timed([*LAC, "plan", str(path)], project)
    shutil.rmtree(project, ignore_errors=True)
    return Row(f"{fmt} {edges:,}", edges, plan_s, plan_rss, floor, apply_s, apply_rss, full_s, noop_s)


def table(rows: list[Row]) -> str:
    out = [("| input (column edges) | validate+plan | peak RSS | floor | plan / floor | apply to DuckDB | apply RSS "
            "| full re-plan | no-op re-plan | no-op / full |"),
           "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        out.append(f"| {r.input} | {r.plan_s:.2f} s | {r.plan_rss_mb:,.0f} MB | {r.floor_s:.2f} s | {r.ratio:.1f}x "
                   f"| {r.apply_s:.2f} s | {r.apply_rss_mb:,.0f} MB | {r.full_replan_s:.2f} s | {r.noop_replan_s:.2f} s "
                   f"| {r.noop_share:.0%} |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="csv:10000,csv:100000,csv:1000000,yaml:100000")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    rows = []
    for spec in args.sizes.split(","):
        fmt, edges = spec.split(":")
        print(f"measuring {fmt} {int(edges):,} ...", file=sys.stderr, flush=True)
        rows.append(measure(fmt, int(edges)))
    print(f"\n{date.today()}, {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}\n")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps([{**asdict(r), "ratio": r.ratio, "noop_share": r.noop_share}
                                         for r in rows], indent=2))


if __name__ == "__main__":
    main()
