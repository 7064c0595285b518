"""A left-to-right layered layout of the step graph, as plain JSON-ready data.

The HTML document draws it as SVG and the Workbench page fetches the same data, so both
show the same picture. The method is the classic layered one, kept small:
1. cycles are broken by ignoring the edges that close them (found by a depth-first
   search in motia.yaml order), so every remaining edge points right;
2. each node's column is the longest path reaching it, except that a source sits just
   left of its nearest successor (a topic fed from outside the flow stays next to its
   subscriber instead of at the far left);
3. within a column nodes start in flow then motia.yaml order, then a few barycenter
   sweeps pull each node towards its neighbours to cut edge crossings;
4. columns are as wide as their widest node and nodes are stacked with a gap, so no two
   boxes can overlap whatever the labels.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import networkx as nx

from motia.compiler.cron_words import describe_cron
from motia.compiler.graph import build_graph
from motia.compiler.ir import App

NO_FLOW = ""
"""Pass as `flow` to lay out only the steps that belong to no flow."""

CHAR_W, PAD_X, MIN_W, MAX_W = 7.0, 14.0, 96.0, 240.0
STEP_H, STEP_H_SUB, TOPIC_H = 36.0, 48.0, 32.0
GAP_X, GAP_Y, MARGIN = 64.0, 20.0, 20.0
SWEEPS = 4


def layout(app: App, flow: str | None = None) -> dict[str, Any]:
    """Positions of `app`'s nodes and edges: `{nodes, edges, width, height}`.

    `flow` restricts the picture to one flow's steps and the topics they touch
    (`NO_FLOW` for the steps in no flow); None lays out the whole app. Each node is
    `{id, name, kind, type, label, sublabel, flows, x, y, w, h}` with (x, y) its top-left
    corner; each edge is `{source, target, kind, back}`, `back` marking edges that close
    a cycle and so point leftwards.
    """
    graph = _subgraph(build_graph(app), flow)
    back = _back_edges(graph)
    columns = _columns(graph, back)
    order = _order(graph, columns, _flow_rank(app))
    nodes = _place(graph, order)
    edges = [{"source": s, "target": t, "kind": d["kind"], "back": (s, t) in back}
             for s, t, d in graph.edges(data=True)]
    width = max((n["x"] + n["w"] for n in nodes), default=0.0) + MARGIN
    height = max((n["y"] + n["h"] for n in nodes), default=0.0) + MARGIN
    return {"nodes": nodes, "edges": edges, "width": width, "height": height}


def _subgraph(graph: nx.DiGraph, flow: str | None) -> nx.DiGraph:
    if flow is None:
        return graph
    steps = [n for n, d in graph.nodes(data=True) if d["kind"] == "step"
             and (flow in d["flows"] if flow != NO_FLOW else not d["flows"])]
    topics = {t for s in steps for t in (*graph.predecessors(s), *graph.successors(s))}
    keep = set(steps) | topics
    return graph.subgraph([n for n in graph if n in keep]).copy()


def _back_edges(graph: nx.DiGraph) -> set[tuple[str, str]]:
    """Edges closing a cycle, found by an iterative DFS in insertion order."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    back: set[tuple[str, str]] = set()
    for root in graph:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(list(graph.successors(root))))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                back.add((node, child))
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(list(graph.successors(child)))))
    return back


def _columns(graph: nx.DiGraph, back: set[tuple[str, str]]) -> dict[str, int]:
    dag = nx.DiGraph()
    dag.add_nodes_from(graph)
    dag.add_edges_from(edge for edge in graph.edges if edge not in back)
    index = {node: i for i, node in enumerate(graph)}
    column: dict[str, int] = {}
    for node in nx.lexicographical_topological_sort(dag, key=index.__getitem__):
        column[node] = max((column[p] + 1 for p in dag.predecessors(node)), default=0)
    for node in dag:
        if dag.in_degree(node) == 0 and dag.out_degree(node):
            column[node] = min(column[s] for s in dag.successors(node)) - 1
    return column


