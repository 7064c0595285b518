"""`middleware:` (both languages, in their own workers, `next()` a call back to the host)
and `cors:` served by the gateway, preflight included."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from _runtime_projects import write_project

from motia.testing import TestApp

pytestmark = pytest.mark.asyncio(loop_scope="module")

YAML = """
    version: 1
    app: middleware-test
    defaults:
      middleware: [steps/auth.py]
    cors:
      origins: [https://app.example.com]
      headers: [content-type, x-api-key]
      credentials: true
    steps:
      orders:
        type: api
        method: GET
        path: /orders/{id}
        handler: steps/orders.py
      orders-js:
        type: api
        method: GET
        path: /js/orders/{id}
        middleware: [steps/auth.js, "steps/stamp.js:stamp"]
        handler: steps/orders.js
      open:
        type: api
        method: GET
        path: /open
        middleware: []
        handler: steps/orders.py
      twice:
        type: api
        method: GET
        path: /twice
        middleware: [steps/twice.py]
        handler: steps/orders.py
"""

FILES = {
    "steps/auth.py": """
        import os

        from motia import Response


        async def middleware(req, ctx, next):
            if req.headers.get("X-Api-Key") != "secret":
                ctx.logger.info("refused", {"path": req.path})
                return Response(401, {"error": "missing or wrong X-Api-Key"})
            response = await next()
            response.headers["x-middleware-pid"] = str(os.getpid())
            response.headers["x-checked"] = "python"
            return response
    """,
    "steps/auth.js": """
        exports.middleware = async (req, ctx, next) => {
          if (req.headers['X-Api-Key'] !== 'secret') return { status: 401, body: { error: 'no key' } };
          const response = await next();
          return { ...response, headers: { ...response.headers, 'x-checked': 'node' } };
        };
    """,
    "steps/stamp.js": """
        exports.stamp = async (req, ctx, next) => {
          const response = await next();
          response.body.stamped = true;
          return response;
        };
    """,
    "steps/twice.py": """
        async def middleware(req, ctx, next):
            await next()
            return await next()
    """,
    "steps/orders.py": """
        import os


        async def handler(req, ctx):
            return {"status": 200, "body": {"id": req.params.get("id"), "pid": os.getpid()},
                    "headers": {"x-handler": "yes"}}
    """,
    "steps/orders.js": """
        exports.handler = async (req) => ({ status: 200, body: { id: req.params.id } });
    """,
}

ORIGIN = "https://app.example.com"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TestApp]:
    source = write_project(tmp_path_factory.mktemp("middleware"), YAML, FILES)
    async with TestApp(source) as running:
        yield running


# --- middleware -------------------------------------------------------------------------------


async def test_a_middleware_answers_itself_without_running_the_handler(app: TestApp) -> None:
    res = await app.request("GET", "/orders/1")
    assert (res.status, res.json) == (401, {"error": "missing or wrong X-Api-Key"})
    assert [r.msg for r in app.logs if r.step == "middleware:steps/auth.py"
            and r.msg == "refused"] == ["refused"]
    assert not [r for r in app.logs if r.step == "orders"]


async def test_next_runs_the_handler_and_the_middleware_may_change_its_response(
        app: TestApp) -> None:
    res = await app.request("GET", "/orders/7", headers={"X-Api-Key": "secret"})
    assert res.status == 200, res.text
    assert res.json["id"] == "7"
    assert (res.headers["x-handler"], res.headers["x-checked"]) == ("yes", "python")
    # isolation: the middleware, the handler and the host are three processes
    pids = {int(res.headers["x-middleware-pid"]), res.json["pid"], os.getpid()}
    assert len(pids) == 3


async def test_node_middleware_chain_runs_in_order(app: TestApp) -> None:
    res = await app.request("GET", "/js/orders/9")
    assert (res.status, res.json) == (401, {"error": "no key"})
    res = await app.request("GET", "/js/orders/9", headers={"x-api-key": "secret"})
    assert (res.status, res.json) == (200, {"id": "9", "stamped": True})
    assert res.headers["x-checked"] == "node"


async def test_a_step_with_an_empty_list_runs_no_middleware(app: TestApp) -> None:
    res = await app.request("GET", "/open")
    assert res.status == 200 and res.json["id"] is None


async def test_calling_next_twice_is_an_error_naming_the_middleware(app: TestApp) -> None:
    res = await app.request("GET", "/twice")
    assert res.status == 500
    eid = res.json["error"]["id"]
    (line,) = [r.msg for r in app.logs if isinstance(r.data, dict) and r.data.get("error_id") == eid]
    assert line == ("GET /twice -> 500: MotiaError: middleware steps/twice.py called next() "
                    "twice: it runs the rest of the chain once")


# --- cors -------------------------------------------------------------------------------------


async def test_a_preflight_from_an_allowed_origin_is_a_204_with_the_allowing_headers(
        app: TestApp) -> None:
    res = await app.request("OPTIONS", "/orders/1", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "x-api-key"})
    assert res.status == 204
    assert {k: v for k, v in res.headers.items() if k.lower().startswith("access-control")} == {
        "Access-Control-Allow-Origin": ORIGIN,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, PATCH, DELETE",
        "Access-Control-Allow-Headers": "content-type, x-api-key",
        "Access-Control-Max-Age": "600",
    }


async def test_a_preflight_from_another_origin_gets_no_allow_origin(app: TestApp) -> None:
    res = await app.request("OPTIONS", "/orders/1", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert res.status == 204
    assert not [k for k in res.headers if k.lower().startswith("access-control")]


async def test_a_cross_origin_request_from_an_allowed_origin_is_allowed(app: TestApp) -> None:
    res = await app.request("GET", "/orders/3", headers={"Origin": ORIGIN, "X-Api-Key": "secret"})
    assert res.status == 200
    assert res.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert res.headers["Access-Control-Expose-Headers"] == "x-trace-id"
    res = await app.request("GET", "/orders/3", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in res.headers
