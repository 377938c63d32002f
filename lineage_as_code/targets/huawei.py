"""Huawei Cloud DataArts Studio: one ``POST /v1/{project_id}/lineage/lineage-info`` per job node.

DataArts links tables by name (catalog, database, schema, table) and makes manual lineage nodes
for them itself, so this target writes no assets: each process becomes a job node identified by
``job_id`` + ``node_name``. A process beyond the documented limits (1..100 tables a side, at most
100 column lineages, 1..100 columns a side) is split deterministically into several nodes,
``process.<id>`` then ``process.<id>#2``..., so a re-apply sends exactly the same requests.

What DataArts lacks shapes the capabilities: no public delete (a removed process is listed as
skipped, to be removed by hand), no reliable read-back of manual nodes (no refresh, so no drift
detection), no asset lookup or creation (PARTIAL only). Re-posting a node is taken to replace
its lineage (the docs do not say; UNCONFIRMED), which is what makes an update a re-post and a
retried POST safe.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config import InputHandling, TargetConfig
from ..errors import AuthError, ConfigError, TargetError
from ..model import Asset, Lineage, Process
from ..plan.model import Action, Change
from .base import Capabilities, Current, ItemResult, Resource
from .http import HttpClient, client_for, require_settings, secret_from_env

LIMIT = 100  # every list in TableLineageV2 / ColumnLineageV2 holds at most 100 items
DEFAULT_TOKEN_ENV = "HUAWEI_AUTH_TOKEN"
_BODY_SETTINGS = ("cluster_id", "data_source_type", "connection_id", "connection_name")
_ERROR_STATUSES = (400, 401, 403, 404)


def _chunks(items: Sequence[Any], size: int = LIMIT) -> list[list[Any]]:
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


@dataclass
class _ColumnLineage:
    """One ColumnLineageV2 and the assets it names, placed in the (input chunk, output chunk) cell
    whose tables it reads and writes."""

    sources: list[tuple[Asset, str]]
    target: tuple[Asset, str]


@dataclass
class _Node:
    """One request: the tables it carries, its column lineages, and whether it holds table edges
    (a continuation node only carries column lineages that overflowed the 100 of its cell)."""

    inputs: list[Asset]
    outputs: list[Asset]
    columns: list[_ColumnLineage] = field(default_factory=list)
    draws_edges: bool = True


def _cell_columns(process: Process, in_chunk: Mapping[str, int], out_chunk: Mapping[str, int],
                  assets: Mapping[str, Asset]) -> dict[tuple[int, int], list[_ColumnLineage]]:
    """Split every column mapping into ColumnLineageV2 pieces that each read tables of one input
    chunk (at most 100 columns), keyed by the cell they belong to. A mapping whose columns span
    input chunks becomes one piece per chunk, all writing the same output column."""
    cells: dict[tuple[int, int], list[_ColumnLineage]] = {}
    for mapping in process.columns:
        target = (assets[mapping.target.asset], mapping.target.column)
        j = out_chunk.get(mapping.target.asset, 0)
        by_chunk: dict[int, list[tuple[Asset, str]]] = {}
        for ref in mapping.sources:
            by_chunk.setdefault(in_chunk.get(ref.asset, 0), []).append((assets[ref.asset], ref.column))
        for i, sources in sorted(by_chunk.items()):
            for piece in _chunks(sources):
                cells.setdefault((i, j), []).append(_ColumnLineage(piece, target))
    return cells


def _unique(assets: Sequence[Asset]) -> list[Asset]:
    return list({a.key: a for a in assets}.values())


def split_process(process: Process, assets: Mapping[str, Asset]) -> list[_Node]:
    """Return the nodes ``process`` needs: one per (input chunk, output chunk) cell, plus one per
    further 100 column lineages of a cell. Deterministic: same process, same nodes, same order."""
    ins, outs = _chunks(process.inputs), _chunks(process.outputs)
    if not ins or not outs:  # manifests refuse this; DataArts would answer 400, surfaced as is
        return [_Node(list(process.inputs), list(process.outputs))]
    in_chunk = {a.key: i for i, chunk in enumerate(ins) for a in chunk}
    out_chunk = {a.key: j for j, chunk in enumerate(outs) for a in chunk}
    cells = _cell_columns(process, in_chunk, out_chunk, assets)
    nodes: list[_Node] = []
    overflow: list[_Node] = []
    for i, in_tables in enumerate(ins):
        for j, out_tables in enumerate(outs):
            pieces = _chunks(cells.get((i, j), [])) or [[]]
            nodes.append(_Node(in_tables, out_tables, pieces[0]))
            for rest in pieces[1:]:
                overflow.append(_Node(_unique([a for c in rest for a, _ in c.sources]),
                                      _unique([c.target[0] for c in rest]), rest, draws_edges=False))
    return nodes + overflow


class HuaweiTarget:
    """DataArts Studio lineage through ``lineage-info``; settings are described in the README."""

    def __init__(self, config: TargetConfig) -> None:
        self.name = config.name
        self.config = config
        s = config.settings
        require_settings(config, ("project_id", "workspace"),
                         "DataArts Studio's project ID and workspace ID, both shown in the console")
        if not s.get("base_url") and not s.get("region"):
            raise ConfigError(f"target {self.name!r}: set region (e.g. cn-north-4) or base_url, the DataArts "
                              "Studio endpoint")
        self.project_id = str(s["project_id"])
        self.workspace = str(s["workspace"])
        self.catalogs = {str(k): str(v) for k, v in dict(s.get("catalogs") or {}).items()}
        self.job_id = str(s.get("job_id", ""))
        self.job_id_prefix = str(s.get("job_id_prefix", ""))
        self.extra = {k: str(s[k]) for k in _BODY_SETTINGS if s.get(k)}
        self.max_parallel = int(s.get("max_parallel", 4))
        self.token_env = str(s.get("token_env", DEFAULT_TOKEN_ENV))
        self._http: HttpClient | None = None
        self._lock = threading.Lock()

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            max_batch_size=LIMIT, max_parallel=self.max_parallel, supports_delete=False, supports_refresh=False,
            supports_column_lineage=True, modes=frozenset({InputHandling.PARTIAL}), kind_order=("process",),
        )

    # -- translate (pure) ------------------------------------------------------------------------

    def _table(self, asset: Asset) -> dict[str, str]:
        catalog = self.catalogs.get(asset.platform, asset.platform)
        return {"catalog": catalog, "database": asset.database, "schema": asset.schema, "table": asset.name}

    @staticmethod
    def _column(asset: Asset, column: str) -> dict[str, str]:
        return {"database": asset.database, "schema": asset.schema, "table": asset.name, "column": column}

    def _job_id(self, process: Process) -> str:
        if self.job_id:
            return self.job_id
        return process.id_for(self.name) or process.id_for("huawei") or f"{self.job_id_prefix}{process.id}"

    def _request(self, process: Process, node: _Node, node_name: str) -> dict[str, Any]:
        lineage: dict[str, Any] = {
            "input_tables": [self._table(a) for a in node.inputs],
            "output_tables": [self._table(a) for a in node.outputs],
        }
        if node.columns:
            lineage["column_lineages"] = [
                {"input_columns": [self._column(a, c) for a, c in cl.sources],
                 "output_columns": [self._column(*cl.target)]} for cl in node.columns]
        return {**self.extra, "workspace_id": self.workspace, "job_id": self._job_id(process),
                "node_name": node_name, "table_lineage": lineage}

    def translate(self, lineage: Lineage) -> list[Resource]:
        """One ``process`` resource per node; the body holds the exact request and, for plans, the
        asset keys it links."""
        resources = []
        for process in lineage.processes:
            for n, node in enumerate(split_process(process, lineage.assets), start=1):
                suffix = "" if n == 1 else f"#{n}"
                body: dict[str, Any] = {"inputs": [a.key for a in node.inputs],
                                        "outputs": [a.key for a in node.outputs],
                                        "request": self._request(process, node, process.id + suffix)}
                edges = tuple((i.key, o.key) for i in node.inputs for o in node.outputs) if node.draws_edges else ()
                resources.append(Resource(f"process.{process.id}{suffix}", "process", body, str(process.source),
                                          edges=edges))
        return resources

    def read(self, desired: Sequence[Resource], known: Mapping[str, Current], refresh: bool) -> dict[str, Current]:
        """Nothing to read: DataArts has no asset lookup this target could use and no reliable
        read-back of manual nodes, so the plan works from state alone (no credentials needed)."""
        return {}

    # -- apply -----------------------------------------------------------------------------------

    def _client(self) -> HttpClient:
        with self._lock:
            if self._http is None:
                token = secret_from_env(self.config, DEFAULT_TOKEN_ENV)
                region = self.config.settings.get("region", "")
                self._http = client_for(self.config, f"https://dataarts.{region}.myhuaweicloud.com",
                                        {"X-Auth-Token": token}, max_parallel=self.max_parallel,
                                        headers={"workspace": self.workspace})
            return self._http

    def apply(self, batch: Sequence[Change]) -> list[ItemResult]:
        """POST each node (at most ``max_parallel`` at once). Raises AuthError on a 401, since
        every further request would be refused the same way."""
        http = self._client()
        return http.map(lambda change: self._apply_one(http, change), batch)

    def _apply_one(self, http: HttpClient, change: Change) -> ItemResult:
        address = change.address
        if change.action is Action.DELETE:
            return ItemResult(address, False, error="DataArts Studio offers no lineage delete: remove the node by hand")
        request = (change.after or {})["request"]
        path = f"/v1/{self.project_id}/lineage/lineage-info"
        try:
            # Idempotent: the node is keyed by job_id + node_name and a re-post replaces its
            # lineage, so a retry after a 5xx or a dropped connection cannot duplicate it.
            response = http.request("POST", path, json=request, ok=(200, *_ERROR_STATUSES), idempotent=True)
        except TargetError as exc:
            return ItemResult(address, False, error=str(exc))
        if response.status_code == 200:
            return ItemResult(address, True, id=self._node_id(response, request))
        code, message = self._error_body(http, response)
        if response.status_code == 401:
            raise AuthError(f"target {self.name!r}: DataArts Studio refused the token in {self.token_env} "
                              f"(401 {code}: {message}). Put a valid IAM token (X-Subject-Token, valid 24 hours) "
                              f"in {self.token_env}.")
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
