"""Memory is bounded: ``lac plan`` of a million-row Atlan Lineage Builder CSV succeeds in a capped
address space (RLIMIT_AS, what ``ulimit -v`` sets), so a change that holds the input twice over
fails here rather than on a user's machine. A functional limit, not a timing: speed is measured in
``bench/run.py``.

The cap, LIMIT_MIB, is the plan's measured peak address space on this input with ~14% of room:
1,799 MiB (1,650 MiB resident) with plans holding body views, the integer-coded Lineage Builder
parse and the manifests' bytes let go once parsed, against 2,721 MiB (2,542 MiB resident) before
them, which this cap refuses (figures in bench/README.md, "Memory bound"). A
million-row plan takes most of a minute of CPU, more than a normal test run should spend, so the test
is marked ``reliability_full`` and deselected by default: run it with
``pytest -m reliability_full tests/test_scale_memory.py``.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

ROWS = 1_000_000
LIMIT_MIB = 2048
HEADER = ("Source Type,Source Connector,Source Connection,Source Identity,Source Name,Target Type,Target Connector,"
          "Target Connection,Target Identity,Target Name,Transformation Connector,Transformation Connection,"
          "Transformation Identity,Transformation Name")


def write_lineage_builder_csv(path: Path, rows: int) -> tuple[int, int]:
    """Table lineage shaped like a warehouse's: each process reads two tables and writes one; inputs
    are drawn from a pool a fifth the size of the rows, so assets repeat across processes. Returns
    the numbers of processes and of assets."""
    processes = rows // 2
    pool = max(1, rows // 5)
    sources = set()
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(HEADER + "\n")
        for i in range(rows):
            p = i // 2
            source = (p * 7919 + (i % 2) * 104729) % pool
            sources.add(source)
            fh.write(f"Table,snowflake,production,ANALYTICS/raw/table_{source},table_{source},"
                     f"Table,snowflake,production,ANALYTICS/marts/model_{p},model_{p},"
                     f"dbt,dbt-prod,build_model_{p},Build marts.model_{p}\n")
    return processes, len(sources) + processes


def _capped() -> None:
    limit = LIMIT_MIB * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


@pytest.mark.reliability_full
def test_a_million_row_plan_fits_in_the_memory_bound(tmp_path):
    manifest = tmp_path / "lineage.csv"
    processes, assets = write_lineage_builder_csv(manifest, ROWS)
    out = tmp_path / "plan.txt"
    # One thread per pool: the address space then does not grow with the machine's cores.
    env = {**os.environ, "LAC_NO_CACHE": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MALLOC_ARENA_MAX": "2"}
    with open(out, "wb") as fh:
        done = subprocess.run([sys.executable, "-m", "lineage_as_code", "plan", "--detailed-exitcode",
                               str(manifest)], cwd=tmp_path, env=env, stdout=fh, stderr=subprocess.PIPE,
                              preexec_fn=_capped, check=False)
    assert done.returncode == 2, done.stderr.decode(errors="replace")[-2000:]
    with open(out, "rb") as fh:
        fh.seek(max(0, out.stat().st_size - 4096))
        tail = fh.read().decode()
    assert f"Plan: {processes + assets} to create, 0 to update" in tail
