"""Atlan: lineage as Process and ColumnProcess entities, written through the metastore bulk API.

Every asset becomes ``<connection qualifiedName>/<database>/<schema>/<name>`` (a per-asset
``ids.atlan`` override wins), with connection qualifiedNames taken from the target's
``connections`` setting (keys ``<platform>`` or ``<platform>/<connection name>``). A process is a
``Process`` whose qualifiedName is ``<process connection>/<process id>``: an explicit id, never the
SDK's hash of name and input guids, which collides for refs by qualifiedName. Column mappings become
``ColumnProcess`` entities under ``<process qualifiedName>/column/<column>``. Addresses carry the
qualifiedName, so renaming one is a delete plus a create the plan shows, never an orphan.

Writes upsert by qualifiedName (``POST /api/meta/entity/bulk``, ``entities_per_request`` entities
per request, up to ``max_parallel`` requests at once; the policy's ``batch_size`` sizes the engine's
batches only), so resending a batch after an ambiguous failure cannot duplicate anything. Existing
assets are found with the index search (``POST /api/meta/search/indexsearch``), case-insensitively
when ``case_sensitive_match`` is false; deletes go by guid (``DELETE /api/meta/entity/bulk``). Every request (search included: it is a
POST) is spaced by ``rate_limit_per_minute``, 400 by default: the per-instance limit Atlan states in its
"API limits" reference (unconfirmed elsewhere; the API reference and pyatlan give no number).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ...config import TargetConfig
from ...errors import ConfigError, TerminalTargetError
from ...model import Lineage
from ...plan.contract import AmbiguousFailure
from ...plan.model import Action, Change
from ..base import ASSET, Capabilities, Current, ItemResult, Resource, content_hash
from ..http import HttpClient, client_for, secret_from_env
from .settings import DEFAULT_BASE_URL_ENV, DEFAULT_TOKEN_ENV, AtlanSettings
from .translate import (
    COLUMN_PROCESS,
    PROCESS,
    PROCESS_KEYS,
    REF_KEYS,
    AtlanNaming,
    atlan_error,
    body_from_entity,
    build_atlan_resources,
    entity_for,
)

BULK = "/api/meta/entity/bulk"
SEARCH = "/api/meta/search/indexsearch"
NO_MARKER_NOTE = ("atlan: no ownership marker: the placeholder assets this target creates have no documented free "
                  "attribute to carry one, so a lost state is recovered by adopting what exists (upserts by "
                  "qualifiedName), not rebuilt with 'lac state rebuild'")


class AtlanTarget:
    """Lineage in Atlan (settings: ``base_url``, ``token_env``, ``connections``, ``process_connection``,
    ``asset_types``, ``entities_per_request``, ``delete_type``, ``search_page_size``, ``max_parallel``,
    ``rate_limit_per_minute``)."""

    def __init__(self, config: TargetConfig) -> None:
        self.name = config.name
        self.config = config
        self.settings = AtlanSettings.parse(config)
        self.request_size = self.settings.entities_per_request
        self.page_size = self.settings.search_page_size
        self.delete_type = self.settings.delete_type
        self.token_env = self.settings.token_env
        self.case_sensitive = config.policy.case_sensitive_match
        self.rate_limit = self.settings.rate_limit_per_minute
        self._client: HttpClient | None = None
        # What the catalog holds, by exact and by case-folded qualifiedName: (qualifiedName, typeName).
        self._found: dict[str, tuple[str, str]] = {}
        self._folded: dict[str, tuple[str, str]] = {}
        self._read_done = False

    @property
    def capabilities(self) -> Capabilities:
        # The engine hands over entities_per_request x max_parallel changes (fewer with the policy's
        # batch_size); apply() sends them as parallel requests of entities_per_request entities each,
        # so max_parallel speeds up writes whatever the engine's batch size.
        parallel = self.settings.max_parallel
        return Capabilities(max_batch_size=self.request_size * parallel, max_parallel=parallel,
                            kind_order=(ASSET, PROCESS, COLUMN_PROCESS), notes=(NO_MARKER_NOTE,),
                            ambiguous_failure=AmbiguousFailure.RETRY,  # upserts by qualifiedName
                            adopt_by_hash=True,  # an entity is one write: found as declared, it is whole
                            request_size=self.request_size, requests_per_batch=0,
                            rate_limit_per_minute=self.rate_limit)

    def _http(self) -> HttpClient:
        if self._client is None:
            base = self.settings.base_url
            if not base:
                raise ConfigError(f"target {self.name!r}: set base_url (https://<tenant>.atlan.com) for this target "
                                  f"in lac.yaml, or the {DEFAULT_BASE_URL_ENV} environment variable")
            token = secret_from_env(self.config, DEFAULT_TOKEN_ENV)
            hint = (f"put a valid Atlan API token in the environment variable {self.token_env} (token_env); a 403 "
                    "means its persona or API-token role needs access to the connections in lac.yaml")
            self._client = client_for(self.config, base, {"Authorization": f"Bearer {token}"}, auth_hint=hint,
                                      capabilities=self.capabilities)
        return self._client

    def _vendor_error(self, doc: Any, status: int) -> str:
        """Atlan's words for a failure, token redacted: an error body may quote the request back."""
        return self._http().redact(atlan_error(doc, status))

    def _call(self, method: str, path: str, *, tolerate: Sequence[int] = (), **kwargs: Any) -> tuple[int, Any]:
        """One API call; returns (status, JSON body). A 401/403 stops the run in the HTTP client."""
        response = self._http().request(method, path, ok=(200, 204, *tolerate), **kwargs)
        status = response.status_code
        try:
            return status, response.json() if response.content else None
        except ValueError as exc:
            raise TerminalTargetError(f"target {self.name!r}: {method} {path} returned HTTP {status} "
                                      "with a body that is not JSON") from exc

    def translate(self, lineage: Lineage) -> list[Resource]:
        return build_atlan_resources(lineage, self.naming())

    def naming(self) -> AtlanNaming:
        """A fresh AtlanNaming from the settings (it collects what is missing as it goes)."""
        st = self.settings
        return AtlanNaming(self.name, st.connections, st.process_connection, st.asset_types)

    # -- reading ---------------------------------------------------------------------------------

    def _search_chunk(self, field: str, values: list[str], attributes: list[str]) -> list[dict[str, Any]]:
        if field == "qualifiedName" and not self.case_sensitive:
            match: dict[str, Any] = {"bool": {"minimum_should_match": 1, "should": [
                {"term": {field: {"value": v, "case_insensitive": True}}} for v in values]}}
        else:
            match = {"terms": {field: values}}
        return self.search_all([{"term": {"__state": "ACTIVE"}}, match], attributes)

    def search_all(self, filters: list[dict[str, Any]], attributes: Sequence[str],
                   advance: Callable[[int, int], None] = lambda _done, _total: None) -> list[dict[str, Any]]:
        """Every entity an index search with ``filters`` finds, page by page (``page_size``), in guid
        order; ``advance(found, total)`` after each page. Used by plans and by ``lac import``."""
        found: list[dict[str, Any]] = []
        while True:
            request = {"dsl": {"from": len(found), "size": self.page_size, "query": {"bool": {"filter": filters}},
                               "track_total_hits": True, "sort": [{"__guid": {"order": "asc"}}]},
                       "attributes": list(attributes), "suppressLogs": True}
            status, doc = self._call("POST", SEARCH, json=request, idempotent=True, tolerate=(400,))
            if status != 200:
                raise TerminalTargetError(f"target {self.name!r}: search refused: {self._vendor_error(doc, status)}")
            page = list((doc or {}).get("entities") or [])
            found += page
            total = int((doc or {}).get("approximateCount") or 0)
            advance(len(found), max(total, len(found)))
            if len(page) < self.page_size or len(found) >= total:
                return found

    def _search(self, field: str, values: Iterable[str], attributes: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Every ACTIVE entity whose ``field`` is one of ``values``, ``page_size`` values per query."""
        unique = sorted(set(values))
        chunks = [unique[i:i + self.page_size] for i in range(0, len(unique), self.page_size)]
        pages = self._http().map(lambda chunk: self._search_chunk(field, chunk, ["qualifiedName", *attributes]),
                                 chunks)
        return [entity for page in pages for entity in page]

    def _remember(self, qn: str, tname: str) -> None:
        self._found[qn] = (qn, tname)
        self._folded.setdefault(qn.casefold(), (qn, tname))

    def _lookup_assets(self, qns: Iterable[str]) -> list[dict[str, Any]]:
        entities = self._search("qualifiedName", qns, ["isPartial"])
        for e in entities:
            self._remember(str(e["attributes"]["qualifiedName"]), str(e.get("typeName", "")))
        return entities

    def held_digest(self, refresh: bool) -> str | None:
        return None  # what the catalog holds is known only by reading it

    def read(self, desired: Sequence[Resource], known: Mapping[str, Current], refresh: bool) -> dict[str, Current]:
        out: dict[str, Current] = {}
        for e in self._lookup_assets(r.body["qualifiedName"] for r in desired if r.kind == ASSET):
            address = f"asset.{e['attributes']['qualifiedName']}"
            out[address] = Current(address, ASSET, str(e["guid"]), None, bool(e["attributes"].get("isPartial")))
        self._read_done = True
        if refresh:
            managed = {c.id: c for c in known.values() if c.kind != ASSET and c.id}
            bodies = {r.address: r.body for r in desired}
            attributes = [*PROCESS_KEYS[2:], "code", *REF_KEYS]
            for e in self._search("__guid", managed, attributes):
                held = managed[str(e["guid"])]
                digest = content_hash(body_from_entity(e, held.kind, bodies.get(held.address, {})))
                out[held.address] = Current(held.address, held.kind, held.id, digest)
        return out

    # -- writing ---------------------------------------------------------------------------------

    def _ref(self, qn: str, tname: str) -> dict[str, Any]:
        hit = self._found.get(qn) or (None if self.case_sensitive else self._folded.get(qn.casefold()))
        if hit:
            qn, tname = hit
        return {"typeName": tname, "uniqueAttributes": {"qualifiedName": qn}}

    def apply(self, batch: Sequence[Change]) -> list[ItemResult]:
        writes = [c for c in batch if c.action is not Action.DELETE]
        deletes = [c for c in batch if c.action is Action.DELETE]
        results: dict[str, ItemResult] = {}
        if writes:
            if not self._read_done and not self.case_sensitive:
                # a saved plan skips read(): find the catalog's spelling of what the refs name
                self._lookup_assets(qn for c in writes for qn in (c.after or {}).get("types", {}))
            for part in self._http().map(self._write, self._chunks(writes)):
                results.update(part)
        if deletes:
            for part in self._http().map(self._delete, self._chunks(deletes)):
                results.update(part)
        return [results[c.address] for c in batch]

    def _chunks(self, changes: list[Change]) -> list[list[Change]]:
        """Requests of at most ``entities_per_request`` entities (the Lineage Builder's default batch)."""
        return [changes[i:i + self.request_size] for i in range(0, len(changes), self.request_size)]

    def _write(self, changes: Sequence[Change]) -> dict[str, ItemResult]:
        entities = [entity_for(c, str(-(i + 1)), self._ref) for i, c in enumerate(changes)]
        # Upsert by qualifiedName makes resending safe, so the bulk POST is retried like a PUT.
        status, doc = self._call("POST", BULK, json={"entities": entities}, idempotent=True, tolerate=(400, 404, 409))
        if status == 200:
            return self._written(changes, entities, doc or {})
        if len(changes) > 1:
            # The bulk call is all-or-nothing: isolate the bad items so the rest still land.
            merged: dict[str, ItemResult] = {}
            for part in self._http().map(lambda c: self._write([c]), changes):
                merged.update(part)
            return merged
        return {changes[0].address: ItemResult(changes[0].address, False, error=self._vendor_error(doc, status))}

    def _written(self, changes: Sequence[Change], entities: list[dict[str, Any]],
                 doc: Mapping[str, Any]) -> dict[str, ItemResult]:
        assigned = dict(doc.get("guidAssignments") or {})
        by_qn = {(e.get("attributes") or {}).get("qualifiedName"): e.get("guid")
                 for kind in ("CREATE", "UPDATE", "PARTIAL_UPDATE") for e in (doc.get("mutatedEntities") or {}).get(kind, [])}
        results = {}
        for change, entity in zip(changes, entities, strict=True):
            qn = entity["attributes"]["qualifiedName"]
            guid = assigned.get(entity["guid"]) or by_qn.get(qn)
            if not guid:
                results[change.address] = ItemResult(change.address, False, error="Atlan reported no guid for it")
                continue
            if change.kind == ASSET:
                self._remember(qn, entity["typeName"])
            results[change.address] = ItemResult(change.address, True, id=str(guid))
        return results

    def _delete(self, changes: Sequence[Change]) -> dict[str, ItemResult]:
        guids = {c.address: str((c.before or {}).get("id") or "") for c in changes}
        unknown = {c.address.split(".", 1)[1]: c.address for c in changes if not guids[c.address]}
        if unknown:
            folded = {qn.casefold(): address for qn, address in unknown.items()}
            for e in self._search("qualifiedName", unknown):
                qn = str(e["attributes"]["qualifiedName"])
                address = unknown.get(qn) or folded.get(qn.casefold())
                if address:
                    guids[address] = str(e["guid"])
        targets = sorted({g for g in guids.values() if g})
        error = self._delete_guids(targets) if targets else ""
        return {c.address: ItemResult(c.address, not error, id=guids[c.address], error=error) for c in changes}

    def _delete_guids(self, guids: list[str]) -> str:
        """Delete by guid; '' when done (an entity already gone counts as done), else Atlan's error."""
        params = [("guid", g) for g in guids] + [("deleteType", self.delete_type)]
        status, doc = self._call("DELETE", BULK, params=params, tolerate=(400, 404))
        if status in (200, 204):
            return ""
        if status == 404:
            if len(guids) == 1:
                return ""
            errors = [e for e in self._http().map(lambda g: self._delete_guids([g]), guids) if e]
            return errors[0] if errors else ""
        return self._vendor_error(doc, status)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
