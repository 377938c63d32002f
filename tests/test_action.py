"""The GitHub Action, the example CI files and the pre-commit hook, checked the way CI would use them.

The action's YAML and the example workflows are validated against the published schemas
(SchemaStore's, as vendored by check-jsonschema); the action's plan, comment and apply steps are
run for real with bash (against the GitHub emulator for the comment), and the Markdown plan they
post is pinned by a golden file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lineage_as_code.plan.render import PLAN_MARKER
from tests.conftest import EXAMPLES, REPO
from tests.emulators.base import serve
from tests.emulators.github import GitHubEmulator

GOLDEN = REPO / "tests" / "golden" / "plan_examples.md"
GOLDEN_TEXT = REPO / "tests" / "golden" / "plan_examples.txt"
ACTION = yaml.safe_load((REPO / "action.yml").read_text())
TOKEN = "ghs_actionTOKEN42"


def check_schema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, files)],
                          capture_output=True, text=True, check=False)


def step(name: str) -> dict:
    return next(s for s in ACTION["runs"]["steps"] if s["name"] == name)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A checkout with the example manifests, and a ``lac`` on PATH that runs this source tree."""
    shutil.copytree(EXAMPLES / "manifests", tmp_path / "repo" / "manifests")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "lac"
    shim.write_text(f'#!/bin/sh\nPYTHONPATH="{REPO}" exec "{sys.executable}" -m lineage_as_code "$@"\n')
    shim.chmod(0o755)
    (tmp_path / "runner").mkdir()
    return tmp_path


def run_step(name: str, workspace: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run one of the action's bash steps as the runner does (``bash -e``), returning its outputs."""
    output = workspace / "runner" / "output"
    output.write_text("")
    environ = {"PATH": f"{workspace / 'bin'}:{os.environ['PATH']}", "GITHUB_OUTPUT": str(output),
               "GITHUB_STEP_SUMMARY": str(workspace / "runner" / "summary"), "HOME": str(workspace), **env}
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step(name)["run"]],
                          cwd=workspace / "repo", env=environ, capture_output=True, text=True, check=False)
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return proc, outputs


