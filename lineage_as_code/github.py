"""Post a Markdown plan as one sticky pull-request comment, and label the pull request.

``lac pr-comment`` calls ``publish_plan_comment``: it lists the PR's comments (following the
``Link`` header across pages), finds the one this tool wrote earlier by the hidden marker it
starts with, and edits it instead of adding another; a plan longer than GitHub's 65,536-character
comment limit is cut at a line, its open code fence and ``<details>`` closed, and a link to the
full plan appended. Labels ``lineage:no-changes`` / ``lineage:changes`` / ``lineage:deletes`` are
derived from the plan and the stale ones removed. All calls go through the shared HttpClient
(retries, redaction); the token comes from the environment and never appears in a message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from .config import describe_variable
from .errors import ConfigError, PlanError, TerminalTargetError
from .plan.render import IMPACT_HEADING, PLAN_MARKER
from .sources import read_object
from .targets.http import HttpClient, PageGuard, RetryPolicy, check_secret_text, expect_shape

DEFAULT_API_URL = "https://api.github.com"
COMMENT_LIMIT = 65_536  # GitHub answers 422 for a longer issue-comment body
LABEL_NO_CHANGES, LABEL_CHANGES, LABEL_DELETES = "lineage:no-changes", "lineage:changes", "lineage:deletes"
LABEL_BREAKS_DOWNSTREAM = "lineage:breaks-downstream"
MANAGED_LABELS = (LABEL_NO_CHANGES, LABEL_CHANGES, LABEL_DELETES, LABEL_BREAKS_DOWNSTREAM)
_REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_KEY = re.compile(r"[A-Za-z0-9_./-]{1,100}")
_SUMMARY = re.compile(r"\*\*(\d+)\*\* to create, \*\*(\d+)\*\* to update, \*\*(\d+)\*\* to delete")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


@dataclass(frozen=True)
class CommentRequest:
    """What to post: ``body`` on ``repo`` (OWNER/NAME) pull request ``pr``.

    ``labels`` None leaves the PR's labels alone. ``key`` tells apart several plans commented on
    one PR (one per project in a monorepo). ``details_url`` is linked when the plan is cut.
    """

    repo: str
    pr: int
    body: str
    labels: tuple[str, ...] | None = None
    key: str = ""
    details_url: str = ""
    limit: int = COMMENT_LIMIT


@dataclass(frozen=True)
class CommentResult:
    action: str                     # "created", "updated" or "unchanged"
    comment_id: int
    url: str
    truncated: bool = False
    labels_added: tuple[str, ...] = ()
    labels_removed: tuple[str, ...] = ()


def labels_for_counts(create: int, update: int, delete: int) -> tuple[str, ...]:
    """``lineage:no-changes``; or ``lineage:changes``, plus ``lineage:deletes`` when anything is deleted."""
    if not (create or update or delete):
        return (LABEL_NO_CHANGES,)
    return (LABEL_CHANGES, LABEL_DELETES) if delete else (LABEL_CHANGES,)


def labels_from_plan_json(data: bytes, where: str) -> tuple[str, ...]:
    """Labels for a saved plan (``lac plan --out``), plus ``lineage:breaks-downstream`` when its blast
    radius is not empty; PlanError when it is not a plan."""
    try:
        doc = json.loads(data)
        summary = doc["summary"]
        labels = labels_for_counts(int(summary["create"]), int(summary["update"]), int(summary["delete"]))
        breaks = any(i["downstream"] or i["more"] for t in doc.get("targets", []) for i in t.get("impacts", []))
        return (*labels, LABEL_BREAKS_DOWNSTREAM) if breaks else labels
    except (ValueError, KeyError, TypeError) as exc:
        raise PlanError(f"{where}: not a lineage-as-code plan file, cannot derive labels ({exc})") from exc


def labels_from_markdown(text: str, where: str) -> tuple[str, ...]:
    """Labels from the summary line of ``lac plan --format markdown``; PlanError when it has none."""
    match = _SUMMARY.search(text)
    if match is None:
        raise PlanError(f"{where}: no plan summary line found; pass --labels-from PLAN.json or --no-labels")
    create, update, delete = (int(g) for g in match.groups())
    labels = labels_for_counts(create, update, delete)
    return (*labels, LABEL_BREAKS_DOWNSTREAM) if IMPACT_HEADING in text else labels


def marker_for(key: str) -> str:
    """The hidden marker a sticky comment starts with; ConfigError for a key that could break it."""
    if not key:
        return PLAN_MARKER
    if not _KEY.fullmatch(key):
        raise ConfigError(f"comment key {key!r}: use up to 100 letters, digits, '.', '_', '/' or '-'")
    return PLAN_MARKER.replace(" -->", f" key={key} -->")


def _close_open_blocks(kept: list[str]) -> list[str]:
    """Lines that close a code fence or ``<details>`` left open in ``kept``."""
    fence = ""
    details = 0
    for line in kept:
        match = _FENCE.match(line)
        if match:
            if not fence:
                fence = match.group(1)
            elif match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence) and not match.group(2).strip():
                fence = ""
        elif not fence:
            details += line.count("<details") - line.count("</details>")
    return ([fence] if fence else []) + ["</details>"] * max(0, details)


def fit_comment(body: str, limit: int = COMMENT_LIMIT, details_url: str = "") -> tuple[str, bool]:
    """Return ``body`` cut to at most ``limit`` characters at a line boundary, and whether it was cut.

    A cut body keeps its Markdown well formed (open fences and ``<details>`` are closed) and ends
    with a note saying how much is shown and where the full plan is.
    """
    if len(body) <= limit:
        return body, False
    link = f"[the full plan]({quote(details_url, safe=':/?#=&%@+,;~')})" if details_url else \
        "the full plan in the workflow's plan artifact (plan.md)"
    note = (f"\n\n> [!NOTE]\n> This plan is {len(body):,} characters, more than a comment can hold; it is cut "
            f"here. See {link}.\n")
    lines = body.split("\n")
    kept: list[str] = []
    budget = limit - len(note) - 64  # room for closing a fence and <details>
    size = 0
    for line in lines:
        if size + len(line) + 1 > budget:
            break
        kept.append(line)
        size += len(line) + 1
    closing = _close_open_blocks(kept)
    text = "\n".join(kept + closing) + note
    return (text if len(text) <= limit else text[:limit]), True


def open_github(api_url: str, token: str, *, retry: RetryPolicy | None = None,
                transport: httpx.BaseTransport | None = None) -> HttpClient:
    """An HttpClient for the GitHub REST API, authenticated with ``token`` (kept secret)."""
    return HttpClient("github", api_url.rstrip("/"), {"Authorization": f"Bearer {token}"}, retry=retry,
                      transport=transport, max_parallel=1,
                      headers={"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"})


def _pages(http: HttpClient, path: str) -> Iterator[dict[str, Any]]:
    url: str | None = f"{path}?per_page=100"
    guard = PageGuard(f"GitHub GET {path}")
    while url:
        response = http.request("GET", url)
        try:
            items = response.json()
        except ValueError as exc:
            raise TerminalTargetError(f"GitHub answered GET {path} with something that is not JSON") from exc
        yield from expect_shape(items, list, guard.what)
        url = response.links.get("next", {}).get("url")
        if url:
            guard.next(url)


def _find_comment(http: HttpClient, repo: str, pr: int, marker: str) -> dict[str, Any] | None:
    for comment in _pages(http, f"/repos/{repo}/issues/{pr}/comments"):
        if str(comment.get("body") or "").lstrip().startswith(marker):
            return comment
    return None


def _write_comment(http: HttpClient, repo: str, pr: int, marker: str, body: str) -> tuple[str, dict[str, Any]]:
    existing = _find_comment(http, repo, pr, marker)
    if existing is not None:
        if existing.get("body") == body:
            return "unchanged", existing
        edited = http.json("PATCH", f"/repos/{repo}/issues/comments/{existing['id']}", json={"body": body},
                           idempotent=True)
        return "updated", edited

    def reconcile() -> httpx.Response | None:
        # The POST may have landed before the connection dropped: look before posting again.
        found = _find_comment(http, repo, pr, marker)
        return None if found is None else http.request("GET", f"/repos/{repo}/issues/comments/{found['id']}")

    created = http.request("POST", f"/repos/{repo}/issues/{pr}/comments", json={"body": body}, ok=(201,),
                           reconcile=reconcile).json()
    return "created", created


def _set_labels(http: HttpClient, repo: str, pr: int, wanted: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    current = {str(label["name"]) for label in _pages(http, f"/repos/{repo}/issues/{pr}/labels")}
    stale = tuple(sorted(current & set(MANAGED_LABELS) - set(wanted)))
    missing = tuple(label for label in wanted if label not in current)
    for label in stale:
        http.request("DELETE", f"/repos/{repo}/issues/{pr}/labels/{quote(label, safe='')}", ok=(200, 204, 404))
    if missing:
        http.request("POST", f"/repos/{repo}/issues/{pr}/labels", json={"labels": list(missing)}, ok=(200,),
                     idempotent=True)
    return missing, stale


def post_plan_comment(http: HttpClient, request: CommentRequest) -> CommentResult:
    """Create or edit the PR's sticky plan comment and set its labels; return what was done.

    Raises ConfigError for a malformed repository and TerminalTargetError (with a hint about the
    token's permissions) when GitHub refuses.
    """
    if not _REPO.fullmatch(request.repo):
        raise ConfigError(f"repository {request.repo!r}: expected OWNER/NAME")
    marker = marker_for(request.key)
    body = request.body if request.body.lstrip().startswith(marker) else f"{marker}\n{request.body}"
    body, truncated = fit_comment(body, request.limit, request.details_url)
    try:
        action, comment = _write_comment(http, request.repo, request.pr, marker, body)
        added, removed = ((), ()) if request.labels is None else _set_labels(http, request.repo, request.pr,
                                                                              request.labels)
    except TerminalTargetError as exc:
        raise TerminalTargetError(
            f"{exc}; check that the token may write to pull request {request.repo}#{request.pr} "
            "(workflow permissions: pull-requests: write, issues: write)") from exc
    return CommentResult(action, int(comment["id"]), str(comment.get("html_url", "")), truncated, added, removed)


@dataclass(frozen=True)
class PublishRequest:
    """``lac pr-comment`` arguments: files to read and where to post."""

    repo: str
    pr: int
    file: str
    labels_from: str = ""
    labels: bool = True
    key: str = ""
    details_url: str = ""
    token_env: str = "GITHUB_TOKEN"


def _details_url(env: Mapping[str, str]) -> str:
    server, repo, run = env.get("GITHUB_SERVER_URL"), env.get("GITHUB_REPOSITORY"), env.get("GITHUB_RUN_ID")
    return f"{server}/{repo}/actions/runs/{run}" if server and repo and run else ""


def publish_plan_comment(request: PublishRequest, env: Mapping[str, str],
                         retry: RetryPolicy | None = None) -> CommentResult:
    """Read the Markdown plan (and labels) from files and post it with ``post_plan_comment``.

    The token is read from ``env[request.token_env]`` and the API from ``GITHUB_API_URL``; inside
    a workflow run the cut-plan link defaults to that run's page.
    """
    token = env.get(request.token_env, "")
    shown = describe_variable(request.token_env, "--token-env")
    if not token:
        raise ConfigError(f"{shown} is not set (it holds the GitHub token)")
    check_secret_text(token, shown)
    body = read_object(request.file).decode("utf-8")
    labels: tuple[str, ...] | None = None
    if request.labels:
        labels = (labels_from_plan_json(read_object(request.labels_from), request.labels_from)
                  if request.labels_from else labels_from_markdown(body, request.file))
    comment = CommentRequest(request.repo, request.pr, body, labels, request.key,
                             request.details_url or _details_url(env))
    http = open_github(env.get("GITHUB_API_URL") or DEFAULT_API_URL, token, retry=retry)
    try:
        return post_plan_comment(http, comment)
    finally:
        http.close()
