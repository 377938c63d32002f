"""make bench: how lac scales on several shapes of input, against a floor measured in the same run.

Shapes (SIZE is the number of data rows of a CSV, the number of column edges of YAML):
  atlan           Atlan Lineage Builder CSV, Table rows only (table lineage, ~0.45 rows per process)
  atlan-columns   Atlan Lineage Builder CSV, Table rows and Column rows (DB/SCHEMA/TABLE/COLUMN)
  csv             native CSV from bench/generate.py (column lineage on ~90% of processes)
  small           native CSV, many small processes (one input, one output, two column edges)
  wide            native CSV, few wide processes (20 processes, 200 inputs each, SIZE/20 columns each)
  yaml            YAML manifest from bench/generate.py, sized by column edges

For each input, in a fresh project, each command in its own process:
  floor           a fresh interpreter doing pandas.read_csv(dtype=str) + pd.util.hash_pandas_object on the
                  same file (YAML: yaml.load with the C loader and a hash per process);
  validate        `lac validate FILE`;
  plan            `lac plan FILE` against empty state, cache off (every change rendered);
  apply           `lac apply FILE` into the embedded DuckDB target (the plan before it ran with the cache off,
                  so this apply parses and translates, and writes the cache);
  full re-plan    `lac plan FILE` after the apply, cache off; no-op re-plan: the same with the cache on (it
                  reads the cached translation and diffs, then remembers that nothing changed);
  remembered      the same plan once more: served from the remembered no-op;
  cached apply    `lac apply FILE` into a new store with new state, the cache kept: an apply after a plan
                  that wrote the cache, as a user runs them;
  one change      the manifest with one process more (a row added: CSV shapes), then `lac plan FILE` (cache on,
                  as a pull request's plan runs) and `lac apply FILE` (after that plan): the everyday change to
                  a large project, against the state and store the cached apply left.
An input of PLAN_ONLY rows or more (the opt-in 10M) is measured for floor, validate and plan only, with
the manifest size limit raised to take it; its other columns print "-".
CPU time (user + system), wall time and peak memory are each command's own: every command is started
by a small launcher (bench/peak.py), never forked from this script. Ratios are of CPU time, which a
machine shared with other work inflates far less than wall time. The 1-minute load average is read before and after
each input and printed beside its figures: the machine may be shared. ``--stages`` also profiles one
plan per input (cProfile) and prints where its time goes: parse, translate, diff, cache write.

    python bench/run.py [--sizes atlan:100000,csv:1000000,...] [--stages] [--json results.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import pstats
import shutil
import sys
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
LAC = [sys.executable, "-m", "lineage_as_code"]
sys.path.insert(0, str(HERE))

from generate import generate, generate_small, generate_wide, write_atlan_csv, write_native_csv, write_yaml
from peak import Measured, measure

SHAPES = ("atlan", "atlan-columns", "csv", "small", "wide", "yaml")
DEFAULT_SIZES = ",".join(f"{s}:{n}" for n in (100_000, 1_000_000) for s in SHAPES)
PLAN_ONLY = 5_000_000  # inputs this large are measured for floor, validate and plan only
FLOOR_CSV = """
import sys, pandas as pd
frame = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)
digest = pd.util.hash_pandas_object(frame, index=False).sum()
"""
FLOOR_YAML = """
import hashlib, json, sys, yaml
doc = yaml.load(open(sys.argv[1], 'rb'), Loader=yaml.CSafeLoader)
digests = [hashlib.sha256(json.dumps(p, sort_keys=True).encode()).digest() for p in doc['processes']]
"""
# Where a plan spends its time: (stage, file the function is in, function name).
STAGES = (("parse", "manifest/__init__.py", "build_lineage"), ("translate", "targets/", "translate"),
          ("diff", "plan/build.py", "build_plan"), ("cache write", "cache.py", "put"))


@dataclass
class Row:
    input: str
    rows: int
    floor: Measured
    validate: Measured
    plan: Measured
    apply: Measured | None  # None: not measured (an input of PLAN_ONLY rows or more)
    full_replan: Measured | None
    noop_replan: Measured | None
    remembered: Measured | None
    cached_apply: Measured | None
    one_plan: Measured | None  # None: not measured (YAML, or an input of PLAN_ONLY rows or more)
    one_apply: Measured | None
    load: tuple[float, float]
    stages: dict[str, float] = field(default_factory=dict)

    def ratio(self, m: Measured | None, to: Measured | None = None) -> str:
        """``m``'s CPU time over the floor's (or over ``to``'s)."""
        base = (to or self.floor).cpu_s
        return f"{m.cpu_s / base:.1f}x" if base and m is not None else "-"


def manifest(shape: str, size: int) -> Path:
    """Generate (once) and return the input file of ``shape`` at ``size``."""
    path = WORK / "inputs" / f"{shape}-{size}.{'yaml' if shape == 'yaml' else 'csv'}"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    if shape == "atlan":
        write_atlan_csv(generate(0, table_edges=size), partial)
    elif shape == "atlan-columns":
        write_atlan_csv(generate(int(size / 1.19)), partial, columns=True)  # ~0.19 table rows per column row
    elif shape == "yaml":
        write_yaml(generate(size), partial)
    else:
        procs = {"csv": lambda: generate(size), "small": lambda: generate_small(size),
                 "wide": lambda: generate_wide(size)}[shape]()
        write_native_csv(procs, partial)
    partial.rename(path)
    return path


def one_more(path: Path) -> None:
    """Append to the CSV ``path`` its last row as a new process (its id given a suffix): one create more."""
    with open(path, newline="") as fh:
        header = next(csv.reader(fh))
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - 65_536))
        last = fh.read().splitlines()[-1].decode()
    row = next(csv.reader([last]))
    at = header.index("process_id" if "process_id" in header else "Transformation Identity")
    row[at] += "_one_more"
    with open(path, "a", newline="") as fh:
        csv.writer(fh).writerow(row)


