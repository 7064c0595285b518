"""The layered left-to-right layout shared by the HTML document and the Workbench."""

from __future__ import annotations

import json
from typing import Any

from sample_apps import billing, chain

from motia.compiler.ir import App, Flow, Handler, Step, Topic
from motia.compiler.layout import NO_FLOW, layout, overlaps


def _by_id(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["id"]: n for n in data["nodes"]}


def test_fifty_steps_lay_out_without_overlaps() -> None:
    # Given an app of 50 steps and 50 topics, fanning out
    data = layout(chain(50))
    # Then every node has a box, no two boxes overlap, and all fit in the canvas
    assert len(data["nodes"]) == 100
    assert overlaps(data["nodes"]) == []
    for node in data["nodes"]:
        assert node["x"] >= 0 and node["y"] >= 0
        assert node["x"] + node["w"] <= data["width"]
        assert node["y"] + node["h"] <= data["height"]


def test_overlaps_detects_overlapping_boxes() -> None:
    boxes = [{"id": "a", "x": 0, "y": 0, "w": 10, "h": 10},
             {"id": "b", "x": 5, "y": 5, "w": 10, "h": 10},
             {"id": "c", "x": 10, "y": 0, "w": 10, "h": 8}]
    assert overlaps(boxes) == [("a", "b"), ("b", "c")]


def test_edges_point_right_along_the_flow() -> None:
    # Given the SPEC example: webhook -> payment.received -> create-invoice -> ...
    data = layout(billing())
    nodes = _by_id(data)
    chain_ids = ["step:stripe-webhook", "topic:payment.received", "step:create-invoice",
                 "topic:invoice.created", "step:accountant-review"]
    xs = [nodes[i]["x"] for i in chain_ids]
    # Then each node sits in a column right of the one before
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    assert all(not edge["back"] for edge in data["edges"])
    assert {"source": "step:stripe-webhook", "target": "topic:payment.received",
            "kind": "emits", "back": False} in data["edges"]


def test_nodes_carry_kind_type_and_labels() -> None:
    nodes = _by_id(layout(billing()))
    assert nodes["step:stripe-webhook"]["sublabel"] == "POST /stripe/webhook"
    assert nodes["step:nightly-cleanup"]["sublabel"] == "every day at 03:00"
    topic = nodes["topic:payment.received"]
    assert (topic["kind"], topic["type"], topic["label"]) == (
        "topic", "topic", "payment.received")
    assert nodes["step:accountant-review"]["type"] == "noop"


def test_cycles_are_broken_by_back_edges() -> None:
    # Given a -> t1 -> b -> t2 -> a
    app = App(name="x", root="/p", topics=(Topic("t1"), Topic("t2")), steps=(
        Step(name="a", type="event", subscribes=("t2",), emits=("t1",), handler=Handler("a.py")),
        Step(name="b", type="event", subscribes=("t1",), emits=("t2",), handler=Handler("b.py")),
    ))
    data = layout(app)
    back = [(e["source"], e["target"]) for e in data["edges"] if e["back"]]
    # Then exactly the edge closing the cycle points back, and nothing overlaps
    assert back == [("topic:t2", "step:a")]
    assert overlaps(data["nodes"]) == []


def test_a_flow_shows_its_steps_and_the_topics_they_touch() -> None:
    app = billing()
    reporting = {n["id"] for n in layout(app, "reporting")["nodes"]}
    assert reporting == {"step:get-invoice"}
    billing_flow = {n["id"] for n in layout(app, "billing")["nodes"]}
    assert "topic:payment.received" in billing_flow
    assert "step:nightly-cleanup" not in billing_flow
    assert {n["id"] for n in layout(app, NO_FLOW)["nodes"]} == {"step:nightly-cleanup"}


def test_layout_is_json_and_deterministic() -> None:
    app = chain(30)
    assert json.dumps(layout(app)) == json.dumps(layout(app))


def test_an_empty_app_has_an_empty_canvas() -> None:
    data = layout(App(name="x", root="/p", flows=(Flow("f"),)))
    assert data == {"nodes": [], "edges": [], "width": 20.0, "height": 20.0}
