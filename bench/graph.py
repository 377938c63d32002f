"""How long ``lac graph --format html`` takes to build its page as the lineage grows.

For each size, a deterministic warehouse-shaped lineage (raw -> staging -> marts -> BI, fan-in of
1-4 inputs, one output per process, column mappings on most processes) is built in memory, then
timed: the graph (``build_graph``), the layout (``layout_graph``) and the whole page
(``render_graph_html``, layout and JSON included), in wall time and in CPU time (the process's own,
steadier on a shared machine). Figures are printed, never asserted.

    python bench/graph.py [--processes 2500,5000,10000,20000]
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lineage_as_code.graph import build_graph
from lineage_as_code.graph_html import layout_graph, render_graph_html
from lineage_as_code.model import Asset, ColumnMapping, ColumnRef, Lineage, Process

T = TypeVar("T")
U = TypeVar("U")
LAYERS = [("raw", "staging", (1, 2)), ("staging", "marts", (2, 4)), ("marts", "bi", (1, 2))]


def build_lineage(processes: int, seed: int = 7) -> Lineage:
    """``processes`` processes in layers; every output becomes a possible input of the next layer."""
    rng = random.Random(seed)
    produced: dict[str, list[Asset]] = {"raw": [], "staging": [], "marts": [], "bi": []}
    procs = []
    for n in range(processes):
        src, dst, (lo, hi) = LAYERS[n % 3]
        pool = produced[src]
        if src == "raw" or len(pool) < hi:
            src, dst = "raw", "staging"
            pool = [Asset("snowflake", "ANALYTICS", "raw", f"t_{rng.randrange(processes * 2)}") for _ in range(hi)]
        inputs = tuple({a.key: a for a in rng.sample(pool, rng.randint(lo, min(hi, len(pool))))}.values())
        output = Asset("looker" if dst == "bi" else "snowflake", "ANALYTICS", dst, f"{dst}_{n}")
        produced[dst].append(output)
        columns = tuple(ColumnMapping((ColumnRef(inputs[0].key, c),), ColumnRef(output.key, c))
                        for c in ("id", "amount", "created_at")) if n % 10 else ()
        procs.append(Process(f"build_{n}", f"Build {output.name}", inputs, (output,), columns=columns,
                             sql=f"INSERT INTO {output.key} SELECT * FROM {inputs[0].key}"))
    return Lineage.build(procs)


def timed(fn: Callable[[U], T], arg: U) -> tuple[T, float, float]:
    """``fn(arg)``, its wall time and its CPU time."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(arg)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--processes", default="2500,5000,10000,20000")
    args = parser.parse_args()
    print(f"{platform.machine()}, Python {platform.python_version()}")
    print("| processes | nodes | edges | build_graph | layout | graph + page, wall | graph + page, CPU | page size |")
    print("|--:|--:|--:|--:|--:|--:|--:|--:|")
    for size in (int(s) for s in args.processes.split(",")):
        lineage = build_lineage(size)
        graph, build_wall, build_cpu = timed(build_graph, lineage)
        _, layout_wall, _ = timed(layout_graph, graph)
        page, page_wall, page_cpu = timed(render_graph_html, graph)  # lays the graph out itself
        print(f"| {size:,} | {len(graph.nodes):,} | {len(graph.edges):,} | {build_wall:.2f} s | {layout_wall:.2f} s "
              f"| {build_wall + page_wall:.2f} s | {build_cpu + page_cpu:.2f} s | {len(page) / 1e6:.1f} MB |")


if __name__ == "__main__":
    main()
