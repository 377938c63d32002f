"""``lac pr-comment`` against a local GitHub emulator: one sticky comment, cut to fit, labels kept right."""

from __future__ import annotations

import json

import pytest

from lineage_as_code.errors import TerminalTargetError
from lineage_as_code.github import (
    COMMENT_LIMIT,
    LABEL_CHANGES,
    LABEL_DELETES,
    LABEL_NO_CHANGES,
    CommentRequest,
    fit_comment,
    open_github,
    post_plan_comment,
)
from lineage_as_code.plan.render import PLAN_MARKER
from lineage_as_code.targets.http import RetryPolicy
from tests.emulators.base import Faults, serve
from tests.emulators.github import BODY_LIMIT, GitHubEmulator

TOKEN = "ghs_sentinelTOKEN0123456789"
REPO, PR = "acme/lineage", 7
FAST = RetryPolicy(max_attempts=4, base_delay=0.01)


def plan_md(create: int = 1, update: int = 0, delete: int = 0, extra: str = "") -> str:
    return (f"{PLAN_MARKER}\n### Lineage plan\n\n**{create}** to create, **{update}** to update, "
            f"**{delete}** to delete, 0 unchanged, 0 skipped.\n{extra}")


@pytest.fixture(scope="module")
def github_server():
    app = GitHubEmulator(TOKEN, REPO, prs=(PR,))
    with serve(app) as server:
        yield app, server


@pytest.fixture
def github(github_server, monkeypatch):
    """The emulator, emptied, with the environment a workflow step would have."""
    app, server = github_server
    app.reset(Faults(retry_after=0.01))
    app.token = TOKEN
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_API_URL", server.url)
    for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    return app, server


def post(server, body: str, labels=None, **kw):
    http = open_github(server.url, TOKEN, retry=FAST)
    try:
        return post_plan_comment(http, CommentRequest(REPO, PR, body, labels, **kw))
    finally:
        http.close()


def test_a_second_run_edits_the_comment_instead_of_adding_one(github, lac, tmp_path):
    app, _ = github
    (tmp_path / "plan.md").write_text(plan_md(create=3))
    first = lac("pr-comment", "--repo", REPO, "--pr", str(PR), "--file", "plan.md", cwd=tmp_path)
    (tmp_path / "plan.md").write_text(plan_md(create=0, update=2))
    second = lac("pr-comment", "--repo", REPO, "--pr", str(PR), "--file", "plan.md", cwd=tmp_path)
    assert first.code == 0 and second.code == 0, (first.err, second.err)
    assert first.out.startswith("Created plan comment") and second.out.startswith("Updated plan comment")
    assert len(app.comments[PR]) == 1
    assert "**2** to update" in app.comments[PR][0]["body"]
    assert len(app.requests("POST", f"/repos/{REPO}/issues/{PR}/comments")) == 1
    assert len(app.requests("PATCH")) == 1


def test_the_same_plan_again_is_left_alone(github):
    app, server = github
    post(server, plan_md())
    result = post(server, plan_md())
    assert result.action == "unchanged" and app.requests("PATCH") == []


def test_finds_its_comment_on_a_later_page_by_following_the_link_header(github):
    app, server = github
    for i in range(230):
        app.add_comment(PR, f"review comment {i}")
    mine = app.add_comment(PR, plan_md(), user="github-actions[bot]")
    for i in range(5):
        app.add_comment(PR, f"later comment {i}")
    result = post(server, plan_md(create=5))
    assert result.action == "updated" and result.comment_id == mine["id"]
    assert len(app.comments[PR]) == 236
    assert len(app.requests("GET", f"/repos/{REPO}/issues/{PR}/comments")) == 3  # 100 + 100 + 36


def test_a_comment_that_only_quotes_the_marker_is_not_taken_for_the_plan(github):
    app, server = github
    quoted = app.add_comment(PR, f"Why does the bot write `{PLAN_MARKER}` at the top?")
    result = post(server, plan_md())
    assert result.action == "created" and quoted["body"].startswith("Why")
    assert len(app.comments[PR]) == 2


def test_keys_keep_one_comment_per_project_on_one_pr(github):
    app, server = github
    post(server, plan_md(create=1), key="finance")
    post(server, plan_md(create=2), key="marketing")
    post(server, plan_md(create=3), key="finance")
    bodies = sorted(c["body"] for c in app.comments[PR])
    assert len(bodies) == 2
    assert bodies[0].startswith("<!-- lineage-as-code:plan key=finance -->") and "**3** to create" in bodies[0]
    assert bodies[1].startswith("<!-- lineage-as-code:plan key=marketing -->") and "**2** to create" in bodies[1]


def test_a_plan_over_the_limit_is_cut_at_a_line_with_its_fence_closed_and_a_link(github):
    app, server = github
    diff = "```diff\n" + "\n".join(f"+ process.job_{i:06d}  manifests/big.yaml:{i}" for i in range(3000)) + "\n```\n"
    body = plan_md(create=3000, extra="\n#### local (duckdb)\n\n" + diff)
    assert len(body) > BODY_LIMIT
    result = post(server, body, details_url="https://github.example/acme/lineage/actions/runs/42")
    stored = app.comments[PR][0]["body"]
    assert result.truncated and len(stored) <= BODY_LIMIT
    assert stored.startswith(PLAN_MARKER) and "**3000** to create" in stored
    assert "[the full plan](https://github.example/acme/lineage/actions/runs/42)" in stored
    before_note = stored.split("\n\n> [!NOTE]")[0]
    assert before_note.endswith("\n```") and before_note.count("```") == 2  # the diff fence is closed
    assert all(not line or line.startswith(("+ process.job_", "```", "#", "<!--", "**")) for line in
               before_note.splitlines()[4:]), "cut mid-line"
    assert [r.status for r in app.log if r.method == "POST"] == [201]  # never a 422


