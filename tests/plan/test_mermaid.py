"""The plan's Mermaid picture in the PR comment: pinned by a golden file, parsed by Mermaid itself.

The scenario applies a small warehouse, then changes it as a pull request would (a rename, an
input added, an input dropped, a process deleted, one added over a new asset); the picture must
show each change with its process, the unchanged neighbours greyed, and a legend. Mermaid (the
npm package, as GitHub renders it) runs in headless Chromium to prove the text parses, including
for a 200-change plan that must also fit a GitHub comment.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from lineage_as_code.plan.mermaid import render_mermaid
from lineage_as_code.plan.model import Action, Change, Plan, TargetPlan
from lineage_as_code.state import StateEntry
from tests.browser import Browser, chromium
from tests.conftest import REPO

GOLDEN = REPO / "tests" / "golden" / "plan_mermaid.md"
MERMAID_JS = REPO / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
COMMENT_LIMIT = 65_536

BEFORE = """\
version: 1
defaults: {platform: snowflake, database: ANALYTICS}
processes:
  - {id: load_orders, name: Load orders, inputs: ["postgres:shop.public.orders"], outputs: [raw.orders]}
  - {id: load_customers, name: Load customers, inputs: ["postgres:shop.public.customers"], outputs: [raw.customers]}
  - {id: stg_orders, name: Stage orders, inputs: [raw.orders], outputs: [staging.stg_orders]}
  - {id: build_fct_orders, name: Build fct_orders, inputs: [staging.stg_orders, raw.customers],
     outputs: [marts.fct_orders]}
  - {id: revenue, name: Revenue extract, inputs: [marts.fct_orders], outputs: ["looker:sales.dashboards.revenue"]}
  - {id: legacy_export, name: Legacy export, inputs: [marts.fct_orders], outputs: ["s3:exports.orders_csv"]}
"""
AFTER = """\
version: 1
defaults: {platform: snowflake, database: ANALYTICS}
processes:
  - {id: load_orders, name: Load orders, inputs: ["postgres:shop.public.orders"], outputs: [raw.orders]}
  - {id: load_customers, name: Load customers, inputs: ["postgres:shop.public.customers"], outputs: [raw.customers]}
  - {id: stg_orders, name: "Stage orders <hourly>", inputs: [raw.orders], outputs: [staging.stg_orders]}
  - {id: build_fct_orders, name: Build fct_orders, inputs: [staging.stg_orders, "stripe:billing.public.charges"],
     outputs: [marts.fct_orders]}
  - {id: revenue, name: Revenue extract, inputs: [marts.fct_orders], outputs: ["looker:sales.dashboards.revenue"]}
  - {id: churn, name: Churn features, inputs: [marts.fct_orders], outputs: [ml.churn_features]}
