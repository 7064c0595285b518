"""Mermaid export: golden output, escaping and the layout choices.

Golden files live in tests/compiler/golden/; after an intended change regenerate them
with `MOTIA_UPDATE_GOLDEN=1 .venv/bin/pytest tests/compiler/test_mermaid.py` and review
the diff.
"""

from __future__ import annotations

import re

from golden_check import assert_golden
from hypothesis import given, settings
from hypothesis import strategies as st
from sample_apps import billing

from motia.compiler.ir import App, Flow, Handler, Step, Topic
from motia.compiler.mermaid import escape_label, render_mermaid

NODE = re.compile(r'^\s+(\S+?)(\["|\(\[")([^"]*)("\]|"\]\))(:::\w+)?$')
EDGE = re.compile(r"^\s+(\w+) --> (\w+)$")


def _ids(source: str) -> list[str]:
    return [m.group(1) for line in source.splitlines() if (m := NODE.match(line))]


def test_billing_matches_golden() -> None:
    assert_golden("billing.mmd", render_mermaid(billing()))


def test_output_is_deterministic() -> None:
    assert render_mermaid(billing()) == render_mermaid(billing())


def test_every_node_kind_is_styled() -> None:
    source = render_mermaid(billing())
    assert source.startswith("flowchart LR\n")
    assert 's_stripe_webhook["stripe-webhook<br/>POST /stripe/webhook"]:::api' in source
    assert 's_nightly_cleanup["nightly-cleanup<br/>every day at 03:00 (UTC)"]:::cron' in source
    assert 't_payment_received(["payment.received"]):::topic' in source
    assert 's_accountant_review["accountant-review"]:::noop' in source
    assert 's_create_invoice["create-invoice"]:::event\n' in source


def test_every_node_kind_has_a_class_coloured_as_the_workbench_legend() -> None:
    # Given any app (even one without streams or state groups)
    source = render_mermaid(billing())
    # Then each kind has exactly one classDef, in the Workbench's colours
    class_defs = [line.strip() for line in source.splitlines() if "classDef" in line]
    assert class_defs == [
        "classDef api fill:#e7f1fc,stroke:#1c7ed6",
        "classDef event fill:#e8f5ea,stroke:#2b8a3e",
        "classDef cron fill:#efeafd,stroke:#7048e8",
        "classDef noop fill:#f1f3f5,stroke:#6c757d,stroke-dasharray: 5 5",
        "classDef topic fill:#fff4e0,stroke:#b35c00",
        "classDef stream fill:#e6f6ef,stroke:#1e7a4f,stroke-dasharray: 5 5",
        "classDef state fill:#e3fafc,stroke:#0b7285",
    ]


def test_state_groups_are_drawn_with_reads_and_writes() -> None:
    # Given a step writing a group another reads, and a step doing both
    app = App(
        name="x", root="/p", flows=(Flow("f"),),
        steps=(
            Step(name="writer", type="api", method="POST", path="/a", flows=("f",),
                 state_writes=("carts",), handler=Handler("a.py")),
            Step(name="reader", type="event", flows=("f",), state_reads=("carts",),
                 handler=Handler("b.py")),
            Step(name="both", type="event", flows=("f",), state_reads=("carts",),
                 state_writes=("carts",), handler=Handler("c.py")),
        ),
    )
    source = render_mermaid(app)
    # Then the group is a parallelogram of class state, with a dotted edge per use
    assert 'g_carts[/"carts"/]:::state' in source
    assert "s_writer -.-> g_carts" in source
    assert "g_carts -.-> s_reader" in source
    assert "s_both <-.-> g_carts" in source


def test_a_step_in_two_flows_is_drawn_once_in_the_first() -> None:
    # Given get-invoice in flows billing and reporting (and nothing else in reporting)
    source = render_mermaid(billing())
    # Then it is drawn once, inside billing, and reporting has no empty subgraph
    assert _ids(source).count("s_get_invoice") == 1
    billing_block = source.split('subgraph f_billing["billing"]')[1].split("    end")[0]
    assert "s_get_invoice[" in billing_block
    assert "f_reporting" not in source


def test_steps_in_no_flow_sit_outside_subgraphs_and_edges_ignore_flows() -> None:
    # Given two steps in no flow connected by a topic
    app = App(
        name="x", root="/p", topics=(Topic("t"),),
        steps=(
            Step(name="a", type="cron", cron="* * * * *", emits=("t",),
                 handler=Handler("a.py")),
            Step(name="b", type="event", subscribes=("t",), handler=Handler("b.py")),
        ),
    )
    source = render_mermaid(app)
    assert "subgraph" not in source
    assert "    s_a --> t_t\n    t_t --> s_b\n" in source


def test_labels_escape_quotes_and_entities() -> None:
    assert escape_label('say "hi" #1 <b> & a;b') == (
        "say #quot;hi#quot; #35;1 #lt;b#gt; #amp; a#59;b"
    )
    assert escape_label("two\nlines") == "two lines"


def test_names_colliding_after_sanitising_get_suffixes() -> None:
    app = App(
        name="x", root="/p",
        flows=(Flow("a.b"), Flow("a-b")),
        steps=(
            Step(name="a.b", type="noop", flows=("a.b",)),
            Step(name="a-b", type="noop", flows=("a-b",)),
            Step(name="a_b", type="noop"),
        ),
    )
    source = render_mermaid(app)
    assert _ids(source) == ["s_a_b", "s_a_b_2", "s_a_b_3"]
    assert 'subgraph f_a_b["a.b"]' in source and 'subgraph f_a_b_2["a-b"]' in source


names = st.text(min_size=0, max_size=12)


@settings(max_examples=60, deadline=None)
@given(
    step_names=st.lists(names, min_size=1, max_size=6, unique=True),
    topic_names=st.lists(names, min_size=1, max_size=4, unique=True),
    flow_names=st.lists(names, min_size=0, max_size=3, unique=True),
)
def test_any_name_renders_with_safe_unique_ids(
    step_names: list[str], topic_names: list[str], flow_names: list[str]
) -> None:
    # Given steps, topics and flows with arbitrary names, wired to each other
    steps = tuple(
        Step(
            name=name, type="event", handler=Handler("h.py"),
            emits=(topic_names[i % len(topic_names)],),
            subscribes=(topic_names[(i + 1) % len(topic_names)],),
            flows=(flow_names[i % len(flow_names)],) if flow_names else (),
        )
        for i, name in enumerate(step_names)
    )
    app = App(name="x", root="/p", topics=tuple(Topic(n) for n in topic_names),
              flows=tuple(Flow(n) for n in flow_names), steps=steps)
    # When rendered
    source = render_mermaid(app)
    # Then every line is a known statement, ids are [A-Za-z0-9_] and unique
    ids = _ids(source)
    assert len(ids) == len(step_names) + len(topic_names)
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", node_id) for node_id in ids)
    subgraphs = re.findall(r'^    subgraph (\S+?)\["[^"]*"\]$', source, re.MULTILINE)
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", s) for s in subgraphs)
    assert not set(subgraphs) & set(ids)
    for line in source.splitlines()[1:]:
        assert (
            NODE.match(line) or EDGE.match(line) or line.strip() in ("end", "direction LR")
            or line.startswith(("    subgraph ", "    classDef "))
        ), line
    assert len([line for line in source.splitlines() if EDGE.match(line)]) == 2 * len(steps)
