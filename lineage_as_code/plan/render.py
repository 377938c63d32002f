"""Render a Plan for people: text for terminals, Markdown (with a Mermaid graph) for PR comments.

Both use the one action vocabulary (``+ create``, ``~ update``, ``- delete``). Everything that
came from a manifest is escaped before it enters Markdown or Mermaid, so a name or description
can neither inject HTML nor break the comment.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable

from ..display import escape_control
from .contract import source_file
from .diff import change_diff
from .impact import Impact
from .mermaid import render_mermaid
from .model import Action, Change, Plan, TargetPlan, column, with_action

PLAN_MARKER = "<!-- lineage-as-code:plan -->"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")


def _detail(change: Change) -> str:
    body = change.after or change.prior_body or {}
    if "inputs" in body and "outputs" in body:
        return f"{', '.join(map(str, body['inputs']))} -> {', '.join(map(str, body['outputs']))}"
    return ""


_DIFF_COLOURS = {"+": "green", "-": "red", "~": "yellow"}
SUMMARY_OVER = 1000  # changes in one target above which text and Markdown summarise (``--detail`` lists each)
DELETES_LISTED = 100  # deletes a summarised target still lists one by one
_ORDER = {Action.CREATE: 0, Action.UPDATE: 1, Action.ADOPT: 2, Action.DELETE: 3, Action.NOOP: 4}


def summarised(t: TargetPlan, detail: bool) -> bool:
    return not detail and len(t.changes) > SUMMARY_OVER


def _after_removal(t: TargetPlan, code: Callable[[str], str]) -> str:
    """What to do in state once the undeletable resources are removed by hand: ``lac state rm`` for
    resources; nothing for the edges of a process that is kept (its entry stays, with its new edges)."""
    edges = sum(1 for s in t.undeletable if ": " in s.address)
    parts = []
    if edges < len(t.undeletable):
        parts.append(f", then run {code(f'lac state rm {t.name} ADDRESS...')} for each resource")
    if edges:
        parts.append("; an edge of a process still declared needs no change in state")
    return "".join(parts)


def change_groups(t: TargetPlan) -> list[tuple[Action, str, str, int]]:
    """(action, kind, manifest file, count) for a large target: what a reviewer reads instead of every line."""
    changes = t.changes
    counted = Counter(zip(column(changes, "action"), column(changes, "kind"),
                          map(source_file, column(changes, "source"))))
    counts: Counter[tuple[Action, str, str]] = Counter()
    for (action, kind, file), n in counted.items():
        counts[action, kind, file or "(no longer in the manifests)"] += n
    return sorted(((a, k, f, n) for (a, k, f), n in counts.items()), key=lambda g: (_ORDER[g[0]], -g[3], g[1], g[2]))


def _summary_lines(t: TargetPlan, paint: Callable[[str, str], str], colours: dict[Action, str]) -> list[str]:
    out = [f"  {len(t.changes):,} changes, summarised by action, kind and manifest file ('--detail' lists each):"]
    for action, kind, file, count in change_groups(t):
        out.append(paint(escape_control(f"  {action.symbol} {count:>9,} {kind:<14} {file}"), colours.get(action, "dim")))
    deletes = with_action(t.changes, Action.DELETE)
    if deletes:
        out.append(paint("  Deletes:", "red"))
        out += [paint(escape_control(f"    - {c.address}"), "red") for c in deletes[:DELETES_LISTED]]
        if len(deletes) > DELETES_LISTED:
            out.append(paint(f"    ... and {len(deletes) - DELETES_LISTED:,} more", "red"))
    return out


def _summary_line(plan: Plan | TargetPlan, unchanged: int, skipped: int) -> str:
    adopt = plan.count(Action.ADOPT)
    return (f"{plan.count(Action.CREATE)} to create, {plan.count(Action.UPDATE)} to update, "
            f"{plan.count(Action.DELETE)} to delete, " + (f"{adopt} to adopt, " if adopt else "")
            + f"{unchanged} unchanged, {skipped} skipped")


def scope_notes(plan: Plan) -> list[str]:
    """Header lines for a plan of part of the project that leaves managed resources alone."""
    kept = sum(t.out_of_scope for t in plan.targets)
    if plan.scope.whole_project or not kept:
        return []
    return [(f"Partial plan of {', '.join(plan.scope.paths)}: only resources these files declare (or new ones) "
             f"are created, updated or deleted; {kept} managed resource(s) declared elsewhere are left as they "
             "are."), ""]


def render_text(plan: Plan, paint: Callable[[str, str], str] = lambda s, _: s, show_unmanaged: bool = False,
                detail: bool = False) -> str:
    """A terminal view: one line per change with its manifest location, then a summary. A target with
    more than ``SUMMARY_OVER`` changes is summarised by action, kind and file unless ``detail``."""
    colours = {Action.CREATE: "green", Action.UPDATE: "yellow", Action.DELETE: "red", Action.ADOPT: "cyan"}
    out: list[str] = [paint(line, "yellow") for line in scope_notes(plan)]
    for t in plan.targets:
        refreshed = "refreshed" if t.refreshed else "from state only"
        out.append(paint(escape_control(f"Target {t.name} ({t.type}, {refreshed})"), "bold"))
        if summarised(t, detail):
            out += _summary_lines(t, paint, colours)
        for c in () if summarised(t, detail) else t.changes:
            line = f"  {c.action.symbol} {c.address}"
            edges = _detail(c)
            if edges:
                line += f"  [{edges}]"
            if c.reason:
                line += f"  ({c.reason})"
            line = escape_control(line)
            if c.source:
                line += paint(escape_control(f"  {c.source}"), "dim")
            out.append(paint(line, colours[c.action]) if c.action in colours else line)
            out.extend(paint(escape_control(f"      {d}"), _DIFF_COLOURS.get(d[0], "dim")) for d in change_diff(c))
        for s in t.skipped:
            if not s.cannot_delete:
                out.append(paint(escape_control(f"  ! {s.address}: {s.reason}" + (f"  {s.source}" if s.source else "")),
                                 "yellow"))
        if t.undeletable:
            out.append(paint(f"  Cannot delete on this target ({t.type} has no delete API); remove these by hand"
                             f"{_after_removal(t, lambda x: repr(x))}:", "red"))
            out.extend(paint(escape_control(f"    - {s.address}"), "red") for s in t.undeletable)
        for w in t.warnings:
            out.append(paint(escape_control(f"  warning: {w}"), "yellow"))
        for impact in t.impacts:
            if impact.count:
                out.append(paint(escape_control(f"  ! {impact.address} breaks the upstream lineage of "
                                                f"{_impact_summary(impact)}"), "yellow"))
        if show_unmanaged and t.unmanaged:
            out.append(f"  {len(t.unmanaged)} unmanaged (in the target, not created by this tool; never touched):")
            out.extend(escape_control(f"    . {a}") for a in t.unmanaged)
        if t.requests:
            out.append(paint(f"  estimate: {estimate_text(t)}", "dim"))
        if not t.changes and not t.skipped:
            out.append("  no changes")
        out.append("")
    total_skipped = sum(len(t.skipped) for t in plan.targets)
    unchanged = sum(t.unchanged for t in plan.targets)
    out.append(paint("Plan: " + _summary_line(plan, unchanged, total_skipped) + ".", "bold"))
    return "\n".join(out) + "\n"


def escape_md(text: str) -> str:
    """Make manifest text inert in Markdown: control characters written out as ``\\xNN``, HTML
    entities for ``< > &``, backslashes for the rest."""
    text = escape_control(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return text.replace("\r", " ").replace("\n", " ")


def _fence(lines: Iterable[str], lang: str) -> str:
    body = "\n".join(lines)
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{body}\n{ticks}"


IMPACT_HEADING = "#### Downstream impact"


def estimate_text(t: TargetPlan) -> str:
    """``120 request(s), about 4 min at 30/min``."""
    text = f"{t.requests:,} request(s)"
    if t.seconds is None:
        return text
    minutes = t.seconds / 60
    if t.seconds < 1:
        return f"{text}, under a second at the rate limit"
    took = f"{t.seconds:.0f} s" if t.seconds < 90 else f"{minutes:.0f} min" if minutes < 90 else f"{minutes / 60:.1f} h"
    return f"{text}, about {took} at the rate limit"


def _impact_summary(impact: Impact, limit: int = 5) -> str:
    """``3 downstream asset(s): dashboard looker:a, table sf:b, ...``"""
    shown = [f"{kind} {key}" for kind, keys in impact.downstream for key in keys]
    rest = len(shown) - limit + impact.more if len(shown) > limit else impact.more
    return (f"{impact.count} downstream asset(s): {', '.join(shown[:limit])}"
            + (f" and {rest} more" if rest else ""))


def _impact_section(plan: Plan) -> list[str]:
    """The blast radius in a PR comment: per change that removes edges, what loses its upstream."""
    impacts = [(t, i) for t in plan.targets for i in t.impacts if i.count]
    if not impacts:
        return []
    out = ["", IMPACT_HEADING, "", ("Removed or re-pointed lineage, and the downstream assets whose upstream it "
           "breaks (dashboards first):"), ""]
    for t, i in impacts[:50]:
        removed = ", ".join(f"{a} → {b}" for a, b in i.removed[:3]) + (" ..." if len(i.removed) > 3 else "")
        out.append(f"- `{escape_md(t.name)}` {escape_md(i.address)} (removes {escape_md(removed)}): "
                   f"{escape_md(_impact_summary(i))}")
    if len(impacts) > 50:
        out.append(f"- ... and {len(impacts) - 50} more")
    return out


def render_markdown(plan: Plan, context: Iterable[tuple[str, str]] = (), detail: bool = False) -> str:
    """A PR comment: summary table, a deletion warning, changes per target, and the picture of the
    changed lineage (with ``context``, the lineage's asset edges, drawn one hop around it)."""
    unchanged = sum(t.unchanged for t in plan.targets)
    skipped = sum(len(t.skipped) for t in plan.targets)
    out = [PLAN_MARKER, "### Lineage plan", "",
           (f"**{plan.count(Action.CREATE)}** to create, **{plan.count(Action.UPDATE)}** to update, "
            f"**{plan.count(Action.DELETE)}** to delete, "
            + (f"**{plan.count(Action.ADOPT)}** to adopt, " if plan.count(Action.ADOPT) else "")
            + f"{unchanged} unchanged, {skipped} skipped."), "",
           "| Target | Type | + create | ~ update | - delete | unchanged | skipped |",
           "|---|---|--:|--:|--:|--:|--:|"]
    for t in plan.targets:
        out.append(f"| {escape_md(t.name)} | {escape_md(t.type)} | {t.count(Action.CREATE)} | {t.count(Action.UPDATE)} "
                   f"| {t.count(Action.DELETE)} | {t.unchanged} | {len(t.skipped)} |")
    costly = [t for t in plan.targets if t.requests]
    if costly:
        out += ["", "Apply estimate: " + "; ".join(f"`{escape_md(t.name)}` {estimate_text(t)}" for t in costly) + "."]
    notes = [n for n in scope_notes(plan) if n]
    notes += [f"`{escape_md(t.name)}`: {escape_md(w)}" for t in plan.targets for w in t.warnings
              if "--allow-mass-delete" in w]
    if notes:
        out += ["", "> [!IMPORTANT]"] + [f"> {n}" for n in notes]
    out += _impact_section(plan)
    deletes = [c for t in plan.targets for c in with_action(t.changes, Action.DELETE)]
    if deletes:
        out += ["", "> [!WARNING]", f"> This plan **deletes {len(deletes)}** resource(s) from the catalogs:"]
        out += [f"> - `{c.target}`: {escape_md(c.address)}" for c in deletes[:50]]
        if len(deletes) > 50:
            out.append(f"> - ... and {len(deletes) - 50} more")
    for t in plan.targets:
        if not (t.changes or t.skipped or t.warnings):
            continue
        out += ["", f"#### {escape_md(t.name)} ({escape_md(t.type)})", ""]
        if summarised(t, detail):
            out += [f"{len(t.changes):,} changes, summarised (`lac plan --detail` lists each):", "",
                    "| | count | kind | manifest |", "|---|--:|---|---|"]
            out += [f"| {action.symbol} {action.value} | {count:,} | {escape_md(kind)} | {escape_md(file)} |"
                    for action, kind, file, count in change_groups(t)]
        elif t.changes:
            lines = []
            for c in t.changes:
                line = f"{c.action.symbol} {c.address}"
                if c.reason:
                    line += f"  ({c.reason})"
                if c.source:
                    line += f"  {c.source}"
                lines.append(escape_control(line))
                lines.extend(escape_control(f"{d[0]}     {d[2:]}") for d in change_diff(c))
            out.append(_fence(lines, "diff"))
        for s in t.skipped:
            if not s.cannot_delete:
                out.append(f"- skipped {escape_md(s.address)}: {escape_md(s.reason)}")
        if t.undeletable:
            out += ["", (f"**Cannot delete on this target** ({escape_md(t.type)} has no delete API). "
                         f"These are no longer in the manifests; remove them by hand"
                         f"{_after_removal(t, lambda x: f'`{escape_md(x)}`')}:")]
            out += [f"- {escape_md(s.address)}" for s in t.undeletable]
        for w in t.warnings:
            out.append(f"- warning: {escape_md(w)}")
    graph = render_mermaid(plan, context)
    if graph:
        out += ["", "<details open><summary>Changed lineage</summary>", "", graph, "", "</details>"]
    if not plan.has_changes:
        out += ["", "No changes. The catalogs match the manifests."]
    return "\n".join(out) + "\n"
