"""A plan does not print a million lines: past 1,000 changes in a target, text and Markdown summarise
by action, kind and manifest file (deletes still listed, up to 100); ``--detail`` lists everything."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from lineage_as_code.console import Console
from lineage_as_code.plan.model import Action, Change, Plan, TargetPlan
from lineage_as_code.plan.render import render_text
from tests.targets.harness import write_generated

LAC_YAML = ("version: 1\nmanifests: [m/]\nstate: {path: .lac/state.json}\n"
            "targets:\n  local: {type: duckdb, path: .lac/lineage.duckdb}\n")


def test_a_large_plan_is_summarised_and_detail_lists_every_change(lac: Any, tmp_path: Path) -> None:
    (tmp_path / "lac.yaml").write_text(LAC_YAML)
    write_generated(tmp_path / "m" / "big.yaml", processes=700)
    text = lac("plan", cwd=tmp_path).out
    assert "changes, summarised by action, kind and manifest file ('--detail' lists each):" in text
    assert "  +       700 process        m/big.yaml\n" in text
    assert "process.proc_00001" not in text
    assert len(text.splitlines()) < 20
    detailed = lac("plan", "--detail", cwd=tmp_path).out
    assert "  + process.proc_00001" in detailed and "summarised" not in detailed
    markdown = lac("plan", "--format", "markdown", cwd=tmp_path).out
    assert "| + create | 700 | process | m/big.yaml |" in markdown and "proc_00001" not in markdown


def test_a_summarised_plan_still_lists_its_deletes_up_to_a_hundred(lac: Any, tmp_path: Path) -> None:
    (tmp_path / "lac.yaml").write_text(LAC_YAML)
    write_generated(tmp_path / "m" / "big.yaml", processes=700)
    assert lac("apply", "--auto-approve", cwd=tmp_path).code == 0
    write_generated(tmp_path / "m" / "big.yaml", processes=1)
    text = lac("plan", cwd=tmp_path).out
    assert "  Deletes:\n    - asset." in text
    assert text.count("\n    - ") == 100
    assert "    ... and 1," in text and "more\n" in text


def test_an_adoption_is_painted_on_a_colour_terminal() -> None:
    change = Change("local", "process.p", "process", Action.ADOPT, {"id": "p"}, "h")
    plan = Plan((TargetPlan("local", "duckdb", (change,)),))
    console = Console(io.StringIO(), io.StringIO(), colour=True)
    text = render_text(plan, console.paint)
    assert "\x1b[36m  = process.p" in text


def test_a_large_saved_plan_is_replaced_but_a_large_file_of_another_kind_is_not(lac: Any, tmp_path: Path) -> None:
    (tmp_path / "lac.yaml").write_text(LAC_YAML)
    write_generated(tmp_path / "m" / "big.yaml", processes=700)
    assert lac("plan", "--out", "plan.json", cwd=tmp_path).code == 0
    first = (tmp_path / "plan.json").read_bytes()
    assert len(first) > 1 << 20  # recognised by its ends, not parsed whole
    write_generated(tmp_path / "m" / "big.yaml", processes=701)
    assert lac("plan", "--out", "plan.json", cwd=tmp_path).code == 0
    assert (tmp_path / "plan.json").read_bytes() != first
    data = b"id,name\n" + b"".join(b"%d,row\n" % i for i in range(300_000))
    (tmp_path / "export.json").write_bytes(data)
    refused = lac("plan", "--out", "export.json", cwd=tmp_path)
    assert refused.code == 1 and "is not a lineage-as-code plan" in refused.err
    assert (tmp_path / "export.json").read_bytes() == data
