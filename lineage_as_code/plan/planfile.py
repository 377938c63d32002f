"""Plans as JSON: the machine-readable output of ``plan --format json`` and the ``--out`` file.

The same document serves both, so what a reviewer's tooling reads is exactly what ``apply``
verifies. Format version 2 is published as ``schemas/plan.schema.json``; ``load_plan`` checks a
file against it before reading anything else. A saved plan is untrusted input (in CI it is an
artifact a pull request's job produced): apply never executes it as written, it re-derives the
plan from the manifests and state and refuses the file unless the two are equal change for change
(``plan_differences``).

Shape (format_version 2)::

    {"format_version": 2, "tool": "lineage-as-code 0.1.0",
     "state": {"lineage": "<uuid or empty>", "serial": 7},
     "manifest_digest": "<sha256>", "manifests": [{"name": "...", "etag": "..."}],
     "scope": {"paths": [...], "targets": [...], "refresh": true, "whole_project": true},
     "summary": {"create": 1, "update": 0, "delete": 0, "adopt": 0, "unchanged": 12, "skipped": 0},
     "targets": [{"name": "local", "type": "duckdb", "refreshed": true, "summary": {...},
                  "changes": [{"address", "kind", "action", "source", "reason", "requires", "edges",
                               "before": {"id", "hash", "kind", "partial", "edges"?, "content"?} | null,
                               "after": {...} | null, "after_hash", "placeholder", "private": {...} | null}],
                  "skipped": [{"address", "reason", "source", "cannot_delete"}],
                  "unmanaged": ["..."], "warnings": ["..."]}]}
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from typing import Any

from .. import __version__
from ..canonical import canonical_text, indented_json, plain_dict
from ..errors import PlanError
from ..manifest.validate import compile_gate, load_schema, schema_problems
from ..state import StateEntry
from .contract import content_hash
from .impact import Impact
from .model import PLAN_FORMAT_VERSION, Action, Change, Plan, PlanScope, Skip, TargetPlan

MAX_PROBLEMS_SHOWN = 10


def _summary(t: TargetPlan | Plan, unchanged: int, skipped: int) -> dict[str, int]:
    return {"create": t.count(Action.CREATE), "update": t.count(Action.UPDATE), "delete": t.count(Action.DELETE),
            "adopt": t.count(Action.ADOPT), "unchanged": unchanged, "skipped": skipped}


def _change_doc(c: Change) -> dict[str, Any]:
    return {"address": c.address, "kind": c.kind, "action": c.action.value, "source": c.source, "reason": c.reason,
            "requires": list(c.requires), "edges": [list(e) for e in c.edges], "before": c.before,
            "after": plain_dict(c.after) if c.after is not None else None, "after_hash": c.after_hash,
            "placeholder": c.placeholder, "private": dict(c.private) if c.private is not None else None}


def target_doc(t: TargetPlan, changes: bool = True) -> dict[str, Any]:
    """One target's part of the plan document (its changes left empty without ``changes``)."""
    return {
        "name": t.name, "type": t.type, "refreshed": t.refreshed,
        "summary": _summary(t, t.unchanged, len(t.skipped)),
        "changes": [_change_doc(c) for c in t.changes] if changes else [],
        "skipped": [{"address": s.address, "reason": s.reason, "source": s.source,
                     "cannot_delete": s.cannot_delete} for s in t.skipped],
        "unmanaged": list(t.unmanaged),
        "warnings": list(t.warnings), "out_of_scope": t.out_of_scope,
        "impacts": [{"address": i.address, "removed": [list(e) for e in i.removed],
                     "downstream": [[kind, list(keys)] for kind, keys in i.downstream], "more": i.more}
                    for i in t.impacts],
        "estimate": {"requests": t.requests, "seconds": t.seconds},
    }


