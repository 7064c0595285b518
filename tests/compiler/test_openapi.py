"""OpenAPI 3.1 export of the API steps.

The document is validated with openapi-spec-validator when it is installed (the `test`
extra lists it); the structural tests run regardless.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sample_apps import PAYMENT, billing, example_app

from motia.compiler.ir import App, Handler, Response, Step
from motia.compiler.openapi import render_openapi

ORDER_WITH_DEFS = {
    "type": "object",
    "properties": {"lines": {"type": "array", "items": {"$ref": "#/$defs/Line"}}},
    "$defs": {"Line": {"type": "object", "properties": {"sku": {"type": "string"}}}},
}


def _refs(node: Any) -> list[str]:
    if isinstance(node, list):
        return [r for item in node for r in _refs(item)]
    if not isinstance(node, dict):
        return []
    own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
    return own + [r for value in node.values() for r in _refs(value)]


def _resolve(document: dict[str, Any], reference: str) -> Any:
    node: Any = document
    for part in reference.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _validate(document: dict[str, Any]) -> None:
    """Every local $ref resolves (the validator does not look inside schemas), and the
    document passes openapi-spec-validator when that is installed."""
    for reference in _refs(document):
        assert isinstance(_resolve(document, reference), dict), reference
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(json.loads(json.dumps(document)))


def _api(name: str, **fields: Any) -> Step:
    fields.setdefault("method", "POST")
    fields.setdefault("path", f"/{name}")
    return Step(name=name, type="api", handler=Handler(f"{name}.py"), **fields)


def test_billing_document_validates() -> None:
    _validate(render_openapi(billing()))


def test_example_app_document_validates() -> None:
    document = render_openapi(example_app())
    _validate(document)
    assert document["paths"]


def test_operations_are_keyed_by_path_and_method() -> None:
    # Given the SPEC example / When exported
    document = render_openapi(billing())
    # Then each API step is one operation named after it, tagged with its flows
    assert document["openapi"] == "3.1.0"
    assert list(document["paths"]) == ["/stripe/webhook", "/invoices/{id}"]
    webhook = document["paths"]["/stripe/webhook"]["post"]
    assert webhook["operationId"] == "stripe-webhook"
    assert webhook["tags"] == ["billing"]
    assert webhook["x-motia-emits"] == ["payment.received"]
    assert document["tags"] == [
        {"name": "billing", "description": "From the payment webhook to the invoice e-mail"},
        {"name": "reporting"},
    ]


def test_named_body_schema_is_a_component_ref() -> None:
    document = render_openapi(billing())
    body = document["paths"]["/stripe/webhook"]["post"]["requestBody"]
    assert body == {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Payment"}}}}
    assert document["components"]["schemas"]["Payment"] == PAYMENT


def test_path_and_query_parameters() -> None:
    get = render_openapi(billing())["paths"]["/invoices/{id}"]["get"]
    assert get["parameters"] == [
        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
        {"name": "verbose", "in": "query", "required": False, "schema": {"type": "boolean"}},
    ]
    assert "requestBody" not in get


def test_query_required_and_descriptions_carry_over() -> None:
    query = {"type": "object", "required": ["q"],
             "properties": {"q": {"type": "string", "description": "search text"}}}
    document = render_openapi(App(name="a", root="/p",
                                  steps=(_api("search", method="GET", query=query),)))
    (parameter,) = document["paths"]["/search"]["get"]["parameters"]
    assert parameter == {"name": "q", "in": "query", "required": True,
                         "schema": {"type": "string", "description": "search text"},
                         "description": "search text"}


def test_declared_responses_and_gateway_errors() -> None:
    # Given a step declaring 201 with a schema and 204 with none
    step = _api("orders", responses=(Response(201, {"type": "object"}), Response(204)))
    responses = render_openapi(App(name="a", root="/p", steps=(step,)))["paths"]["/orders"][
        "post"]["responses"]
    # Then they are kept, no generic 200 is added, and the gateway's errors are listed
    assert list(responses) == ["201", "204", "400", "413", "500", "502", "504"]
    assert responses["201"]["content"]["application/json"]["schema"] == {"type": "object"}
    assert responses["204"] == {"description": "No Content"}
    assert responses["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ValidationError"}
    assert responses["504"]["description"] == "Gateway Timeout"


def test_steps_without_responses_get_a_generic_200() -> None:
    responses = render_openapi(App(name="a", root="/p", steps=(_api("x", method="GET"),)))[
        "paths"]["/x"]["get"]["responses"]
    assert responses["200"] == {"description": "OK",
                                "content": {"application/json": {"schema": {}}}}
    assert "413" not in responses


def test_local_refs_are_rebased_into_components() -> None:
    # Given a named schema and an inline schema, both using #/$defs references
    app = App(name="a", root="/p", schemas=(("Order", ORDER_WITH_DEFS),),
              steps=(_api("named", body=ORDER_WITH_DEFS),
                     _api("inline", body={**ORDER_WITH_DEFS, "title": "inline"})))
    document = render_openapi(app)
    schemas = document["components"]["schemas"]
    # Then each lives in components with references pointing inside itself
    assert schemas["Order"]["properties"]["lines"]["items"] == {
        "$ref": "#/components/schemas/Order/$defs/Line"}
    assert schemas["inline.body"]["properties"]["lines"]["items"] == {
        "$ref": "#/components/schemas/inline.body/$defs/Line"}
    body = document["paths"]["/inline"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/inline.body"}
    _validate(document)


def test_schema_names_openapi_rejects_stay_inline() -> None:
    app = App(name="a", root="/p", schemas=(("Order Line", {"type": "object"}),),
              steps=(_api("x", body={"type": "object"}),))
    document = render_openapi(app)
    assert "Order Line" not in document["components"]["schemas"]
    assert document["paths"]["/x"]["post"]["requestBody"]["content"]["application/json"][
        "schema"] == {"type": "object"}
    _validate(document)


def test_two_methods_share_a_path_item() -> None:
    app = App(name="a", root="/p", steps=(_api("get", method="GET", path="/o"),
                                          _api("post", path="/o")))
    assert list(render_openapi(app)["paths"]["/o"]) == ["get", "post"]


def test_document_is_json_and_deterministic() -> None:
    assert json.dumps(render_openapi(billing())) == json.dumps(render_openapi(billing()))
