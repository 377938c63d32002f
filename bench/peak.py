"""Each benchmarked command's own wall time and peak memory, measured from a small launcher.

A child's ``ru_maxrss`` as its parent's ``wait4`` returns it is the largest of the child's own
peak and the size of the process it was forked from (Linux records the forked copy's high-water
mark when the child execs): ``/bin/true`` forked from a 500 MB Python reports 510 MB. So a
benchmark never forks the measured command from itself: it starts this module as a fresh,
small interpreter (about 10 MB, the floor of every figure), which forks and execs the command
and reports the command's own peak. ``measure`` is what benchmarks call.

    python bench/peak.py RESULT_FILE COMMAND...   (writes "wall_seconds peak_kib exit_code cpu_seconds")
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO


@dataclass(frozen=True)
class Measured:
    wall_s: float
    peak_mb: float
    exit_code: int
    cpu_s: float = 0.0  # user + system time of the command (its threads included): steadier than wall on a shared machine


def measure(cmd: list[str], cwd: Path, env: dict[str, str] | None = None,
            stdout: int | IO[bytes] | None = subprocess.DEVNULL,
            stderr: int | IO[bytes] | None = subprocess.PIPE) -> tuple[Measured, bytes]:
    """Run ``cmd`` in ``cwd`` through the launcher; return its figures and its stderr (when piped)."""
    with tempfile.NamedTemporaryFile("r", suffix=".peak") as result:
        proc = subprocess.run([sys.executable, "-S", __file__, result.name, *cmd], cwd=cwd, env=env,
                              stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, check=False)
        fields = Path(result.name).read_text().split()
    if len(fields) != 4:
        raise SystemExit(f"the launcher did not report on {' '.join(cmd)} (exit {proc.returncode})")
    wall, peak_kib, code, cpu = float(fields[0]), int(fields[1]), int(fields[2]), float(fields[3])
    return Measured(wall, peak_kib / 1024, code, cpu), proc.stderr if isinstance(proc.stderr, bytes) else b""


def main() -> None:
    result, cmd = sys.argv[1], sys.argv[2:]
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    cpu = usage.ru_utime + usage.ru_stime
    Path(result).write_text(f"{wall:.6f} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)} {cpu:.3f}\n")


if __name__ == "__main__":
    main()
