"""A LineageGraph as one self-contained HTML page that a person can pan, zoom and search.

The layout (layers left to right by longest path, ordered by barycentres to limit crossings) is
computed here, so it is deterministic and testable; a small vanilla-JS renderer in the page draws
it as SVG. Nothing is fetched when the page is viewed. Manifest text reaches the page only as
JSON inside a ``<script type="application/json">`` block with ``<``, ``>`` and ``&`` escaped,
and the script puts it into the DOM with ``textContent`` only, so no name or SQL can inject markup.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from importlib import resources
from typing import Any

from .display import escape_control
from .graph import PROCESS, LineageGraph

_CHAR_WIDTH, _PAD, _MIN_W, _MAX_CHARS = 7.0, 28.0, 110.0, 44
_ROW, _GAP = 64.0, 90.0
_PLACEHOLDER = re.compile(r"\{\{(title|style|data|script)\}\}")


def _short(label: str) -> str:
    return label if len(label) <= _MAX_CHARS else label[:_MAX_CHARS - 1] + "\u2026"


def _acyclic(ids: Sequence[str], edges: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """``edges`` without the back edges found by a depth-first search, so layering terminates."""
    nexts: dict[str, list[str]] = {i: [] for i in ids}
    for a, b in edges:
        nexts[a].append(b)
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    back: set[tuple[str, str]] = set()
    for root in ids:
        if root in state:
            continue
        stack = [(root, iter(nexts[root]))]
        state[root] = 1
        while stack:
            node, it = stack[-1]
            child = next(it, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                back.add((node, child))
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(nexts[child])))
    return [e for e in edges if e not in back]


def _layers(ids: Sequence[str], edges: Sequence[tuple[str, str]]) -> list[list[str]]:
    dag = _acyclic(ids, edges)
    layer = {i: 0 for i in ids}
    for _ in range(len(ids)):  # longest path by relaxation; the DAG bounds the rounds
        changed = False
        for a, b in dag:
            if layer[b] < layer[a] + 1:
                layer[b], changed = layer[a] + 1, True
        if not changed:
            break
    columns: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for i in ids:
        columns[layer[i]].append(i)
    preds: dict[str, list[str]] = {i: [] for i in ids}
    succs: dict[str, list[str]] = {i: [] for i in ids}
    for a, b in edges:
        preds[b].append(a)
        succs[a].append(b)
    for sweep in range(4):  # barycentre ordering, alternately from the left and from the right
        order = range(1, len(columns)) if sweep % 2 == 0 else range(len(columns) - 2, -1, -1)
        near = preds if sweep % 2 == 0 else succs
        for c in order:
            ref = columns[c - 1] if sweep % 2 == 0 else columns[c + 1]
            pos = {n: k for k, n in enumerate(ref)}

            def centre(n: str, k: int, pos: dict[str, int] = pos, near: dict[str, list[str]] = near) -> float:
                ranks = [pos[m] for m in near[n] if m in pos]
                return sum(ranks) / len(ranks) if ranks else float(k)

            columns[c] = [n for _, n in sorted(((centre(n, k), k), n) for k, n in enumerate(columns[c]))]
    return columns


def layout_graph(graph: LineageGraph) -> dict[str, Any]:
    """The page's data: nodes with centre ``x``/``y`` and width ``w``, edges as node index pairs."""
    ids = [n.id for n in graph.nodes]
    columns = _layers(ids, graph.edges)
    place: dict[str, tuple[float, float, float]] = {}
    x = 0.0
    for column in columns:
        widths = {i: max(_MIN_W, len(_short(graph.node(i).label)) * _CHAR_WIDTH + _PAD) for i in column}
        width = max(widths.values(), default=_MIN_W)
        top = -(len(column) - 1) * _ROW / 2
        for k, i in enumerate(column):
            place[i] = (x + width / 2, top + k * _ROW, widths[i])
        x += width + _GAP
    index = {i: k for k, i in enumerate(ids)}
    nodes = [{"id": n.id, "kind": n.kind, "label": escape_control(n.label), "short": escape_control(_short(n.label)),
              "x": round(place[n.id][0], 1), "y": round(place[n.id][1], 1), "w": round(place[n.id][2], 1),
              "focus": n.id == graph.focus,
              "details": [[escape_control(k), escape_control(v, keep_layout=True)] for k, v in n.details]}
             for n in graph.nodes]
    return {"nodes": nodes, "edges": [[index[a], index[b]] for a, b in graph.edges],
            "processes": sum(1 for n in graph.nodes if n.kind == PROCESS)}


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
    parts = {"title": html.escape(title), "style": style, "data": _script_json(layout_graph(graph)),
             "script": script}
    # One pass, so text inside the data can never be taken for a placeholder.
    return _PLACEHOLDER.sub(lambda m: parts[m.group(1)], page)
