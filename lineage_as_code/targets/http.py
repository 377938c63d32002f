"""The one HTTP client every vendor target uses: timeouts, retries, rate limits, auth, redaction.

Retries happen here and nowhere else: on 429, 5xx, timeouts and dropped connections, with
exponential backoff and full jitter, honouring ``Retry-After``, for a bounded number of attempts.
A request that is not idempotent is retried after an ambiguous failure (the server may have
processed it) only once ``reconcile`` has looked and found the write absent, so a retry never
duplicates lineage. Auth headers are added here; their values are redacted from every message
and log line (before any excerpt is cut, and a token's start left at the end of a cut excerpt is
redacted too). A credential is never sent over plain http:// except to loopback or a target that
sets ``allow_insecure_http: true``, and one holding a control character is refused up front.
A 401 or 403 leaves once, here, as an AuthError that names the target and carries the target's
``auth_hint`` (which variable or credential to fix), so a run stops with one message instead of
one per item. Other failures leave as TransientTargetError / TerminalTargetError, naming the
target, method, path and status, never a token.
"""

from __future__ import annotations

import email.utils
import ipaddress
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from ..config import describe_variable
from ..errors import AuthError, ConfigError, TerminalTargetError, TransientTargetError
from ..plan.contract import Capabilities

log = logging.getLogger("lineage_as_code.http")
T = TypeVar("T")
R = TypeVar("R")
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MIN_PARTIAL_SECRET = 4  # a shorter cut-off start of a token gives nothing away
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> RetryPolicy:
        return cls(
            max_attempts=int(settings.get("max_attempts", cls.max_attempts)),
            base_delay=float(settings.get("retry_base_delay", cls.base_delay)),
            max_delay=float(settings.get("retry_max_delay", cls.max_delay)),
        )


