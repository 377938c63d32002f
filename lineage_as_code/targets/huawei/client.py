"""Huawei Cloud DataArts Studio: one ``POST /v1/{project_id}/lineage/lineage-info`` per job node.

DataArts links tables by name (catalog, database, schema, table) and makes manual lineage nodes
for them itself, so this target writes no assets: each process becomes a job node identified by
``job_id`` + ``node_name``. A process beyond the documented limits (1..100 tables a side, at most
100 column lineages, 1..100 columns a side) is split deterministically into several nodes,
``process.<id>`` then ``process.<id>#2``..., so a re-apply sends exactly the same requests.

What DataArts lacks shapes the capabilities: no public delete (a removed process is listed as
skipped, to be removed by hand), no reliable read-back of manual nodes (no refresh, so no drift
detection), no asset lookup or creation (PARTIAL only). Whether re-posting a node replaces or adds
to its lineage is not documented (UNCONFIRMED), so an update is a re-post and the edges it stops
declaring are listed in the plan under "cannot delete" (the engine does that for every target
without delete). For the same reason the ambiguous-failure policy is ``hold`` by default: a POST
whose reply was lost (a dropped connection, a timeout, a 5xx after the server may have applied it)
is not sent again but recorded in state as uncertain, shown by every plan, and re-sent only by
``lac apply --retry-uncertain``; ``ambiguous_failure: retry`` restores blind retries for whoever
has confirmed that DataArts treats a re-post as idempotent.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from ...config import InputHandling, TargetConfig
from ...errors import AuthError, TargetError
from ...model import Lineage
from ...plan.contract import AmbiguousFailure
from ...plan.model import Action, Change
from ..base import Capabilities, Current, ItemResult, Resource
from ..http import HttpClient, client_for, secret_from_env
from .settings import DEFAULT_TOKEN_ENV, HuaweiSettings
from .translate import LIMIT, build_resources

_ERROR_STATUSES = (400, 404)  # one node refused; a 401/403 stops the run in the HTTP client


class _Ambiguous(Exception):
    """Raised out of the HTTP layer's reconcile hook: the POST may or may not have landed."""


def _hold() -> Any:
    raise _Ambiguous


class HuaweiTarget:
    """DataArts Studio lineage through ``lineage-info``; settings are described in the README."""

    def __init__(self, config: TargetConfig) -> None:
        self.name = config.name
        self.config = config
        self.settings = HuaweiSettings.parse(config)
        self._http: HttpClient | None = None
        self._lock = threading.Lock()

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            max_batch_size=LIMIT, max_parallel=self.settings.max_parallel, supports_delete=False,
            supports_refresh=False, supports_column_lineage=True, modes=frozenset({InputHandling.PARTIAL}),
            kind_order=("process",), ambiguous_failure=self.settings.ambiguous_failure,
            rate_limit_per_minute=self.settings.rate_limit_per_minute,
            requests_per_batch=0, requests_per_change=1,  # one lineage-info POST per job node, no bulk call
        )

    def translate(self, lineage: Lineage) -> list[Resource]:
        """One ``process`` resource per job node (see ``translate.build_resources``)."""
        return build_resources(self.settings, self.name, lineage)

    def held_digest(self, refresh: bool) -> str | None:
        return None  # what the catalog holds is known only by reading it

    def read(self, desired: Sequence[Resource], known: Mapping[str, Current], refresh: bool) -> dict[str, Current]:
        """Nothing to read: DataArts has no asset lookup this target could use and no reliable
        read-back of manual nodes, so the plan works from state alone (no credentials needed)."""
        return {}

    # -- apply -----------------------------------------------------------------------------------

    def _client(self) -> HttpClient:
        with self._lock:
            if self._http is None:
                token = secret_from_env(self.config, DEFAULT_TOKEN_ENV)
                self._http = client_for(self.config, f"https://dataarts.{self.settings.region}.myhuaweicloud.com",
                                        {"X-Auth-Token": token}, capabilities=self.capabilities,
                                        headers={"workspace": self.settings.workspace},
                                        auth_hint=f"DataArts Studio refused the token in {self.settings.token_env}: "
                                                  "put a valid IAM token (X-Subject-Token, valid 24 hours) there")
            return self._http

    def apply(self, batch: Sequence[Change]) -> list[ItemResult]:
        """POST each node (at most ``max_parallel`` at once). A 401 or 403 raises AuthError (from the
        HTTP client), since every further request would be refused the same way."""
        http = self._client()
        return http.map(lambda change: self._apply_one(http, change), batch)

    def _apply_one(self, http: HttpClient, change: Change) -> ItemResult:
        address = change.address
        if change.action is Action.DELETE:
            return ItemResult(address, False, error="DataArts Studio offers no lineage delete: remove the node by hand")
        request = (change.after or {})["request"]
        path = f"/v1/{self.settings.project_id}/lineage/lineage-info"
        retry = self.settings.ambiguous_failure is AmbiguousFailure.RETRY
        try:
            # Under hold, an ambiguous failure reaches _hold instead of a retry: a lost reply may hide a
            # write that landed, and what a second POST of the same node does is undocumented.
            response = http.request("POST", path, json=request, ok=(200, *_ERROR_STATUSES), idempotent=retry,
                                    reconcile=None if retry else _hold)
        except _Ambiguous:
            prior = change.prior.id if change.prior is not None else ""
            return ItemResult(address, False, id=prior, uncertain=True,
                              error="the reply was lost or a server error followed the write: it may have landed")
        except AuthError:
            raise
        except TargetError as exc:
            return ItemResult(address, False, error=str(exc))
        if response.status_code == 200:
            return ItemResult(address, True, id=self._node_id(response, request))
        code, message = self._error_body(http, response)
        return ItemResult(address, False, error=f"DataArts Studio {response.status_code} {code}: {message}")

    @staticmethod
    def _node_id(response: Any, request: Mapping[str, Any]) -> str:
        """The Node's qualified_name from the ObjectIdInfo array, else job_id/node_name."""
        try:
            items = response.json()
        except ValueError:
            items = None
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and item.get("type_name") == "Node" and item.get("qualified_name"):
                return str(item["qualified_name"])
        return f"{request['job_id']}/{request['node_name']}"

    @staticmethod
    def _error_body(http: HttpClient, response: Any) -> tuple[str, str]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and ("error_code" in body or "error_msg" in body):
            return http.redact(str(body.get("error_code", ""))), http.redact(str(body.get("error_msg", "")))
        return "", http.redact(response.text)[:300]

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
