"""The shared HTTP layer against a real local server with injected faults."""

from __future__ import annotations

import pytest

from lineage_as_code.errors import TerminalTargetError, TransientTargetError
from lineage_as_code.targets.http import HttpClient, RateLimiter, RetryPolicy, parse_retry_after
from tests.emulators.base import EmulatorApp, Faults, Request, Response, serve

SECRET = "sentinel-secret-token-123"


class Echo(EmulatorApp):
    def __init__(self, faults: Faults | None = None) -> None:
        super().__init__(faults)
        self.items: list = []
        self.route("POST", r"/items", self.create)
        self.route("GET", r"/items", lambda req: Response(200, {"items": self.items}))
        self.route("GET", r"/bad", lambda req: Response(400, {"error": f"bad request, token was {SECRET}"}))

    def authorized(self, request: Request) -> Response | None:
        if request.header("authorization") != f"Bearer {SECRET}":
            return Response(401, {"detail": "Authentication credentials were not provided."})
        return None

    def create(self, request: Request) -> Response:
        self.items.append(request.json())
        return Response(201, {"ok": True})


def client(url: str, **kw) -> HttpClient:
    return HttpClient("t", url, {"Authorization": f"Bearer {SECRET}"},
                      retry=kw.pop("retry", RetryPolicy(max_attempts=5, base_delay=0.01)), **kw)


def test_retries_429_and_5xx_until_success_and_counts_them():
    app = Echo(Faults(throttle_every=2, retry_after=0.01))
    with serve(app) as server:
        http = client(server.url)
        for i in range(4):
            http.request("POST", "/items", json={"i": i}, idempotent=True)
    assert [item["i"] for item in app.items] == [0, 1, 2, 3]
    assert http.stats.throttled == app.faults_injected["429"] >= 2


def test_ambiguous_failure_of_a_post_is_reconciled_not_duplicated():
    app = Echo(Faults(drop_after_rate=1.0))
    with serve(app) as server:
        http = client(server.url, timeout=2)
        found = []

        def reconcile():
            listed = http.json("GET", "/items")["items"]
            found.append(len(listed))
            return http.request("GET", "/items") if listed else None

        http.request("POST", "/items", json={"i": 1}, reconcile=reconcile)
    assert len(app.items) == 1 and found == [1]


def test_a_post_without_reconcile_is_not_retried_after_an_ambiguous_failure():
    app = Echo(Faults(error_rate=1.0, error_status=502))
    with serve(app) as server, pytest.raises(TransientTargetError, match=r"target 't': POST /items: gave up after 1"):
        client(server.url).request("POST", "/items", json={})


def test_terminal_errors_name_method_path_status_and_never_the_token():
    with serve(Echo()) as server, pytest.raises(TerminalTargetError) as info:
        client(server.url).request("GET", "/bad")
    message = str(info.value)
    assert "GET /bad -> 400" in message and SECRET not in message and "***" in message


def test_unauthenticated_requests_are_terminal():
    with serve(Echo()) as server:
        http = HttpClient("t", server.url, {}, retry=RetryPolicy(max_attempts=2, base_delay=0.01))
        with pytest.raises(TerminalTargetError, match="401"):
            http.request("GET", "/items")


def test_retry_after_accepts_seconds_and_http_dates():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None


def test_rate_limiter_spaces_writes():
    clock = [0.0]
    slept = []
    limiter = RateLimiter(30, clock=lambda: clock[0], sleep=slept.append)
    for _ in range(3):
        limiter.wait()
    assert slept == [2.0, 4.0]


def test_a_refused_token_is_one_auth_error_with_the_targets_hint_and_no_secret():
    from lineage_as_code.errors import AuthError

    app = Echo()
    with serve(app) as server:
        http = HttpClient("t", server.url, {"Authorization": "Bearer wrong-secret-77"},
                          auth_hint="set T_TOKEN (token_env) to a valid key")
        with pytest.raises(AuthError) as refused:
            http.request("POST", "/items", json={"a": 1})
        http.close()
    message = str(refused.value)
    assert "target 't'" in message and "401" in message and "set T_TOKEN (token_env)" in message
    assert "wrong-secret-77" not in message
    assert len(app.requests()) == 1  # refused once, never retried
