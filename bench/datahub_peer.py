"""A peer side by side: DataHub's file-based lineage ingestion against lac plan + apply, same lineage.

DataHub's CLI (`acryl-datahub`, pinned in bench/requirements-datahub.txt) lives in its own
virtualenv, bench/.venv-datahub, created on first use and never a project dependency. For one
generated lineage (bench/generate.py) this script writes lac's native CSV (or YAML) and the same
lineage in the format of DataHub's `datahub-lineage-file` source (one entry per downstream
dataset, its upstream datasets and one `fineGrainedLineages` item per column edge), then times:

  DataHub   `datahub ingest -c recipe.yml`: the lineage-file source into the `file` sink
            (telemetry off, `preserve_upstream: false` so it asks no server for older lineage);
  lac       `lac plan FILE` then `lac apply --auto-approve FILE` into a fresh DuckDB target (the
            ratio to both is the headline; the ratio to the apply alone, which plans and applies in one
            command as `datahub ingest` does, is printed beside it).

Each is its own process, started by bench/peak.py's small launcher so that its peak RSS is its own. Where `unshare -n` is
allowed every timed command runs without a network, so DataHub's post-command upgrade check fails
at once instead of waiting on PyPI and GitHub. Both outputs are counted afterwards (untimed), so a
tool that silently dropped lineage cannot look fast. The last line printed is the result as JSON.

Two lineages by default: 100k column edges (lac reads native CSV) and 100k table edges of 20k
datasets x 5 upstreams (lac reads YAML). lac runs as installed in this interpreter's environment,
never from the checkout through PYTHONPATH.

    python bench/datahub_peer.py [--lineages columns:100000,tables:100000] [--repeat 1] [--keep]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = HERE / ".venv-datahub"
REQUIREMENTS = HERE / "requirements-datahub.txt"
STAMP = VENV / ".bench-installed"
sys.path.insert(0, str(HERE))

from generate import GenProcess, generate, generate_fan_in, write_native_csv, write_yaml
from peak import measure as measure_peak

ENV = "PROD"
# DataHub percent-encodes these inside urns (datahub.utilities.urn_encoder.RESERVED_CHARS).
URN_RESERVED = frozenset(",()\u241f")


@dataclass(frozen=True)
class Run:
    wall_s: float
    rss_mb: float


@dataclass(frozen=True)
class Counts:
    datasets: int  # downstream datasets with lineage
    table_edges: int
    column_edges: int


@dataclass(frozen=True)
class Result:
    column_edges: int
    table_edges: int
    processes: int
    lac_input: str
    datahub_version: str
    network_cut: bool
    datahub: Run
    lac_plan: Run
    lac_apply: Run

    @property
    def lac_s(self) -> float:
        return self.lac_plan.wall_s + self.lac_apply.wall_s

    @property
    def ratio(self) -> float:
        return self.datahub.wall_s / self.lac_s

    @property
    def apply_ratio(self) -> float:
        """Against ``lac apply`` alone, which plans and applies in one command as ``datahub ingest`` does."""
        return self.datahub.wall_s / self.lac_apply.wall_s


def tail(text: str, lines: int = 30, width: int = 400) -> str:
    """The last ``lines`` lines of a tool's output, each cut at ``width`` (pip lists every version on one)."""
    return "\n".join(line if len(line) <= width else line[:width] + " ..."
                     for line in text.rstrip().splitlines()[-lines:])


def fail(message: str) -> SystemExit:
    return SystemExit(f"datahub_peer: {message}")


# --- the DataHub virtualenv -------------------------------------------------------------------