def plan_to_dict(plan: Plan, changes: bool = True) -> dict[str, Any]:
    """The plan document; without ``changes``, each target's "changes" is left empty (``iter_plan_json``
    fills it in one change at a time)."""
    targets = [target_doc(t, changes) for t in plan.targets]
    scope = plan.scope
    return {
        "format_version": PLAN_FORMAT_VERSION,
        "tool": f"lineage-as-code {__version__}",
        "state": {"lineage": plan.state_lineage, "serial": plan.state_serial},
        "manifest_digest": plan.manifest_digest,
        "manifests": [{"name": n, "etag": e} for n, e in plan.manifests],
        "scope": {"paths": list(scope.paths), "targets": list(scope.targets), "refresh": scope.refresh,
                  "whole_project": scope.whole_project},
        "summary": _summary(plan, sum(t.unchanged for t in plan.targets), sum(len(t.skipped) for t in plan.targets)),
        "targets": targets,
    }


def dump_plan(plan: Plan) -> str:
    return "".join(iter_plan_json(plan))


_SLOT = "\x00changes:{}\x00"  # where a target's changes go in the skeleton (JSON never holds a raw NUL)
_ITEM = " " * 8  # a change's indent: document > "targets" list > target object > "changes" list


def iter_plan_json(plan: Plan) -> Iterator[str]:
    """The plan document (what ``json.dumps(plan_to_dict(plan), indent=2, sort_keys=True)`` gives) in pieces,
    one change at a time: a million-change plan is written to its file without being held twice in memory."""
    skeleton = plan_to_dict(plan, changes=False)
    for i, t in enumerate(skeleton["targets"]):
        t["changes"] = _SLOT.format(i)
    text = json.dumps(skeleton, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    for i, t in enumerate(plan.targets):
        head, _, text = text.partition(json.dumps(_SLOT.format(i)))
        yield head
        if not t.changes:
            yield "[]"
            continue
        yield "[\n"
        for n, c in enumerate(t.changes):
            yield ("" if n == 0 else ",\n") + _ITEM + indented_json(_change_doc(c), _ITEM)
        yield "\n" + _ITEM[:-2] + "]"
    yield text


def _prior(doc: Mapping[str, Any] | None) -> StateEntry | None:
    if doc is None:
        return None
    edges = tuple((str(a), str(b)) for a, b in doc.get("edges", []))
    return StateEntry(doc["kind"], doc["id"], doc["hash"], bool(doc["partial"]), edges)


def _change(target: str, c: Mapping[str, Any]) -> Change:
    before = c["before"]
    return Change(target=target, address=c["address"], kind=c["kind"], action=Action(c["action"]), after=c["after"],
                  after_hash=c["after_hash"], prior=_prior(before), source=c["source"], reason=c["reason"],
                  requires=tuple(c["requires"]), edges=tuple((str(a), str(b)) for a, b in c["edges"]),
                  placeholder=c["placeholder"], private=c["private"],
                  prior_body=before.get("content") if before else None)


class _Compared(dict[str, str]):
    """A saved change as apply verifies it: in place of its body, the sha256 of everything
    ``plan_differences`` compares (``{"sha256": ...}``). A plan of a million changes holds a gigabyte of
    bodies; parsed as objects they were three times the file, alive while apply re-derived the plan."""


def _change_digest(c: Change) -> str:
    """The sha256 of everything ``plan_differences`` compares of a change: action, content, what it replaces
    (vendor id, hash and the content it was written with, from state), placeholder, private data,
    dependencies and edges; bodies as their canonical JSON (the text a body view writes itself, and keeps
    for apply to send). A saved change read for verifying is kept as this alone (``_Compared``)."""
    e = c.prior
    prior = None if e is None else [e.id, e.hash, e.kind, e.partial, [list(x) for x in e.edges]]
    bodies = [None if body is None else _text_hash(body) for body in (c.after, c.private, c.prior_body)]
    return content_hash([c.kind, c.action.value, c.after_hash, prior, c.placeholder, list(c.requires),
                         [list(x) for x in c.edges], *bodies])


def _plan_part(name: str, root: dict[str, Any], change: dict[str, Any] | None = None) -> Callable[[Any], Any]:
    """A gate for part of the plan schema: ``root`` over its definitions (``change`` in place of the change
    definition when given), as a document of its own (own ``$id``, so it never meets the whole schema's)."""
    schema = load_schema("plan")
    defs = {**schema["$defs"], **({"change": change} if change is not None else {})}
    base = str(schema["$id"]).rsplit("/", 1)[0]
    return compile_gate({**root, "$id": f"{base}/plan-{name}.schema.json", "$defs": defs})


@cache
def _change_gate() -> Callable[[Any], Any]:
    """The plan schema's change definition alone: each change is checked as it is read."""
    return _plan_part("change", {"$ref": "#/$defs/change"})


@cache
def _outline_gate() -> Callable[[Any], Any]:
    """The plan schema with its changes left out (each was checked by ``_change_gate`` as it was read)."""
    schema = load_schema("plan")
    return _plan_part("outline", {k: v for k, v in schema.items() if k not in ("$schema", "$id", "$defs")}, {})


def _compared(doc: dict[str, Any]) -> Any:
    """``json.loads``'s object hook for a plan that is only verified: each change document the schema and
    the action rule accept becomes ``(address, action, _Compared)`` as it is read (objects are built inside
    out, so its bodies are let go before the next change is parsed). Anything else is left as it is: a
    change refused here makes the file read again whole, which names every problem. An object shaped like
    a change inside a body is taken for one too: the body then differs from what apply would write and
    the plan is refused, never accepted wrongly."""
    import fastjsonschema

    if "after_hash" not in doc:
        return doc
    try:
        _change_gate()(doc)
    except fastjsonschema.JsonSchemaException:
        return doc
    if _action_problem(doc, ""):
        return doc
    return (doc["address"], doc["action"], _Compared(sha256=_change_digest(_change("", doc))))


def _parse(data: bytes, where: str, hook: Callable[[dict[str, Any]], Any] | None = None) -> Any:
    try:
        return json.loads(data, object_hook=hook)
    except RecursionError:
        raise PlanError(f"{where}: not a lineage-as-code plan file (nested too deeply)") from None
    except ValueError as exc:
        raise PlanError(f"{where}: not a lineage-as-code plan file (not JSON: {exc})") from None


def _impacts(docs: list[Any]) -> tuple[Impact, ...]:
    return tuple(Impact(d["address"], tuple((str(a), str(b)) for a, b in d["removed"]),
                        tuple((str(k), tuple(map(str, v))) for k, v in d["downstream"]), int(d["more"]))
                 for d in docs)


def _estimate(doc: Mapping[str, Any] | None) -> tuple[int, float | None]:
    return (int(doc["requests"]), doc["seconds"]) if doc else (0, None)


def _action_problem(c: Mapping[str, Any], where: str) -> str:
    """What the schema cannot say of a change: a create or update carries a non-empty ``after``, a delete none."""
    writes = c["action"] in ("create", "update", "adopt")
    if bool(c["after"]) == writes:
        return ""
    return f"{where}: {c['address'][:80]}: 'after' must be {'a non-empty object' if writes else 'null'} for {c['action']}"


def _action_problems(doc: Mapping[str, Any], where: str) -> list[str]:
    return [p for t in doc["targets"] for c in t["changes"] if (p := _action_problem(c, where))]


def target_from_doc(t: Mapping[str, Any]) -> TargetPlan:
    """The TargetPlan of ``target_doc``'s document (one the plan schema accepted, or this tool wrote), or of
    one whose changes were read as ``(address, action, _Compared)`` for verifying."""
    name = t["name"]
    changes = tuple(_change(name, c) if isinstance(c, dict) else
                    Change(name, c[0], "", Action(c[1]), after=c[2]) for c in t["changes"])
    skipped = tuple(Skip(name, s["address"], s["reason"], s["source"], s["cannot_delete"]) for s in t["skipped"])
    return TargetPlan(name, t["type"], changes, t["summary"]["unchanged"], skipped, tuple(t["unmanaged"]),
                      tuple(t["warnings"]), t["refreshed"], t.get("out_of_scope", 0), _impacts(t.get("impacts", [])),
                      *_estimate(t.get("estimate")))


def _outline_holds(doc: Any) -> bool:
    """Whether a plan read for verifying is valid: its outline under the schema, and every change read as
    one (each passed the schema and the action rule as it was read)."""
    import fastjsonschema

    try:
        _outline_gate()(doc)
    except fastjsonschema.JsonSchemaException:
        return False
    return all(type(c) is tuple for t in doc["targets"] for c in t["changes"])


def load_plan(data: bytes, where: str, bodies: bool = True) -> Plan:
    """Parse a saved plan after checking it against ``schemas/plan.schema.json``; raise PlanError
    naming every problem (up to ten) when it is not a plan this version can apply. Without ``bodies``
    (a plan apply verifies, and never shows), each change is kept as its address, action and one digest
    of everything ``plan_differences`` compares with the change apply would make."""
    if not bodies:
        _change_gate(), _outline_gate()  # compiled before the parse, whose hook uses the first
    doc = _parse(data, where, None if bodies else _compared)
    if not bodies and not _outline_holds(doc):
        return load_plan(data, where)  # read whole, so that every problem is named
    if isinstance(doc, dict) and doc.get("format_version") not in (PLAN_FORMAT_VERSION, None):
        raise PlanError(f"{where}: plan format {doc.get('format_version')!r} is not supported by this version "
                        f"(it reads format {PLAN_FORMAT_VERSION}); run plan again")
    problems = [] if not bodies else (
        [str(p) for p in schema_problems(doc, "plan", where, lambda _path: 0)] or _action_problems(doc, where))
    if problems:
        shown = "\n".join(f"  {p}" for p in problems[:MAX_PROBLEMS_SHOWN])
        more = f"\n  ... and {len(problems) - MAX_PROBLEMS_SHOWN} more" if len(problems) > MAX_PROBLEMS_SHOWN else ""
        raise PlanError(f"{where}: not a lineage-as-code plan file:\n{shown}{more}")
    targets = [target_from_doc(t) for t in doc["targets"]]
    s = doc["scope"]
    scope = PlanScope(tuple(s["paths"]), tuple(s["targets"]), s["refresh"], s["whole_project"])
    return Plan(tuple(targets), doc["state"]["lineage"], doc["state"]["serial"], doc["manifest_digest"],
                tuple((m["name"], m["etag"]) for m in doc["manifests"]), scope)


def _text_hash(body: Mapping[str, Any]) -> str:
    """``content_hash(body)``, from the text a body view writes itself (and keeps, for apply to send)."""
    return hashlib.sha256(canonical_text(body).encode()).hexdigest()


def _same_change(a: Change, b: Change) -> bool:
    """Whether a reviewed change is the one apply would make (``_change_digest``). The prior content is
    compared too: the field-level diff a reviewer read must be the one state gives."""
    return _digest_of(a) == _digest_of(b)


def _digest_of(c: Change) -> str:
    return c.after["sha256"] if isinstance(c.after, _Compared) else _change_digest(c)


def plan_differences(saved: Plan, fresh: Plan, limit: int = MAX_PROBLEMS_SHOWN) -> list[str]:
    """How ``saved`` differs from ``fresh`` (the plan re-derived at apply time), change for change;
    empty when they are the same plan. Reasons, warnings and unmanaged lists are not compared."""
    out: list[str] = []
    if [(t.name, t.type) for t in saved.targets] != [(t.name, t.type) for t in fresh.targets]:
        out.append("the plan names other targets than the project selects now")
    for old, new in zip(saved.targets, fresh.targets, strict=False):
        mine = {c.address: c for c in old.changes}
        now = {c.address: c for c in new.changes}
        for address in sorted(mine.keys() | now.keys()):
            a, b = mine.get(address), now.get(address)
            if a is None and b is not None:
                out.append(f"{old.name}: {b.action.value} {address} would happen but is not in the plan")
            elif b is None and a is not None:
                out.append(f"{old.name}: {a.action.value} {address} is in the plan but would not happen")
            elif a is not None and b is not None and not _same_change(a, b):
                out.append(f"{old.name}: {address}: the plan says {a.action.value}, but what apply would do "
                           f"({b.action.value}) differs in its content or in what it replaces")
            if len(out) >= limit:
                return out
        if {s.address for s in old.skipped} != {s.address for s in new.skipped}:
            out.append(f"{old.name}: the skipped resources differ")
    return out[:limit]
