"""The step graph: nodes, edges, flows, cycles and its JSON form."""

from __future__ import annotations

import json

from sample_apps import billing

from motia.compiler.graph import build_graph, find_cycles, graph_json
from motia.compiler.ir import App, Handler, Step, Topic


def _event(name: str, subscribes: tuple[str, ...], emits: tuple[str, ...]) -> Step:
    return Step(name=name, type="event", subscribes=subscribes, emits=emits,
                handler=Handler(f"steps/{name}.py"))


def test_every_step_and_topic_is_a_node_with_its_kind() -> None:
    # Given the SPEC example / When it is built into a graph
    graph = build_graph(billing())
    # Then steps and topics are nodes with kind-prefixed ids
    assert sorted(graph.nodes) == [
        "step:accountant-review", "step:create-invoice", "step:get-invoice",
        "step:nightly-cleanup", "step:stripe-webhook",
        "topic:invoice.created", "topic:payment.received",
    ]
    webhook = graph.nodes["step:stripe-webhook"]
    assert webhook["kind"] == "step" and webhook["type"] == "api"
    assert (webhook["method"], webhook["path"]) == ("POST", "/stripe/webhook")
    assert webhook["handler"] == "steps/stripe_webhook.py:handler"
    assert webhook["language"] == "python"
    assert graph.nodes["step:nightly-cleanup"]["cron"] == "0 3 * * *"
    topic = graph.nodes["topic:payment.received"]
    assert topic["kind"] == "topic" and topic["schema_name"] == "Payment"
    assert topic["description"] == "Stripe confirmed a payment"


def test_emits_and_subscribes_become_directed_edges() -> None:
    graph = build_graph(billing())
    edges = {(a, b): d["kind"] for a, b, d in graph.edges(data=True)}
    assert edges == {
        ("step:stripe-webhook", "topic:payment.received"): "emits",
        ("topic:payment.received", "step:create-invoice"): "subscribes",
        ("step:create-invoice", "topic:invoice.created"): "emits",
        ("topic:invoice.created", "step:accountant-review"): "subscribes",
    }


def test_noop_steps_are_drawn_without_a_handler() -> None:
    node = build_graph(billing()).nodes["step:accountant-review"]
    assert node["type"] == "noop"
    assert node["handler"] is None and node["language"] is None


def test_topics_inherit_the_flows_of_the_steps_touching_them() -> None:
    graph = build_graph(billing())
    assert graph.nodes["step:get-invoice"]["flows"] == ["billing", "reporting"]
    assert graph.nodes["step:nightly-cleanup"]["flows"] == []
    assert graph.nodes["topic:payment.received"]["flows"] == ["billing"]


def test_topic_flows_follow_declaration_order() -> None:
    # Given a topic touched by steps of flows declared as z then a
    app = App(
        name="x", root="/p", topics=(Topic("t"),),
        flows=(),
        steps=(
            Step(name="a", type="event", subscribes=("t",), flows=("z-flow",),
                 handler=Handler("a.py")),
            Step(name="b", type="event", emits=("t",), flows=("a-flow", "z-flow"),
                 handler=Handler("b.py")),
        ),
    )
    # Then undeclared flows sort by name after declared ones
    assert build_graph(app).nodes["topic:t"]["flows"] == ["a-flow", "z-flow"]


def test_a_step_and_a_topic_may_share_a_name() -> None:
    app = App(name="x", root="/p", topics=(Topic("orders"),),
              steps=(_event("orders", (), ("orders",)),))
    graph = build_graph(app)
    assert list(graph.edges) == [("step:orders", "topic:orders")]


def test_an_acyclic_app_has_no_cycles() -> None:
    assert find_cycles(build_graph(billing())) == []


def test_cycles_are_reported_as_step_names_from_the_smallest() -> None:
    # Given c -> t1 -> a -> t2 -> b -> t3 -> c, and d feeding itself
    app = App(
        name="x", root="/p", topics=(Topic("t1"), Topic("t2"), Topic("t3"), Topic("loop")),
        steps=(
            _event("c", ("t3",), ("t1",)),
            _event("b", ("t2",), ("t3",)),
            _event("a", ("t1",), ("t2",)),
            _event("d", ("loop",), ("loop",)),
        ),
    )
    # When the cycles are searched / Then both are found, deterministically ordered
    assert find_cycles(build_graph(app)) == [["a", "b", "c"], ["d"]]


def test_parallel_topics_between_two_steps_make_one_cycle() -> None:
    app = App(
        name="x", root="/p", topics=(Topic("x1"), Topic("x2"), Topic("back")),
        steps=(_event("a", ("back",), ("x1", "x2")), _event("b", ("x1", "x2"), ("back",))),
    )
    assert find_cycles(build_graph(app)) == [["a", "b"]]


def test_graph_json_is_node_link_data_and_serialisable() -> None:
    data = graph_json(billing())
    assert data["directed"] is True and data["graph"] == {"app": "billing"}
    assert data["nodes"][0]["id"] == "step:stripe-webhook"
    assert {"source": "step:stripe-webhook", "target": "topic:payment.received",
            "kind": "emits"} in data["edges"]
    assert json.dumps(data, sort_keys=True) == json.dumps(graph_json(billing()), sort_keys=True)