def test_the_emulator_refuses_a_body_over_the_limit_as_github_does(github):
    _, server = github
    http = open_github(server.url, TOKEN, retry=FAST)
    with pytest.raises(TerminalTargetError, match="422.*too long"):
        http.request("POST", f"/repos/{REPO}/issues/{PR}/comments", json={"body": "x" * (BODY_LIMIT + 1)})
    http.close()


def test_fit_comment_closes_an_open_details_block_and_leaves_short_plans_alone():
    short = plan_md()
    assert fit_comment(short) == (short, False)
    body = "<details open><summary>Changed lineage</summary>\n\n```mermaid\n" + "  n1 --> n2\n" * 9000 + "```\n</details>"
    text, cut = fit_comment(body, COMMENT_LIMIT)
    assert cut and len(text) <= COMMENT_LIMIT
    head = text.split("\n\n> [!NOTE]")[0]
    assert head.endswith("```\n</details>")
    assert "the workflow's plan artifact" in text  # no link known: says where the full plan is


def test_labels_follow_the_plan_and_stale_ones_are_removed(github, lac, tmp_path):
    app, _ = github
    app.labels[PR] = ["needs-review", LABEL_NO_CHANGES]
    (tmp_path / "plan.md").write_text(plan_md(delete=2))
    (tmp_path / "plan.json").write_text(json.dumps({"summary": {"create": 0, "update": 1, "delete": 2}}))
    result = lac("pr-comment", "--pr", str(PR), "--repo", REPO, "--file", "plan.md", "--labels-from", "plan.json",
                 cwd=tmp_path)
    assert result.code == 0, result.err
    assert app.labels[PR] == ["needs-review", LABEL_CHANGES, LABEL_DELETES]
    (tmp_path / "plan.md").write_text(plan_md(create=0))
    assert lac("pr-comment", "--pr", str(PR), "--repo", REPO, "--file", "plan.md", cwd=tmp_path).code == 0
    assert app.labels[PR] == ["needs-review", LABEL_NO_CHANGES]


def test_no_labels_leaves_the_labels_alone(github, lac, tmp_path):
    app, _ = github
    app.labels[PR] = [LABEL_CHANGES]
    (tmp_path / "plan.md").write_text(plan_md(create=0))
    assert lac("pr-comment", "--pr", str(PR), "--repo", REPO, "--file", "plan.md", "--no-labels",
               cwd=tmp_path).code == 0
    assert app.labels[PR] == [LABEL_CHANGES] and app.requests(path_prefix=f"/repos/{REPO}/issues/{PR}/labels") == []


def test_a_dropped_connection_after_the_post_does_not_duplicate_the_comment(github):
    app, server = github
    app.faults.drop_after_rate = 1.0  # the comment is stored, then the connection drops
    http = open_github(server.url, TOKEN, retry=FAST)
    try:
        result = post_plan_comment(http, CommentRequest(REPO, PR, plan_md()))
    finally:
        http.close()
    assert result.action == "created" and len(app.comments[PR]) == 1


def test_throttling_is_retried_without_a_second_edit(github):
    app, server = github
    app.faults.throttle_every = 2  # the second write (the edit) answers 429 once
    post(server, plan_md(create=1))
    result = post(server, plan_md(create=2))
    assert result.action == "updated" and app.faults_injected == {"429": 1}
    assert len(app.requests("PATCH")) == 1 and "**2** to create" in app.comments[PR][0]["body"]


def test_bad_credentials_fail_with_a_hint_and_never_show_the_token(github, lac, tmp_path, monkeypatch):
    app, _ = github
    app.token = "another-token"
    (tmp_path / "plan.md").write_text(plan_md())
    result = lac("pr-comment", "--repo", REPO, "--pr", str(PR), "--file", "plan.md", cwd=tmp_path)
    assert result.code == 1
    assert "401" in result.err and "pull-requests: write" in result.err
    assert TOKEN not in result.err + result.out


def test_a_missing_token_or_a_bad_repository_is_reported_before_any_request(github, lac, tmp_path, monkeypatch):
    app, _ = github
    (tmp_path / "plan.md").write_text(plan_md())
    monkeypatch.delenv("GITHUB_TOKEN")
    result = lac("pr-comment", "--repo", REPO, "--pr", str(PR), "--file", "plan.md", cwd=tmp_path)
    assert result.code == 1 and "GITHUB_TOKEN is not set" in result.err
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    result = lac("pr-comment", "--repo", "not a repo", "--pr", str(PR), "--file", "plan.md", cwd=tmp_path)
    assert result.code == 1 and "expected OWNER/NAME" in result.err
    assert app.log == []


def test_an_unknown_pull_request_names_it(github, lac, tmp_path):
    (tmp_path / "plan.md").write_text(plan_md())
    result = lac("pr-comment", "--repo", REPO, "--pr", "999", "--file", "plan.md", cwd=tmp_path)
    assert result.code == 1 and "404" in result.err and f"{REPO}#999" in result.err


def test_inside_a_workflow_the_cut_plan_links_to_the_run(github, lac, tmp_path, monkeypatch):
    app, _ = github
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example")
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    (tmp_path / "plan.md").write_text(plan_md(extra="x" * (BODY_LIMIT + 10)))
    result = lac("pr-comment", "--pr", str(PR), "--file", "plan.md", cwd=tmp_path)  # repo from the environment
    assert result.code == 0, result.err
    assert "cut to fit" in result.out
    assert "(https://github.example/acme/lineage/actions/runs/4242)" in app.comments[PR][0]["body"]
