"""The gateway: routes, validation, every error status with its exact JSON shape,
responses, trace ids. One app (started once for the module) serves every case."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from _runtime_projects import write_project

from motia.testing import TestApp

pytestmark = pytest.mark.asyncio(loop_scope="module")

YAML = """
    version: 1
    app: gateway-test
    schemas:
      Person:
        type: object
        required: [name, age]
        additionalProperties: false
        properties:
          name: {type: string, minLength: 1}
          age: {type: integer, minimum: 0}
    topics:
      person.seen: {schema: Person}
    flows:
      people: {}
    steps:
      echo:
        type: api
        method: POST
        path: /people/{team}
        body: Person
        query:
          type: object
          properties:
            limit: {type: integer, maximum: 100}
            verbose: {type: boolean}
            ratio: {type: number}
            tags: {type: array, items: {type: string}}
        emits: [person.seen]
        flows: [people]
        handler: steps/echo.py
      lookup:
        type: api
        method: GET
        path: /people/{team}
        flows: [people]
        handler: steps/bare.py
      seen:
        type: event
        subscribes: [person.seen]
        flows: [people]
        handler: steps/seen.py
      boom:
        type: api
        method: GET
        path: /boom
        flows: [people]
        handler: steps/boom.py
      crash:
        type: api
        method: GET
        path: /crash
        flows: [people]
        handler: steps/crash.py
      slow:
        type: api
        method: GET
        path: /slow
        timeout: 300ms
        flows: [people]
        handler: steps/slow.py
      text:
        type: api
        method: GET
        path: /text
        flows: [people]
        handler: steps/text.py
      bad-status:
        type: api
        method: GET
        path: /bad-status
        flows: [people]
        handler: steps/bad_status.py
