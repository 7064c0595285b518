"""The flows as a Mermaid `flowchart LR`, for READMEs and pull requests.

Layout choices:
- one subgraph per flow, in declaration order; a step in several flows is drawn once,
  in its first flow (Mermaid cannot place one node in two subgraphs), and its edges
  are all drawn, so the other flows still show it connected. A flow left with no node
  of its own gets no subgraph: Mermaid draws an empty subgraph as a stray node;
- a topic sits in the first flow of the steps touching it, outside any subgraph when
  none of them is in a flow; steps in no flow sit outside every subgraph;
- edges come from `emits` and `subscribes` alone, whatever the flows say; a stream is a
  cylinder beside the steps that write it (a dotted `writes` edge), a state group a
  parallelogram with dotted edges from its writers and to its readers (both ways for a
  step that reads and writes it);
- every node kind has a classDef, coloured as the Workbench legend (compiler/palette.py);
  a cron step's second line is its schedule in words (compiler/cron_words.py).

Any name renders: node ids are rebuilt from `[A-Za-z0-9_]` with a kind prefix (and a
numeric suffix when two names sanitise alike), and labels are quoted with Mermaid's
`#name;` entities for every character that could end or reinterpret them.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from motia.compiler._names import unique
from motia.compiler._templates import render
from motia.compiler.graph import build_graph
from motia.compiler.ir import App
from motia.compiler.palette import PALETTE

_ENTITIES = {
    '"': "#quot;",
    "#": "#35;",
    "&": "#amp;",
    "<": "#lt;",
    ">": "#gt;",
    "`": "#96;",
    ";": "#59;",
    "\\": "#92;",
}
_PREFIX = {"step": "s_", "topic": "t_", "flow": "f_", "stream": "r_", "state": "g_"}
_ARROWS = {"writes": "-.->", "reads": "-.->", "updates": "<-.->"}


def escape_label(text: str) -> str:
    """`text` safe inside a double-quoted Mermaid label (quotes become `#quot;`)."""
    flat = " ".join(text.splitlines())
    return "".join(_ENTITIES.get(char, char) for char in flat)


class _Ids:
    """Mermaid ids: ASCII letters, digits and `_`, unique across the whole chart."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], str] = {}
        self._used: set[str] = set()

    def __call__(self, kind: str, name: str) -> str:
        key = (kind, name)
        if key not in self._by_key:
            self._by_key[key] = self._fresh(_PREFIX[kind] + _sanitise(name))
        return self._by_key[key]

    def _fresh(self, base: str) -> str:
        candidate = unique(base, self._used)
        self._used.add(candidate)
        return candidate


def _sanitise(name: str) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in name)


def render_mermaid(app: App) -> str:
    """The Mermaid source of `app`'s flows (see the module docstring for the layout)."""
    graph = build_graph(app)
    ids = _Ids()
    for _, attrs in graph.nodes(data=True):
        ids(attrs["kind"], attrs["name"])
    homes = _homes(graph)
    subgraphs = []
    for flow in _flow_order(app, graph):
        members = [_node(graph.nodes[node], ids) for node in graph if homes[node] == flow]
        if members:
            subgraphs.append({"id": ids("flow", flow), "label": escape_label(flow),
                              "nodes": members})
    edges = [(_ref(graph, ids, source), _ARROWS.get(kind, "-->"),
              _ref(graph, ids, target)) for source, target, kind in graph.edges(data="kind")]
    text: str = render(
        "flowchart.mmd.j2",
        subgraphs=subgraphs,
        loose=[_node(graph.nodes[node], ids) for node in graph if homes[node] is None],
        edges=edges,
        palette=list(PALETTE.items()),
    )
    return text


def _ref(graph: nx.DiGraph, ids: _Ids, node: str) -> str:
    return ids(graph.nodes[node]["kind"], graph.nodes[node]["name"])


def _flow_order(app: App, graph: nx.DiGraph) -> list[str]:
    """Declared flows first, then any flow only a step names, by first appearance."""
    order = [flow.name for flow in app.flows]
    for _, attrs in graph.nodes(data=True):
        order += [flow for flow in attrs["flows"] if flow not in order]
    return order


def _homes(graph: nx.DiGraph) -> dict[str, str | None]:
    return {node: (attrs["flows"][0] if attrs["flows"] else None)
            for node, attrs in graph.nodes(data=True)}


def _node(attrs: dict[str, Any], ids: _Ids) -> str:
    node_id = ids(attrs["kind"], attrs["name"])
    name = escape_label(attrs["name"])
    if attrs["kind"] == "topic":
        return f'{node_id}(["{name}"]):::topic'
    if attrs["kind"] == "stream":
        return f'{node_id}[("{name}")]:::stream'
    if attrs["kind"] == "state":
        return f'{node_id}[/"{name}"/]:::state'
    kind = attrs["type"]
    if kind == "api":
        detail = escape_label(f"{attrs['method'] or ''} {attrs['path'] or ''}".strip())
        return f'{node_id}["{name}<br/>{detail}"]:::api'
    if kind == "cron":
        return f'{node_id}["{name}<br/>{escape_label(attrs["schedule"] or "")}"]:::cron'
    return f'{node_id}["{name}"]:::{kind}'