"""


def mermaid_block(markdown: str) -> str:
    (block,) = re.findall(r"```mermaid\n(.*?)\n```", markdown, re.DOTALL)
    return block


def picture(markdown: str) -> str:
    """The Mermaid block and the legend line under it, as they appear in the comment."""
    start = markdown.index("```mermaid")
    return markdown[start:markdown.index("\n\n</details>", start)] + "\n"


@pytest.fixture
def changed_plan(lac, tmp_path: Path) -> str:
    (tmp_path / "m.yaml").write_text(BEFORE)
    assert lac("apply", "--auto-approve", "m.yaml", cwd=tmp_path).code == 0
    (tmp_path / "m.yaml").write_text(AFTER)
    result = lac("plan", "--format", "markdown", "m.yaml", cwd=tmp_path)
    assert result.code == 0, result.err
    return result.out


def test_the_picture_of_a_changed_plan_matches_the_golden_file(changed_plan):
    if os.environ.get("LAC_UPDATE_GOLDEN"):
        GOLDEN.write_text(picture(changed_plan))
    assert picture(changed_plan) == GOLDEN.read_text(), "re-run with LAC_UPDATE_GOLDEN=1 after an intended change"


def nodes_and_edges(block: str) -> tuple[dict[str, tuple[str, str]], list[tuple[str, str, str]]]:
    nodes = {m[0]: (m[1], m[2]) for m in re.findall(r'^  (n\d+)\(?\["(.*)"\]\)?:::(\w+)$', block, re.MULTILINE)}
    edges = re.findall(r"^  (n\d+) (-->|-\.->) (n\d+)$", block, re.MULTILINE)
    return nodes, [(nodes[a][0], arrow, nodes[b][0]) for a, arrow, b in edges]


def test_each_change_shows_its_process_with_its_edges_and_the_unchanged_neighbours_greyed(changed_plan):
    nodes, edges = nodes_and_edges(mermaid_block(changed_plan))
    by_label = {label: style for label, style in nodes.values()}
    assert by_label["~ Build fct_orders"] == "update"
    # A deleted process is named by what the plan knows of it: its name, else its id.
    assert "delete" in (by_label.get("- Legacy export"), by_label.get("- legacy_export"))
    assert by_label["+ Churn features"] == "create"
    assert by_label["~ Stage orders #lt;hourly#gt;"] == "update"  # a rename: drawn, edges kept grey
    fct = "snowflake:ANALYTICS.marts.fct_orders"
    assert ("stripe:billing.public.charges", "-->", "~ Build fct_orders") in edges
    assert ("snowflake:ANALYTICS.raw.customers", "-.->", "~ Build fct_orders") in edges  # dropped input
    assert {(a, b) for a, arrow, b in edges if arrow == "-.->" and b == "s3:ANALYTICS.exports.orders_csv"}
    assert (fct, "-->", "+ Churn features") in edges
    # One hop of context: the dashboard fed from fct_orders by an unchanged process, greyed.
    assert by_label["looker:sales.dashboards.revenue"] == "context"
    assert (fct, "-->", "looker:sales.dashboards.revenue") in edges
    assert by_label["snowflake:ANALYTICS.ml.churn_features"] == "placeholder"  # new: PARTIAL placeholder
    assert "subgraph legend" in changed_plan and "red dotted = removed" in changed_plan


def two_hundred_changes(tmp_path: Path) -> str:
    lines = ["version: 1", "defaults: {platform: snowflake, database: ANALYTICS}", "processes:"]
    lines += [f"  - {{id: build_model_{n:03}, name: Build model {n:03}, inputs: [staging.source_{n % 40:02}, "
              f"staging.dim_{n % 7}], outputs: [marts.model_{n:03}]}}" for n in range(200)]
    (tmp_path / "big.yaml").write_text("\n".join(lines) + "\n")
    return "big.yaml"


def test_a_200_change_plan_is_capped_to_fit_github(lac, tmp_path):
    result = lac("plan", "--format", "markdown", two_hundred_changes(tmp_path), cwd=tmp_path)
    assert result.code == 0, result.err
    assert len(result.out) < COMMENT_LIMIT
    block = mermaid_block(result.out)
    nodes, edges = nodes_and_edges(block)
    drawn = sum(1 for label, _ in nodes.values() if label.startswith("+ Build model"))
    (more,) = re.findall(r"… and (\d+) more changed processes", block)
    assert drawn + int(more) == 200 and 0 < drawn < 200
    assert len(edges) <= 500 and len(block) < 50_000  # Mermaid's default maxEdges and maxTextSize


@pytest.fixture(scope="module")
def mermaid_page(tmp_path_factory):
    if not MERMAID_JS.exists():
        pytest.skip("mermaid is not installed (make setup-node installs it)")
    b = Browser(chromium(), tmp_path_factory.mktemp("chromium-profile"))
    page = tmp_path_factory.mktemp("mermaid") / "render.html"
    # utf-8 declared: Mermaid's own source holds the non-ASCII marks it decodes entity codes with.
    page.write_text('<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><div id="out"></div>'
                    f'<script src="{MERMAID_JS.as_uri()}"></script>'
                    "<script>mermaid.initialize({startOnLoad: false, securityLevel: 'strict'});</script></body></html>")
    b.open(page.as_uri())
    yield b
    b.close()


def render(browser: Browser, block: str) -> dict[str, Any]:
    """Render ``block`` with Mermaid as GitHub would: its SVG's node and edge counts and node texts
    (raises when Mermaid refuses the text)."""
    return browser.js(f"""mermaid.render('g' + Date.now(), {json.dumps(block)}).then(r => {{
        document.getElementById('out').innerHTML = r.svg;
        const svg = document.getElementById('out');
        return {{nodes: svg.querySelectorAll('.node').length, edges: svg.querySelectorAll('.flowchart-link').length,
                 error: svg.querySelectorAll('.error-icon').length,
                 texts: [...svg.querySelectorAll('.node')].map(n => n.textContent.trim())}}; }})""", wait=True)


def test_mermaid_itself_renders_the_golden_picture_and_a_200_change_plan(mermaid_page, lac, tmp_path):
    golden = mermaid_block(GOLDEN.read_text())
    counts = render(mermaid_page, golden)
    nodes, edges = nodes_and_edges(golden)
    texts = counts.pop("texts")
    assert counts == {"nodes": len(nodes) + 6, "edges": len(edges), "error": 0}  # + the legend's six
    assert "~ Stage orders <hourly>" in texts and "+ Churn features" in texts  # entity codes read back as text
    big = mermaid_block(lac("plan", "--format", "markdown", two_hundred_changes(tmp_path), cwd=tmp_path).out)
    counts = render(mermaid_page, big)
    nodes, edges = nodes_and_edges(big)
    del counts["texts"]
    assert counts == {"nodes": len(nodes) + 6 + 1, "edges": len(edges), "error": 0}  # + legend, "and N more"
    # The reviewed-change plan (renames, SQL edits, deletes with downstream impact, an adoption) too.
    review = mermaid_block((REPO / "tests" / "golden" / "plan_review.md").read_text())
    counts = render(mermaid_page, review)
    nodes, edges = nodes_and_edges(review)
    del counts["texts"]
    assert counts == {"nodes": len(nodes) + 6, "edges": len(edges), "error": 0}
    assert mermaid_page.console == []


def test_a_process_two_targets_change_is_drawn_once(lac, tmp_path):
    (tmp_path / "m.yaml").write_text(BEFORE)
    (tmp_path / "lac.yaml").write_text(
        "version: 1\nmanifests: [m.yaml]\nstate: {path: .lac/state.json}\n"
        "targets:\n  one: {type: duckdb, path: .lac/one.duckdb}\n  two: {type: duckdb, path: .lac/two.duckdb}\n")
    result = lac("plan", "--format", "markdown", cwd=tmp_path)
    assert result.code == 0, result.err
    nodes, _ = nodes_and_edges(mermaid_block(result.out))
    processes = sorted(label for label, style in nodes.values() if style == "create")
    assert processes == ["+ Build fct_orders", "+ Legacy export", "+ Load customers", "+ Load orders",
                         "+ Revenue extract", "+ Stage orders"]


def test_an_edge_resource_is_drawn_as_an_edge_between_its_assets():
    changes = (Change("secoda", "edge.a->b", "edge", Action.CREATE, edges=(("db.a", "db.b"),)),
               Change("secoda", "edge.c->b", "edge", Action.DELETE,
                      prior=StateEntry("edge", "e1", "h", edges=(("db.c", "db.b"),))))
    block = render_mermaid(Plan((TargetPlan("secoda", "secoda", changes),)))
    assert block is not None
    nodes, edges = nodes_and_edges(mermaid_block(block))
    assert sorted(edges) == [("db.a", "-->", "db.b"), ("db.c", "-.->", "db.b")]
    assert all(style == "asset" for _, style in nodes.values())  # no process node for an edge