@dataclass
class HttpStats:
    """Counters for benchmarks and the reliability suite."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    server_errors: int = 0
    network_errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)


class RateLimiter:
    """Spaces write requests at least ``60 / per_minute`` seconds apart (thread-safe)."""

    def __init__(self, per_minute: float | None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self._next = 0.0
        self._lock = threading.Lock()
        self._clock, self._sleep = clock, sleep

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            self._sleep(start - now)


def _redact_cut_tail(text: str, secrets: Sequence[str]) -> str:
    body = text.rstrip(".… ")
    for secret in secrets:
        for n in range(min(len(secret) - 1, len(body)), MIN_PARTIAL_SECRET - 1, -1):
            if body.endswith(secret[:n]):
                return body[:-n] + "***" + text[len(body):]
    return text


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses: traffic that never leaves the machine."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_credential_transport(target: str, base_url: str, allow_insecure_http: bool = False) -> None:
    """Refuse to send a credential over plain http:// to anything but loopback (ConfigError),
    unless the target sets ``allow_insecure_http: true`` (test rigs)."""
    url = httpx.URL(base_url)
    if url.scheme == "http" and not allow_insecure_http and not is_loopback(url.host):
        raise ConfigError(f"target {target!r}: base_url http://{url.host} is plain HTTP, which would send the API "
                          "credential unencrypted; use https://, or set allow_insecure_http: true on the target "
                          "if this really is a test rig")


def check_secret_text(value: str, what: str) -> None:
    """Refuse a credential holding a line break or another control character (ConfigError naming
    ``what``, never the value): it cannot be a valid header, and httpx would quote it in its error."""
    if _CONTROL.search(value):
        raise ConfigError(f"{what} holds a line break or another control character (a secrets file with Windows "
                          "line endings leaves a trailing \\r); remove it and run again. The value is not shown")


class HttpClient:
    """A target's connection to its API. ``auth`` headers are secret and never shown; ``auth_hint``
    tells the user what to fix when the API answers 401 or 403 (the variable holding the token, say)."""

    def __init__(self, target: str, base_url: str, auth: Mapping[str, str] | None = None, *,
                 timeout: float = 30.0, retry: RetryPolicy | None = None, max_parallel: int = 4,
                 rate_limit_per_minute: float | None = None, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep, headers: Mapping[str, str] | None = None,
                 allow_insecure_http: bool = False, auth_hint: str = "") -> None:
        for value in (auth or {}).values():
            check_secret_text(value, f"target {target!r}: the credential")
        if any((auth or {}).values()):
            check_credential_transport(target, base_url, allow_insecure_http)
        self.target = target
        self.auth_hint = auth_hint
        self.retry = retry or RetryPolicy()
        self.max_parallel = max(1, max_parallel)
        self.stats = HttpStats()
        self._secrets = [v for v in (auth or {}).values() if v]
        self._secrets += [v.split(" ", 1)[1] for v in self._secrets if " " in v]
        self._sleep = sleep
        self._limiter = RateLimiter(rate_limit_per_minute, sleep=sleep)
        self._client = httpx.Client(base_url=base_url, headers={**(headers or {}), **(auth or {})},
                                    timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)), transport=transport,
                                    limits=httpx.Limits(max_connections=self.max_parallel * 2))

    def redact(self, text: str) -> str:
        """Return ``text`` with every secret value replaced by ``***``, and a secret's beginning at
        the very end of ``text`` too: text cut to a length before it reached here (a vendor's
        excerpt of an error body) may end in the middle of a token."""
        for secret in self._secrets:
            if secret:
                text = text.replace(secret, "***")
        return _redact_cut_tail(text, self._secrets)

    def _describe(self, method: str, url: str) -> str:
        return f"target {self.target!r}: {method} {self.redact(url.split('?', 1)[0])}"

    def _auth_message(self, what: str, status: int, excerpt: str) -> str:
        refused = "the credentials were rejected" if status == 401 else "the credentials lack permission"
        hint = f"; {self.auth_hint}" if self.auth_hint else ""
        return self.redact(f"{what} -> {status}: {refused} ({excerpt}){hint}")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.retry.max_retry_after) + random.uniform(0, self.retry.base_delay / 4)
        return random.uniform(0, min(self.retry.max_delay, self.retry.base_delay * (2 ** attempt)))

    def request(self, method: str, url: str, *, params: Any = None, json: Any = None,
                headers: Mapping[str, str] | None = None, ok: Sequence[int] = (200, 201, 202, 204),
                idempotent: bool | None = None,
                reconcile: Callable[[], httpx.Response | None] | None = None) -> httpx.Response:
        """Send one request with retries; return the response whose status is in ``ok``.

        A 401 or 403 not listed in ``ok`` raises AuthError with the client's ``auth_hint``.
        ``idempotent`` defaults to True for GET/PUT/DELETE/HEAD and False for POST/PATCH. For a
        non-idempotent request, ``reconcile`` is called after an ambiguous failure: when it returns
        a response the write had landed and that response is returned; when None, the request is
        retried. Without ``reconcile`` such a request is retried only on 429 and connect errors.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method not in ("POST", "PATCH")
        what = self._describe(method, url)
        last = ""
        for attempt in range(self.retry.max_attempts):
            if method in WRITE_METHODS:
                self._limiter.wait()
            ambiguous = False
            retry_after = None
            try:
                self.stats.add(requests=1)
                response = self._client.request(method, url, params=params, json=json, headers=headers)
            except httpx.ConnectError as exc:
                self.stats.add(network_errors=1)
                last = f"connection failed ({type(exc).__name__})"
            except (httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                self.stats.add(network_errors=1)
                last = f"{type(exc).__name__}"
                ambiguous = True
            else:
                status = response.status_code
                log.debug("%s -> %s", what, status)
                if status in ok:
                    return response
                if status not in RETRY_STATUSES:
                    excerpt = self.redact(response.text.replace("\n", " "))[:300]  # redact, then cut
                    if status in (401, 403):
                        raise AuthError(self._auth_message(what, status, excerpt))
                    raise TerminalTargetError(f"{what} -> {status}: {excerpt}")
                if status == 429:
                    self.stats.add(throttled=1)
                else:
                    self.stats.add(server_errors=1)
                    ambiguous = True
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                last = f"HTTP {status}"
            if attempt + 1 >= self.retry.max_attempts:
                break
            if ambiguous and not idempotent:
                if reconcile is None:
                    break
                found = reconcile()
                if found is not None:
                    return found
            self.stats.add(retries=1)
            delay = self._delay(attempt, retry_after)
            log.info("%s: %s; retry %d in %.2fs", what, last, attempt + 1, delay)
            self._sleep(delay)
        raise TransientTargetError(f"{what}: gave up after {attempt + 1} attempt(s); last failure: {last}")

    def json(self, method: str, url: str, **kwargs: Any) -> Any:
        """``request`` and decode the JSON body (None for an empty body)."""
        response = self.request(method, url, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise TerminalTargetError(f"{self._describe(method, url)}: response is not JSON") from exc

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """Run ``fn`` over ``items`` with at most ``max_parallel`` in flight; results in input order."""
        items = list(items)
        if self.max_parallel == 1 or len(items) <= 1:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(max_workers=self.max_parallel) as pool:
            return list(pool.map(fn, items))

    def close(self) -> None:
        self._client.close()


MAX_PAGES = 100_000


class PageGuard:
    """Ends a paged listing that would never end: a next-page token (or link) seen before, or more pages
    than any real listing has. A broken or hostile endpoint that always answers "there is more" makes
    the run stop with a TargetError naming the endpoint instead of running until it is killed."""

    def __init__(self, what: str, limit: int = MAX_PAGES) -> None:
        self.what = what
        self.limit = limit
        self.pages = 0
        self.seen: set[str] = set()

    def next(self, token: str) -> str:
        """Record that the listing continues at ``token``; return it, or raise TerminalTargetError."""
        self.pages += 1
        if token in self.seen:
            raise TerminalTargetError(f"{self.what}: the server sent the same next-page token twice; the listing "
                                      "was stopped rather than read forever (a broken or hostile endpoint)")
        if self.pages >= self.limit:
            raise TerminalTargetError(f"{self.what}: more than {self.limit:,} pages; the listing was stopped")
        self.seen.add(token)
        return token


def expect_shape(value: Any, kind: type, what: str) -> Any:
    """``value`` when it is a ``kind`` (list, dict...), else TerminalTargetError naming the endpoint: a
    response of an unexpected shape is the vendor's problem to report, never an AttributeError."""
    if not isinstance(value, kind):
        raise TerminalTargetError(f"{what}: expected a JSON {'array' if kind is list else 'object'} in the "
                                  f"response, got {type(value).__name__}")
    return value


def require_settings(config: Any, keys: Sequence[str], hint: str) -> None:
    """Raise ConfigError naming every setting in ``keys`` the target lacks, with ``hint`` on where to find them."""
    missing = [k for k in keys if not config.settings.get(k)]
    if missing:
        raise ConfigError(f"target {config.name!r}: set {' and '.join(missing)} ({hint}) in lac.yaml")


def secret_from_env(config: Any, default_env: str, key: str = "token_env") -> str:
    """Return the secret in the variable the target's ``key`` names (or ``default_env``).

    ConfigError when it is unset or holds a control character; the message names the variable
    only when its name looks like one (a token pasted into ``token_env`` is never echoed).
    """
    name = str(config.settings.get(key, default_env))
    value = os.environ.get(name, "")
    shown = describe_variable(name, f"targets.{config.name}.{key}")
    if not value:
        raise ConfigError(f"target {config.name!r}: {shown} is not set (it holds the API token)")
    check_secret_text(value, f"target {config.name!r}: {shown}")
    return value


def client_for(config: Any, default_base_url: str, auth: Mapping[str, str], *, auth_hint: str,
               capabilities: Capabilities, **kwargs: Any) -> HttpClient:
    """The HttpClient of a target: ``base_url``, ``timeout`` and the retry settings from its ``lac.yaml``
    entry; parallelism and request spacing from its ``capabilities`` (``max_parallel``,
    ``rate_limit_per_minute``), the one place either is declared, so the plan's estimate and the
    client's pace never disagree.

    ``auth_hint`` is required: what the user should check when the API answers 401 or 403 (the
    variable holding the token), so every target's refusal is one AuthError with the same shape."""
    s = config.settings
    base_url = str(s.get("base_url", default_base_url)).rstrip("/")
    # Every vendor target carries a credential (a header, or a refresh token in a body).
    check_credential_transport(config.name, base_url, s.get("allow_insecure_http") is True)
    return HttpClient(
        config.name, base_url, auth, auth_hint=auth_hint,
        timeout=float(s.get("timeout", 30.0)), retry=RetryPolicy.from_settings(s),
        max_parallel=capabilities.max_parallel, rate_limit_per_minute=capabilities.rate_limit_per_minute,
        allow_insecure_http=s.get("allow_insecure_http") is True, **kwargs,
    )