def data_rows(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for _ in fh) - 1


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> Measured:
    """Measure ``cmd``; raise SystemExit with its stderr when it fails (plan's exit 2 is success)."""
    measured, err = measure(cmd, cwd, {**os.environ, **(env or {})})
    if measured.exit_code not in (0, 2):
        raise SystemExit(f"{' '.join(cmd)} failed (exit {measured.exit_code}):\n{err.decode(errors='replace')[-3000:]}")
    return measured


def stage_seconds(path: Path, project: Path, env: dict[str, str]) -> dict[str, float]:
    """Profile one cache-off plan; return seconds per stage (under the profiler) and the total."""
    profile = project / "plan.prof"
    run([sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "lineage_as_code", "plan", str(path)], project,
        {"LAC_NO_CACHE": "1", **env})
    stats = pstats.Stats(str(profile)).stats  # type: ignore[attr-defined]
    out = {"total": max(ct for (_, _, _, ct, _) in stats.values())}
    for stage, where, func in STAGES:
        times = [ct for (file, _, name), (_, _, _, ct, _) in stats.items()
                 if name == func and where in file.replace(os.sep, "/")]
        out[stage] = max(times, default=0.0)
    return out


def measure_input(shape: str, size: int, stages: bool) -> Row:
    source = manifest(shape, size)
    project = WORK / f"run-{shape}-{size}"
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    path = project / source.name  # the project's own copy: the one-change run edits it
    shutil.copyfile(source, path)
    load_before = os.getloadavg()[0]
    floor = run([sys.executable, "-c", FLOOR_YAML if shape == "yaml" else FLOOR_CSV, str(path)], project)
    rows = data_rows(path) if shape != "yaml" else size
    no_cache = {"LAC_NO_CACHE": "1"}
    large = {"LAC_MAX_MANIFEST_BYTES": str(path.stat().st_size)} if rows >= PLAN_ONLY else {}
    validate = run([*LAC, "validate", str(path)], project, large)
    plan = run([*LAC, "plan", str(path)], project, {**no_cache, **large})
    one_plan = one_apply = None
    if large:
        apply = full = noop = remembered = cached_apply = None
    else:
        apply = run([*LAC, "apply", "--auto-approve", str(path)], project)
        full = run([*LAC, "plan", str(path)], project, no_cache)
        noop = run([*LAC, "plan", str(path)], project)
        remembered = run([*LAC, "plan", str(path)], project)
        for done in (project / ".lac").glob("*"):  # a new store and state; the cached translation stays
            if done.name != "cache":
                done.unlink()
        cached_apply = run([*LAC, "apply", "--auto-approve", str(path)], project)
        if shape != "yaml":
            one_more(path)
            one_plan = run([*LAC, "plan", str(path)], project)
            one_apply = run([*LAC, "apply", "--auto-approve", str(path)], project)
            shutil.copyfile(source, path)
    shutil.rmtree(project / ".lac", ignore_errors=True)
    found = stage_seconds(path, project, large) if stages else {}
    row = Row(shape, rows, floor, validate, plan, apply, full, noop, remembered, cached_apply, one_plan, one_apply,
              (load_before, os.getloadavg()[0]), found)
    shutil.rmtree(project, ignore_errors=True)
    return row