def _flow_rank(app: App) -> dict[str, int]:
    return {flow.name: index for index, flow in enumerate(app.flows)}


def _order(graph: nx.DiGraph, columns: dict[str, int], rank: dict[str, int]) -> list[list[str]]:
    """Nodes of each column, top to bottom."""
    position = {node: index for index, node in enumerate(graph)}

    def start(node: str) -> tuple[int, int]:
        flows = graph.nodes[node]["flows"]
        return (rank.get(flows[0], len(rank)) if flows else len(rank) + 1, position[node])

    layers: list[list[str]] = [[] for _ in range(max(columns.values(), default=-1) + 1)]
    for node in sorted(graph, key=start):
        layers[columns[node]].append(node)
    for sweep in range(SWEEPS):
        forward = sweep % 2 == 0
        indices = range(1, len(layers)) if forward else range(len(layers) - 2, -1, -1)
        for i in indices:
            fixed = layers[i - 1] if forward else layers[i + 1]
            layers[i] = _barycenter(graph, layers[i], fixed, forward)
    return layers


def _barycenter(graph: nx.DiGraph, layer: list[str], fixed: list[str],
                forward: bool) -> list[str]:
    slot = {node: index for index, node in enumerate(fixed)}

    def key(item: tuple[int, str]) -> tuple[float, int]:
        index, node = item
        neighbours = graph.predecessors(node) if forward else graph.successors(node)
        found = [slot[n] for n in neighbours if n in slot]
        return (sum(found) / len(found) if found else float(index), index)

    return [node for _, node in sorted(enumerate(layer), key=key)]


def _place(graph: nx.DiGraph, layers: list[list[str]]) -> list[dict[str, Any]]:
    boxes = [[_box(node, graph.nodes[node]) for node in layer] for layer in layers]
    heights = [sum(b["h"] for b in col) + GAP_Y * max(len(col) - 1, 0) for col in boxes]
    tallest = max(heights, default=0.0)
    nodes: list[dict[str, Any]] = []
    x = MARGIN
    for column, height in zip(boxes, heights, strict=True):
        y = MARGIN + (tallest - height) / 2
        width = max((b["w"] for b in column), default=0.0)
        for box in column:
            box["x"], box["y"] = x + (width - box["w"]) / 2, y
            y += box["h"] + GAP_Y
            nodes.append(box)
        x += width + GAP_X
    return nodes


def _box(node: str, attrs: dict[str, Any]) -> dict[str, Any]:
    kind = attrs["kind"]
    sublabel = _sublabel(attrs) if kind == "step" else ""
    longest = max(len(attrs["name"]), len(sublabel))
    height = TOPIC_H if kind in ("topic", "stream", "state") else STEP_H_SUB if sublabel else STEP_H
    return {
        "id": node,
        "name": attrs["name"],
        "kind": kind,
        "type": attrs["type"] if kind == "step" else kind,
        "label": attrs["name"],
        "sublabel": sublabel,
        "flows": list(attrs["flows"]),
        "w": min(max(longest * CHAR_W + 2 * PAD_X, MIN_W), MAX_W),
        "h": height,
    }


def _sublabel(attrs: dict[str, Any]) -> str:
    if attrs["type"] == "api":
        return f"{attrs['method'] or ''} {attrs['path'] or ''}".strip()
    if attrs["type"] == "cron":
        return describe_cron(attrs["cron"], zone=False) if attrs["cron"] else "cron"
    return "noop" if attrs["type"] == "noop" else ""


def overlaps(nodes: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    """Pairs of node boxes that overlap (an empty list for every layout() result)."""
    boxes = sorted(nodes, key=lambda n: n["x"])
    found = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if b["x"] >= a["x"] + a["w"]:
                break
            if a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]:
                found.append((a["id"], b["id"]))
    return found
