"""A Secoda API emulator: the resource catalog and manual lineage, as the API reference documents them.

Imitates: ``Authorization: Bearer`` auth with DRF-style 401 bodies; ``GET /api/v1/resource/catalog``
with a ``filter`` JSON (exact / contains / in, combined with and / or / not; ``exact`` and
``in`` compare exactly, ``contains`` ignores case) and the documented
envelope (``links.next`` null on the last page, ``links.previous`` the string "None" on the first,
``meta``, ``count``, ``total_pages``; at most 10,000 results across all pages); manual lineage
create (``POST /api/v1/lineage/`` and the older ``/api/v1/lineage/manual/``), list (filters
``from_entity``, ``from_entity_id``, ``from_entity__in``, ``to_entity``..., paged), get and delete
(204). Page size is not documented: 50 here, matching the reference's example (315 rows, 7 pages).
Whether Secoda refuses a duplicate edge is not documented either, so duplicates are stored and
counted: tests prove the client never makes one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Hashable
from typing import Any
from urllib.parse import urlencode

from tests.emulators.base import EmulatorApp, Faults, Request, Response

PAGE_SIZE = 50
MAX_RESULTS = 10_000
WORKSPACE = "7d4b1f0e-0000-4000-8000-000000000001"
STAMP = "2025-11-26T00:17:16.067Z"


class FilterError(ValueError):
    pass


Predicate = Callable[[dict[str, Any]], bool]


def compile_filter(flt: Any) -> Predicate:
    """Turn a catalog filter into a predicate over one resource (once per request, not per resource)."""
    if not isinstance(flt, dict) or "operator" not in flt:
        raise FilterError("filter must be an object with an operator")
    op = flt["operator"]
    if op in ("and", "or", "not"):
        operands = flt.get("operands")
        if not isinstance(operands, list) or not operands:
            raise FilterError(f"operator {op!r} needs a non-empty operands list")
        parts = [compile_filter(o) for o in operands]
        if op == "and":
            return lambda r: all(p(r) for p in parts)
        if op == "or":
            return lambda r: any(p(r) for p in parts)
        return lambda r: not parts[0](r)
    name, wanted = str(flt.get("field", "")), flt.get("value")
    if op == "exact":
        return lambda r: r.get(name) == wanted
    if op == "contains":
        needle = str(wanted).lower()
        return lambda r: needle in str(r.get(name) or "").lower()
    if op == "in":
        if not isinstance(wanted, list):
            raise FilterError("operator 'in' needs a list value")
        allowed = {v for v in wanted if isinstance(v, Hashable)}
        return lambda r: isinstance(v := r.get(name), Hashable) and v in allowed
    raise FilterError(f"unknown operator {op!r}")


class SecodaEmulator(EmulatorApp):
    def __init__(self, token: str, faults: Faults | None = None, page_size: int = PAGE_SIZE) -> None:
        super().__init__(faults)
        self.token = token
        self.page_size = page_size
        self.resources: dict[str, dict[str, Any]] = {}
        self.lineage: dict[str, dict[str, Any]] = {}
        self.duplicates = 0
        self.filters: list[Any] = []  # every catalog filter asked, decoded
        self._seen: set[tuple[str, str]] = set()
        self.route("GET", r"/healthcheck/?", lambda req: Response(200, {"status": "OK"}))
        self.route("GET", r"/api/v1/resource/catalog/?", self.catalog)
        self.route("POST", r"/api/v1/lineage(/manual)?/?", self.create)
        self.route("GET", r"/api/v1/lineage/manual/?", self.list_lineage)
        self.route("GET", r"/api/v1/lineage/manual/(?P<lid>[^/]+)/?", self.get_lineage)
        self.route("DELETE", r"/api/v1/lineage/manual/(?P<lid>[^/]+)/?", self.delete_lineage)

    # -- seeding and inspection -------------------------------------------------------------------

    def add_table(self, title_full: str, integration_type: str = "snowflake", native_type: str = "table") -> str:
        """Add a table (``db.schema.name``) to the catalog; return its UUID."""
        rid = str(uuid.uuid4())
        self.resources[rid] = {
            "id": rid, "title": title_full.rsplit(".", 1)[-1], "title_full": title_full, "entity_type": "table",
            "native_type": native_type, "integration_id": f"int-{integration_type}",
            "integration_type": integration_type, "parent_id": None, "created_at": STAMP, "updated_at": STAMP,
        }
        return rid

    def add_column(self, table_id: str, name: str) -> str:
        rid = str(uuid.uuid4())
        table = self.resources[table_id]
        self.resources[rid] = {
            "id": rid, "title": name, "title_full": f"{table['title_full']}.{name}", "entity_type": "column",
            "native_type": "column", "integration_id": table["integration_id"],
            "integration_type": table["integration_type"], "parent_id": table_id,
            "created_at": STAMP, "updated_at": STAMP,
        }
        return rid

    def add_edge(self, from_id: str, to_id: str) -> str:
        """Lineage someone else made (by hand in the UI, say)."""
        return self._store(from_id, to_id, "DOWNSTREAM")

    def edges(self) -> list[tuple[str, str]]:
        """Every stored (from, to) pair, duplicates included, sorted."""
        return sorted((r["from_entity_id"], r["to_entity_id"]) for r in self.lineage.values())

    # -- HTTP -------------------------------------------------------------------------------------

    def authorized(self, request: Request) -> Response | None:
        header = request.header("authorization")
        if not header:
            return Response(401, {"detail": "Authentication credentials were not provided."})
        if header != f"Bearer {self.token}":
            return Response(401, {"detail": "Invalid token."})
        return None

    def _page(self, request: Request, items: list[dict[str, Any]]) -> Response:
        try:
            page = int(request.arg("page", "1") or "1")
        except ValueError:
            return Response(404, {"detail": "Invalid page."})
        total_pages = max(1, -(-len(items) // self.page_size))
        if page < 1 or page > total_pages:
            return Response(404, {"detail": "Invalid page."})
        start = (page - 1) * self.page_size
        host = request.header("host") or "api.secoda.co"

        def link(n: int) -> str:
            query = {k: v[0] for k, v in request.query.items()}
            return f"http://{host}{request.path}?{urlencode({**query, 'page': n})}"

        return Response(200, {
            "links": {"next": link(page + 1) if page < total_pages else None,
                      "previous": link(page - 1) if page > 1 else "None"},
            "meta": {"page": page, "previous_page": page - 1 if page > 1 else "None",
                     "next_page": page + 1 if page < total_pages else None, "count": len(items),
                     "total_pages": total_pages},
            "count": len(items), "total_pages": total_pages,
            "results": items[start:start + self.page_size],
        })

    def catalog(self, request: Request) -> Response:
        raw = request.arg("filter")
        try:
            flt = json.loads(raw) if raw else None
            self.filters.append(flt)
            keep = compile_filter(flt) if raw else (lambda r: True)
            found = [r for r in self.resources.values() if keep(r)]
        except (ValueError, FilterError) as exc:
            return Response(400, {"detail": f"Invalid filter: {exc}"})
        return self._page(request, found[:MAX_RESULTS])

    def _store(self, from_id: str, to_id: str, direction: str) -> str:
        pair = (from_id, to_id)
        # pairs never seen cannot be duplicates: keeps the exact scan off the path of large runs
        if pair in self._seen and any((r["from_entity_id"], r["to_entity_id"]) == pair for r in self.lineage.values()):
            self.duplicates += 1
        self._seen.add(pair)
        lid = str(uuid.uuid4())
        self.lineage[lid] = {"id": lid, "created_at": STAMP, "updated_at": STAMP, "from_entity_id": from_id,
                             "to_entity_id": to_id, "direction": direction, "workspace_id": WORKSPACE,
                             "is_manual": True}
        return lid

    def create(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            return Response(400, {"detail": "JSON parse error"})
        if not isinstance(body, dict):
            return Response(400, {"non_field_errors": ["Invalid data. Expected a dictionary."]})
        errors: dict[str, list[str]] = {}
        for field in ("from_entity", "to_entity"):
            value = body.get(field)
            if not value:
                errors[field] = ["This field is required."]
            elif value not in self.resources:
                errors[field] = [f'Invalid pk "{value}" - object does not exist.']
        direction = str(body.get("direction", "DOWNSTREAM"))
        if direction not in ("UPSTREAM", "DOWNSTREAM"):
            errors["direction"] = [f'"{direction}" is not a valid choice.']
        if errors:
            return Response(400, errors)
        lid = self._store(body["from_entity"], body["to_entity"], direction)
        return Response(201, self.lineage[lid])

    def list_lineage(self, request: Request) -> Response:
        rows = list(self.lineage.values())
        for side in ("from", "to"):
            for param in (f"{side}_entity", f"{side}_entity_id"):
                if request.arg(param):
                    rows = [r for r in rows if r[f"{side}_entity_id"] == request.arg(param)]
            if request.arg(f"{side}_entity__in"):
                wanted = set((request.arg(f"{side}_entity__in") or "").split(","))
                rows = [r for r in rows if r[f"{side}_entity_id"] in wanted]
        return self._page(request, rows)

    def get_lineage(self, request: Request, lid: str) -> Response:
        row = self.lineage.get(lid)
        return Response(200, row) if row else Response(404, {"detail": "Not found."})

    def delete_lineage(self, request: Request, lid: str) -> Response:
        if self.lineage.pop(lid, None) is None:
            return Response(404, {"detail": "Not found."})
        return Response(204)