def table(rows: list[Row]) -> str:
    """CPU seconds (user + system, the command's threads included) with each ratio, and peaks; wall
    seconds of the plan and apply last, for a machine shared with other work they are the loose figures."""
    def s(m: Measured | None, attr: str = "cpu_s") -> str:
        return "-" if m is None else f"{getattr(m, attr):.2f} s"

    def mb(m: Measured | None) -> str:
        return "-" if m is None else f"{m.peak_mb:,.0f} MB"

    out = [("| input | rows | floor CPU, peak | validate CPU (x floor), peak | plan CPU (x floor) | plan peak "
            "| apply CPU (x plan) | apply peak | full re-plan CPU | no-op re-plan CPU (x plan), peak | remembered no-op CPU (x plan), peak "
            "| cached apply CPU (x plan), peak | one change: plan CPU (x floor), peak | one change: apply CPU (x plan), peak "
            "| plan / apply wall | load 1-min |"),
           "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        out.append(f"| {r.input} | {r.rows:,} | {s(r.floor)}, {mb(r.floor)} "
                   f"| {s(r.validate)} ({r.ratio(r.validate)}), {mb(r.validate)} "
                   f"| {s(r.plan)} ({r.ratio(r.plan)}) | {mb(r.plan)} "
                   f"| {s(r.apply)} ({r.ratio(r.apply, r.plan)}) | {mb(r.apply)} "
                   f"| {s(r.full_replan)} | {s(r.noop_replan)} ({r.ratio(r.noop_replan, r.plan)}), {mb(r.noop_replan)} "
                   f"| {s(r.remembered)} ({r.ratio(r.remembered, r.plan)}), {mb(r.remembered)} "
                   f"| {s(r.cached_apply)} ({r.ratio(r.cached_apply, r.plan)}), {mb(r.cached_apply)} "
                   f"| {s(r.one_plan)} ({r.ratio(r.one_plan)}), {mb(r.one_plan)} "
                   f"| {s(r.one_apply)} ({r.ratio(r.one_apply, r.plan)}), {mb(r.one_apply)} "
                   f"| {s(r.plan, 'wall_s')} / {s(r.apply, 'wall_s')} | {r.load[0]:.1f} -> {r.load[1]:.1f} |")
    return "\n".join(out)


def stage_table(rows: list[Row]) -> str:
    names = [stage for stage, _, _ in STAGES]
    out = ["| input | rows | " + " | ".join(names) + " | rest (render, state, start-up) |",
           "|---|--:|" + "--:|" * (len(names) + 1)]
    for r in rows:
        if not r.stages:
            continue
        total = r.stages["total"]
        cells = [f"{r.stages[n] / total:.0%}" for n in names]
        rest = 1 - sum(r.stages[n] for n in names) / total
        out.append(f"| {r.input} | {r.rows:,} | " + " | ".join(cells) + f" | {rest:.0%} |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="SHAPE:SIZE,... (10M: e.g. csv:10000000, opt-in)")
    parser.add_argument("--stages", action="store_true", help="also profile one plan per input, per stage")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    rows = []
    for spec in args.sizes.split(","):
        shape, size = spec.split(":")
        if shape not in SHAPES:
            raise SystemExit(f"unknown shape {shape!r}; expected one of {', '.join(SHAPES)}")
        print(f"measuring {shape} {int(size):,} (load {os.getloadavg()[0]:.1f}) ...", file=sys.stderr, flush=True)
        rows.append(measure_input(shape, int(size), args.stages))
    print(f"\n{date.today()}, {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; "
          "peaks are each command's own (bench/peak.py, ~10 MB floor)\n")
    print(table(rows))
    if args.stages:
        print("\nWhere a cache-off plan spends its time (cProfile, share of the profiled run):\n")
        print(stage_table(rows))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2))


if __name__ == "__main__":
    main()
