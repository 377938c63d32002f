"""Plans as JSON: the machine-readable output of ``plan --format json`` and the ``--out`` file.

The same document serves both, so what a reviewer's tooling reads is exactly what ``apply``
executes. It records the state lineage and serial the plan was made against and a digest of the
manifests; ``apply plan.json`` refuses it once the state has moved (StalePlanError, exit 3).

Shape (format_version 1)::

    {"format_version": 1, "tool": "lineage-as-code 0.1.0",
     "state": {"lineage": "<uuid or empty>", "serial": 7},
     "manifest_digest": "<sha256>", "manifests": [{"name": "...", "etag": "..."}],
     "summary": {"create": 1, "update": 0, "delete": 0, "unchanged": 12, "skipped": 0},
     "targets": [{"name": "local", "type": "duckdb", "refreshed": true, "summary": {...},
                  "changes": [{"address", "kind", "action", "source", "reason", "requires",
                               "before": {"id", "hash", "kind", "partial"} | null,
                               "after": {...} | null, "after_hash"}],
                  "skipped": [{"address", "reason", "source"}], "unmanaged": ["..."], "warnings": ["..."]}]}
"""

from __future__ import annotations

import json
from typing import Any

from .. import __version__
from ..errors import PlanError
from .model import PLAN_FORMAT_VERSION, Action, Change, Plan, Skip, TargetPlan


def _summary(t: TargetPlan | Plan, unchanged: int, skipped: int) -> dict[str, int]:
    return {"create": t.count(Action.CREATE), "update": t.count(Action.UPDATE), "delete": t.count(Action.DELETE),
            "unchanged": unchanged, "skipped": skipped}


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    targets = []
    for t in plan.targets:
        targets.append({
            "name": t.name, "type": t.type, "refreshed": t.refreshed,
            "summary": _summary(t, t.unchanged, len(t.skipped)),
            "changes": [{
                "address": c.address, "kind": c.kind, "action": c.action.value, "source": c.source,
                "reason": c.reason, "requires": list(c.requires), "before": c.before, "after": c.after,
                "after_hash": c.after_hash, "edges": [list(e) for e in c.edges],
            } for c in t.changes],
            "skipped": [{"address": s.address, "reason": s.reason, "source": s.source,
                         "cannot_delete": s.cannot_delete} for s in t.skipped],
            "unmanaged": list(t.unmanaged),
            "warnings": list(t.warnings),
        })
    return {
        "format_version": PLAN_FORMAT_VERSION,
        "tool": f"lineage-as-code {__version__}",
        "state": {"lineage": plan.state_lineage, "serial": plan.state_serial},
        "manifest_digest": plan.manifest_digest,
        "manifests": [{"name": n, "etag": e} for n, e in plan.manifests],
        "summary": _summary(plan, sum(t.unchanged for t in plan.targets), sum(len(t.skipped) for t in plan.targets)),
        "targets": targets,
    }


def dump_plan(plan: Plan) -> str:
    return json.dumps(plan_to_dict(plan), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _shape_problem(doc: Any) -> str:
    """What makes ``doc`` not the shape of a saved plan ('' when it has it): checked before any
    field is used, so a hand-edited plan is refused instead of failing deep inside apply."""
    if not isinstance(doc, dict) or not isinstance(doc.get("targets"), list):
        return "expected an object with a 'targets' list"
    for t in doc["targets"]:
        changes = t.get("changes") if isinstance(t, dict) else None
        if not isinstance(changes, list) or not all(isinstance(c, dict) for c in changes):
            return "each target needs a 'changes' list of objects"
        for c in changes:
            address = c.get("address")
            if not isinstance(address, str) or not all(address.partition(".")[::2]):
                return f"change address {str(address)[:80]!r} is not KIND.NAME"
            wants_after = c.get("action") in ("create", "update")
            if not (isinstance(c.get("after"), dict) and c["after"] if wants_after else c.get("after") is None):
                return f"{address[:80]}: 'after' must be {'a non-empty object' if wants_after else 'null'}"
            if not (c.get("before") is None or isinstance(c.get("before"), dict)):
                return f"{address[:80]}: 'before' must be an object or null"
    return ""


def load_plan(data: bytes, where: str) -> Plan:
    """Parse a saved plan; raise PlanError when it is not one this version can apply."""
    try:
        doc = json.loads(data)
    except RecursionError:
        raise PlanError(f"{where}: not a lineage-as-code plan file (nested too deeply)") from None
    except ValueError as exc:
        raise PlanError(f"{where}: not a lineage-as-code plan file ({exc})") from exc
    if problem := _shape_problem(doc):
        raise PlanError(f"{where}: not a lineage-as-code plan file ({problem})")
    try:
        if doc.get("format_version") != PLAN_FORMAT_VERSION:
            raise PlanError(f"{where}: plan format {doc.get('format_version')!r} is not supported by this version")
        targets = []
        for t in doc["targets"]:
            changes = tuple(Change(
                target=t["name"], address=c["address"], kind=c["kind"], action=Action(c["action"]),
                after=c["after"], after_hash=c["after_hash"], before=c["before"], source=c["source"],
                reason=c["reason"], requires=tuple(c["requires"]),
                edges=tuple((str(a), str(b)) for a, b in c.get("edges", [])),
            ) for c in t["changes"])
            skipped = tuple(Skip(t["name"], s["address"], s["reason"], s["source"], bool(s.get("cannot_delete")))
                            for s in t["skipped"])
            targets.append(TargetPlan(t["name"], t["type"], changes, t["summary"]["unchanged"], skipped,
                                      tuple(t["unmanaged"]), tuple(t["warnings"]), t["refreshed"]))
        return Plan(tuple(targets), doc["state"]["lineage"], int(doc["state"]["serial"]), doc["manifest_digest"],
                    tuple((m["name"], m["etag"]) for m in doc["manifests"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise PlanError(f"{where}: not a lineage-as-code plan file ({exc})") from exc
