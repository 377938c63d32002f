"""Blast radius: a plan that removes or re-points lineage names what downstream loses its upstream."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lineage_as_code.github import LABEL_BREAKS_DOWNSTREAM, labels_from_markdown, labels_from_plan_json

CHAIN = """version: 1
defaults: {platform: snowflake, database: db}
processes:
  - {id: load, inputs: [raw.a], outputs: [stg.b]}
  - {id: build, inputs: [stg.b, raw.z], outputs: [mart.c]}
  - id: publish
    inputs: [mart.c]
    outputs: [{platform: looker, database: bi, schema: dash, name: revenue, type: dashboard}]
  - {id: side, inputs: [raw.z], outputs: [stg.y]}
"""


def test_removing_an_input_names_the_dashboards_it_breaks_first(lac: Any, tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(CHAIN)
    assert lac("apply", "--auto-approve", "m.yaml", cwd=tmp_path).code == 0
    (tmp_path / "m.yaml").write_text(CHAIN.replace("inputs: [stg.b, raw.z]", "inputs: [raw.z]"))
    markdown = lac("plan", "m.yaml", "--format", "markdown", cwd=tmp_path).out
    section = markdown.split("#### Downstream impact", 1)[1].split("####", 1)[0]
    assert "process.build" in section and "stg.b → snowflake:db.mart.c" in section
    assert section.index("dashboard looker:bi.dash.revenue") < section.index("table snowflake:db.mart.c")
    assert "stg.y" not in section  # not downstream of what is removed
    text = lac("plan", "m.yaml", cwd=tmp_path).out
    assert "! process.build breaks the upstream lineage of 2 downstream asset(s)" in text
    assert lac("plan", "m.yaml", "--out", "plan.json", cwd=tmp_path).code == 0
    doc = json.loads((tmp_path / "plan.json").read_text())
    (impact,) = doc["targets"][0]["impacts"]
    assert impact["downstream"][0] == ["dashboard", ["looker:bi.dash.revenue"]]
    assert LABEL_BREAKS_DOWNSTREAM in labels_from_plan_json((tmp_path / "plan.json").read_bytes(), "plan.json")
    assert LABEL_BREAKS_DOWNSTREAM in labels_from_markdown(markdown, "plan.md")
    shown = lac("show", "plan.json", "--format", "markdown", cwd=tmp_path).out
    assert "#### Downstream impact" in shown


def test_adding_lineage_breaks_nothing(lac: Any, tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(CHAIN)
    assert lac("apply", "--auto-approve", "m.yaml", cwd=tmp_path).code == 0
    (tmp_path / "m.yaml").write_text(CHAIN + "  - {id: more, inputs: [raw.q], outputs: [stg.b]}\n")
    markdown = lac("plan", "m.yaml", "--format", "markdown", cwd=tmp_path).out
    assert "Downstream impact" not in markdown
    assert LABEL_BREAKS_DOWNSTREAM not in labels_from_markdown(markdown, "plan.md")


def test_an_update_lists_the_inputs_it_adds_and_takes_away(lac: Any, tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(CHAIN)
    assert lac("apply", "--auto-approve", "m.yaml", cwd=tmp_path).code == 0
    (tmp_path / "m.yaml").write_text(CHAIN.replace("inputs: [stg.b, raw.z]", "inputs: [raw.z, raw.w]"))
    text = lac("plan", "m.yaml", cwd=tmp_path).out
    assert "      + input: snowflake:db.raw.w\n" in text
    assert "      - input: snowflake:db.stg.b\n" in text
    markdown = lac("plan", "m.yaml", "--format", "markdown", cwd=tmp_path).out
    assert "+     input: snowflake:db.raw.w\n" in markdown


def test_without_the_prior_content_in_state_an_update_lists_its_edges(lac: Any, tmp_path: Path) -> None:
    """A state written before bodies were kept still says which table edges an update adds and removes."""
    (tmp_path / "m.yaml").write_text(CHAIN)
    assert lac("apply", "--auto-approve", "m.yaml", cwd=tmp_path).code == 0
    state_file = tmp_path / ".lac" / "state.json"
    doc = json.loads(state_file.read_text())
    assert doc.pop("content")
    state_file.write_text(json.dumps(doc))
    (tmp_path / "m.yaml").write_text(CHAIN.replace("inputs: [stg.b, raw.z]", "inputs: [raw.z, raw.w]"))
    text = lac("plan", "m.yaml", cwd=tmp_path).out
    assert "      + edge: snowflake:db.raw.w -> snowflake:db.mart.c\n" in text
    assert "      - edge: snowflake:db.stg.b -> snowflake:db.mart.c\n" in text
    assert "input:" not in text
