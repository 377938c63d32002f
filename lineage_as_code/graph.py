"""The lineage of a project as a graph, rendered as Mermaid, Graphviz DOT or a self-contained HTML page.

``lac graph`` reads the manifests, builds a LineageGraph (assets and processes as nodes, data
flowing asset -> process -> asset), optionally keeps only one node's neighbourhood (``--around``
with ``--depth`` hops upstream and downstream), and renders it. The graph is a plain value and the
renderers are pure; every label that came from a manifest is escaped for the format it enters.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

from .config import Config
from .display import escape_control
from .errors import ConfigError, StateError
from .model import Lineage, Process, bulk_allocation
from .plan.mermaid import mermaid_label
from .project import load_manifests
from .state import State, open_state_store

GRAPH_FORMATS = ("mermaid", "dot", "html")
ASSET, PROCESS = "asset", "process"


@dataclass(frozen=True)
class GraphNode:
    """An asset (id ``a:<key>``) or a process (id ``p:<process id>``) with what a viewer shows about it."""

    id: str
    kind: str
    label: str
    details: tuple[tuple[str, str], ...] = ()
    group: str = ""  # an asset's schema (or database): what names its layer on the page
    placeholder: bool = False  # an asset that every target holding it holds only as a lineage placeholder
    columns: tuple[tuple[tuple[str, ...], str, str], ...] = ()  # a process's (sources, target, transform)


@dataclass(frozen=True)
class LineageGraph:
    """Nodes sorted by id and edges (source id, target id) sorted; ``focus`` is the ``--around`` node."""

    nodes: tuple[GraphNode, ...]
    edges: tuple[tuple[str, str], ...]
    focus: str = ""

    @cached_property
    def _by_id(self) -> dict[str, GraphNode]:
        return {n.id: n for n in self.nodes}

    def node(self, node_id: str) -> GraphNode:
        """The node with ``node_id`` (KeyError when there is none), found in constant time."""
        return self._by_id[node_id]


def _process_details(proc: Process) -> tuple[tuple[str, str], ...]:
    """What the page's panel lists for a process (its column lineage has a view of its own)."""
    pairs = [("id", proc.id), ("name", proc.name), ("description", proc.description), ("owner", proc.owner),
             ("source", str(proc.source)), ("sql", proc.sql)]
    pairs += [(f"attribute {k}", v) for k, v in proc.attributes]
    return tuple((k, v) for k, v in pairs if v)


def _process_columns(proc: Process) -> tuple[tuple[tuple[str, ...], str, str], ...]:
    return tuple((tuple(str(s) for s in m.sources), str(m.target), m.transform) for m in proc.columns)


def build_graph(lineage: Lineage, placeholders: Collection[str] = ()) -> LineageGraph:
    """Every asset and process of ``lineage`` as nodes, with input -> process -> output edges.

    ``placeholders`` are the asset keys the targets hold only as lineage placeholders.
    """
    with bulk_allocation():
        return _build_graph(lineage, placeholders)


def _build_graph(lineage: Lineage, placeholders: Collection[str]) -> LineageGraph:
    nodes = [GraphNode(f"a:{key}", ASSET, key, tuple((k, v) for k, v in (
        ("key", key), ("platform", asset.platform), ("type", asset.type), ("connection", asset.connection),
        ("placeholder", "yes: the catalog holds it only as a lineage placeholder" if key in placeholders else ""))
        if v), asset.schema or asset.database or asset.platform, key in placeholders)
        for key, asset in lineage.assets.items()]
    edges: set[tuple[str, str]] = set()
    for proc in lineage.processes:
        pid = f"p:{proc.id}"
        nodes.append(GraphNode(pid, PROCESS, proc.name or proc.id, _process_details(proc),
                               columns=_process_columns(proc)))
        edges |= {(f"a:{a.key}", pid) for a in proc.inputs} | {(pid, f"a:{a.key}") for a in proc.outputs}
    return LineageGraph(tuple(sorted(nodes, key=lambda n: n.id)), tuple(sorted(edges)))


def _resolve(graph: LineageGraph, around: str) -> str:
    ids = {n.id for n in graph.nodes}
    for exact in (f"a:{around}", f"p:{around}", around):
        if exact in ids:
            return exact
    tails = [n.id for n in graph.nodes if n.kind == ASSET and n.id.endswith(("." + around, ":" + around))]
    if len(tails) == 1:
        return tails[0]
    if tails:
        raise ConfigError(f"--around {around!r} matches several assets ({', '.join(t[2:] for t in tails[:5])}); "
                          "give more of the name")
    raise ConfigError(f"--around {around!r}: no asset or process by that name in the manifests")


