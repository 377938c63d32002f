"""Deterministic generator of realistic lineage for benchmarks.

Layers raw -> staging -> marts -> BI, with fan-in (staging models join 1-3 raw tables, marts
join 2-4 staging models) and fan-out (a mart feeds several dashboards); column lineage on most
processes; asset names repeat across schemas as in real warehouses (``orders`` exists in raw,
staging and marts). Sized by the number of column edges wanted (or of table edges); writes the
native CSV, a YAML manifest and an Atlan Lineage Builder CSV (Table rows, and Column rows with
``--formats atlan-columns``). ``generate_small`` and ``generate_wide`` make the two extreme shapes:
many one-input processes, and a few processes with hundreds of inputs and thousands of columns.

    python bench/generate.py --column-edges 100000 --out bench/.work/100k
"""

from __future__ import annotations

import argparse
import csv
import random
from dataclasses import dataclass
from pathlib import Path

import yaml

ENTITIES = ["orders", "customers", "payments", "products", "sessions", "events", "invoices", "shipments",
            "refunds", "accounts", "subscriptions", "inventory", "suppliers", "campaigns", "tickets"]
COLUMNS = ["id", "created_at", "updated_at", "amount", "status", "customer_id", "product_id", "region",
           "currency", "discount", "quantity", "channel", "email", "country", "score", "tier"]


@dataclass(frozen=True)
class GenProcess:
    id: str
    name: str
    inputs: tuple[str, ...]
    output: str
    columns: tuple[tuple[str, str, str, str, str], ...]  # (src asset, src col, tgt asset, tgt col, transform)
    sql: str


def _asset(layer: str, name: str) -> str:
    platform = "looker" if layer == "bi" else "snowflake"
    database = "REPORTING" if layer == "bi" else "ANALYTICS"
    return f"{platform}:{database}.{layer}.{name}"


def generate(column_edges: int, seed: int = 7, table_edges: int = 0) -> list[GenProcess]:
    """Return processes whose column edges add up to exactly ``column_edges``; with ``table_edges``
    instead, processes without column lineage whose inputs add up to at least ``table_edges``."""
    rng = random.Random(seed)
    procs: list[GenProcess] = []
    total = 0
    layers = [("raw", "staging", (1, 3)), ("staging", "marts", (2, 4)), ("marts", "bi", (1, 2))]
    produced: dict[str, list[str]] = {"raw": []}
    n = 0
    while total < (table_edges or column_edges):
        src_layer, dst_layer, (lo, hi) = layers[n % 3]
        pool = produced.get(src_layer) or []
        if src_layer == "raw" or len(pool) < hi:
            pool = [_asset("raw", f"{rng.choice(ENTITIES)}_{rng.randrange(10_000)}") for _ in range(hi)]
            src_layer, dst_layer = "raw", "staging"
        inputs = tuple(dict.fromkeys(rng.sample(pool, min(len(pool), rng.randint(lo, hi)))))
        out_name = f"{rng.choice(ENTITIES)}_{n}"
        output = _asset(dst_layer, out_name)
        produced.setdefault(dst_layer, []).append(output)
        cols = []
        if table_edges:
            total += len(inputs)
        elif rng.random() < 0.9:
            for col in rng.sample(COLUMNS, rng.randint(4, 12)):
                for src in rng.sample(inputs, rng.randint(1, len(inputs))):
                    if total + len(cols) >= column_edges:
                        break
                    transform = "" if rng.random() < 0.7 else f"coalesce({col}, 0)"
                    cols.append((src, col, output, col, transform))
        if not table_edges and total + len(cols) > column_edges:
            cols = cols[: column_edges - total]
        total += len(cols)
        procs.append(GenProcess(f"{dst_layer}_{out_name}", f"Build {dst_layer}.{out_name}", inputs, output,
                                tuple(cols), f"CREATE TABLE {dst_layer}.{out_name} AS SELECT ..."))
        n += 1
    return procs


def write_native_csv(procs: list[GenProcess], path: Path) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["process_id", "process_name", "source", "target", "source_column", "target_column", "transform"])
        for p in procs:
            with_cols = {c[0] for c in p.columns}
            for src in p.inputs:
                if src not in with_cols:
                    w.writerow([p.id, p.name, src, p.output, "", "", ""])
            for src, sc, tgt, tc, tr in p.columns:
                w.writerow([p.id, p.name, src, tgt, sc, tc, tr])