"""

FILES = {
    "steps/echo.py": """
        async def handler(req, ctx):
            await ctx.emit({"topic": "person.seen", "data": req.body})
            return {"status": 201, "headers": {"x-team": req.params["team"]},
                    "body": {"params": req.params, "query": req.query, "body": req.body,
                             "trace_id": ctx.trace_id}}
    """,
    "steps/bare.py": """
        def handler(req, ctx):
            return [req.params["team"], 1, 2]
    """,
    "steps/seen.py": """
        async def handler(person, ctx):
            await ctx.state.set("seen", person["name"], person)
    """,
    "steps/boom.py": """
        async def handler(req, ctx):
            raise ValueError("secret detail from the handler")
    """,
    "steps/crash.py": """
        import os

        async def handler(req, ctx):
            os._exit(3)
    """,
    "steps/slow.py": """
        import asyncio

        async def handler(req, ctx):
            await asyncio.sleep(30)
    """,
    "steps/text.py": """
        async def handler(req, ctx):
            return {"status": 200, "body": "plain words"}
    """,
    "steps/bad_status.py": """
        async def handler(req, ctx):
            return {"status": "fine", "body": {}}
    """,
}

ERROR_KEYS = {"type", "message", "id"}
PERSON = {"name": "Ada", "age": 36}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TestApp]:
    source = write_project(tmp_path_factory.mktemp("gateway"), YAML, FILES)
    async with TestApp(source, max_body=2048) as running:
        yield running


def assert_error(res: Any, status: int, type_: str, message: str) -> dict[str, Any]:
    assert res.status == status, res.text
    assert res.headers["Content-Type"].startswith("application/json")
    assert set(res.json["error"]) == ERROR_KEYS
    assert res.json["error"]["type"] == type_
    assert re.fullmatch(message, res.json["error"]["message"]), res.json["error"]["message"]
    assert re.fullmatch(r"[0-9a-f]{16}", res.json["error"]["id"])
    return res.json  # type: ignore[no-any-return]


def logged_with(app: TestApp, error_id: str) -> list[str]:
    return [r.msg for r in app.logs if isinstance(r.data, dict) and r.data.get("error_id") == error_id]


# --- success ----------------------------------------------------------------------------------


async def test_a_valid_request_reaches_the_handler_with_typed_query_and_params(app: TestApp) -> None:
    res = await app.request("POST", "/people/blue?limit=5&verbose=true&ratio=0.5&tags=a&tags=b",
                            json=PERSON)
    assert res.status == 201
    assert res.headers["x-team"] == "blue"
    assert res.json["params"] == {"team": "blue"}
    assert res.json["query"] == {"limit": 5, "verbose": True, "ratio": 0.5, "tags": ["a", "b"]}
    assert res.json["body"] == PERSON
    assert res.headers["x-trace-id"] == res.json["trace_id"]


async def test_emits_are_published_before_the_response_is_sent(app: TestApp) -> None:
    published: list[str] = []

    class Spy:
        def after_publish(self, events: list[Any]) -> None:
            published.extend(e.topic for e in events)

    spy = Spy()
    app.runtime.hooks.add(spy)  # type: ignore[union-attr,arg-type]
    try:
        res = await app.request("POST", "/people/red", json={"name": "Grace", "age": 85})
        assert res.status == 201
        assert published == ["person.seen"]  # already, the moment the response arrived
    finally:
        app.runtime.hooks.remove(spy)  # type: ignore[union-attr,arg-type]
    await app.wait_for_topic("person.seen")
    assert await app.state.get("seen", "Grace") == {"name": "Grace", "age": 85}


async def test_a_bare_return_value_is_a_500_whose_log_shows_the_accepted_shapes(
        app: TestApp) -> None:
    res = await app.request("GET", "/people/green")
    body = assert_error(res, 500, "InvalidResponse",
                        r"step 'lookup' returned a value that is not a response; see the "
                        r"server log for error id [0-9a-f]{16}")
    assert logged_with(app, body["error"]["id"]) == [
        "GET /people/green -> 500: step 'lookup': the handler returned ['green', 1, 2], "
        "which is not a response; return Response(status, body, headers) (from motia "
        'import Response) or a dict {"status": <int 100-599>, "body"?: ..., "headers"?: {...}}']


async def test_a_string_body_is_sent_as_text(app: TestApp) -> None:
    res = await app.request("GET", "/text")
    assert (res.status, res.text) == (200, "plain words")
    assert res.headers["Content-Type"].startswith("text/plain")


async def test_the_trace_id_comes_from_traceparent_or_x_trace_id(app: TestApp) -> None:
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    res = await app.request("GET", "/people/x", headers={"traceparent": parent})
    assert res.headers["x-trace-id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    res = await app.request("GET", "/people/x", headers={"x-trace-id": "order-42"})
    assert res.headers["x-trace-id"] == "order-42"
    res = await app.request("GET", "/people/x", headers={"x-trace-id": "not ok <script>"})
    assert re.fullmatch(r"[0-9a-f]{32}", res.headers["x-trace-id"])


# --- 400 ------------------------------------------------------------------------------------


async def test_every_body_violation_is_listed_with_its_json_pointer(app: TestApp) -> None:
    res = await app.request("POST", "/people/blue", json={"name": "", "nick": "x"})
    body = assert_error(res, 400, "ValidationError",
                        r"request does not match the schemas of step 'echo': 3 violation\(s\)")
    assert body["errors"] == [
        {"in": "body", "path": "", "message":
         "Additional properties are not allowed ('nick' was unexpected)"},
        {"in": "body", "path": "/age", "message": "'age' is a required property"},
        {"in": "body", "path": "/name", "message": "'' should be non-empty"},
    ]
    assert set(body) == {"error", "errors"}


async def test_query_violations_are_listed_after_coercion(app: TestApp) -> None:
    res = await app.request("POST", "/people/blue?limit=500&verbose=perhaps", json=PERSON)
    body = assert_error(res, 400, "ValidationError", r".*2 violation\(s\)")
    assert body["errors"] == [
        {"in": "query", "path": "/limit", "message": "500 is greater than the maximum of 100"},
        {"in": "query", "path": "/verbose", "message": "'perhaps' is not of type 'boolean'"},
    ]


async def test_malformed_json_is_a_400(app: TestApp) -> None:
    res = await app.request("POST", "/people/blue", data=b'{"name": "Ada",',
                            headers={"Content-Type": "application/json"})
    assert_error(res, 400, "InvalidJSON",
                 r"request body is not valid JSON: Expecting property name enclosed in double "
                 r"quotes: line 1 column 16 \(char 15\)")


async def test_json_sent_as_curls_default_form_type_is_read_as_json(app: TestApp) -> None:
    # Given `curl -d '{...}'` without a JSON Content-Type header (curl then says "form")
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    # When the body is a JSON document, Then it is validated as JSON
    res = await app.request("POST", "/people/blue", data=b'{"name": "Ada"}', headers=form)
    body = assert_error(res, 400, "ValidationError", r".*1 violation\(s\)")
    assert body["errors"] == [{"in": "body", "path": "/age", "message": "'age' is a required property"}]
    # And a broken one is a JSON syntax error, not a pile of schema errors
    res = await app.request("POST", "/people/blue", data=b"{bad", headers=form)
    assert_error(res, 400, "InvalidJSON", r"request body is not valid JSON: Expecting property name .* line 1 column 2 \(char 1\)")


async def test_a_missing_body_is_a_400(app: TestApp) -> None:
    res = await app.request("POST", "/people/blue")
    body = assert_error(res, 400, "ValidationError", r".*1 violation\(s\)")
    assert body["errors"] == [{"in": "body", "path": "",
                               "message": "request body is missing; send a JSON document"}]


# --- 404, 405, 413 -----------------------------------------------------------------------------


async def test_an_unknown_route_is_a_404(app: TestApp) -> None:
    res = await app.request("GET", "/nowhere")
    assert_error(res, 404, "NotFound", r"no route for GET /nowhere")


async def test_a_wrong_method_is_a_405_with_allow(app: TestApp) -> None:
    res = await app.request("DELETE", "/people/blue")
    assert_error(res, 405, "MethodNotAllowed",
                 r"DELETE is not allowed on /people/blue; allowed: GET, POST")
    assert res.headers["Allow"] == "GET, POST"


async def test_a_body_over_the_limit_is_a_413(app: TestApp) -> None:
    big = {"name": "x" * 4000, "age": 1}
    res = await app.request("POST", "/people/blue", json=big)
    assert_error(res, 413, "PayloadTooLarge",
                 r"request body is larger than the limit of 2048 bytes; raise it with "
                 r"--max-body or MOTIA_MAX_BODY")


async def test_a_chunked_body_over_the_limit_is_a_413(app: TestApp) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 1000

    async with aiohttp.ClientSession() as session, session.post(
        f"{app.url}/people/blue", data=chunks()
    ) as res:
        assert res.status == 413
        assert (await res.json())["error"]["type"] == "PayloadTooLarge"


# --- 500, 502, 504 ----------------------------------------------------------------------------


async def test_a_handler_error_is_a_500_whose_id_is_in_the_log(app: TestApp) -> None:
    res = await app.request("GET", "/boom")
    body = assert_error(res, 500, "HandlerError",
                        r"step 'boom' failed; see the server log for error id [0-9a-f]{16}")
    assert "secret detail" not in res.text and "Traceback" not in res.text
    assert body["error"]["id"] in body["error"]["message"]
    lines = logged_with(app, body["error"]["id"])
    assert lines == ["GET /boom -> 500: ValueError: secret detail from the handler"]


async def test_a_crashed_worker_is_a_502_and_is_replaced(app: TestApp) -> None:
    res = await app.request("GET", "/crash")
    body = assert_error(res, 502, "WorkerCrashed", r"step 'crash': .*")
    assert logged_with(app, body["error"]["id"])
    assert (await app.request("GET", "/text")).status == 200  # other steps never noticed


async def test_a_handler_past_its_timeout_is_a_504(app: TestApp) -> None:
    res = await app.request("GET", "/slow")
    body = assert_error(res, 504, "HandlerTimeout", r"step 'slow': .*")
    assert logged_with(app, body["error"]["id"])


async def test_a_malformed_handler_response_is_a_500(app: TestApp) -> None:
    res = await app.request("GET", "/bad-status")
    body = assert_error(res, 500, "InvalidResponse",
                        r"step 'bad-status' returned a value that is not a response; see the "
                        r"server log for error id [0-9a-f]{16}")
    assert logged_with(app, body["error"]["id"]) == [
        "GET /bad-status -> 500: step 'bad-status': the handler returned {'status': 'fine', "
        "'body': {}}: its `status` is 'fine', not an int (to send this dict as the body, "
        'wrap it: {"status": 200, "body": ...}); return Response(status, body, headers) '
        '(from motia import Response) or a dict {"status": <int 100-599>, "body"?: ..., '
        '"headers"?: {...}}']


async def test_aiohttp_errors_are_json_too(app: TestApp) -> None:
    # The admin API's own routes go through the same middleware.
    res = await app.request("GET", "/__motia/api/traces/nope")
    assert_error(res, 404, "NotFound", r"no trace 'nope'.*")
    res = await app.request("PUT", "/__motia/api/state/g/k", data=b"{nope")
    assert_error(res, 400, "InvalidJSON", r"request body is not valid JSON: .*")


async def test_a_bug_in_the_gateway_itself_is_a_json_500_with_its_id_in_the_log(
    app: TestApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a gateway that fails after the handler ran (no app-wide middleware catches it)
    from motia.runner.gateway import Gateway

    async def broken(*args: Any, **kw: Any) -> Any:
        raise RuntimeError("respond broke")

    monkeypatch.setattr(Gateway, "_respond", broken)
    # When a request comes, Then the client still gets the JSON error shape, no traceback
    res = await app.request("GET", "/text")
    body = assert_error(res, 500, "InternalError", r"internal error; see the server log")
    assert "Traceback" not in res.text
    assert logged_with(app, body["error"]["id"]) == [
        "GET /text: unexpected RuntimeError: respond broke"]
