"""The step graph: steps, topics, streams and state groups as nodes; emits, subscribes,
writes and reads as edges.

It is the one picture of the app every exporter and checker starts from: the compiler
warns about its cycles, `--graph` writes it as JSON for tools, and the diagrams walk it.
Node ids carry a kind prefix (`step:<name>`, `topic:<name>`) so a step and a topic may
share a name without colliding. Insertion order follows motia.yaml, which keeps every
derived output deterministic.
"""

from __future__ import annotations

from itertools import islice
from typing import Any

import networkx as nx

from motia.compiler.cron_words import describe_cron
from motia.compiler.ir import App, Step
from motia.compiler.state_groups import state_groups

MAX_CYCLES = 100
"""Cycle enumeration is exponential in the worst case; warnings need only the first few."""


def step_id(name: str) -> str:
    """The node id of step `name`."""
    return f"step:{name}"


def topic_id(name: str) -> str:
    """The node id of topic `name`."""
    return f"topic:{name}"


def stream_id(name: str) -> str:
    """The node id of stream `name`."""
    return f"stream:{name}"


def state_id(name: str) -> str:
    """The node id of state group `name`."""
    return f"state:{name}"


def build_graph(app: App) -> nx.DiGraph:
    """A DiGraph of `app`: step and topic nodes, `emits` (step -> topic) and
    `subscribes` (topic -> step) edges, each node's flows as its `flows` attribute.

    A topic's flows are the union of the flows of every step that emits or subscribes
    to it, in the order the flows are declared. Streams are nodes too (`stream:<name>`),
    with a `writes` edge from each step that declares it; they carry no events between
    steps, so they never make a cycle.
    """
    graph = nx.DiGraph(app=app.name)
    for step in app.steps:
        graph.add_node(step_id(step.name), **_step_attrs(step))
    for topic in app.topics:
        graph.add_node(
            topic_id(topic.name),
            kind="topic",
            name=topic.name,
            schema_name=topic.schema_name,
            description=topic.description,
            flows=[],
        )
    for stream in app.streams:
        graph.add_node(stream_id(stream.name), kind="stream", name=stream.name,
                       schema_name=stream.schema_name, description=stream.description, flows=[])
    for name in state_groups(app):
        graph.add_node(state_id(name), kind="state", name=name, schema_name=None,
                       description="", flows=[])
    for step in app.steps:
        _add_state_edges(graph, step)
        for name in step.streams:
            if stream_id(name) not in graph:  # undeclared: the checker reports it
                graph.add_node(stream_id(name), kind="stream", name=name, schema_name=None,
                               description="", flows=[])
            graph.add_edge(step_id(step.name), stream_id(name), kind="writes")
        for name in step.emits:
            _ensure_topic(graph, name)
            graph.add_edge(step_id(step.name), topic_id(name), kind="emits")
        for name in step.subscribes:
            _ensure_topic(graph, name)
            graph.add_edge(topic_id(name), step_id(step.name), kind="subscribes")
    _assign_topic_flows(graph, app)
    return graph


def _add_state_edges(graph: nx.DiGraph, step: Step) -> None:
    for name in step.state_writes:
        kind = "updates" if name in step.state_reads else "writes"
        graph.add_edge(step_id(step.name), state_id(name), kind=kind)
    for name in step.state_reads:
        if name not in step.state_writes:
            graph.add_edge(state_id(name), step_id(step.name), kind="reads")


def _step_attrs(step: Step) -> dict[str, Any]:
    handler = step.handler
    return {
        "kind": "step",
        "name": step.name,
        "type": step.type,
        "flows": list(step.flows),
        "description": step.description,
        "method": step.method,
        "path": step.path,
        "cron": step.cron,
        "schedule": describe_cron(step.cron, step.timezone) if step.cron else None,
        "language": handler.language if handler else None,
        "handler": f"{handler.path}:{handler.function}" if handler else None,
    }


def _ensure_topic(graph: nx.DiGraph, name: str) -> None:
    """Add an undeclared topic's node; the checker reports it, the graph still draws it."""
    node = topic_id(name)
    if node not in graph:
        graph.add_node(node, kind="topic", name=name, schema_name=None, description="", flows=[])


def _assign_topic_flows(graph: nx.DiGraph, app: App) -> None:
    rank = {flow.name: index for index, flow in enumerate(app.flows)}
    for node, attrs in graph.nodes(data=True):
        if attrs["kind"] not in ("topic", "stream", "state"):
            continue
        neighbours = [*graph.predecessors(node), *graph.successors(node)]
        flows = {flow for step in neighbours for flow in graph.nodes[step]["flows"]}
        attrs["flows"] = sorted(flows, key=lambda flow: (rank.get(flow, len(rank)), flow))


def step_graph(graph: nx.DiGraph) -> nx.DiGraph:
    """Steps only: an edge a -> b when a emits a topic b subscribes to."""
    steps = nx.DiGraph()
    for _node, attrs in graph.nodes(data=True):
        if attrs["kind"] == "step":
            steps.add_node(attrs["name"])
    for node, attrs in graph.nodes(data=True):
        if attrs["kind"] != "topic":
            continue
        for source in graph.predecessors(node):
            for target in graph.successors(node):
                steps.add_edge(graph.nodes[source]["name"], graph.nodes[target]["name"])
    return steps


def find_cycles(graph: nx.DiGraph) -> list[list[str]]:
    """Every cycle of steps (at most MAX_CYCLES), each as the step names along it.

    Each cycle starts at its alphabetically smallest step and keeps its direction; the
    list is sorted, so the same app always yields the same warnings. A step that emits
    a topic it subscribes to is a cycle of one.
    """
    found = islice(nx.simple_cycles(step_graph(graph)), MAX_CYCLES)
    return sorted(_rotate(cycle) for cycle in found)


def _rotate(cycle: list[str]) -> list[str]:
    start = cycle.index(min(cycle))
    return cycle[start:] + cycle[:start]


def graph_json(app: App) -> dict[str, Any]:
    """The graph as networkx node-link data (nodes, edges), ready for json.dump."""
    data: dict[str, Any] = nx.node_link_data(build_graph(app), edges="edges")
    return data
