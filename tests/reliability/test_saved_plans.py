"""Malformed saved plans (issue 16, item 14): ``lac apply PLAN.json`` refuses a plan file whose shape
is wrong with one clear error, before any target is touched, instead of a KeyError, TypeError,
IndexError or RecursionError from deep inside apply.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURE


def first_change(doc: dict[str, Any]) -> dict[str, Any]:
    change: dict[str, Any] = doc["targets"][0]["changes"][0]
    return change


MALFORMED: dict[str, Callable[[dict[str, Any]], Any]] = {
    "after is an empty object": lambda d: first_change(d).update(after={}),
    "after is a list": lambda d: first_change(d).update(after=[1, 2]),
    "address has no dot": lambda d: first_change(d).update(address="nodot"),
    "address is a number": lambda d: first_change(d).update(address=7),
    "before is a string": lambda d: first_change(d).update(before="x"),
    "targets is an object": lambda d: d.update(targets={}),
    "a change is a string": lambda d: d["targets"][0].update(changes=["x"]),
}


@pytest.mark.parametrize("case", [*MALFORMED, "nested 100,000 deep", "a JSON list"])
def test_a_malformed_saved_plan_is_refused_before_any_target_is_touched(case: str, lac: Any, tmp_path: Path) -> None:
    shutil.copytree(FIXTURE / "manifests", tmp_path / "manifests")
    shutil.copy(FIXTURE / "lac.yaml", tmp_path / "lac.yaml")
    assert lac("plan", "--out", "plan.json", cwd=tmp_path).code == 0
    doc = json.loads((tmp_path / "plan.json").read_text())
    if case in MALFORMED:
        MALFORMED[case](doc)
        text = json.dumps(doc)
    else:
        text = "[" * 100_000 if case.startswith("nested") else "[1, 2]"
    (tmp_path / "bad.json").write_text(text)
    result = lac("apply", "--auto-approve", "bad.json", cwd=tmp_path)
    assert result.code == 1, result.err
    assert "bad.json: not a lineage-as-code plan file" in result.err or "bad.json is not a saved plan" in result.err
    assert "Traceback" not in result.err and len(result.err) < 400
    assert not (tmp_path / ".lac" / "lineage.duckdb").exists()
