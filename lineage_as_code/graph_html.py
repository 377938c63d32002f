"""A LineageGraph as one self-contained HTML page that a person can pan, zoom and search.

The layout (layers left to right by longest path, ordered by barycentres to limit crossings) is
computed here in time linear in the graph (bar the sorts), so it is deterministic and testable; a
small vanilla-JS renderer in the page draws it as SVG, with a level of detail that keeps every
label it shows readable. Nothing is fetched when the page is viewed. Manifest text reaches the page only as
JSON inside a ``<script type="application/json">`` block with ``<``, ``>`` and ``&`` escaped,
and the script puts it into the DOM with ``textContent`` only, so no name or SQL can inject markup.
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter, deque
from collections.abc import Sequence
from importlib import resources
from typing import Any

from .graph import PROCESS, GraphNode, LineageGraph
from .model import bulk_allocation

_CHAR_WIDTH, _PAD, _MIN_W, _MAX_CHARS = 7.0, 28.0, 110.0, 44
_ROW, _GAP = 64.0, 90.0
_PLACEHOLDER = re.compile(r"\{\{(title|style|data|script)\}\}")


def _short(label: str) -> str:
    return label if len(label) <= _MAX_CHARS else label[:_MAX_CHARS - 1] + "\u2026"


def _acyclic(count: int, nexts: Sequence[Sequence[int]]) -> list[list[int]]:
    """The successor lists without the back edges a depth-first search finds, so layering terminates."""
    state = [0] * count  # 1 on the stack, 2 done
    dag: list[list[int]] = [[] for _ in range(count)]
    for root in range(count):
        if state[root]:
            continue
        stack = [(root, iter(nexts[root]))]
        state[root] = 1
        while stack:
            node, it = stack[-1]
            child = next(it, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state[child] != 1:  # an edge back onto the stack would close a cycle: left out
                dag[node].append(child)
                if not state[child]:
                    state[child] = 1
                    stack.append((child, iter(nexts[child])))
    return dag


def _longest_path(count: int, dag: Sequence[Sequence[int]]) -> list[int]:
    """Each node's layer: the length of the longest path reaching it, in one topological pass."""
    waiting = [0] * count
    for succs in dag:
        for b in succs:
            waiting[b] += 1
    layer = [0] * count
    ready = deque(i for i in range(count) if not waiting[i])
    while ready:
        node = ready.popleft()
        for nxt in dag[node]:
            layer[nxt] = max(layer[nxt], layer[node] + 1)
            waiting[nxt] -= 1
            if not waiting[nxt]:
                ready.append(nxt)
    return layer


def _order(columns: list[list[int]], preds: Sequence[Sequence[int]], succs: Sequence[Sequence[int]]) -> None:
    """Order each column by the mean position of its neighbours in the column beside it (barycentres),
    sweeping alternately from the left and from the right; a node without such neighbours keeps its place."""
    pos = [-1] * len(preds)
    for sweep in range(4):
        forward = sweep % 2 == 0
        near = preds if forward else succs
        for c in range(1, len(columns)) if forward else range(len(columns) - 2, -1, -1):
            ref = columns[c - 1] if forward else columns[c + 1]
            for k, n in enumerate(ref):
                pos[n] = k
            keys = []
            for k, n in enumerate(columns[c]):
                ranks = [pos[m] for m in near[n] if pos[m] >= 0]
                keys.append((sum(ranks) / len(ranks) if ranks else float(k), k, n))
            for n in ref:
                pos[n] = -1
            keys.sort()
            columns[c] = [n for _, _, n in keys]


def _layers(count: int, edges: Sequence[tuple[int, int]]) -> list[list[int]]:
    """Node indexes in columns, left to right, each column ordered to limit crossings."""
    preds: list[list[int]] = [[] for _ in range(count)]
    succs: list[list[int]] = [[] for _ in range(count)]
    for a, b in edges:
        preds[b].append(a)
        succs[a].append(b)
    layer = _longest_path(count, _acyclic(count, succs))
    columns: list[list[int]] = [[] for _ in range(max(layer, default=-1) + 1)]
    for i in range(count):
        columns[layer[i]].append(i)
    _order(columns, preds, succs)
    return columns