def _reach(start: str, edges: Iterable[tuple[str, str]], steps: int) -> set[str]:
    nexts: dict[str, list[str]] = {}
    for a, b in edges:
        nexts.setdefault(a, []).append(b)
    seen, frontier = {start}, [start]
    for _ in range(steps):
        frontier = [b for a in frontier for b in nexts.get(a, []) if b not in seen]
        seen.update(frontier)
    return seen


def select_around(graph: LineageGraph, around: str, depth: int) -> LineageGraph:
    """Keep ``around`` and what lies within ``depth`` asset hops upstream and downstream of it.

    A hop is one process (asset -> process -> asset). Raises ConfigError when ``around`` names no
    node, or a name tail matches several assets.
    """
    if depth < 0:
        raise ConfigError("--depth must be 0 or more")
    focus = _resolve(graph, around)
    steps = 2 * depth - (1 if focus.startswith("p:") else 0)
    keep = _reach(focus, graph.edges, steps) | _reach(focus, ((b, a) for a, b in graph.edges), steps)
    return LineageGraph(tuple(n for n in graph.nodes if n.id in keep),
                        tuple(e for e in graph.edges if e[0] in keep and e[1] in keep), focus)


def render_graph_mermaid(graph: LineageGraph) -> str:
    """A Mermaid flowchart: assets as boxes, processes as rounded stadiums, the focus highlighted."""
    ids = {n.id: f"n{i}" for i, n in enumerate(graph.nodes)}
    lines = ["flowchart LR"]
    for n in graph.nodes:
        label = mermaid_label(n.label)
        lines.append(f'  {ids[n.id]}(["{label}"])' if n.kind == PROCESS else f'  {ids[n.id]}["{label}"]')
    lines += [f"  {ids[a]} --> {ids[b]}" for a, b in graph.edges]
    processes = [ids[n.id] for n in graph.nodes if n.kind == PROCESS]
    lines.append("  classDef process fill:#eef6ff,stroke:#0969da")
    if processes:
        lines.append(f"  class {','.join(processes)} process")
    if graph.focus:
        lines += ["  classDef focus stroke:#bf8700,stroke-width:3px", f"  class {ids[graph.focus]} focus"]
    return "\n".join(lines) + "\n"


def dot_string(text: str) -> str:
    """``text`` as a double-quoted DOT string; control characters but newlines written out."""
    text = escape_control(text.replace("\r\n", "\n"), keep_layout=True).replace("\t", " ")
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def render_graph_dot(graph: LineageGraph) -> str:
    """A Graphviz digraph, left to right; render with ``dot -Tsvg``."""
    lines = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=11];']
    for n in graph.nodes:
        shape = 'shape=box, style="rounded,filled", fillcolor="#eef6ff"' if n.kind == PROCESS else "shape=box"
        extra = ", penwidth=3" if n.id == graph.focus else ""
        lines.append(f"  {dot_string(n.id)} [label={dot_string(n.label)}, {shape}{extra}];")
    lines += [f"  {dot_string(a)} -> {dot_string(b)};" for a, b in graph.edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class GraphRequest:
    paths: Sequence[str] = ()
    format: str = "mermaid"
    around: str | None = None
    depth: int = 1


def render_graph(graph: LineageGraph, fmt: str, title: str = "Lineage") -> str:
    """Render ``graph`` as ``mermaid``, ``dot`` or ``html``; ConfigError for another format."""
    if fmt == "mermaid":
        return render_graph_mermaid(graph)
    if fmt == "dot":
        return render_graph_dot(graph)
    if fmt == "html":
        from .graph_html import render_graph_html

        return render_graph_html(graph, title)
    raise ConfigError(f"unknown graph format {fmt!r}; choose one of {', '.join(GRAPH_FORMATS)}")


def build_placeholder_keys(state: State) -> frozenset[str]:
    """Asset keys that every target recording them holds only as a placeholder (``partial``)."""
    partial: dict[str, bool] = {}
    for entries in state.targets.values():
        for address, entry in entries.items():
            if address.startswith("asset."):
                key = address[len("asset."):]
                partial[key] = partial.get(key, True) and entry.partial
    return frozenset(k for k, p in partial.items() if p)


def read_placeholder_keys(config: Config) -> frozenset[str]:
    """The placeholders the state records; none when the state cannot be read here (a remote state
    without credentials on this machine must not stop anyone from drawing the manifests)."""
    try:
        return build_placeholder_keys(open_state_store(config.state_path).read())
    except StateError:
        return frozenset()


def render_project_graph(config: Config, request: GraphRequest) -> str:
    """Read the project's manifests (and its state, for placeholders) and render their lineage
    (or one node's neighbourhood)."""
    placeholders = read_placeholder_keys(config) if request.format == "html" else frozenset()
    graph = build_graph(load_manifests(config, request.paths).lineage, placeholders)
    title = "Lineage"
    if request.around:
        graph = select_around(graph, request.around, request.depth)
        title = f"Lineage around {graph.node(graph.focus).label}"
    return render_graph(graph, request.format, title)
