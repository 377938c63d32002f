"""Secoda: manual lineage edges between resources Secoda already holds, addressed by entity UUID.

Secoda has no process object and this target creates no assets. Every distinct (source, target)
table pair across the manifests becomes one lineage edge (``POST /api/v1/lineage/``, direction
DOWNSTREAM), and every column mapping whose columns resolve becomes one column edge. Assets resolve
to entity UUIDs through the resource catalog (``GET /api/v1/resource/catalog`` with a ``filter``
JSON, paged), once per run; an asset's ``ids.secoda`` override wins. Titles are asked with ``in``
when matching is case-sensitive, else one case-insensitive ``contains`` per title, compared
case-folded. Only UPDATE input handling is
honoured: a missing asset skips what depends on it (or fails the plan with ``fail_on_errors``).

POST has no idempotency key, so before creating an edge the target lists the source entity's
lineage (``GET /api/v1/lineage/manual/``) and adopts a row that already joins the pair, and an
ambiguous failure is reconciled the same way: neither a re-run nor a retry makes a duplicate.
Writes are spaced by ``rate_limit_per_minute`` (30 by default, Secoda's documented write limit).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import httpx

from ...config import InputHandling, TargetConfig
from ...errors import AuthError, TargetError, TerminalTargetError
from ...model import ColumnRef, Lineage
from ...plan.contract import AmbiguousFailure
from ...plan.model import Action, Change
from .. import http
from ..base import ASSET, Capabilities, Current, ItemResult, Resource
from ..http import HttpClient, client_for, secret_from_env
from .settings import DEFAULT_TOKEN_ENV, SecodaSettings
from .translate import COLUMN_EDGE, EDGE, Pair, build_resources, chunked, column_edge_address, edge_address, row_pair

DEFAULT_BASE_URL = "https://api.secoda.co"
CATALOG = "/api/v1/resource/catalog"
LINEAGE = "/api/v1/lineage/"
MANUAL = "/api/v1/lineage/manual/"
NO_MARKER_NOTE = ("secoda: no ownership marker: a lineage edge carries only its id, entities, direction and "
                  "timestamps (Secoda API reference), so a lost state is recovered by adopting the edges that exist, "
                  "not rebuilt with 'lac state rebuild'")


class SecodaTarget:
    """Manual lineage in a Secoda workspace. Settings: ``base_url``, ``token_env``,
    ``rate_limit_per_minute``, ``max_parallel``, ``lookup_chunk_size``, ``column_lineage``."""

    def __init__(self, config: TargetConfig) -> None:
        self.name = config.name
        self.config = config
        self.settings = SecodaSettings.parse(config)
        self.token_env = self.settings.token_env
        self.chunk = self.settings.lookup_chunk_size
        self.columns = self.settings.column_lineage
        self.max_parallel = self.settings.max_parallel
        self.case_sensitive = config.policy.case_sensitive_match
        self.rate_limit = self.settings.rate_limit_per_minute
        self._http: HttpClient | None = None
        self._lock = threading.RLock()
        self._pair_locks: dict[Pair, threading.Lock] = {}
        self._ids: dict[tuple[str, str], str | None] = {}    # (asset key, column) -> entity UUID
        self._column_parents: set[str] = set()                 # tables whose columns were listed
        self._columns: dict[tuple[str, str], str] = {}         # (table UUID, folded title) -> UUID
        self._listed: set[str] = set()                         # entities whose lineage was listed
        self._pairs: dict[Pair, str] = {}                      # flow pair -> lineage row id
        self._rows: dict[str, Pair] = {}                       # lineage row id -> flow pair

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            max_batch_size=100, max_parallel=self.max_parallel, supports_delete=True,
            supports_refresh=True, supports_column_lineage=self.columns,
            modes=frozenset({InputHandling.UPDATE}), kind_order=(ASSET, EDGE, COLUMN_EDGE), notes=(NO_MARKER_NOTE,),
            ambiguous_failure=AmbiguousFailure.RECONCILE,  # POST has no idempotency key: list before resending
            requests_per_batch=0, requests_per_change=1, rate_limit_per_minute=self.rate_limit,
            adopt_by_hash=True,  # an edge is one write: found as declared, it is whole
        )

    # -- HTTP -------------------------------------------------------------------------------------

    def _client(self) -> HttpClient:
        if self._http is None:
            token = secret_from_env(self.config, DEFAULT_TOKEN_ENV)
            hint = (f"set {self.token_env} (token_env) to a valid key from Secoda's Settings > API for this "
                    "workspace; a 403 needs the key of a user with editor access to lineage")
            self._http = client_for(self.config, DEFAULT_BASE_URL, {"Authorization": f"Bearer {token}"},
                                    capabilities=self.capabilities, auth_hint=hint)
        return self._http

    def _call(self, method: str, path: str, ok: Sequence[int] = (200, 201), **kwargs: Any) -> httpx.Response:
        """One request; a 401/403 stops the run in the HTTP client, naming the variable that holds the key."""
        return self._client().request(method, path, ok=ok, **kwargs)

    def _body(self, response: httpx.Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise TerminalTargetError(f"target {self.name!r}: {what}: Secoda's response is not JSON") from exc

    def _pages(self, path: str, params: Mapping[str, str]) -> Iterator[dict[str, Any]]:
        """Every result of a paged list, asking for ``page=N`` while ``links.next`` is set (the
        documented next link may lack the ``/api/v1`` prefix, so it is a flag, not a URL to follow)."""
        page = 1
        guard = http.PageGuard(f"target {self.name!r}: GET {path}")
        while True:
            doc = http.expect_shape(self._body(self._call("GET", path, params={**params, "page": str(page)}),
                                               f"GET {path}"), dict, guard.what)
            results = http.expect_shape(doc.get("results") or [], list, guard.what)
            yield from results
            links = doc.get("links") if isinstance(doc.get("links"), dict) else {}
            nxt = links.get("next")
            meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
            total = doc.get("total_pages") or meta.get("total_pages")
            if not nxt or nxt == "None" or not results or (isinstance(total, int) and page >= total):
                return
            # Pages are numbered, so a page that repeats the last one's results is the sign of a loop.
            guard.next(json.dumps([r.get("id") if isinstance(r, dict) else r for r in results], default=str))
            page += 1

    # -- entity resolution ------------------------------------------------------------------------

    def _fold(self, text: str) -> str:
        return text if self.case_sensitive else text.casefold()

    def _catalog(self, flt: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        return self._pages(CATALOG, {"filter": json.dumps(flt, separators=(",", ":"))})

    def uuid_of(self, end: Mapping[str, Any]) -> str | None:
        """The resolved entity UUID of an edge end (None when Secoda lacks it or it was not resolved)."""
        return self._ids.get((end["key"], end.get("column", "")))

    def resolve(self, ends: Iterable[Mapping[str, Any]]) -> None:
        """Resolve table ends (then column ends, whose tables must resolve first), once per run."""
        ends = list(ends)
        tables = {e["key"]: e for e in ends}
        self._resolve_tables([e for e in tables.values() if (e["key"], "") not in self._ids])
        columns = [e for e in ends if e.get("column") and (e["key"], e["column"]) not in self._ids]
        if columns:
            self._resolve_columns(columns)

    def _resolve_tables(self, ends: list[Mapping[str, Any]]) -> None:
        lookup = []
        for end in ends:
            if end["id"]:
                self._ids[(end["key"], "")] = end["id"]
            else:
                lookup.append(end)
        titles = sorted({e["title"] for e in lookup} if self.case_sensitive else {e["title"].casefold() for e in lookup})
        unique: dict[str, dict[str, Any]] = {}  # one resource may match several `contains` queries
        for results in self._client().map(self._tables_titled, self._title_queries(titles)):
            unique.update((str(res.get("id")), res) for res in results
                          if res.get("entity_type") != "column" and res.get("title_full"))
        found: dict[str, list[dict[str, Any]]] = {}
        for res in unique.values():
            found.setdefault(self._fold(str(res["title_full"])), []).append(res)
        for end in lookup:
            self._ids[(end["key"], "")] = self._choose(end, found.get(self._fold(end["path"]), []))

    def _title_queries(self, titles: list[str]) -> list[Any]:
        """Catalog filters for ``titles``: ``in`` chunks when matching is case-sensitive (the filter's
        ``in`` and ``exact`` compare exactly), else one case-insensitive ``contains`` per title, whose
        results are compared case-folded (``contains`` also matches longer titles)."""
        if self.case_sensitive:
            return [{"operator": "in", "field": "title", "value": chunk} for chunk in chunked(titles, self.chunk)]
        return [{"operator": "contains", "field": "title", "value": title} for title in titles]

    def _tables_titled(self, flt: Any) -> list[dict[str, Any]]:
        return list(self._catalog(flt))

    def _choose(self, end: Mapping[str, Any], candidates: list[dict[str, Any]]) -> str | None:
        """The one candidate for ``end``; an integration of the end's platform breaks a tie."""
        if len(candidates) > 1:
            platform = end["platform"].casefold()
            same = [c for c in candidates if str(c.get("integration_type") or "").casefold() == platform]
            candidates = same or candidates
        if len(candidates) > 1:
            ids = ", ".join(sorted(str(c.get("id")) for c in candidates))
            raise TerminalTargetError(
                f"target {self.name!r}: asset {end['key']} matches {len(candidates)} Secoda resources ({ids}); "
                "give the asset the one to use with ids: {secoda: <uuid>} in the manifest")
        return str(candidates[0]["id"]) if candidates else None

    def _resolve_columns(self, ends: list[Mapping[str, Any]]) -> None:
        parents = sorted({p for e in ends if (p := self._ids.get((e["key"], ""))) and p not in self._column_parents})
        def columns_of(chunk: list[str]) -> list[dict[str, Any]]:
            return list(self._catalog({"operator": "and", "operands": [
                {"operator": "in", "field": "parent_id", "value": chunk},
                {"operator": "exact", "field": "entity_type", "value": "column"}]}))

        chunks = chunked(parents, self.chunk)
        for chunk, results in zip(chunks, self._client().map(columns_of, chunks), strict=True):
            for res in results:
                key = (str(res.get("parent_id") or res.get("parent") or ""), self._fold(str(res.get("title", ""))))
                self._columns.setdefault(key, str(res["id"]))
            self._column_parents.update(chunk)
        for end in ends:
            parent = self._ids.get((end["key"], ""))
            self._ids[(end["key"], end["column"])] = (
                self._columns.get((parent, self._fold(end["column"]))) if parent else None)

    # -- existing lineage -------------------------------------------------------------------------

    def _remember(self, row: Mapping[str, Any]) -> Pair | None:
        pair = row_pair(row)
        if pair is not None and row.get("id"):
            with self._lock:
                self._rows[str(row["id"])] = pair
                self._pairs.setdefault(pair, str(row["id"]))
        return pair

    def list_lineage(self, sources: Iterable[str]) -> None:
        """Load the lineage rows of every entity in ``sources`` not listed yet this run."""
        todo = sorted(set(sources) - self._listed)
        chunks = chunked(todo, self.chunk)
        listed = self._client().map(lambda chunk: list(self._pages(MANUAL, {"from_entity__in": ",".join(chunk)})),
                                    chunks)
        for chunk, rows in zip(chunks, listed, strict=True):
            for row in rows:
                self._remember(row)
            self._listed.update(chunk)

    def _find(self, pair: Pair) -> httpx.Response | None:
        """Reconcile an ambiguous POST: the row joining ``pair`` when Secoda has one, else None."""
        for row in self._pages(MANUAL, {"from_entity": pair[0]}):
            if self._remember(row) == pair:
                return httpx.Response(200, json=row)
        return None

    # -- read -------------------------------------------------------------------------------------

    def translate(self, lineage: Lineage) -> list[Resource]:
        return build_resources(lineage, self.name, self.columns)

    def _pair_of(self, body: Mapping[str, Any]) -> Pair | None:
        src, dst = self.uuid_of(body["from"]), self.uuid_of(body["to"])
        return (src, dst) if src and dst else None

    def held_digest(self, refresh: bool) -> str | None:
        return None  # what the catalog holds is known only by reading it

    def read(self, desired: Sequence[Resource], known: Mapping[str, Current], refresh: bool) -> dict[str, Current]:
        if self.config.policy.input_handling not in self.capabilities.modes:
            return {}  # the planner refuses this mode; no reason to call Secoda first
        assets = [r for r in desired if r.kind == ASSET]
        self.resolve(r.body for r in assets)
        out: dict[str, Current] = {}
        for r in assets:
            uuid = self.uuid_of(r.body)
            if uuid:
                out[r.address] = Current(r.address, ASSET, uuid)
        if refresh:
            out.update(self._read_edges([r for r in desired if r.kind != ASSET], known))
        return out

    def _read_edges(self, desired: list[Resource], known: Mapping[str, Current]) -> dict[str, Current]:
        pairs = {r.address: p for r in desired if (p := self._pair_of(r.body))}
        self.list_lineage(src for src, _ in pairs.values())
        out: dict[str, Current] = {}
        for r in desired:
            pair = pairs.get(r.address)
            held = known.get(r.address)
            if pair is None:
                continue
            if held is not None and self._rows.get(held.id) == pair:
                out[r.address] = Current(r.address, r.kind, held.id, r.hash)
            elif held is None and pair in self._pairs:
                out[r.address] = Current(r.address, r.kind, self._pairs[pair], r.hash)
            # a state id that no longer joins the pair reads as absent: the create adopts the live row
        unsure = [c for a, c in known.items() if c.kind in (EDGE, COLUMN_EDGE) and a not in pairs]
        for current, exists in zip(unsure, self._client().map(self._exists, unsure), strict=True):
            if exists:
                out[current.address] = current
        out.update(self._unmanaged(desired, known, out))
        return out

    def _exists(self, current: Current) -> bool:
        if current.id in self._rows:
            return True
        return self._call("GET", f"{MANUAL}{current.id}/", ok=(200, 404)).status_code == 200

    def _unmanaged(self, desired: list[Resource], known: Mapping[str, Current],
                   seen: Mapping[str, Current]) -> dict[str, Current]:
        """Listed rows between resolved assets that neither the manifests nor state hold."""
        names: dict[str, tuple[str, str]] = {}
        for r in desired:
            for end in (r.body["from"], r.body["to"]):
                if uuid := self.uuid_of(end):
                    names[uuid] = (end["key"], end.get("column", ""))
        out = {}
        for row_id, (src, dst) in list(self._rows.items()):
            a, b = names.get(src), names.get(dst)
            if a is None or b is None or bool(a[1]) != bool(b[1]):
                continue
            if a[1]:
                address = column_edge_address(ColumnRef(*a), ColumnRef(*b))
            else:
                address = edge_address(a[0], b[0])
            if address not in seen and address not in known:
                kind = COLUMN_EDGE if a[1] else EDGE
                out[address] = Current(address, kind, row_id)
        return out

    # -- apply ------------------------------------------------------------------------------------

    def apply(self, batch: Sequence[Change]) -> list[ItemResult]:
        writes = [c for c in batch if c.kind != ASSET and c.action is not Action.DELETE and c.after]
        self.resolve(end for c in writes for end in (c.after["from"], c.after["to"]))  # type: ignore[index]
        self.list_lineage(p[0] for c in writes if (p := self._pair_of(c.after)))  # type: ignore[arg-type]
        return self._client().map(self._apply_one, batch)

    def _apply_one(self, change: Change) -> ItemResult:
        try:
            if change.kind == ASSET:
                return self._apply_asset(change)
            if change.action is Action.DELETE:
                self._delete(str((change.before or {}).get("id", "")))
                return ItemResult(change.address, True)
            return self._write_edge(change)
        except AuthError:
            raise
        except TargetError as exc:
            return ItemResult(change.address, False, error=str(exc))

    def _apply_asset(self, change: Change) -> ItemResult:
        if change.action is Action.DELETE:
            return ItemResult(change.address, True)  # never written here: nothing to remove
        return ItemResult(change.address, False, error="Secoda creates no assets through lineage: add the asset "
                          "to Secoda (or give it ids: {secoda: <uuid>}) and use input_handling UPDATE")

    def _write_edge(self, change: Change) -> ItemResult:
        body: Mapping[str, Any] = change.after or {}
        pair = self._pair_of(body)
        if pair is None:
            missing = [e["key"] + (f".{e['column']}" if e.get("column") else "")
                       for e in (body["from"], body["to"]) if not self.uuid_of(e)]
            return ItemResult(change.address, False, error=f"not in Secoda: {', '.join(missing)}")
        with self._lock:
            pair_lock = self._pair_locks.setdefault(pair, threading.Lock())
        with pair_lock:  # two addresses may resolve to one pair: only one POST may run
            row_id = self._pairs.get(pair) or self._create(pair, str(body.get("direction", "DOWNSTREAM")))
        old = str((change.before or {}).get("id", ""))
        if change.action is Action.UPDATE and old and old != row_id:
            self._delete(old)
        return ItemResult(change.address, True, id=row_id)

    def _create(self, pair: Pair, direction: str) -> str:
        payload = {"from_entity": pair[0], "to_entity": pair[1], "direction": direction}
        response = self._call("POST", LINEAGE, json=payload, reconcile=lambda: self._find(pair))
        row = self._body(response, f"POST {LINEAGE}")
        if not isinstance(row, Mapping) or not row.get("id"):
            raise TerminalTargetError(f"target {self.name!r}: POST {LINEAGE} answered without a lineage id")
        with self._lock:
            self._rows[str(row["id"])] = pair
            self._pairs[pair] = str(row["id"])
        return str(row["id"])

    def _delete(self, row_id: str) -> None:
        if not row_id:
            return
        # 404: already gone (deleted by hand, or an earlier attempt landed before its reply was lost)
        self._call("DELETE", f"{MANUAL}{row_id}/", ok=(200, 204, 404))
        with self._lock:
            pair = self._rows.pop(row_id, None)
            if pair is not None and self._pairs.get(pair) == row_id:
                del self._pairs[pair]

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