def stamp_text() -> str:
    """What the stamp must hold for the venv to be current: the requirements and the interpreter."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    return f"{digest} {sys.version.split()[0]}\n"


def ensure_venv() -> float | None:
    """Create bench/.venv-datahub and install the pinned requirements unless the stamp says done.

    Returns the seconds the install took, or None when it was already current. Raises SystemExit
    naming the step that failed, with the tail of its output.
    """
    if STAMP.exists() and STAMP.read_text() == stamp_text():
        return None
    start = time.perf_counter()
    python = VENV / "bin" / "python"
    if not python.exists():
        shutil.rmtree(VENV, ignore_errors=True)  # a half-made venv from an interrupted run
        # The same interpreter as lac's side, so the comparison is not one of Python versions.
        made = subprocess.run([sys.executable, "-m", "venv", str(VENV)], capture_output=True, text=True,
                              check=False)
        if made.returncode != 0:
            shutil.rmtree(VENV, ignore_errors=True)
            raise fail(f"could not create {VENV.relative_to(ROOT)} with `{sys.executable} -m venv` "
                       f"(exit {made.returncode}); on Debian/Ubuntu install python3-venv.\n"
                       f"{tail(made.stdout + made.stderr)}")
        # Keeps the venv out of `git status` without touching the project's .gitignore.
        (VENV / ".gitignore").write_text("*\n")
    print(f"installing {REQUIREMENTS.relative_to(ROOT)} into {VENV.relative_to(ROOT)} ...", file=sys.stderr,
          flush=True)
    pip = subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-r",
                          str(REQUIREMENTS)], capture_output=True, text=True, check=False)
    if pip.returncode != 0:
        raise fail(f"pip could not install {REQUIREMENTS.relative_to(ROOT)} (exit {pip.returncode}); "
                   f"DataHub cannot be measured here. pip said:\n{tail(pip.stdout + pip.stderr)}")
    check_plugins()
    STAMP.write_text(stamp_text())
    return time.perf_counter() - start


def check_plugins() -> None:
    """Fail unless the installed CLI reports both plugins this benchmark uses as enabled."""
    listed = subprocess.run([str(VENV / "bin" / "datahub"), "check", "plugins"], capture_output=True,
                            text=True, env=datahub_env(), check=False)
    names = {line.strip() for line in listed.stdout.splitlines()}
    if listed.returncode != 0 or "datahub-lineage-file" not in names or "file" not in names:
        raise fail("the installed DataHub CLI does not list the `datahub-lineage-file` source and `file` "
                   f"sink as enabled (`datahub check plugins` exit {listed.returncode}):\n"
                   f"{tail(listed.stdout + listed.stderr)}")


def venv_mb() -> float:
    total = sum(entry.stat(follow_symlinks=False).st_size for entry in _walk(VENV))
    return total / 2**20


def _walk(folder: Path) -> Iterator[os.DirEntry[str]]:
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                yield from _walk(Path(entry.path))
            else:
                yield entry


def datahub_version() -> str:
    pinned = re.search(r"^acryl-datahub(?:\[[^\]]*\])?==(\S+)", REQUIREMENTS.read_text(), re.MULTILINE)
    return pinned.group(1) if pinned else "unpinned"


# --- the lineage in DataHub's lineage-file format ---------------------------------------------

def dataset_urn(key: str) -> str:
    """``platform:db.schema.name`` as DataHub's make_dataset_urn_with_platform_instance spells it."""
    platform, name = key.split(":", 1)
    return f"urn:li:dataset:(urn:li:dataPlatform:{platform},{_plain(name)},{ENV})"


def field_urn(key: str, column: str) -> str:
    """A column as DataHub's make_schema_field_urn spells it."""
    return f"urn:li:schemaField:({dataset_urn(key)},{_plain(column)})"


def _plain(part: str) -> str:
    # The generator never makes these; refusing them beats a urn DataHub would spell differently.
    if URN_RESERVED.intersection(part):
        raise fail(f"{part!r} holds a character DataHub encodes in urns; this converter does not")
    return part


def _entity(key: str) -> dict[str, str]:
    platform, name = key.split(":", 1)
    return {"name": name, "type": "dataset", "env": ENV, "platform": platform}


def build_datahub_lineage(procs: list[GenProcess]) -> tuple[dict[str, object], Counts]:
    """The `datahub-lineage-file` document for ``procs`` and the lineage it must yield.

    The schema is the installed source's (datahub.ingestion.source.metadata.lineage): `version`,
    `lineage: [{entity, upstream: [{entity}], fineGrainedLineages: [...]}]`, where an entity is
    `{name, type: dataset, env, platform}`. A fine-grained item's `transformOperation` has no
    default there, so it is always written (null when the edge has none); `upstreamType` and
    `downstreamType` keep their defaults, FIELD_SET and FIELD. Lineage is keyed by the downstream
    dataset, so processes writing the same output merge; process names and SQL have no place in it.
    """
    upstreams: dict[str, dict[str, None]] = {}
    columns: dict[str, list[dict[str, object]]] = {}
    for p in procs:
        upstreams.setdefault(p.output, {}).update(dict.fromkeys(p.inputs))
        for src, src_col, tgt, tgt_col, transform in p.columns:
            columns.setdefault(tgt, []).append({"upstreams": [field_urn(src, src_col)],
                                                "downstreams": [field_urn(tgt, tgt_col)],
                                                "transformOperation": transform or None})
    lineage = []
    for output, inputs in upstreams.items():
        node: dict[str, object] = {"entity": _entity(output), "upstream": [{"entity": _entity(i)} for i in inputs]}
        if output in columns:
            node["fineGrainedLineages"] = columns[output]
        lineage.append(node)
    counts = Counts(len(upstreams), sum(len(i) for i in upstreams.values()), sum(len(c) for c in columns.values()))
    return {"version": 1, "lineage": lineage}, counts


