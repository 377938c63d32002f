"""Helpers shared by every target's tests: a project on disk, plan/apply through the real
workflow, and generated manifests of a chosen size."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from lineage_as_code.config import Config, parse_config
from lineage_as_code.plan.model import Plan
from lineage_as_code.workflow import PlanRequest, apply_project, plan_project

REPO = Path(__file__).resolve().parents[2]
FIXTURE_MANIFESTS = REPO / "tests" / "fixtures" / "small" / "manifests"


def make_project(root: Path, targets: dict[str, dict[str, Any]], manifests: str | Path = FIXTURE_MANIFESTS,
                 defaults: dict[str, Any] | None = None) -> Config:
    """Write lac.yaml under ``root`` (state in ``root/.lac``) and return the parsed Config. Manifests
    outside ``root`` (the shared fixtures) are copied in: a project reads only its own folder."""
    remote = "://" in str(manifests)
    manifests = manifests if remote else Path(manifests)
    inside = remote or Path(manifests).resolve() == root.resolve() or root.resolve() in Path(manifests).resolve().parents
    if not inside and isinstance(manifests, Path):
        copy = root / "manifests"
        if manifests.is_dir():
            shutil.copytree(manifests, copy, dirs_exist_ok=True)
        else:
            copy.mkdir(parents=True, exist_ok=True)
            shutil.copy(manifests, copy / manifests.name)
            copy = copy / manifests.name
        manifests = copy
    doc = {"version": 1, "manifests": [str(manifests)], "state": {"path": ".lac/state.json"},
           "defaults": defaults or {}, "targets": targets}
    text = yaml.safe_dump(doc, sort_keys=False)
    (root / "lac.yaml").write_text(text)
    return parse_config("lac.yaml", text.encode(), root)


def plan(config: Config, **kw: Any) -> Plan:
    return plan_project(config, PlanRequest(**kw))


def apply(config: Config, allow_mass_delete: bool = False, **kw: Any):
    """Apply and return (plan, report); report is None when nothing changed."""
    return apply_project(config, PlanRequest(**kw), allow_mass_delete=allow_mass_delete)


def write_generated(path: Path, processes: int, inputs: int = 2, outputs: int = 1, columns: int = 0,
                    platform: str = "snowflake") -> Path:
    """Write a YAML manifest of ``processes`` processes, each ``inputs`` x ``outputs`` table edges
    and ``columns`` column mappings, chained so assets repeat as in a warehouse."""
    procs = []
    for i in range(processes):
        ins = [f"{platform}:db.raw.src_{(i + k) % (processes + inputs)}" for k in range(inputs)]
        outs = [f"{platform}:db.mart.out_{i}_{k}" for k in range(outputs)]
        cols = [{"from": [f"src_{i % (processes + inputs)}.c{c}"], "to": f"out_{i}_0.c{c}"} for c in range(columns)]
        entry: dict[str, Any] = {"id": f"proc_{i:05d}", "name": f"Process {i}", "inputs": ins, "outputs": outs}
        if cols:
            entry["columns"] = cols
        procs.append(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"version": 1, "processes": procs}, sort_keys=False))
    return path
