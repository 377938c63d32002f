"""Compile speed: a synthetic dbt project of 5,000 models compiled with column lineage, in parallel.

Writes a dbt ``manifest.json`` (schema v12) and ``catalog.json`` for a layered project (sources ->
staging -> intermediate -> marts) whose compiled SQL uses what real projects use: CTEs, joins,
window functions, ``UNION ALL``, subqueries and ``SELECT *`` over cataloged tables. Then times
``lac compile dbt`` as its own process, once across every core (the process pool) and once in one
process, and ``lac validate`` on the result so a compile that dropped lineage cannot look fast.
Nothing is asserted; the target (under a minute for 5,000 models) is read off the printed figures.

    python bench/compile.py [--models 5000] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LAC = [sys.executable, "-m", "lineage_as_code"]
COLUMNS = ["id", "customer_id", "amount", "status", "created_at", "region", "channel", "sku"]


def _node(uid: str, name: str, schema: str, sql: str, parents: list[str]) -> dict:
    return {"unique_id": uid, "resource_type": "model", "package_name": "bench", "name": name, "alias": name,
            "database": "analytics", "schema": schema, "config": {"materialized": "table"},
            "depends_on": {"nodes": parents, "macros": []}, "compiled_code": sql, "description": "", "columns": {}}


def _rel(node: dict) -> str:
    """The relation as dbt-snowflake renders it: unquoted (its default quoting), so Snowflake folds it."""
    return f'{node["database"]}.{node["schema"]}.{node.get("identifier") or node["alias"]}'


def _staging_sql(source: dict) -> str:
    return (f"with src as (select * from {_rel(source)})\n"
            "select id, customer_id, amount / 100.0 as amount, lower(status) as status, created_at, region, channel, sku\n"
            "from src where status is not null")


def _intermediate_sql(a: dict, b: dict) -> str:
    return (f"select a.id, a.customer_id, a.amount + coalesce(b.amount, 0) as amount, a.status, a.created_at,\n"
            "  a.region, b.channel, a.sku,\n"
            "  row_number() over (partition by a.customer_id order by a.created_at) as seq\n"
            f"from {_rel(a)} a left join {_rel(b)} b on b.id = a.id")


def _mart_sql(a: dict, b: dict) -> str:
    return ("with combined as (\n"
            f"  select id, customer_id, amount, region from {_rel(a)}\n"
            f"  union all select id, customer_id, amount, region from {_rel(b)}\n)\n"
            "select t.region, t.customer_id, sum(t.amount) as revenue, count(*) as orders\n"
            "from (select * from combined where amount > 0) t group by t.region, t.customer_id")


def build_project(models: int, seed: int = 7) -> tuple[dict, dict]:
    """A manifest and catalog with ``models`` models: 40% staging, 35% intermediate, 25% marts."""
    rng = random.Random(seed)
    sources = {f"source.bench.raw.t{i}": {"unique_id": f"source.bench.raw.t{i}", "resource_type": "source",
                                          "package_name": "bench", "name": f"t{i}", "identifier": f"t{i}",
                                          "database": "raw", "schema": "landing", "columns": {}}
               for i in range(max(1, models // 10))}
    nodes: dict[str, dict] = {}
    columns = {c: {"name": c, "type": "VARCHAR"} for c in COLUMNS}
    catalog = {"nodes": {}, "sources": {uid: {"columns": columns} for uid in sources}}
    src = list(sources.values())
    staging = []
    for i in range(int(models * 0.4)):
        node = _node(f"model.bench.stg_{i}", f"stg_{i}", "staging", "", [])
        parent = rng.choice(src)
        node["compiled_code"], node["depends_on"]["nodes"] = _staging_sql(parent), [parent["unique_id"]]
        staging.append(node)
    inter = []
    for i in range(int(models * 0.35)):
        a, b = rng.sample(staging, 2)
        node = _node(f"model.bench.int_{i}", f"int_{i}", "intermediate", _intermediate_sql(a, b),
                     [a["unique_id"], b["unique_id"]])
        inter.append(node)
    marts = []
    for i in range(models - len(staging) - len(inter)):
        a, b = rng.sample(inter, 2)
        marts.append(_node(f"model.bench.mart_{i}", f"mart_{i}", "marts", _mart_sql(a, b),
                           [a["unique_id"], b["unique_id"]]))
    for node in (*staging, *inter, *marts):
        nodes[node["unique_id"]] = node
        catalog["nodes"][node["unique_id"]] = {"columns": {**columns, "seq": {"name": "seq", "type": "BIGINT"}}}
    manifest = {"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
                             "dbt_version": "1.9.0", "adapter_type": "snowflake"},
                "nodes": nodes, "sources": sources, "exposures": {}}
    return manifest, catalog


def _timed(args: list[str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds of the command and its workers (what a busy machine does not inflate),
    and the command's last line of output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu, done.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=5000)
    parser.add_argument("--keep", action="store_true", help="keep bench/.work/compile")
    args = parser.parse_args()
    work = HERE / ".work" / "compile"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    manifest, catalog = build_project(args.models)
    (work / "manifest.json").write_text(json.dumps(manifest))
    (work / "catalog.json").write_text(json.dumps(catalog))
    cores = os.cpu_count() or 1
    results = {}
    for label, jobs in ((f"{cores} processes", cores), ("1 process", 1)):
        out = work / f"out-{jobs}"
        seconds, cpu, line = _timed([*LAC, "compile", "dbt", str(work / "manifest.json"), "--catalog",
                                     str(work / "catalog.json"), "--out", str(out), "--jobs", str(jobs)])
        results[label] = seconds
        print(f"compile {args.models} models, {label}: {seconds:.1f} s wall, {cpu:.1f} s CPU  ({line})")
    seconds, _, line = _timed([*LAC, "validate", str(work / f"out-{cores}")])
    print(f"validate the compiled manifests: {seconds:.1f} s  ({line})")
    print(json.dumps({"models": args.models, "cores": cores, **{k: round(v, 2) for k, v in results.items()}}))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
