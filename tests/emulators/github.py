"""A GitHub REST API emulator: the few issue-comment and label endpoints ``lac pr-comment`` uses.

It keeps comments and labels per pull request in memory and behaves as GitHub does where it
matters: Bearer (or ``token``) auth with 401 otherwise, 404 for an unknown repository or PR,
pagination with ``per_page``/``page`` and a ``Link`` header, and 422 for a comment body over
65,536 characters.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from tests.emulators.base import EmulatorApp, Faults, Request, Response, json_response

BODY_LIMIT = 65_536
_ISSUE = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)/issues/(?P<number>\d+)"
_COMMENT = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)/issues/comments/(?P<comment_id>\d+)"


class GitHubEmulator(EmulatorApp):
    """Pull requests of one repository (``repo``), each with comments and labels."""

    def __init__(self, token: str, repo: str = "acme/lineage", prs: tuple[int, ...] = (7,),
                 faults: Faults | None = None, bot: str = "github-actions[bot]") -> None:
        super().__init__(faults)
        self.token, self.repo, self.bot, self.prs = token, repo, bot, prs
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.labels: dict[int, list[str]] = {}
        self._next_id = 1000
        self.reset(faults)
        self.route("GET", _ISSUE + "/comments", self.list_comments)
        self.route("POST", _ISSUE + "/comments", self.create_comment)
        self.route("GET", _COMMENT, self.get_comment)
        self.route("PATCH", _COMMENT, self.edit_comment)
        self.route("GET", _ISSUE + "/labels", self.list_labels)
        self.route("POST", _ISSUE + "/labels", self.add_labels)
        self.route("DELETE", _ISSUE + r"/labels/(?P<label>[^/]+)", self.remove_label)

    def reset(self, faults: Faults | None = None) -> None:
        """Forget every comment, label, logged request and fault count (one server serves many tests)."""
        with self.lock:
            self.faults = faults or Faults()
            self.comments = {pr: [] for pr in self.prs}
            self.labels = {pr: [] for pr in self.prs}
            self.log.clear()
            self.faults_injected.clear()
            self._writes = 0

    def authorized(self, request: Request) -> Response | None:
        if request.header("authorization") not in (f"Bearer {self.token}", f"token {self.token}"):
            return json_response(401, {"message": "Bad credentials",
                                       "documentation_url": "https://docs.github.com/rest"})
        return None

    def add_comment(self, pr: int, body: str, user: str = "someone") -> dict[str, Any]:
        """Seed a comment (as a person would write it) and return it."""
        self._next_id += 1
        comment = {"id": self._next_id, "body": body, "user": {"login": user},
                   "html_url": f"https://github.example/{self.repo}/pull/{pr}#issuecomment-{self._next_id}"}
        self.comments[pr].append(comment)
        return comment

    def _pr(self, owner: str, name: str, number: str) -> int | None:
        pr = int(number)
        return pr if f"{owner}/{name}" == self.repo and pr in self.comments else None

    def _find(self, owner: str, name: str, comment_id: str) -> dict[str, Any] | None:
        if f"{owner}/{name}" != self.repo:
            return None
        return next((c for items in self.comments.values() for c in items if c["id"] == int(comment_id)), None)

    def _page(self, request: Request, items: list[Any]) -> Response:
        per_page = min(int(request.arg("per_page", "30") or 30), 100)
        page = int(request.arg("page", "1") or 1)
        chunk = items[(page - 1) * per_page: page * per_page]
        headers = {}
        if page * per_page < len(items):
            # GitHub's Link carries absolute URLs; the client must follow them as given.
            host = request.header("host")
            headers["Link"] = (f'<http://{host}{request.path}?per_page={per_page}&page={page + 1}>; rel="next", '
                               f'<http://{host}{request.path}?per_page={per_page}&page=1>; rel="first"')
        return Response(200, chunk, headers)

    @staticmethod
    def _not_found() -> Response:
        return json_response(404, {"message": "Not Found"})

    @staticmethod
    def _too_long(body: Any) -> Response | None:
        if not isinstance(body, str) or not body:
            return json_response(422, {"message": "Validation Failed", "errors": [{"field": "body",
                                                                                   "code": "missing_field"}]})
        if len(body) > BODY_LIMIT:
            return json_response(422, {"message": "Validation Failed", "errors": [{
                "resource": "IssueComment", "code": "custom", "field": "body",
                "message": f"body is too long (maximum is {BODY_LIMIT} characters)"}]})
        return None

    def list_comments(self, request: Request, owner: str, name: str, number: str) -> Response:
        pr = self._pr(owner, name, number)
        return self._not_found() if pr is None else self._page(request, self.comments[pr])

    def create_comment(self, request: Request, owner: str, name: str, number: str) -> Response:
        pr = self._pr(owner, name, number)
        if pr is None:
            return self._not_found()
        body = (request.json() or {}).get("body")
        return self._too_long(body) or Response(201, self.add_comment(pr, body, self.bot))

    def get_comment(self, request: Request, owner: str, name: str, comment_id: str) -> Response:
        comment = self._find(owner, name, comment_id)
        return self._not_found() if comment is None else Response(200, comment)

    def edit_comment(self, request: Request, owner: str, name: str, comment_id: str) -> Response:
        comment = self._find(owner, name, comment_id)
        if comment is None:
            return self._not_found()
        body = (request.json() or {}).get("body")
        invalid = self._too_long(body)
        if invalid:
            return invalid
        comment["body"] = body
        return Response(200, comment)

    def list_labels(self, request: Request, owner: str, name: str, number: str) -> Response:
        pr = self._pr(owner, name, number)
        return self._not_found() if pr is None else self._page(request, [{"name": n} for n in self.labels[pr]])

    def add_labels(self, request: Request, owner: str, name: str, number: str) -> Response:
        pr = self._pr(owner, name, number)
        if pr is None:
            return self._not_found()
        for label in (request.json() or {}).get("labels", []):
            if label not in self.labels[pr]:
                self.labels[pr].append(label)
        return Response(200, [{"name": n} for n in self.labels[pr]])

    def remove_label(self, request: Request, owner: str, name: str, number: str, label: str) -> Response:
        pr = self._pr(owner, name, number)
        label = unquote(label)
        if pr is None or label not in self.labels[pr]:
            return json_response(404, {"message": "Label does not exist"})
        self.labels[pr].remove(label)
        return Response(200, [{"name": n} for n in self.labels[pr]])
