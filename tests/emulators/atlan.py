"""An Atlan metastore emulator: entity bulk upsert and delete, index search, Bearer auth, Atlan's errors.

It keeps entities in memory the way Atlas does: unique by (typeName, qualifiedName) among ACTIVE
entities, so an upsert with a known qualifiedName updates in place; relationship refs (in
``relationshipAttributes`` or ``attributes``) must name existing entities or ones in the same
request, else 404 ATLAS-404-00-00A, as Atlan answers; partial assets count as existing. A soft
delete marks an entity DELETED and frees its qualifiedName; HARD and PURGE remove it. The search
understands the slice of Elasticsearch DSL a client needs here (bool, term with case_insensitive,
terms) and pages with from/size. ``noop_writes`` counts bulk requests that changed nothing, which
is what a resend after a dropped connection looks like.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from tests.emulators.base import EmulatorApp, Faults, Request, Response

BULK = "/api/meta/entity/bulk"
SEARCH = "/api/meta/search/indexsearch"
REF_KEYS = ("inputs", "outputs", "process")
_TYPE = re.compile(r"[A-Z][A-Za-z0-9]*")


class AtlanError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.response = Response(status, {"errorCode": code, "errorMessage": message})


class AtlanEmulator(EmulatorApp):
    def __init__(self, token: str, faults: Faults | None = None) -> None:
        super().__init__(faults)
        self.token = token
        self.entities: dict[str, dict[str, Any]] = {}
        self.active: dict[tuple[str, str], str] = {}  # (typeName, qualifiedName) -> guid
        self.noop_writes = 0
        self.bulk_sizes: list[int] = []
        self.deleted_guids: list[str] = []
        self._ids = 0
        self.route("POST", BULK, self.upsert)
        self.route("DELETE", BULK, self.delete)
        self.route("POST", SEARCH, self.search)

    def authorized(self, request: Request) -> Response | None:
        if request.header("authorization") != f"Bearer {self.token}":
            return Response(401, {"errorCode": "ATLAN-401-00-001",
                                  "errorMessage": "Unauthorized: the bearer token is missing, invalid or expired"})
        return None

    # -- test helpers ----------------------------------------------------------------------------

    def add(self, type_name: str, qn: str, **attributes: Any) -> str:
        """Seed an entity as if a crawler had created it; return its guid."""
        with self.lock:
            return self._create(type_name, {"qualifiedName": qn, "name": qn.rsplit("/", 1)[-1], **attributes}, {})

    def of_type(self, type_name: str) -> dict[str, dict[str, Any]]:
        """ACTIVE entities of ``type_name`` by qualifiedName."""
        return {qn: self.entities[g] for (t, qn), g in self.active.items() if t == type_name}

    def qn_of(self, guid: str) -> str:
        return str(self.entities[guid]["attributes"]["qualifiedName"])

    def lineage(self, type_name: str = "Process") -> dict[str, tuple[list[str], list[str]]]:
        """qualifiedName -> (sorted input qualifiedNames, sorted output qualifiedNames) of ACTIVE processes."""
        return {qn: (sorted(self.qn_of(g) for g in e["refs"].get("inputs", [])),
                     sorted(self.qn_of(g) for g in e["refs"].get("outputs", [])))
                for qn, e in self.of_type(type_name).items()}

    def duplicate_entities(self) -> int:
        seen: dict[tuple[str, str], int] = {}
        for e in self.entities.values():
            if e["status"] == "ACTIVE":
                key = (e["typeName"], e["attributes"]["qualifiedName"])
                seen[key] = seen.get(key, 0) + 1
        return sum(n - 1 for n in seen.values())

    # -- entity bulk -----------------------------------------------------------------------------

    def _create(self, type_name: str, attributes: dict[str, Any], refs: dict[str, list[str]]) -> str:
        self._ids += 1
        guid = str(uuid.UUID(int=self._ids))
        self.entities[guid] = {"guid": guid, "typeName": type_name, "status": "ACTIVE",
                               "attributes": dict(attributes), "refs": refs}
        self.active[(type_name, attributes["qualifiedName"])] = guid
        return guid

    def _header(self, guid: str) -> dict[str, Any]:
        e = self.entities[guid]
        return {"typeName": e["typeName"], "guid": guid, "status": e["status"], "displayText": e["attributes"].get("name"),
                "attributes": {"qualifiedName": e["attributes"]["qualifiedName"], "name": e["attributes"].get("name")}}

    def _resolve(self, ref: Any, pending: set[tuple[str, str]]) -> tuple[str, str]:
        """A ref as ('guid', g) or ('qn', typeName|qualifiedName); raise AtlanError when it names nothing."""
        if not isinstance(ref, dict) or not isinstance(ref.get("typeName"), str):
            raise AtlanError(400, "ATLAS-400-00-01A", f"invalid object id {ref!r}: typeName is required")
        guid = ref.get("guid")
        if guid and not str(guid).startswith("-"):
            if guid in self.entities and self.entities[guid]["status"] == "ACTIVE":
                return "guid", guid
            raise AtlanError(404, "ATLAS-404-00-005", f"Given instance guid {guid} is invalid/not found")
        qn = (ref.get("uniqueAttributes") or {}).get("qualifiedName")
        key = (ref["typeName"], qn)
        if qn and (key in self.active or key in pending):
            return "qn", f"{ref['typeName']}|{qn}"
        raise AtlanError(404, "ATLAS-404-00-00A",
                         f"Referenced entity AtlasObjectId{{guid='{guid}', typeName='{ref['typeName']}', "
                         f"uniqueAttributes={{qualifiedName:{qn}}}}} is not found")

    def _validate(self, entity: Any, pending: set[tuple[str, str]]) -> tuple[dict[str, Any], dict[str, list]]:
        if not isinstance(entity, dict):
            raise AtlanError(400, "ATLAS-400-00-01A", "each entity must be an object")
        type_name, attrs = entity.get("typeName"), entity.get("attributes")
        if not isinstance(type_name, str) or not _TYPE.fullmatch(type_name):
            raise AtlanError(404, "ATLAS-404-00-007", f"Given typename {type_name} was invalid")
        if not isinstance(attrs, dict) or not attrs.get("qualifiedName") or not attrs.get("name"):
            raise AtlanError(400, "ATLAS-400-00-08A",
                             f"{type_name}: mandatory attributes qualifiedName and name must be non-empty")
        attrs = dict(attrs)
        rels = dict(entity.get("relationshipAttributes") or {})
        for key in REF_KEYS:
            if key in attrs:
                rels[key] = attrs.pop(key)
        if type_name in ("Process", "ColumnProcess"):
            for needed in ("connectionQualifiedName", "connectorName"):
                if not attrs.get(needed):
                    raise AtlanError(400, "ATLAS-400-00-08A", f"{type_name}: attribute {needed} is required")
            if type_name == "ColumnProcess" and not rels.get("process"):
                raise AtlanError(400, "ATLAS-400-00-08A", "ColumnProcess: relationship process is required")
        resolved = {}
        for key, value in rels.items():
            refs = value if isinstance(value, list) else [value]
            resolved[key] = [self._resolve(r, pending) for r in refs]
        return attrs, resolved

    def upsert(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            return Response(400, {"errorCode": "ATLAS-400-00-01A", "errorMessage": "request body is not valid JSON"})
        entities = body.get("entities") if isinstance(body, dict) else None
        if not isinstance(entities, list) or not entities:
            return Response(400, {"errorCode": "ATLAS-400-00-01A", "errorMessage": "entities must be a non-empty list"})
        pending = {(e.get("typeName"), (e.get("attributes") or {}).get("qualifiedName"))
                   for e in entities if isinstance(e, dict)}
        try:
            checked = [self._validate(e, pending) for e in entities]
        except AtlanError as exc:
            return exc.response
        self.bulk_sizes.append(len(entities))
        return Response(200, self._store(entities, checked))

    def _store(self, entities: list[dict[str, Any]], checked: list[tuple[dict, dict]]) -> dict[str, Any]:
        created, updated, assigned, changed = [], [], {}, False
        touched: set[str] = set()
        for entity, (attrs, _) in zip(entities, checked, strict=True):
            key = (entity["typeName"], attrs["qualifiedName"])
            guid = self.active.get(key)
            if guid is None:
                guid = self._create(entity["typeName"], attrs, {})
                created.append(guid)
                changed = True
            else:
                before = dict(self.entities[guid]["attributes"])
                self.entities[guid]["attributes"].update(attrs)
                changed |= before != self.entities[guid]["attributes"]
                updated.append(guid)
            if str(entity.get("guid", "")).startswith("-"):
                assigned[entity["guid"]] = guid
        for entity, (attrs, rels) in zip(entities, checked, strict=True):
            guid = self.active[(entity["typeName"], attrs["qualifiedName"])]
            for key, refs in rels.items():
                guids = [v if kind == "guid" else self.active[tuple(v.split("|", 1))] for kind, v in refs]
                changed |= self.entities[guid]["refs"].get(key) != guids
                self.entities[guid]["refs"][key] = guids
                touched.update(guids)
        if not changed:
            self.noop_writes += 1
        touched -= set(created) | set(updated)
        return {"mutatedEntities": {"CREATE": [self._header(g) for g in created],
                                    "UPDATE": [self._header(g) for g in (*updated, *sorted(touched))]},
                "guidAssignments": assigned}

    def delete(self, request: Request) -> Response:
        guids = request.query.get("guid") or []
        kind = request.arg("deleteType", "SOFT")
        if not guids or kind not in ("SOFT", "HARD", "PURGE"):
            return Response(400, {"errorCode": "ATLAS-400-00-01A",
                                  "errorMessage": "guid is required and deleteType must be SOFT, HARD or PURGE"})
        done = []
        for guid in guids:
            e = self.entities.get(guid)
            if e is None or e["status"] == "DELETED" and kind == "SOFT":
                continue  # Atlas skips what is already gone
            if e["status"] == "ACTIVE":
                del self.active[(e["typeName"], e["attributes"]["qualifiedName"])]
            e["status"] = "DELETED"
            done.append(self._header(guid))
            self.deleted_guids.append(guid)
            if kind != "SOFT":
                del self.entities[guid]
        return Response(200, {"mutatedEntities": {"DELETE": done}})

    # -- search ----------------------------------------------------------------------------------

    def _value(self, e: dict[str, Any], field: str) -> Any:
        return {"__state": e["status"], "__guid": e["guid"], "__typeName": e["typeName"]}.get(
            field, e["attributes"].get(field))

    def _matches(self, e: dict[str, Any], query: dict[str, Any]) -> bool:
        (kind, spec), = query.items()
        if kind == "bool":
            if not all(self._matches(e, q) for q in (*spec.get("filter", []), *spec.get("must", []))):
                return False
            if any(self._matches(e, q) for q in spec.get("must_not", [])):
                return False
            should = spec.get("should", [])
            need = spec.get("minimum_should_match", 0 if spec.get("filter") or spec.get("must") else 1)
            return sum(self._matches(e, q) for q in should) >= (need if should else 0)
        (field, wanted), = spec.items()
        actual = self._value(e, field)
        if kind == "terms":
            return actual in wanted
        if kind == "term":
            if isinstance(wanted, dict):
                if wanted.get("case_insensitive"):
                    return isinstance(actual, str) and actual.casefold() == str(wanted["value"]).casefold()
                wanted = wanted["value"]
            return bool(actual == wanted)
        raise AtlanError(400, "ATLAS-400-00-06D", f"query type {kind!r} is not supported by this emulator")

    def _projected(self, e: dict[str, Any], attributes: list[str]) -> dict[str, Any]:
        out = {a: e["attributes"][a] for a in attributes if a in e["attributes"]}
        for key in REF_KEYS:
            if key in attributes and key in e["refs"]:
                refs = [{"guid": g, "typeName": self.entities[g]["typeName"], "entityStatus": self.entities[g]["status"],
                         "uniqueAttributes": {"qualifiedName": self.qn_of(g)}} for g in e["refs"][key]
                        if g in self.entities]
                out[key] = refs[0] if key == "process" and refs else refs
        return out

    def search(self, request: Request) -> Response:
        body = request.json()
        dsl = body.get("dsl") if isinstance(body, dict) else None
        if not isinstance(dsl, dict) or not isinstance(dsl.get("query"), dict):
            return Response(400, {"errorCode": "ATLAS-400-00-06D", "errorMessage": "dsl.query is required"})
        start, size = int(dsl.get("from", 0)), int(dsl.get("size", 10))
        try:
            hits = sorted((e for e in self.entities.values() if self._matches(e, dsl["query"])),
                          key=lambda e: e["guid"])
        except AtlanError as exc:
            return exc.response
        attributes = list(body.get("attributes") or [])
        page = [{"typeName": e["typeName"], "guid": e["guid"], "status": e["status"],
                 "attributes": self._projected(e, attributes)} for e in hits[start:start + size]]
        doc: dict[str, Any] = {"queryType": "INDEX", "approximateCount": len(hits)}
        if page:  # Atlan leaves the key out when nothing matched
            doc["entities"] = page
        return Response(200, doc)
