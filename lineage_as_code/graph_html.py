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

from .display import escape_control
from .graph import PROCESS, GraphNode, LineageGraph
from .model import bulk_allocation

_CHAR_WIDTH, _PAD, _MIN_W, _MAX_CHARS = 7.0, 28.0, 110.0, 44
_ROW, _GAP = 64.0, 90.0
_ASPECT, _MIN_ROWS, _BAND_GAP = 0.55, 24, 30.0  # height / width of a screen; shortest wrapped column
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


def _rows_per_band(heights: Sequence[int], widths: Sequence[float]) -> int:
    """How many nodes a column holds before it wraps into another band beside it: the fewest (but at
    least _MIN_ROWS) that make the whole layout about as tall, for its width, as a screen (_ASPECT).
    Without this a large warehouse is one very tall strip that fits the screen only as a hairline."""
    tallest = max(heights, default=0)

    def ratio(rows: int) -> float:
        width = sum(-(-h // rows) * (w + _BAND_GAP) for h, w in zip(heights, widths, strict=True))
        return min(rows, tallest) * _ROW / max(width + _GAP * len(heights), 1.0)

    lo, hi = _MIN_ROWS, max(tallest, _MIN_ROWS)
    while lo < hi:  # the ratio grows with the rows: bisect for the first that is tall enough
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ratio(mid) >= _ASPECT else (mid + 1, hi)
    return lo


def _layout(graph: LineageGraph) -> dict[str, Any]:
    nodes = graph.nodes
    index = {n.id: k for k, n in enumerate(nodes)}
    edges = [(index[a], index[b]) for a, b in graph.edges]
    columns = _layers(len(nodes), edges)
    widths = [max(_MIN_W, len(_short(n.label)) * _CHAR_WIDTH + _PAD) for n in nodes]
    column_widths = [max((widths[i] for i in column), default=_MIN_W) for column in columns]
    rows = _rows_per_band([len(c) for c in columns], column_widths)
    place: list[tuple[float, float, float, int]] = [(0.0, 0.0, 0.0, 0)] * len(nodes)
    layers = []
    x = 0.0
    for c, (column, width) in enumerate(zip(columns, column_widths, strict=True)):
        top = -(min(len(column), rows) - 1) * _ROW / 2
        for k, i in enumerate(column):
            place[i] = (x + (k // rows) * (width + _BAND_GAP) + width / 2, top + (k % rows) * _ROW, widths[i], c)
        bands = max(-(-len(column) // rows), 1)
        span = bands * (width + _BAND_GAP) - _BAND_GAP
        layers.append({"x": round(x + span / 2, 1), "top": round(top, 1), "w": round(width, 1),
                       "gap": _BAND_GAP if bands > 1 else _GAP, "title": _layer_title(nodes, column)})
        x += span + _GAP
    degree = Counter(i for edge in edges for i in edge)
    data = [{"id": n.id, "kind": n.kind, "label": escape_control(n.label),
             "short": escape_control(_short(n.label)), "name": escape_control(_name(n)),
             "x": round(p[0], 1), "y": round(p[1], 1), "w": round(p[2], 1), "layer": p[3], "degree": degree[k],
             "placeholder": n.placeholder, "focus": n.id == graph.focus, "details": [[escape_control(k), escape_control(v, keep_layout=True)] for k, v in n.details],
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
