"""The self-contained HTML document and the schema field tables it shows."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from sample_apps import PAYMENT, billing, chain, example_app

from motia.compiler.html import render_html
from motia.compiler.ir import App, Handler, Step, Topic
from motia.compiler.schema_fields import schema_fields


class _Collector(HTMLParser):
    """Tags with their attributes, and the text of the document."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(document: str) -> _Collector:
    collector = _Collector()
    collector.feed(document)
    collector.close()
    return collector


def test_document_references_nothing_outside_itself() -> None:
    # Given the SPEC example / When rendered
    document = render_html(billing())
    # Then no URL leaves the file: no http(s), no src, every href an in-page anchor
    assert "http://" not in document and "https://" not in document
    tags = _parse(document).tags
    assert not [t for t, attrs in tags if "src" in attrs]
    assert not [t for t, _ in tags if t in ("script", "link", "img", "iframe")]
    hrefs = [attrs["href"] for _, attrs in tags if "href" in attrs]
    ids = {attrs["id"] for _, attrs in tags if "id" in attrs}
    assert hrefs and all(h and h.startswith("#") and h[1:] in ids for h in hrefs)


def test_example_app_document_is_self_contained_and_draws_every_step() -> None:
    app = example_app()
    document = render_html(app)
    assert "http://" not in document and "https://" not in document
    drawn = {a["data-id"] for t, a in _parse(document).tags if t == "g" and "data-id" in a}
    assert {f"step:{step.name}" for step in app.steps} <= drawn


def test_every_step_and_topic_is_drawn_styled_by_kind() -> None:
    tags = _parse(render_html(billing())).tags
    drawn = {(attrs["data-id"], attrs["class"]) for t, attrs in tags
             if t == "g" and "data-id" in attrs}
    assert {
        ("step:stripe-webhook", "node n-api"),
        ("step:create-invoice", "node n-event"),
        ("step:nightly-cleanup", "node n-cron"),
        ("step:accountant-review", "node n-noop"),
        ("topic:payment.received", "node n-topic"),
    } <= drawn
    svgs = [attrs for t, attrs in tags if t == "svg"]
    # one diagram per flow plus one for the steps in no flow
    assert [s["aria-label"] for s in svgs] == ["Flow billing", "Flow reporting",
                                                "Steps in no flow"]


def test_step_table_lists_trigger_handler_and_topics() -> None:
    text = " ".join(_parse(render_html(billing())).text)
    for expected in ("POST /stripe/webhook", "steps/create_invoice.js:handler",
                     "cron 0 3 * * *", "none (noop)", "Stripe confirmed a payment"):
        assert expected in text


def test_schema_tables_show_fields_and_constraints() -> None:
    document = render_html(billing())
    assert re.search(r"<code>currency</code></td><td>string</td><td>yes</td>"
                     r"<td>pattern \^\[A-Z\]\{3\}\$</td>", document)
    assert "<h3>Schema Payment</h3>" in document
    assert "<h3>Step get-invoice: query</h3>" in document


def test_names_are_escaped() -> None:
    # Given names full of markup
    evil = '<script>alert("x")</script>'
    app = App(name=evil, root="/p", topics=(Topic(evil, description=evil),), steps=(
        Step(name=evil, type="event", subscribes=(evil,), description=evil,
             handler=Handler("a.py")),))
    document = render_html(app)
    # Then none reaches the page as markup
    assert "<script>" not in document
    assert "&lt;script&gt;" in document


def test_every_step_is_drawn_once_across_the_diagrams() -> None:
    # Given 50 steps, some in flow main and some in no flow
    tags = _parse(render_html(chain(50))).tags
    drawn = [a["data-id"] for t, a in tags if t == "g" and (a.get("data-id") or "").startswith(
        "step:")]
    # Then each step is in exactly one diagram (topics may repeat to show connections)
    assert sorted(drawn) == sorted(f"step:s{i}" for i in range(50))


def test_fields_of_nested_objects_and_arrays() -> None:
    schema = {
        "type": "object", "required": ["lines"],
        "properties": {
            "lines": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["sku"],
                "properties": {"sku": {"type": "string", "description": "stock unit"},
                               "qty": {"type": "integer", "minimum": 1, "default": 1}}}},
            "currency": {"enum": ["EUR", "USD"]},
            "note": {"type": ["string", "null"], "maxLength": 200},
        },
        "additionalProperties": False,
    }
    assert schema_fields(schema) == [
        {"field": "lines", "type": "array of object", "required": True,
         "constraints": "min items 1", "description": ""},
        {"field": "lines[].sku", "type": "string", "required": True, "constraints": "",
         "description": "stock unit"},
        {"field": "lines[].qty", "type": "integer", "required": False,
         "constraints": "min 1, default 1", "description": ""},
        {"field": "currency", "type": "enum", "required": False,
         "constraints": "one of: EUR, USD", "description": ""},
        {"field": "note", "type": "string | null", "required": False,
         "constraints": "max length 200", "description": ""},
    ]


def test_fields_of_a_scalar_schema_are_one_row() -> None:
    assert schema_fields({"type": "integer", "minimum": 0}) == [
        {"field": "(value)", "type": "integer", "required": True, "constraints": "min 0",
         "description": ""}]
    assert [r["field"] for r in schema_fields(PAYMENT)] == ["id", "amount", "currency"]


def test_state_groups_are_drawn_as_their_own_kind_and_listed() -> None:
    # Given a step writing a group another reads
    app = App(name="x", root="/p", steps=(
        Step(name="writer", type="api", method="POST", path="/a", state_writes=("carts",),
             handler=Handler("a.py")),
        Step(name="reader", type="cron", cron="*/10 * * * * *", state_reads=("carts",),
             handler=Handler("b.py")),
    ))
    document = render_html(app)
    tags = _parse(document).tags
    drawn = {(attrs["data-id"], attrs["class"]) for t, attrs in tags if t == "g" and "data-id" in attrs}
    # Then the group is a node of class n-state, in the legend and in a table of its own
    assert ("state:carts", "node n-state") in drawn
    assert "state group (kept between runs)" in document
    text = " ".join(_parse(document).text)
    assert "State groups" in text and "every 10 seconds (cron */10 * * * * *)" in text