def _name(node: GraphNode) -> str:
    """What a node is called when there is little room: an asset's own name, not its full key."""
    if node.kind == PROCESS:
        return node.label
    return node.label.rsplit(".", 1)[-1] if "." in node.label else node.label.rsplit(":", 1)[-1]


def _layer_title(nodes: Sequence[GraphNode], column: Sequence[int]) -> str:
    if Counter(nodes[i].kind for i in column).most_common(1)[0][0] == PROCESS:
        return "processes"
    return Counter(nodes[i].group for i in column if nodes[i].kind != PROCESS).most_common(1)[0][0] or "assets"


def layout_graph(graph: LineageGraph) -> dict[str, Any]:
    """The page's data: nodes with centre ``x``/``y``, width ``w``, degree and layer; edges as node
    index pairs; one title per layer (the schema most of its assets live in)."""
    with bulk_allocation():
        return _layout(graph)


def _layout(graph: LineageGraph) -> dict[str, Any]:
    nodes = graph.nodes
    index = {n.id: k for k, n in enumerate(nodes)}
    edges = [(index[a], index[b]) for a, b in graph.edges]
    place: list[tuple[float, float, float, int]] = [(0.0, 0.0, 0.0, 0)] * len(nodes)
    layers = []
    x = 0.0
    for c, column in enumerate(_layers(len(nodes), edges)):
        widths = {i: max(_MIN_W, len(_short(nodes[i].label)) * _CHAR_WIDTH + _PAD) for i in column}
        width = max(widths.values(), default=_MIN_W)
        top = -(len(column) - 1) * _ROW / 2
        for k, i in enumerate(column):
            place[i] = (x + width / 2, top + k * _ROW, widths[i], c)
        layers.append({"x": round(x + width / 2, 1), "top": round(top, 1), "w": round(width, 1),
                       "title": _layer_title(nodes, column)})
        x += width + _GAP
    degree = Counter(i for edge in edges for i in edge)
    data = [{"id": n.id, "kind": n.kind, "label": n.label, "short": _short(n.label), "name": _name(n),
             "x": round(p[0], 1), "y": round(p[1], 1), "w": round(p[2], 1), "layer": p[3], "degree": degree[k],
             "placeholder": n.placeholder, "focus": n.id == graph.focus, "details": [list(d) for d in n.details],
             "columns": [[list(src), dst, transform] for src, dst, transform in n.columns]}
            for k, (n, p) in enumerate(zip(nodes, place, strict=True))]
    return {"nodes": data, "edges": [list(e) for e in edges], "layers": layers,
            "processes": sum(1 for n in nodes if n.kind == PROCESS)}


def _script_json(data: Any) -> str:
    """JSON that cannot end its ``<script>`` element or open a comment, whatever the manifests hold."""
    text = json.dumps(data, ensure_ascii=True, sort_keys=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_graph_html(graph: LineageGraph, title: str = "Lineage") -> str:
    """The self-contained page: markup, style, the layout as JSON, and the renderer script."""
    assets = resources.files("lineage_as_code").joinpath("graph_page")
    style = assets.joinpath("graph.css").read_text(encoding="utf-8")
    script = assets.joinpath("graph.js").read_text(encoding="utf-8")
    page = assets.joinpath("graph.html").read_text(encoding="utf-8")
    with bulk_allocation():
        data = _script_json(_layout(graph))
    parts = {"title": html.escape(title), "style": style, "data": data,
             "script": script}
    # One pass, so text inside the data can never be taken for a placeholder.
    return _PLACEHOLDER.sub(lambda m: parts[m.group(1)], page)
