"""An emulator of DataArts Studio's "Creating a Lineage" API (``POST /v1/{project_id}/lineage/lineage-info``).

It checks what the vendor documents: the ``X-Auth-Token`` and ``workspace`` headers, the project
in the path, and the list sizes of TableLineageV2 / ColumnLineageV2 (1..100 tables a side, at most
100 column lineages, 1..100 columns a side), answering errors as ``{error_code, error_msg}`` and
success as the documented bare JSON array of ObjectIdInfo.

Choices where the docs are silent (UNCONFIRMED): a node is keyed by ``job_id`` + ``node_name``
and a re-post replaces its lineage; both are required here so a node has an identity; the
error codes are made up in the vendor's ``SERVICE.NNNN`` style. There is no delete and no read
endpoint, as in the public API; tests inspect ``nodes`` directly.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from typing import Any

from .base import EmulatorApp, Faults, Request, Response

LIMIT = 100
_TOP_KEYS = {"cluster_id", "data_source_type", "connection_id", "connection_name", "workspace_id", "job_id",
             "node_name", "table_lineage"}
_TABLE_KEYS = {"catalog", "database", "schema", "table"}
_COLUMN_KEYS = {"database", "schema", "table", "column"}

Table = tuple[str, str, str, str]
Column = tuple[str, str, str, str]


def error(status: int, code: str, message: str) -> Response:
    return Response(status, {"error_code": code, "error_msg": message})


def _check_items(items: Any, where: str, keys: set[str], minimum: int) -> str:
    if not isinstance(items, list):
        return f"{where} must be an array"
    if not minimum <= len(items) <= LIMIT:
        return f"{where} size must be between {minimum} and {LIMIT}, got {len(items)}"
    for n, item in enumerate(items):
        if not isinstance(item, dict) or set(item) - keys or not all(isinstance(v, str) for v in item.values()):
            return f"{where}[{n}] must be an object of strings with fields {', '.join(sorted(keys))}"
    return ""


def check_lineage_info(body: Any) -> str:
    """Return the first problem with a lineage-info request body, or '' when it is valid."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    unknown = sorted(set(body) - _TOP_KEYS)
    if unknown:
        return f"unknown field(s): {', '.join(unknown)}"
    for key in ("job_id", "node_name"):
        if not isinstance(body.get(key), str) or not body[key]:
            return f"{key} is required"
    lineage = body.get("table_lineage")
    if not isinstance(lineage, dict):
        return "table_lineage is required"
    problem = (_check_items(lineage.get("input_tables"), "input_tables", _TABLE_KEYS, 1)
               or _check_items(lineage.get("output_tables"), "output_tables", _TABLE_KEYS, 1))
    if problem:
        return problem
    columns = lineage.get("column_lineages", [])
    if not isinstance(columns, list):
        return "column_lineages must be an array"
    if len(columns) > LIMIT:
        return f"column_lineages size must be between 0 and {LIMIT}, got {len(columns)}"
    for n, cl in enumerate(columns):
        if not isinstance(cl, dict) or set(cl) - {"input_columns", "output_columns"}:
            return f"column_lineages[{n}] must be an object with input_columns and output_columns"
        problem = (_check_items(cl.get("input_columns"), f"column_lineages[{n}].input_columns", _COLUMN_KEYS, 1)
                   or _check_items(cl.get("output_columns"), f"column_lineages[{n}].output_columns", _COLUMN_KEYS, 1))
        if problem:
            return problem
    return ""


