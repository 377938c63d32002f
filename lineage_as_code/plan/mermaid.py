"""The Mermaid picture of a plan for a pull-request comment: what changes, and where it leads.

Every changed process is a labelled node (``+``, ``~`` or ``-`` before its name) between its input
and output assets; edges it adds are green, edges it removes red and dotted, edges an update keeps
grey. One hop of unchanged context (the assets just upstream and downstream of what changes,
from the manifests' lineage when the caller has it) is drawn greyed, placeholder assets are
dashed, and a legend names the styles. The picture is capped in edges and characters so it stays
within GitHub's Mermaid limits (500 edges, 50,000 characters) and its comment limit (65,536
characters); what does not fit is counted in an "and N more" node. Manifest text is escaped into
Mermaid entity codes, so a name can neither break the diagram nor inject markup.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..display import escape_control
from ..model import Lineage
from .model import Action, Change, Plan

MAX_EDGES = 300
MAX_CHARS = 24_000
CONTEXT_PER_ASSET = 3
_ORDER = {Action.DELETE: 0, Action.UPDATE: 1, Action.CREATE: 2}
_STYLES = {"added": "stroke:#1a7f37,stroke-width:2px", "removed": "stroke:#cf222e,stroke-width:2px",
           "kept": "stroke:#8c959f,stroke-width:1px", "context": "stroke:#d0d7de,stroke-width:1px"}
_CLASSES = ("  classDef create fill:#dafbe1,stroke:#1a7f37,color:#1f2328",
            "  classDef update fill:#fff8c5,stroke:#9a6700,color:#1f2328",
            "  classDef delete fill:#ffebe9,stroke:#cf222e,color:#1f2328",
            "  classDef asset fill:#ffffff,stroke:#57606a,color:#1f2328",
            "  classDef placeholder fill:#f6f8fa,stroke:#8c959f,stroke-dasharray:4 3,color:#59636e",
            "  classDef context fill:#f6f8fa,stroke:#d0d7de,color:#8c959f",
            "  classDef more fill:#ffffff,stroke:#ffffff,color:#59636e")
_LEGEND = ("  subgraph legend[\"Legend\"]", "    direction LR",
           '    lg1(["+ created process"]):::create', '    lg2(["~ updated process"]):::update',
           '    lg3(["- deleted process"]):::delete', '    lg4["asset"]:::asset',
           '    lg5["placeholder asset"]:::placeholder', '    lg6["unchanged context"]:::context',
           "    lg1 ~~~ lg2 ~~~ lg3 ~~~ lg4 ~~~ lg5 ~~~ lg6", "  end")  # invisible links: one row
LEGEND_TEXT = ("Edges: green = added, red dotted = removed, grey = kept by an update, light grey = "
               "unchanged context one hop away.")


def mermaid_label(text: str) -> str:
    """``text`` made safe inside a quoted Mermaid label (entity codes for quotes, brackets, markup)."""
    # '#' first: Mermaid reads '#name;' as an entity, so a literal '#' must not start one.
    text = escape_control(" ".join(text.split())).replace("#", "#35;")
    for ch, ent in (("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"), ("`", "#96;"),
                    ("|", "#124;"), ("[", "#91;"), ("]", "#93;"), ("{", "#123;"), ("}", "#125;")):
        text = text.replace(ch, ent)
    return " ".join(text.split())


def _edge_set(pairs: Iterable[Sequence[Any]]) -> set[tuple[str, str]]:
    return {(str(a), str(b)) for a, b in pairs}


def _after_before(change: Change) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    after = _edge_set(change.edges) if change.action is not Action.DELETE else set()
    return after, _edge_set((change.before or {}).get("edges", []))


def _kind(item: object, after: Collection[object], before: Collection[object]) -> str:
    return "kept" if item in after and item in before else "added" if item in after else "removed"


def _process_edges(change: Change) -> list[tuple[str, str, str]]:
    """The (from, to, kind) edges of one process change, through the process node ``@``."""
    after, before = _after_before(change)
    out = []
    for pick, to_process in ((0, True), (1, False)):
        now, was = {e[pick] for e in after}, {e[pick] for e in before}
        for asset in sorted(now | was):
            kind = _kind(asset, now, was)
            out.append((asset, "@", kind) if to_process else ("@", asset, kind))
    return out


@dataclass
class _Picture:
    """The diagram being built: node ids by key, node lines, edges with their style kind."""

    nodes: dict[str, str] = field(default_factory=dict)
    node_lines: list[str] = field(default_factory=list)
    edges: list[tuple[str, str, str]] = field(default_factory=list)
    chars: int = 0

    def node(self, key: str, line: str) -> str:
        if key not in self.nodes:
            self.nodes[key] = f"n{len(self.nodes)}"
            self.node_lines.append(line.format(id=self.nodes[key]))
            self.chars += len(self.node_lines[-1]) + 1
        return self.nodes[key]

    def edge(self, a: str, b: str, kind: str) -> None:
        self.edges.append((a, b, kind))
        self.chars += len(a) + len(b) + 8


def _asset_line(key: str, placeholders: set[str]) -> str:
    style = "placeholder" if key in placeholders else "asset"
    return '  {id}["' + mermaid_label(key) + '"]:::' + style


def _process_name(change: Change) -> str:
    name = (change.after or {}).get("name") or (change.before or {}).get("name") or ""
    return str(name) or change.address.split(".", 1)[-1]


def _draw_change(pic: _Picture, change: Change, placeholders: set[str]) -> None:
    """A process between its assets; an edge resource (Secoda's) as a direct asset-to-asset edge.
    A process several targets change is drawn once."""
    if change.kind.endswith("edge"):
        after, before = _after_before(change)
        for pair in sorted(after | before):
            ids = [pic.node(end, _asset_line(end, placeholders)) for end in pair]
            pic.edge(ids[0], ids[1], _kind(pair, after, before))
        return
    key = f"@{change.address}"
    if key in pic.nodes:
        return
    label = f"{change.action.symbol} {_process_name(change)}"
    pid = pic.node(key, '  {id}(["' + mermaid_label(label) + '"]):::' + change.action.value)
    for a, b, kind in _process_edges(change):
        ends = [pid if end == "@" else pic.node(end, _asset_line(end, placeholders)) for end in (a, b)]
        pic.edge(ends[0], ends[1], kind)


def _draw_context(pic: _Picture, context: Iterable[tuple[str, str]], budget: int) -> None:
    """Unchanged neighbours, one hop from the assets drawn, a few per asset, greyed."""
    shown = {k for k in pic.nodes if not k.startswith("@")}
    per_asset: dict[tuple[str, int], int] = {}
    for src, dst in sorted(set(context)):
        if (src in shown) == (dst in shown) or len(pic.edges) >= budget:
            continue
        anchor, side = (src, 1) if src in shown else (dst, 0)
        if per_asset.get((anchor, side), 0) >= CONTEXT_PER_ASSET:
            continue
        per_asset[(anchor, side)] = per_asset.get((anchor, side), 0) + 1
        other = dst if side else src
        oid = pic.node(other, '  {id}["' + mermaid_label(other) + '"]:::context')
        pic.edge(pic.nodes[src] if side else oid, oid if side else pic.nodes[dst], "context")


def _changed_processes(plan: Plan) -> list[Change]:
    drawn = [c for c in plan.changes if c.action in _ORDER and (c.edges or (c.before or {}).get("edges"))]
    return sorted(drawn, key=lambda c: (_ORDER[c.action], c.target, c.address))


def _placeholders(plan: Plan) -> set[str]:
    return {str((c.after or {}).get("key") or c.address.split(".", 1)[-1]) for c in plan.changes
            if c.action is not Action.DELETE and isinstance(c.after, Mapping) and c.after.get("partial")}


def build_context_edges(lineage: Lineage) -> list[tuple[str, str]]:
    """Every (input asset, output asset) pair of ``lineage``: the context a plan's picture draws from."""
    return [edge for process in lineage.processes for edge in process.edges]


def render_mermaid(plan: Plan, context: Iterable[tuple[str, str]] = (), max_edges: int = MAX_EDGES,
                   max_chars: int = MAX_CHARS) -> str | None:
    """The plan's picture as a fenced ``mermaid`` block, or None when no lineage changes.

    ``context`` is the (upstream, downstream) asset pairs of the whole lineage; without it, only
    the plan's own edges are drawn. Returns at most ``max_edges`` edges and about ``max_chars``.
    """
    changes = _changed_processes(plan)
    if not changes:
        return None
    pic = _Picture()
    placeholders = _placeholders(plan)
    drawn = 0
    for change in changes:
        size = len(_process_edges(change))
        if drawn and (len(pic.edges) + size > max_edges or pic.chars > max_chars):
            break
        _draw_change(pic, change, placeholders)
        drawn += 1
    if drawn == len(changes):
        _draw_context(pic, context, max_edges)
    lines = ["flowchart LR", *_CLASSES, *pic.node_lines]
    lines += [f"  {a} {'-.->' if kind == 'removed' else '-->'} {b}" for a, b, kind in pic.edges]
    if drawn < len(changes):
        lines.append(f'  more["… and {len(changes) - drawn} more changed processes, listed above"]:::more')
    for kind, style in _STYLES.items():
        indexes = [str(i) for i, e in enumerate(pic.edges) if e[2] == kind]
        if indexes:
            lines.append(f"  linkStyle {','.join(indexes)} {style}")
    lines += _LEGEND
    return "```mermaid\n" + "\n".join(lines) + "\n```\n\n" + LEGEND_TEXT