def write_yaml(procs: list[GenProcess], path: Path) -> None:
    doc = {"version": 1, "processes": []}
    for p in procs:
        entry = {"id": p.id, "name": p.name, "sql": p.sql, "inputs": list(p.inputs), "outputs": [p.output]}
        if p.columns:
            entry["columns"] = [{"from": [f"{s}.{sc}"], "to": f"{t}.{tc}", **({"transform": tr} if tr else {})}
                                for s, sc, t, tc, tr in p.columns]
        doc["processes"].append(entry)
    with open(path, "w") as fh:
        yaml.dump(doc, fh, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False, width=1000)


def _atlan_end(key: str, column: str = "") -> list[str]:
    platform, rest = key.split(":", 1)
    identity = rest.replace(".", "/")
    if column:
        return ["Column", platform, "production", f"{identity}/{column}", column]
    return ["Table", platform, "production", identity, rest.rsplit(".", 1)[1]]


def write_atlan_csv(procs: list[GenProcess], path: Path, columns: bool = False) -> None:
    """Lineage Builder rows: one Table row per input of each process, and with ``columns`` one
    Column row (DB/SCHEMA/TABLE/COLUMN on both ends) per column edge, after its process's table rows."""
    header = [f"{s} {p}" for s in ("Source", "Target") for p in ("Type", "Connector", "Connection", "Identity", "Name")]
    header += [f"Transformation {p}" for p in ("Connector", "Connection", "Identity", "Name")]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for p in procs:
            process = ["dbt", "dbt-prod", p.id, p.name]
            for src in p.inputs:
                w.writerow([*_atlan_end(src), *_atlan_end(p.output), *process])
            if columns:
                for src, sc, tgt, tc, _ in p.columns:
                    w.writerow([*_atlan_end(src, sc), *_atlan_end(tgt, tc), *process])


def generate_small(rows: int, seed: int = 7) -> list[GenProcess]:
    """Many small processes: one input, one output and two column edges each (two native CSV rows)."""
    rng = random.Random(seed)
    procs = []
    for n in range((rows + 1) // 2):
        src = _asset("raw", f"{rng.choice(ENTITIES)}_{rng.randrange(100_000)}")
        out = _asset("staging", f"{rng.choice(ENTITIES)}_{n}")
        cols = tuple((src, c, out, c, "") for c in rng.sample(COLUMNS, 2))
        procs.append(GenProcess(f"small_{n}", f"Load {n}", (src,), out, cols, ""))
    return procs


def generate_wide(rows: int, seed: int = 7, processes: int = 20) -> list[GenProcess]:
    """Few wide processes: ``processes`` processes sharing ``rows`` column edges, each with up to
    200 inputs and as many columns per output as it takes."""
    rng = random.Random(seed)
    procs = []
    per = rows // processes
    for n in range(processes):
        inputs = tuple(_asset("raw", f"{e}_{n}_{i}") for i, e in enumerate(rng.choices(ENTITIES, k=200)))
        out = _asset("marts", f"wide_{n}")
        cols = tuple((inputs[i % len(inputs)], COLUMNS[i % len(COLUMNS)], out, f"c{i}", "")
                     for i in range(per))
        procs.append(GenProcess(f"wide_{n}", f"Build wide {n}", inputs, out, cols, ""))
    return procs


def generate_fan_in(datasets: int, upstreams: int = 5, seed: int = 7) -> list[GenProcess]:
    """Table lineage only: ``datasets`` outputs, each built by one process from ``upstreams`` inputs."""
    rng = random.Random(seed)
    procs = []
    for n in range(datasets):
        out = _asset("marts", f"{rng.choice(ENTITIES)}_{n}")
        inputs = tuple(dict.fromkeys(_asset("staging", f"{rng.choice(ENTITIES)}_{rng.randrange(50_000)}_{i}")
                                     for i in range(upstreams)))
        procs.append(GenProcess(f"fan_in_{n}", f"Build marts.{n}", inputs, out, (), ""))
    return procs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--column-edges", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--formats", default="csv,yaml,atlan")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    procs = generate(args.column_edges, args.seed)
    formats = set(args.formats.split(","))
    if "csv" in formats:
        write_native_csv(procs, args.out / "lineage.csv")
    if "yaml" in formats:
        write_yaml(procs, args.out / "lineage.yaml")
    if "atlan" in formats:
        write_atlan_csv(procs, args.out / "atlan_lineage.csv")
    if "atlan-columns" in formats:
        write_atlan_csv(procs, args.out / "atlan_columns.csv", columns=True)
    edges = sum(len(p.inputs) for p in procs)
    print(f"{len(procs)} processes, {edges} table edges, {sum(len(p.columns) for p in procs)} column edges -> {args.out}")


if __name__ == "__main__":
    main()
