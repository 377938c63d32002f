"""The command line's own surface: usage errors, where global flags go, what apply takes, the approval
prompt on a terminal, and ``lac show`` for a saved plan."""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import pytest

from lineage_as_code.cli import main
from lineage_as_code.console import Console
from tests.conftest import FIXTURE


def project(root: Path) -> Path:
    shutil.copytree(FIXTURE / "manifests", root / "manifests")
    shutil.copy(FIXTURE / "lac.yaml", root / "lac.yaml")
    return root


@pytest.mark.parametrize("args", [
    ("plan", "--detailed-exitcode", "--fromat", "markdown"),
    ("plan", "--format", "yaml"),
    ("bogus",),
    (),
    ("state", "rm"),
])
def test_a_usage_error_exits_1_never_2_which_means_changes(lac, tmp_path, args):
    result = lac(*args, cwd=tmp_path)
    assert result.code == 1
    assert "usage: lac" in result.err and "error:" in result.err and result.out == ""


def test_config_flag_is_accepted_after_the_subcommand_too(lac, tmp_path):
    root = project(tmp_path / "proj")
    after = lac("plan", "-c", str(root / "lac.yaml"), "--detailed-exitcode", cwd=tmp_path)
    assert after.code == 2, after.err
    before = lac("-c", str(root / "lac.yaml"), "plan", "--detailed-exitcode", cwd=tmp_path)
    assert before.code == 2 and before.out == after.out
    assert lac("apply", "--auto-approve", "--config", str(root / "lac.yaml"), cwd=tmp_path).code == 0
    listed = lac("state", "list", "-c", str(root / "lac.yaml"), cwd=tmp_path)
    assert listed.code == 0 and "process.build_fct_orders" in listed.out


def test_apply_takes_a_json_file_as_a_plan_only_when_it_is_one(lac, tmp_path):
    root = project(tmp_path)
    (root / "notes.json").write_text(json.dumps({"hello": "world"}))
    (root / "broken.json").write_text("{not json")
    for name in ("notes.json", "broken.json"):
        result = lac("apply", "--auto-approve", name, cwd=root)
        assert result.code == 1 and f"{name} is not a saved plan" in result.err and "YAML or CSV" in result.err
    assert lac("plan", "--out", "p5.json", cwd=root).code == 0
    mixed = lac("apply", "--auto-approve", "p5.json", "manifests", cwd=root)
    assert mixed.code == 1 and "applied on its own" in mixed.err
    assert not (root / ".lac" / "state.json").exists()  # nothing was applied by the refused commands
    assert lac("apply", "--auto-approve", "p5.json", cwd=root).code == 0


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_approval_question_stays_on_screen_until_answered(monkeypatch, tmp_path):
    shutil.copytree(FIXTURE / "manifests", tmp_path / "m")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")  # a terminal that can redraw a bar, wherever the suite runs
    monkeypatch.setattr(sys, "stdin", Terminal())
    out, err = Terminal(), Terminal()
    screen_when_asked: list[str] = []

    def answer(prompt: str = "") -> str:
        screen_when_asked.append(err.getvalue())
        return "yes"

    monkeypatch.setattr("builtins.input", answer)
    code = main(["apply", "m"], Console(out, err, colour=False))
    assert code == 0, err.getvalue()
    assert out.getvalue().count("Apply these changes? Only 'yes' is accepted: ") == 1
    assert screen_when_asked == [""]  # no progress bar drawn over the question
    assert "Applying" in err.getvalue()  # the bar ran once the answer was yes


def test_show_renders_a_saved_plan_without_touching_any_target(lac, tmp_path):
    root = project(tmp_path / "proj")
    plan = lac("plan", "--out", "plan.json", cwd=root)
    markdown = lac("plan", "--format", "markdown", cwd=root)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.move(str(root / "plan.json"), elsewhere / "plan.json")
    shown = lac("show", "plan.json", cwd=elsewhere)
    assert shown.code == 0, shown.err
    assert shown.out == plan.out.split("Saved the plan")[0]
    as_json = lac("show", "plan.json", "--format", "json", cwd=elsewhere)
    assert json.loads(as_json.out) == json.loads((elsewhere / "plan.json").read_text())
    as_markdown = lac("show", "plan.json", "--format", "markdown", cwd=elsewhere)
    assert as_markdown.out.split("```mermaid")[0] == markdown.out.split("```mermaid")[0]
    assert sorted(p.name for p in elsewhere.iterdir()) == ["plan.json"]  # no state, no DuckDB file
    missing = lac("show", "nope.json", cwd=elsewhere)
    assert missing.code == 1 and "nope.json" in missing.err