def test_the_action_validates_against_the_published_action_schema(tmp_path):
    result = check_schema("vendor.github-actions", REPO / "action.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    broken = dict(ACTION, runs={"using": "composite", "steps": [{"run": "lac plan"}]})  # no shell: refused
    (tmp_path / "action.yml").write_text(yaml.safe_dump(broken))
    assert check_schema("vendor.github-actions", tmp_path / "action.yml").returncode == 1


def test_the_action_plans_uploads_comments_and_applies():
    assert set(ACTION["inputs"]) >= {"mode", "github-token", "working-directory", "artifact-name"}
    plan = step("Plan")["run"]
    assert "--format markdown --out" in plan and "--detailed-exitcode" in plan and '> "$OUT_DIR/plan.md"' in plan
    upload = step("Upload the plan for the apply job")
    assert upload["uses"].startswith("actions/upload-artifact@") and "plan.json" in upload["with"]["path"]
    download = step("Download the reviewed plan")
    assert download["uses"].startswith("actions/download-artifact@") and download["with"]["run-id"]
    assert "lac \"${args[@]}\"" in step("Comment on the pull request")["run"]
    assert all(s.get("if") in ("inputs.mode == 'plan'", "inputs.mode == 'apply'")
               for s in ACTION["runs"]["steps"][3:])


def test_the_plan_step_saves_the_plan_and_reports_changes(workspace):
    out_dir = workspace / "runner" / "plan"
    proc, outputs = run_step("Plan", workspace, OUT_DIR=str(out_dir), CONFIG="", PATHS="manifests")
    assert proc.returncode == 0, proc.stderr
    assert outputs["exitcode"] == "2" and outputs["has-changes"] == "true"
    assert (out_dir / "plan.md").read_text().startswith(PLAN_MARKER)
    assert '"format_version": 2' in (out_dir / "plan.json").read_text()
    assert "### Lineage plan" in (workspace / "runner" / "summary").read_text()


def test_the_plan_step_fails_on_an_invalid_manifest(workspace):
    (workspace / "repo" / "manifests" / "broken.yaml").write_text("version: 1\nprocesses: [{id: x}]\n")
    proc, outputs = run_step("Plan", workspace, OUT_DIR=str(workspace / "runner" / "plan"), CONFIG="",
                             PATHS="manifests")
    assert proc.returncode == 1 and outputs["exitcode"] == "1"
    assert "::error::lac plan failed" in proc.stdout and "broken.yaml" in proc.stderr


def test_the_comment_step_keeps_one_comment_across_pushes(workspace):
    out_dir = workspace / "runner" / "plan"
    app = GitHubEmulator(TOKEN, "acme/lineage", prs=(12,))
    with serve(app) as server:
        env = {"OUT_DIR": str(out_dir), "GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": server.url, "PR": "12", "KEY": "",
               "LABELS": "true", "GITHUB_REPOSITORY": "acme/lineage"}
        for _ in range(2):
            run_step("Plan", workspace, OUT_DIR=str(out_dir), CONFIG="", PATHS="manifests")
            proc, _ = run_step("Comment on the pull request", workspace, **env)
            assert proc.returncode == 0, proc.stderr
    assert len(app.comments[12]) == 1 and app.labels[12] == ["lineage:changes"]
    assert app.comments[12][0]["body"] == (out_dir / "plan.md").read_text()
    assert TOKEN not in proc.stdout + proc.stderr


def test_the_apply_step_applies_the_reviewed_plan_and_refuses_a_stale_one(workspace):
    out_dir = workspace / "runner" / "plan"
    run_step("Plan", workspace, OUT_DIR=str(out_dir), CONFIG="", PATHS="manifests")
    shutil.copy(out_dir / "plan.json", workspace / "runner" / "reviewed.json")
    proc, outputs = run_step("Apply the reviewed plan", workspace, CONFIG="", PLAN=str(out_dir / "plan.json"))
    assert proc.returncode == 0, proc.stderr
    assert outputs["plan-file"].endswith("plan.json")
    # The same reviewed plan again: the state has moved on since it was made.
    proc, _ = run_step("Apply the reviewed plan", workspace, CONFIG="", PLAN=str(workspace / "runner" / "reviewed.json"))
    assert proc.returncode == 3
    assert "::error::the reviewed plan is stale" in proc.stdout and "serial" in proc.stderr


def test_the_markdown_plan_of_the_examples_matches_the_golden_file(workspace, lac):
    result = lac("plan", "--format", "markdown", "--out", "plan.json", "--detailed-exitcode", "manifests",
                 cwd=workspace / "repo")
    assert result.code == 2, result.err
    if os.environ.get("LAC_UPDATE_GOLDEN"):
        GOLDEN.write_text(result.out)
    assert result.out == GOLDEN.read_text(), "re-run with LAC_UPDATE_GOLDEN=1 after an intended change"


def test_the_text_plan_of_the_examples_matches_the_golden_file(workspace, lac):
    result = lac("plan", "manifests", cwd=workspace / "repo")
    assert result.code == 0, result.err
    if os.environ.get("LAC_UPDATE_GOLDEN"):
        GOLDEN_TEXT.write_text(result.out)
    assert result.out == GOLDEN_TEXT.read_text(), "re-run with LAC_UPDATE_GOLDEN=1 after an intended change"


MERMAID_LINE = re.compile(r'  (?P<node>n\d+)\(?\["(?P<label>[^"\n]*)"\]\)?:::\w+|  (?P<src>n\d+) (?:-->|-\.->) (?P<dst>n\d+)'
                          r"|  linkStyle (?P<link>[\d,]+) stroke:#[0-9a-f]{6},stroke-width:\dpx"
                          r"|  classDef \w+ [\w:#,. -]+|  more\[.*\]:::more")
LEGEND = re.compile(r"  subgraph legend\[.*|    .*|  end")


def mermaid_blocks(markdown: str) -> list[list[str]]:
    return [block.split("\n") for block in re.findall(r"```mermaid\n(.*?)\n```", markdown, re.DOTALL)]


def assert_valid_mermaid(lines: list[str]) -> None:
    """The flowchart subset the plan renderer uses: defined nodes, edges between them, one style per
    edge (Mermaid itself parses the picture in tests/plan/test_mermaid.py)."""
    assert lines[0] == "flowchart LR"
    nodes, edges, links = set(), [], []
    for line in lines[1:]:
        if LEGEND.fullmatch(line):
            continue
        match = MERMAID_LINE.fullmatch(line)
        assert match, f"not a line of the flowchart subset: {line!r}"
        if match["node"]:
            assert match["node"] not in nodes and not re.search(r"[<>\[\]`|]|&(?!#)", match["label"])
            nodes.add(match["node"])
        elif match["src"]:
            assert {match["src"], match["dst"]} <= nodes, f"edge to an undefined node: {line!r}"
            edges.append(line)
        elif match["link"]:
            links += [int(i) for i in match["link"].split(",")]
    assert edges and sorted(links) == list(range(len(edges)))


def test_the_golden_plan_holds_one_valid_mermaid_graph_of_the_added_edges():
    golden = GOLDEN.read_text()
    (block,) = mermaid_blocks(golden)
    assert_valid_mermaid(block)
    assert sum(" --> " in line for line in block) == 27  # every edge of the examples is new, through its process
    assert golden.startswith(PLAN_MARKER + "\n") and "<details open>" in golden and golden.endswith("</details>\n")


def test_manifest_text_cannot_break_the_markdown_or_the_mermaid_graph(tmp_path, lac):
    (tmp_path / "evil.yaml").write_text(
        "version: 1\ndefaults: {platform: pg, database: db}\nprocesses:\n"
        "  - id: evil\n    name: x\n"
        '    inputs: ["raw.`<img src=x onerror=alert(1)> \\"q\\" [a]|b #lt;i#gt;`"]\n'
        "    outputs: [marts.out]\n")
    result = lac("plan", "--format", "markdown", "evil.yaml", cwd=tmp_path)
    assert result.code == 0, result.err
    (block,) = mermaid_blocks(result.out)
    assert_valid_mermaid(block)
    label = next(line for line in block if "img" in line)
    # '#' is escaped too, so a name's own '#lt;' stays text instead of becoming '<'.
    assert "#35;lt;i#35;gt;" in label and "#lt;img src=x" in label
    outside_code = re.sub(r"(`{3,})[^\n]*\n.*?\n\1", "", result.out, flags=re.DOTALL)
    assert "<img" not in outside_code  # manifest text only appears inside code blocks here


def test_the_example_workflows_validate_and_never_run_two_applies_at_once():
    ci = REPO / "examples" / "ci"
    result = check_schema("vendor.github-workflows", ci / "github-actions.yml")
    assert result.returncode == 0, result.stdout
    result = check_schema("vendor.gitlab-ci", ci / "gitlab-ci.yml")
    assert result.returncode == 0, result.stdout
    workflow = yaml.safe_load((ci / "github-actions.yml").read_text())
    apply = workflow["jobs"]["apply"]
    assert apply["concurrency"] == {"group": "lineage-apply", "cancel-in-progress": False}
    assert [s["with"]["mode"] for j in workflow["jobs"].values() for s in j["steps"] if "with" in s] == ["plan",
                                                                                                          "apply"]
    assert workflow["jobs"]["plan"]["permissions"]["pull-requests"] == "write"
    gitlab = yaml.safe_load((ci / "gitlab-ci.yml").read_text())
    assert gitlab["lineage:apply"]["resource_group"] == "lineage-apply"
    assert "lac apply plan.json --auto-approve" in gitlab["lineage:apply"]["script"]


def test_the_pre_commit_hook_validates_the_changed_manifests_only(lac, tmp_path):
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert {"id", "name", "entry", "language"} <= set(hook) and hook["language"] == "python"
    changed = ["lineage/orders.yaml", "lineage/reporting.csv", "lac.yaml", ".github/workflows/lineage.yml",
               "README.md", ".pre-commit-config.yaml"]
    selected = [f for f in changed if re.search(hook["files"], f) and not re.search(hook["exclude"], f)]
    assert selected == ["lineage/orders.yaml", "lineage/reporting.csv"]
    (tmp_path / "lineage").mkdir()
    for name in ("orders.yaml", "reporting.csv"):
        shutil.copy(EXAMPLES / "manifests" / name, tmp_path / "lineage" / name)
    command = hook["entry"].split()
    assert command[0] == "lac"
    assert lac(*command[1:], *selected, cwd=tmp_path).code == 0
    (tmp_path / "lineage" / "orders.yaml").write_text("version: 1\nprocesses: [{id: x, colour: red}]\n")
    failed = lac(*command[1:], *selected, cwd=tmp_path)
    assert failed.code == 1 and "lineage/orders.yaml" in failed.err
