"""`streams:` in the compiler: names and schemas checked like topics, each mistake located,
and every stream exported to AsyncAPI (a channel), Mermaid (a node) and HTML (a table)."""

from __future__ import annotations

from pathlib import Path

import pytest
from projects import VALID, errors_of, hints_of, write_project
from sample_apps import example_app

from motia.compiler.asyncapi import render_asyncapi
from motia.compiler.html import render_html
from motia.compiler.mermaid import render_mermaid

WRITERS = ["create-order", "charge-payment", "send-receipt"]
STREAMS = "streams:\n  orders: {schema: Order}\n"


@pytest.mark.parametrize(("text", "error", "hint"), [
    (VALID.replace("    emits: [order.placed]\n",
                   "    emits: [order.placed]\n    streams: [ordres]\n", 1) + STREAMS,
     "motia.yaml:20:15: step 'create-order' writes undeclared stream 'ordres'",
     "did you mean 'orders'?"),
    (VALID + "streams:\n  orders: {schema: Ordr}\n",
     "motia.yaml:28:20: unknown schema 'Ordr'", "did you mean 'Order'?"),
    (VALID + "streams:\n  'Bad Name': {schema: Order}\n",
     "motia.yaml:28:3: invalid key name 'Bad Name'",
     "use letters, digits, '.', '_' and '-', starting with a letter or digit"),
    (VALID + "streams:\n  orders: {schema: Order, ttl: 3}\n",
     "motia.yaml:28:27: unknown key 'ttl' in 'streams'", "allowed keys here: description, schema"),
    (VALID + STREAMS + "streams_auth: steps/auth.py\n",
     "motia.yaml:29:15: handler file 'steps/auth.py' not found",
     "create it, or run `motia compile --stubs` to generate it (paths are relative to "
     "motia.yaml)"),
    (VALID + STREAMS + "streams_auth: steps/auth.rb\n",
     "motia.yaml:29:15: unknown handler language for 'steps/auth.rb'",
     "use a file ending in .py, .js, .mjs, .cjs"),
], ids=["undeclared stream", "unknown schema", "bad name", "unknown key", "auth file missing",
        "auth language"])
def test_each_stream_mistake_is_reported_where_it_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, error: str, hint: str) -> None:
    write_project(tmp_path, text)
    monkeypatch.chdir(tmp_path)
    assert errors_of("motia.yaml") == [error]
    assert hints_of("motia.yaml") == [hint]


def test_asyncapi_has_a_channel_per_stream_and_a_send_per_writer() -> None:
    document = render_asyncapi(example_app())
    channel = document["channels"]["stream.orders"]
    assert channel["address"] == "/__motia/streams/orders/{group}"
    assert list(channel["parameters"]) == ["group"]
    message = channel["messages"]["stream.orders"]
    assert message["payload"]["properties"]["data"] == {"$ref": "#/components/schemas/OrderStatus"}
    assert message["payload"]["properties"]["op"] == {
        "enum": ["create", "update", "delete", "event"]}
    sends = {key: op for key, op in document["operations"].items() if ".stream." in key}
    assert sorted(sends) == sorted(f"{step}.send.stream.orders" for step in WRITERS)
    assert {op["action"] for op in sends.values()} == {"send"}
    assert {op["channel"]["$ref"] for op in sends.values()} == {"#/channels/stream.orders"}


def test_mermaid_draws_the_stream_beside_the_steps_that_write_it() -> None:
    lines = [line.strip() for line in render_mermaid(example_app()).splitlines()]
    assert 'r_orders[("orders")]:::stream' in lines
    assert [line for line in lines if line.endswith("-.-> r_orders")] == [
        f"s_{step.replace('-', '_')} -.-> r_orders" for step in WRITERS]
    assert any(line.startswith("classDef stream ") for line in lines)


def test_html_lists_each_stream_its_item_schema_and_writers() -> None:
    html = render_html(example_app())
    section = html[html.index('<h2 id="streams">'):html.index('<h2 id="schemas">')]
    assert "<td><strong>orders</strong><br><span class=\"muted\">Each order&#39;s status" in section
    assert ">OrderStatus</a></td>" in section
    assert f"<td>{', '.join(WRITERS)}</td>" in section
    assert '<a href="#streams">Streams</a>' in html