def write_datahub_inputs(procs: list[GenProcess], folder: Path) -> Counts:
    """Write lineage.datahub.yml and recipe.yml into ``folder``; return the lineage they carry."""
    doc, counts = build_datahub_lineage(procs)
    with open(folder / "lineage.datahub.yml", "w") as fh:
        yaml.dump(doc, fh, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False, width=1000)
    recipe = {"source": {"type": "datahub-lineage-file",
                         # True would ask a DataHub server for the lineage each dataset already has.
                         "config": {"file": "lineage.datahub.yml", "preserve_upstream": False}},
              "sink": {"type": "file", "config": {"filename": "datahub-out.json"}}}
    (folder / "recipe.yml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    return counts


# --- timing ------------------------------------------------------------------------------------

def network_cut() -> list[str]:
    """A command prefix that runs a program without a network, or [] where the kernel refuses one."""
    unshare = shutil.which("unshare")
    for prefix in ([unshare, "--net"], [unshare, "--map-root-user", "--net"]) if unshare else ():
        if subprocess.run([*prefix, "true"], capture_output=True, check=False).returncode == 0:
            return prefix
    return []


def datahub_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # No telemetry, and no ~/.datahubenv: a configured server must not change what is measured.
    return {**env, "DATAHUB_TELEMETRY_ENABLED": "false", "DATAHUB_SKIP_CONFIG": "true"}


def lac_env() -> dict[str, str]:
    # The installed package runs, as a user runs it: no PYTHONPATH pointing into a checkout (whose
    # lineage_as_code has no schemas/: they are mapped into the package only when it is installed).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {**env, "LAC_NO_CACHE": "1"}


def timed(label: str, cmd: list[str], cwd: Path, env: dict[str, str]) -> Run:
    """Run ``cmd`` with its output in ``cwd``/``label``.log; return wall time and its own peak RSS
    (started by bench/peak.py's small launcher, so this script's size is not counted).

    Raises SystemExit with the log's tail when the command fails.
    """
    log = cwd / f"{label}.log"
    with open(log, "wb") as out:
        measured, _ = measure_peak(cmd, cwd, env, stdout=out, stderr=subprocess.STDOUT)
    if measured.exit_code != 0:
        raise fail(f"{label} failed (exit {measured.exit_code}): {' '.join(cmd)}\n"
                   f"{tail(log.read_text(errors='replace'))}")
    return Run(measured.wall_s, measured.peak_mb)


# --- checking that both did the whole job (untimed) --------------------------------------------

def read_datahub_counts(path: Path) -> Counts:
    """Count the upstreamLineage aspects DataHub's file sink wrote."""
    aspects = [mcp["aspect"]["json"] for mcp in json.loads(path.read_text())
               if mcp.get("aspectName") == "upstreamLineage"]
    return Counts(len(aspects), sum(len(a.get("upstreams", [])) for a in aspects),
                  sum(len(a.get("fineGrainedLineages", [])) for a in aspects))


def read_lac_counts(path: Path) -> Counts:
    """Count what lac's DuckDB target holds."""
    import duckdb  # the project's dependency; only this check needs it

    with duckdb.connect(str(path), read_only=True) as db:
        datasets, tables = db.execute("SELECT count(DISTINCT target), count(*) FROM edges").fetchone() or (0, 0)
        (cols,) = db.execute("SELECT count(*) FROM column_edges").fetchone() or (0,)
    return Counts(datasets, tables, cols)


def check_counts(tool: str, got: Counts, want: Counts) -> None:
    if got != want:
        raise fail(f"{tool} holds {got} after its run, not the {want} it was given: the figures would mislead")


# --- one measurement ---------------------------------------------------------------------------

def run_datahub(work: Path, cut: list[str], want: Counts, repeat: int) -> Run:
    """Time `datahub ingest` ``repeat`` times in ``work``; return the fastest run, output checked."""
    runs = [timed("datahub-ingest", [*cut, str(VENV / "bin" / "datahub"), "ingest", "-c", "recipe.yml"], work,
                  datahub_env()) for _ in range(repeat)]
    check_counts("DataHub's file sink", read_datahub_counts(work / "datahub-out.json"), want)
    return min(runs, key=lambda r: r.wall_s)


def run_lac(work: Path, lac_file: Path, cut: list[str], want: Counts, repeat: int) -> tuple[Run, Run]:
    """Time `lac plan` + `lac apply` ``repeat`` times, each in a fresh project; return the fastest pair."""
    lac = [*cut, sys.executable, "-m", "lineage_as_code"]
    pairs = []
    for attempt in range(repeat):
        project = work / f"lac-{attempt}"
        project.mkdir()
        plan = timed("lac-plan", [*lac, "plan", str(lac_file)], project, lac_env())
        apply = timed("lac-apply", [*lac, "apply", "--auto-approve", str(lac_file)], project, lac_env())
        check_counts("lac's DuckDB store", read_lac_counts(project / ".lac" / "lineage.duckdb"), want)
        pairs.append((plan, apply))
    return min(pairs, key=lambda pair: pair[0].wall_s + pair[1].wall_s)


LINEAGES = {
    # name: (lac's input, what it is)
    "columns": ("csv", "column edges from bench/generate.py, lac reading native CSV"),
    "tables": ("yaml", "table edges only, datasets x 5 upstreams, lac reading YAML"),
}


def build_lineage_for(lineage: str, size: int) -> list[GenProcess]:
    """``columns``: ``size`` column edges; ``tables``: ``size`` table edges (size / 5 datasets x 5 upstreams)."""
    return generate(size) if lineage == "columns" else generate_fan_in(size // 5, 5)


def measure(lineage: str, size: int, work: Path, repeat: int) -> Result:
    """Generate, convert, run both tools in ``work`` and check their output; return the figures."""
    procs = build_lineage_for(lineage, size)
    lac_input = LINEAGES[lineage][0]
    lac_file = work / ("lineage.csv" if lac_input == "csv" else "lineage.yaml")
    (write_native_csv if lac_input == "csv" else write_yaml)(procs, lac_file)
    want = write_datahub_inputs(procs, work)
    cut = network_cut()
    print(f"{lineage} {size:,}: datahub ingest x{repeat} ...", file=sys.stderr, flush=True)
    datahub = run_datahub(work, cut, want, repeat)
    print(f"{lineage} {size:,}: lac plan + apply x{repeat} ...", file=sys.stderr, flush=True)
    plan, apply = run_lac(work, lac_file, cut, want, repeat)
    return Result(want.column_edges, want.table_edges, len(procs), lac_input, datahub_version(), bool(cut),
                  datahub, plan, apply)


def render(results: list[Result], load: list[float]) -> str:
    mb = "{:,.0f} MB".format
    first = results[0]
    out = [(f"DataHub {first.datahub_version} `datahub ingest` (datahub-lineage-file -> file sink) against lac plan + "
            f"apply (DuckDB); network {'cut (unshare)' if first.network_cut else 'NOT cut'}; peaks are each "
            "command's own"),
           "",
           ("| lineage | DataHub ingest | DataHub peak | lac plan | lac apply | lac plan + apply | lac peak "
            "| DataHub / lac | DataHub / lac apply alone | load 1-min |"),
           "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r, where in zip(results, load, strict=True):
        out.append(
            f"| {r.column_edges:,} column edges, {r.table_edges:,} table edges, {r.processes:,} processes "
            f"(lac reads {r.lac_input}) | {r.datahub.wall_s:.2f} s | {mb(r.datahub.rss_mb)} | {r.lac_plan.wall_s:.2f} s "
            f"| {r.lac_apply.wall_s:.2f} s | {r.lac_s:.2f} s | {mb(max(r.lac_plan.rss_mb, r.lac_apply.rss_mb))} "
            f"| {r.ratio:.2f}x | {r.apply_ratio:.2f}x | {where:.1f} |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lineages", default="columns:100000,tables:100000",
                        help="LINEAGE:SIZE,...: columns (column edges, lac reads CSV), tables (table edges, YAML)")
    parser.add_argument("--column-edges", type=int, help="both lineages at this size (what `make bench` passes)")
    parser.add_argument("--repeat", type=int, default=1, help="run each side N times and keep its fastest")
    parser.add_argument("--keep", action="store_true", help="keep the work folders (inputs, outputs, logs)")
    args = parser.parse_args()
    install_s = ensure_venv()
    results, load = [], []
    specs = f"columns:{args.column_edges},tables:{args.column_edges}" if args.column_edges else args.lineages
    for spec in specs.split(","):
        lineage, size = spec.split(":")
        if lineage not in LINEAGES:
            raise SystemExit(f"unknown lineage {lineage!r}; expected one of {', '.join(LINEAGES)}")
        work = Path(tempfile.mkdtemp(prefix=f"lac-datahub-peer-{lineage}-"))
        load.append(os.getloadavg()[0])
        try:
            results.append(measure(lineage, int(size), work, max(1, args.repeat)))
        finally:
            if args.keep:
                print(f"work folder kept: {work}", file=sys.stderr)
            else:
                shutil.rmtree(work, ignore_errors=True)
    size_mb = venv_mb()
    print(render(results, load))
    print(f"\nDataHub venv: {size_mb:,.0f} MB; "
          + (f"installed in {install_s:.1f} s this run" if install_s is not None else "already installed"))
    for r in results:
        print(json.dumps({"bench": "datahub_peer", **asdict(r), "lac_s": r.lac_s, "ratio": r.ratio,
                          "apply_ratio": r.apply_ratio,
                          "datahub_install_s": install_s, "datahub_venv_mb": size_mb}))


if __name__ == "__main__":
    main()