class DataArtsEmulator(EmulatorApp):
    """DataArts Studio lineage in memory: ``nodes[(job_id, node_name)]`` holds the last body posted.

    ``posts`` counts processed writes per node; ``duplicate_writes`` counts those that re-sent
    exactly what the node already held. ``reject`` maps a node_name to ``(status, code, message)``
    to play a vendor-side refusal. ``late_error_rate`` is the share of valid POSTs that are applied
    and then answered with a 500 (a late fault: the write landed, the client cannot know);
    ``faults.drop_after_rate`` plays the other late fault, a reply lost after the write.
    """

    def __init__(self, token: str, project_id: str = "proj-1", workspace: str = "ws-1",
                 faults: Faults | None = None, late_error_rate: float = 0.0) -> None:
        super().__init__(faults)
        self.late_error_rate = late_error_rate
        self._late = random.Random(self.faults.seed + 1)
        self.token, self.project_id, self.workspace = token, project_id, workspace
        self.nodes: dict[tuple[str, str], dict[str, Any]] = {}
        self.posts: dict[tuple[str, str], int] = {}
        self.duplicate_writes = 0
        self.reject: dict[str, tuple[int, str, str]] = {}
        self.route("POST", r"/v1/(?P<project_id>[^/]+)/lineage/lineage-info", self.create_lineage)

    def authorized(self, request: Request) -> Response | None:
        if request.header("x-auth-token") != self.token:
            return error(401, "APIG.1002", "Incorrect token or token resolution failed")
        workspace = request.header("workspace")
        if not workspace:
            return error(400, "DLG.0001", "The workspace header is required")
        if workspace != self.workspace:
            return error(403, "DLG.0403", f"No permission on workspace {workspace}")
        return None

    def create_lineage(self, request: Request, project_id: str) -> Response:
        if project_id != self.project_id:
            return error(404, "DLG.0404", f"Project {project_id} not found")
        try:
            body = request.json()
        except ValueError:
            return error(400, "DLG.0400", "The request body is not valid JSON")
        problem = check_lineage_info(body)
        if not problem and body.get("workspace_id", self.workspace) != self.workspace:
            problem = "workspace_id does not match the workspace header"
        if problem:
            return error(400, "DLG.0400", problem)
        node = (body["job_id"], body["node_name"])
        if node[1] in self.reject:
            return error(*self.reject[node[1]])
        if self.nodes.get(node) == body:
            self.duplicate_writes += 1
        self.nodes[node] = body
        self.posts[node] = self.posts.get(node, 0) + 1
        if self.late_error_rate and self._late.random() < self.late_error_rate:
            self._count_fault("late-500")
            return error(500, "DLG.0500", "Internal server error")
        return Response(200, [self._object_id(*node)])

    def _object_id(self, job_id: str, node_name: str) -> dict[str, str]:
        job = uuid.uuid5(uuid.NAMESPACE_URL, job_id)
        digest = hashlib.md5(node_name.encode()).hexdigest()
        return {"name": node_name, "type_name": "Node",
                "qualified_name": f"manual.{job}@node.{digest}-workspace-{self.workspace}"}

    # -- views for tests ----------------------------------------------------------------------

    def table_edges(self) -> dict[str, set[tuple[Table, Table]]]:
        """job_id -> every (input table, output table) pair its nodes link."""
        out: dict[str, set[tuple[Table, Table]]] = {}
        for (job, _), body in self.nodes.items():
            lineage = body["table_lineage"]
            pairs = out.setdefault(job, set())
            for i in lineage["input_tables"]:
                for o in lineage["output_tables"]:
                    pairs.add((_table(i), _table(o)))
        return out

    def column_edges(self) -> dict[str, list[tuple[Column, Column]]]:
        """job_id -> every (input column, output column) pair its nodes link, repeats kept."""
        out: dict[str, list[tuple[Column, Column]]] = {}
        for (job, _), body in sorted(self.nodes.items()):
            pairs = out.setdefault(job, [])
            for cl in body["table_lineage"].get("column_lineages", []):
                pairs.extend((_column(i), _column(o)) for i in cl["input_columns"] for o in cl["output_columns"])
        return out


def _table(t: dict[str, str]) -> Table:
    return (t.get("catalog", ""), t.get("database", ""), t.get("schema", ""), t.get("table", ""))


def _column(c: dict[str, str]) -> Column:
    return (c.get("database", ""), c.get("schema", ""), c.get("table", ""), c.get("column", ""))
