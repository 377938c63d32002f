"""Manifests -> Lineage: parse every file (YAML, native CSV, Atlan Lineage Builder CSV), validate
against ``schemas/``, run the checks a schema cannot express across files, and merge.

``build_lineage`` is the single entry point; it raises ManifestError listing *every* problem, and
emits each finding that does not stop the run as a ``ManifestWarning`` (Python's warnings), which
the CLI prints through its console whichever command parsed the manifests.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial

from ..errors import ManifestError, ManifestWarning, Problem
from ..model import Lineage, Process, ProcessBlock
from .yaml_format import ParsedFile, parse_yaml

__all__ = ["EdgeLimits", "ManifestInput", "ManifestWarning", "build_lineage", "parse_file"]


@dataclass(frozen=True)
class EdgeLimits:
    """Table edges one process may have (inputs x outputs): a warning above ``warn``, an error above
    ``max``. A 1,500 x 1,500 process is an 18 KB file but 2.25 M edges and a 100 MB state."""

    warn: int = 10_000
    max: int = 250_000

    def check(self, proc: Process) -> tuple[Problem, bool] | None:
        """None when ``proc`` is within both limits, else (the finding, whether it is an error)."""
        edges = len(proc.inputs) * len(proc.outputs)
        if edges <= self.warn and edges <= self.max:
            return None
        return self._finding(proc, edges)

    def check_all(self, processes: Sequence[Process]) -> list[tuple[Problem, bool]]:
        """``check`` of each of ``processes``, in order; a ProcessBlock's read from its bounds, building only
        a process over a limit."""
        if not isinstance(processes, ProcessBlock):
            return [found for found in map(self.check, processes) if found is not None]
        import numpy as np  # (imported where a parser that makes a ProcessBlock already did)

        edges = np.multiply(*(np.diff(np.asarray(at, dtype=np.int64)) for at in (processes.input_at,
                                                                                  processes.output_at)))
        return [self._finding(processes[i], int(edges[i]))
                for i in np.nonzero(edges > min(self.warn, self.max))[0].tolist()]

    def _finding(self, proc: Process, edges: int) -> tuple[Problem, bool]:
        refused = edges > self.max
        limit, setting = (self.max, "max_edges_per_process") if refused else (self.warn, "warn_edges_per_process")
        return Problem(proc.source.file, proc.source.line, "", (
            f"process {proc.id!r} has {edges:,} table edges ({len(proc.inputs):,} inputs x {len(proc.outputs):,} "
            f"outputs), over {setting} ({limit:,}); split it, or raise {setting} under defaults in lac.yaml")), refused


@dataclass(frozen=True)
class ManifestInput:
    """A manifest's name (path or URI, as shown in messages) and its bytes. A ``handed_over`` input's
    bytes are let go by the parse once read into the parser's own form (``take``): its caller keeps no
    other copy, and at 10M CSV rows they are 1.6 GB the rest of the parse never reads."""

    name: str
    data: bytes
    handed_over: bool = False

    def take(self) -> bytes:
        """The bytes; a handed-over input forgets them."""
        data = self.data
        if self.handed_over:
            object.__setattr__(self, "data", b"")
        return data


def parse_file(item: ManifestInput, defaults: Mapping[str, str] | None = None,
               field_separator: str | None = None) -> ParsedFile:
    """Parse one manifest by its extension: ``.csv`` (either dialect) or YAML."""
    if item.name.lower().endswith(".csv"):
        # pandas is imported only when a CSV is parsed: plans served from the cache never need it
        from .atlan_csv import atlan_layout, parse_atlan_csv
        from .csv_common import detect_dialect, header_line, read_table
        from .csv_format import native_layout, parse_native_csv

        header = header_line(item.name, item.data)
        if isinstance(header, Problem):
            return ParsedFile(problems=[header])
        dialect = detect_dialect(item.name, header, field_separator)
        if isinstance(dialect, Problem):
            return ParsedFile(problems=[dialect])
        kind, sep = dialect
        table = read_table(item.name, item.take(), sep,
                           atlan_layout if kind == "atlan" else partial(native_layout, item.name))
        if isinstance(table, Problem):
            return ParsedFile(problems=[table])
        if kind == "atlan":
            return parse_atlan_csv(item.name, table)
        return parse_native_csv(item.name, table, defaults=defaults)
    return parse_yaml(item.name, item.take(), defaults)


def build_lineage(items: Iterable[ManifestInput], defaults: Mapping[str, str] | None = None,
                  field_separator: str | None = None, limits: EdgeLimits | None = None) -> Lineage:
    """Parse, validate and merge manifests; raise ManifestError with every problem found.

    Warnings (``ManifestWarning``) are emitted only when no problem stops the run.
    """
    limits = limits or EdgeLimits()
    problems: list[Problem] = []
    notes: list[Problem] = []
    assets = []
    seen: dict[str, Process] = {}
    compiled: set[str] = set()  # files written by ``lac compile``
    overrides: list[str] = []
    count = 0
    parsed = ParsedFile()
    # The first file's processes, when a parser gave them as a ProcessBlock (each id once): added to
    # ``seen`` only when another file comes (none of them can be a duplicate), so that a project of one
    # file builds no Process for them.
    first: ProcessBlock | None = None
    for item in items:
        count += 1
        if first is not None:
            seen.update(zip(first.ids, first, strict=True))
            first = None
        parsed = parse_file(item, defaults, field_separator)
        problems.extend(parsed.problems)
        notes.extend(parsed.warnings)
        assets.extend(parsed.assets)
        if parsed.compiled_from:
            compiled.add(item.name)
        for finding, refused in limits.check_all(parsed.processes):  # (problems and notes are sorted)
            (problems if refused else notes).append(finding)
        if isinstance(parsed.processes, ProcessBlock) and not seen:
            first = parsed.processes
            continue
        for proc in parsed.processes:
            prior = seen.get(proc.id)
            if prior is None:
                seen[proc.id] = proc
                continue
            kept = _hand_written_wins(prior, proc, compiled)
            if kept is None:
                problems.append(Problem(proc.source.file, proc.source.line, "id",
                                        f"duplicate process id {proc.id!r}: also defined at {prior.source}"))
                continue
            loser = proc if kept is prior else prior
            message = f"process {proc.id!r} is written by hand here and wins over the compiled one at {loser.source}"
            overrides.append(f"{kept.source}: {message}")
            notes.append(Problem(kept.source.file, kept.source.line, "", message))
            seen[proc.id] = kept
    if count == 0:
        problems.append(Problem("(manifests)", 0, "", "no manifest files found (*.yaml, *.yml, *.csv)"))
    if problems:
        raise ManifestError(problems)
    for note in sorted(notes):
        warnings.warn(ManifestWarning(note), stacklevel=2)
    if count == 1 and parsed.touched is not None and not assets:  # one file: no merge to do
        return Lineage.build_sorted(first or tuple(parsed.processes), parsed.touched)
    if first is not None:
        seen.update(zip(first.ids, first, strict=True))
    return replace(Lineage.build(seen.values(), assets), warnings=tuple(overrides))


def _hand_written_wins(first: Process, second: Process, compiled: set[str]) -> Process | None:
    """The hand-written one of two processes sharing an id when the other was compiled (None: both or neither)."""
    first_compiled, second_compiled = first.source.file in compiled, second.source.file in compiled
    if first_compiled == second_compiled:
        return None
    return second if first_compiled else first
