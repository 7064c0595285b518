"""AsyncAPI 3.0 export of the topics.

Validation uses the official AsyncAPI 3.0 JSON Schema, which ships in the npm package
@asyncapi/specs (schemas/3.0.0.json, a bundled draft-07 schema; no PyPI package carries
it). It is looked up at $MOTIA_ASYNCAPI_SCHEMA, then at
node_modules/@asyncapi/specs/schemas/3.0.0.json in the repository
(`npm install --no-save @asyncapi/specs@6.11.1`). Absent, that test skips, or fails
under MOTIA_REQUIRE_SERVICES=1 as CI runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from sample_apps import PAYMENT, billing, example_app

from motia.compiler.asyncapi import render_asyncapi
from motia.compiler.ir import App, Handler, Step, Topic

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "node_modules/@asyncapi/specs/schemas/3.0.0.json"


def _official_schema() -> dict[str, Any]:
    path = Path(os.environ.get("MOTIA_ASYNCAPI_SCHEMA") or SPEC)
    if not path.is_file():
        reason = (f"AsyncAPI 3.0 JSON Schema not found at {path}; run "
                  "`npm install --no-save @asyncapi/specs@6.11.1` in the repository")
        if os.environ.get("MOTIA_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason} (MOTIA_REQUIRE_SERVICES=1)", pytrace=False)
        pytest.skip(reason)
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


def _violations(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(_official_schema())
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def _event(name: str, subscribes: tuple[str, ...] = (), emits: tuple[str, ...] = ()) -> Step:
    return Step(name=name, type="event", subscribes=subscribes, emits=emits,
                handler=Handler(f"{name}.py"))


def test_billing_validates_against_the_official_schema() -> None:
    assert _violations(render_asyncapi(billing())) == []


def test_example_app_validates_against_the_official_schema() -> None:
    document = render_asyncapi(example_app())
    assert document["channels"] and document["operations"]
    assert _violations(document) == []


def test_the_official_schema_rejects_a_broken_document() -> None:
    # Guards the validation above: the schema in use really checks operations
    document = render_asyncapi(billing())
    operation = next(iter(document["operations"].values()))
    operation["action"] = "publish"
    assert _violations(document)


def test_one_channel_per_topic_with_its_payload() -> None:
    document = render_asyncapi(billing())
    assert document["asyncapi"] == "3.0.0"
    assert list(document["channels"]) == ["payment.received", "invoice.created"]
    channel = document["channels"]["payment.received"]
    assert channel["address"] == "payment.received"
    assert channel["description"] == "Stripe confirmed a payment"
    assert channel["messages"]["payment.received"]["payload"] == {
        "$ref": "#/components/schemas/Payment"}
    assert document["components"]["schemas"]["Payment"] == PAYMENT


def test_emitters_send_and_subscribers_receive() -> None:
    operations = render_asyncapi(billing())["operations"]
    summary = {key: (op["action"], op["x-motia-step"], op["channel"]["$ref"])
               for key, op in operations.items()}
    assert summary == {
        "stripe-webhook.send.payment.received":
            ("send", "stripe-webhook", "#/channels/payment.received"),
        "create-invoice.send.invoice.created":
            ("send", "create-invoice", "#/channels/invoice.created"),
        "create-invoice.receive.payment.received":
            ("receive", "create-invoice", "#/channels/payment.received"),
        "accountant-review.receive.invoice.created":
            ("receive", "accountant-review", "#/channels/invoice.created"),
    }
    review = operations["accountant-review.receive.invoice.created"]
    assert review["x-motia-step-type"] == "noop"
    assert review["messages"] == [
        {"$ref": "#/channels/invoice.created/messages/invoice.created"}]
    assert review["tags"] == [{"name": "billing"}]


def test_odd_names_get_safe_unique_ids_and_keep_their_address() -> None:
    # Given topics whose names collide once made safe for $ref pointers
    app = App(name="a", root="/p", topics=(Topic("a/b"), Topic("a b")),
              steps=(_event("s", subscribes=("a/b",), emits=("a b",)),))
    document = render_asyncapi(app)
    assert {k: c["address"] for k, c in document["channels"].items()} == {
        "a_b": "a/b", "a_b_2": "a b"}
    assert document["operations"]["s.send.a_b"]["channel"] == {"$ref": "#/channels/a_b_2"}
    assert "components" not in document
    assert _violations(document) == []


def test_topics_without_schema_have_no_payload() -> None:
    app = App(name="a", root="/p", topics=(Topic("t"),), steps=(_event("s", ("t",)),))
    message = render_asyncapi(app)["channels"]["t"]["messages"]["t"]
    assert "payload" not in message
