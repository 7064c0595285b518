"""The handler contract at run time, both languages: `req.raw_body` (a Stripe signature
checked over the exact bytes), case-insensitive headers, repeated query parameters, the one
response rule, declared `responses:` checked when asked, a forgotten `await`, the logger's
stdlib call shapes. One app (started once for the module) serves every case."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from _runtime_projects import write_project

from motia.runner.logs import LogRecord
from motia.testing import TestApp

pytestmark = pytest.mark.asyncio(loop_scope="module")

SECRET = "whsec_test_secret"
LANGS = ("py", "js")

YAML = """
    version: 1
    app: contract-test
    steps:
      stripe-py: {type: api, method: POST, path: /stripe/py, handler: steps/stripe.py}
      stripe-js: {type: api, method: POST, path: /stripe/js, handler: steps/stripe.js}
      digest-py: {type: api, method: POST, path: /digest/py, handler: steps/digest.py}
      digest-js: {type: api, method: POST, path: /digest/js, handler: steps/digest.js}
      echo-py:
        type: api
        method: GET
        path: /echo/py
        handler: steps/echo.py
        query: {type: object, properties: {tag: {type: array, items: {type: string}}}}
      echo-js:
        type: api
        method: GET
        path: /echo/js
        handler: steps/echo.js
        query: {type: object, properties: {tag: {type: array, items: {type: string}}}}
      shipped-py: {type: api, method: GET, path: /shipped/py, handler: steps/shipped.py}
      shipped-id-py: {type: api, method: GET, path: /shipped-id/py, handler: "steps/shipped.py:with_id"}
      shipped-js: {type: api, method: GET, path: /shipped/js, handler: steps/shipped.js}
      shipped-id-js: {type: api, method: GET, path: /shipped-id/js, handler: "steps/shipped.js:withId"}
      declared-py:
        type: api
        method: GET
        path: /declared/py
        handler: steps/declared.py
        responses:
          200: {type: object, required: [id], properties: {id: {type: integer}}}
      await-py: {type: api, method: GET, path: /await/py, handler: steps/await_.py}
      await-return-py: {type: api, method: GET, path: /await-return/py, handler: "steps/await_.py:returns_it"}
      await-js: {type: api, method: GET, path: /await/js, handler: steps/await_.js}
      await-return-js: {type: api, method: GET, path: /await-return/js, handler: "steps/await_.js:returnsIt"}
      log-py: {type: api, method: GET, path: /log/py, handler: steps/log.py}
      log-js: {type: api, method: GET, path: /log/js, handler: steps/log.js}
"""

STRIPE_PY = f"""
    import hashlib
    import hmac

    SECRET = {SECRET!r}


    async def handler(req, ctx):
        parts = dict(p.split("=", 1) for p in req.headers["Stripe-Signature"].split(","))
        signed = parts["t"].encode() + b"." + req.raw_body
        expected = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, parts["v1"]):
            return {{"status": 400, "body": {{"error": "bad signature"}}}}
        return {{"status": 200, "body": {{"received": req.body["id"], "bytes": len(req.raw_body)}}}}
"""

STRIPE_JS = f"""
    const crypto = require('crypto');
    const SECRET = {json.dumps(SECRET)};

    exports.handler = async (req, ctx) => {{
      const parts = Object.fromEntries(req.headers['Stripe-Signature'].split(',').map((p) => p.split('=')));
      const signed = Buffer.concat([Buffer.from(parts.t + '.'), req.rawBody]);
      const expected = crypto.createHmac('sha256', SECRET).update(signed).digest('hex');
      const given = Buffer.from(parts.v1);
      if (given.length !== expected.length || !crypto.timingSafeEqual(given, Buffer.from(expected))) {{
        return {{ status: 400, body: {{ error: 'bad signature' }} }};
      }}
      return {{ status: 200, body: {{ received: req.body.id, bytes: req.rawBody.length }} }};
    }};
"""

FILES = {
    "steps/stripe.py": STRIPE_PY,
    "steps/stripe.js": STRIPE_JS,
    "steps/digest.py": """
        import hashlib

        async def handler(req, ctx):
            return {"status": 200, "body": {"sha256": hashlib.sha256(req.raw_body).hexdigest(),
                                            "bytes": len(req.raw_body),
                                            "type": type(req.raw_body).__name__}}
    """,
    "steps/digest.js": """
        const crypto = require('crypto');
        exports.handler = async (req) => ({ status: 200, body: {
          sha256: crypto.createHash('sha256').update(req.rawBody).digest('hex'),
          bytes: req.rawBody.length, type: Buffer.isBuffer(req.rawBody) ? 'bytes' : typeof req.rawBody } });
    """,
    "steps/echo.py": """
        async def handler(req, ctx):
            return {"status": 200, "body": {
                "query": req.query, "custom": req.headers["X-Custom-Header"],
                "has": "X-CUSTOM-HEADER" in req.headers, "get": req.headers.get("x-Custom-header"),
                "raw": req.raw_body.decode()}}
    """,
    "steps/echo.js": """
        exports.handler = async (req, ctx) => ({ status: 200, body: {
          query: req.query, custom: req.headers['X-Custom-Header'],
          has: 'X-CUSTOM-HEADER' in req.headers, get: req.headers['x-Custom-header'],
          raw: req.rawBody.toString() } });
    """,
    "steps/shipped.py": """
        async def handler(req, ctx):
            return {"status": "shipped"}


        async def with_id(req, ctx):
            return {"status": "shipped", "id": 1}
    """,
    "steps/shipped.js": """
        exports.handler = async () => ({ status: 'shipped' });
        exports.withId = async () => ({ status: 'shipped', id: 1 });
    """,
    "steps/declared.py": """
        async def handler(req, ctx):
            return {"status": 200, "body": {"id": "not-a-number"}}
    """,
    "steps/await_.py": """
        async def handler(req, ctx):
            ctx.state.set("orders", "o1", {"n": 1})
            if ctx.state.get("orders", "o1") is None:
                return {"status": 404}
            found = "yes" if ctx.state.get("orders", "o1") else "no"
            return {"status": 200, "body": f"done {found}"}


        async def returns_it(req, ctx):
            return {"status": 200, "body": ctx.state.get("orders", "o1")}
    """,
    "steps/await_.js": """
        exports.handler = async (req, ctx) => {
          ctx.state.set('orders', 'o1', { n: 1 });
          return { status: 200, body: 'done' };
        };
        exports.returnsIt = async (req, ctx) => ({ status: 200, body: ctx.state.get('orders', 'o1') });
    """,
    "steps/log.py": """
        async def handler(req, ctx):
            ctx.logger.info("order %s paid %d times", "A1", 2, extra={"total": 12.5, "ok": True, "n": 3})
            ctx.logger.info("placed", {"id": "A1"})
            ctx.logger.debug("debugging")
            ctx.logger.warning("careful %s", "now")
            ctx.logger.critical("on fire")
            ctx.logger.info("%d orders", "many")
            ctx.logger.info("odd", colour="red")
            try:
                1 / 0
            except ZeroDivisionError:
                ctx.logger.exception("division failed for %s", "A1")
            return {"status": 204}
    """,
    "steps/log.js": """
        exports.handler = async (req, ctx) => {
          ctx.logger.info('order %s paid %d times', 'A1', 2, { total: 12.5, ok: true });
          ctx.logger.info('placed', { id: 'A1' });
          ctx.logger.warning('careful');
          ctx.logger.critical('on fire');
          const circular = {}; circular.self = circular;
          ctx.logger.error('circular', circular);
          return { status: 204 };
        };
    """,
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TestApp]:
    source = write_project(tmp_path_factory.mktemp("contract"), YAML, FILES)
    async with TestApp(source, check_responses=True) as running:
        yield running


def line_of(rel: str, snippet: str) -> int:
    """The line of `snippet` in FILES[rel] as written (dedented, leading blank lines gone)."""
    import textwrap

    lines = textwrap.dedent(FILES[rel]).lstrip().splitlines()
    return next(i for i, text in enumerate(lines, 1) if snippet in text)


def records(app: TestApp, step: str, level: str | None = None) -> list[LogRecord]:
    return [r for r in app.logs if r.step == step and (level is None or r.level == level)]


async def logged(app: TestApp, step: str, count: int, level: str | None = None) -> list[str]:
    """The messages of `step`'s log lines once there are `count` (lines from the worker
    arrive on their own frames, not with the result)."""
    deadline = time.monotonic() + 10
    while len(records(app, step, level)) < count and time.monotonic() < deadline:
        await _tick()
    return [r.msg for r in records(app, step, level)]


async def _tick() -> None:
    import asyncio

    await asyncio.sleep(0.02)


# --- req.raw_body: a Stripe-style signature over the exact bytes --------------------------


def stripe_request(body: bytes, secret: str = SECRET) -> dict[str, str]:
    stamp = str(int(time.time()))
    signature = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={stamp},v1={signature}", "Content-Type": "application/json"}


@pytest.mark.parametrize("lang", LANGS)
async def test_a_genuine_stripe_webhook_is_accepted_and_a_changed_byte_is_400(
        app: TestApp, lang: str) -> None:
    # Bytes a re-encoding of the parsed body would change: spacing, key order, a unicode escape.
    body = b'{"id": "evt_1",   "type":"invoice.paid", "name": "caf\\u00e9 \xc3\xa9"}'
    headers = stripe_request(body)
    res = await app.request("POST", f"/stripe/{lang}", data=body, headers=headers)
    assert (res.status, res.json) == (200, {"received": "evt_1", "bytes": len(body)})

    tampered = body.replace(b"invoice.paid", b"invoice.pail")
    res = await app.request("POST", f"/stripe/{lang}", data=tampered, headers=headers)
    assert (res.status, res.json) == (400, {"error": "bad signature"})


@pytest.mark.parametrize("lang", LANGS)
async def test_raw_body_that_is_not_utf8_arrives_byte_for_byte(app: TestApp, lang: str) -> None:
    body = bytes(range(256)) * 4
    res = await app.request("POST", f"/digest/{lang}", data=body,
                            headers={"Content-Type": "text/plain"})
    assert (res.status, res.json) == (200, {"sha256": hashlib.sha256(body).hexdigest(),
                                            "bytes": 1024, "type": "bytes"})


# --- headers and query ------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
async def test_headers_are_case_insensitive_and_repeated_query_params_are_lists(
        app: TestApp, lang: str) -> None:
    res = await app.request("GET", f"/echo/{lang}?tag=a&tag=b&one=1&many=x&many=y",
                            headers={"x-custom-HEADER": "yes"})
    assert res.status == 200, res.text
    assert res.json == {"query": {"tag": ["a", "b"], "one": "1", "many": ["x", "y"]},
                        "custom": "yes", "has": True, "get": "yes", "raw": ""}
    res = await app.request("GET", f"/echo/{lang}?tag=solo", headers={"X-Custom-Header": "1"})
    assert res.json["query"] == {"tag": ["solo"]}  # the schema says array: a list of one


async def test_a_repeated_header_reads_as_its_values_joined(app: TestApp) -> None:
    import asyncio
    from urllib.parse import urlsplit

    url = urlsplit(app.url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    writer.write(b"GET /echo/py HTTP/1.1\r\nHost: x\r\nX-Custom-Header: a\r\n"
                 b"x-custom-header: b\r\nConnection: close\r\n\r\n")
    response = await reader.read()
    writer.close()
    body = json.loads(response.split(b"\r\n\r\n", 1)[1])
    assert body["custom"] == "a, b"


# --- the one response rule --------------------------------------------------------------------

SHAPES = ('return Response(status, body, headers) (from motia import Response) or a dict '
          '{"status": <int 100-599>, "body"?: ..., "headers"?: {...}}')


@pytest.mark.parametrize("lang", LANGS)
async def test_status_shipped_is_the_same_error_with_or_without_other_keys(
        app: TestApp, lang: str) -> None:
    for path, step, returned, problem in (
        (f"/shipped/{lang}", f"shipped-{lang}", "{'status': 'shipped'}",
         "its `status` is 'shipped', not an int"),
        (f"/shipped-id/{lang}", f"shipped-id-{lang}", "{'status': 'shipped', 'id': 1}",
         "its `status` is 'shipped', not an int"),
    ):
        res = await app.request("GET", path)
        assert res.status == 500
        assert res.json["error"]["type"] == "InvalidResponse"
        eid = res.json["error"]["id"]
        lines = [r.msg for r in app.logs if isinstance(r.data, dict) and r.data.get("error_id") == eid]
        assert lines == [
            f"GET {path} -> 500: step {step!r}: the handler returned {returned}: {problem} "
            '(to send this dict as the body, wrap it: {"status": 200, "body": ...}); ' + SHAPES]
        assert records(app, step)[-1].step == step


async def test_a_response_breaking_its_declared_schema_is_a_500_when_checked(app: TestApp) -> None:
    res = await app.request("GET", "/declared/py")
    assert res.status == 500
    assert res.json["error"]["type"] == "ResponseSchemaError"
    assert res.json["error"]["message"] == (
        "step 'declared-py' answered 200 with a body that does not match its `responses: 200` "
        "schema: /id: 'not-a-number' is not of type 'integer'")
    assert [r.msg for r in records(app, "declared-py", "error")] == [
        "GET /declared/py -> 500: " + res.json["error"]["message"]]


async def test_declared_responses_are_not_checked_in_run(tmp_path: Any) -> None:
    source = write_project(tmp_path, YAML, FILES)
    async with TestApp(source, check_responses=False) as plain:  # what `motia run` does
        res = await plain.request("GET", "/declared/py")
        assert (res.status, res.json) == (200, {"id": "not-a-number"})


async def test_declared_responses_are_checked_by_default_in_tests(tmp_path: Any) -> None:
    source = write_project(tmp_path, YAML, FILES)
    async with TestApp(source) as tested:
        res = await tested.request("GET", "/declared/py")
        assert (res.status, res.json["error"]["type"]) == (500, "ResponseSchemaError")


async def test_declared_responses_are_checked_in_dev(tmp_path: Any) -> None:
    source = write_project(tmp_path, YAML, FILES)
    async with TestApp(source, dev=True) as dev:  # what `motia dev` runs with
        res = await dev.request("GET", "/declared/py")
        assert (res.status, res.json["error"]["type"]) == (500, "ResponseSchemaError")


async def test_a_load_error_shows_no_file_path_to_the_client_in_run(tmp_path: Any) -> None:
    source = write_project(tmp_path, """
        version: 1
        app: load-error
        steps:
          broken: {type: api, method: GET, path: /broken, handler: steps/broken.py}
    """, {"steps/broken.py": "import no_such_module_xyz\n\nasync def handler(req, ctx):\n"
                             "    return {'status': 200}\n"})
    async with TestApp(source) as app:
        res = await app.request("GET", "/broken")
        assert res.status == 502
        eid = res.json["error"]["id"]
        assert res.json["error"] == {
            "type": "HandlerLoadError", "id": eid,
            "message": f"step 'broken' failed; see the server log for error id {eid}"}
        (line,) = [r.msg for r in app.logs if isinstance(r.data, dict)
                   and r.data.get("error_id") == eid]
        assert "steps/broken.py" in line and "no_such_module_xyz" in line


# --- a forgotten await ------------------------------------------------------------------------


async def test_python_warns_at_the_call_site_of_a_forgotten_await(app: TestApp) -> None:
    res = await app.request("GET", "/await/py")
    assert (res.status, res.text) == (200, "done yes")  # `is None` was never true: the trap
    set_line = line_of("steps/await_.py", 'ctx.state.set("orders"')
    get_line = line_of("steps/await_.py", 'if ctx.state.get("orders"')
    bool_line = line_of("steps/await_.py", 'found = "yes"')
    assert sorted(await logged(app, "await-py", 3, "warn")) == sorted([
        f"step 'await-py': ctx.state.set() at steps/await_.py:{set_line} was never awaited "
        "(did you forget await?)",
        f"step 'await-py': ctx.state.get() at steps/await_.py:{get_line} was never awaited "
        "(did you forget await?)",
        f"step 'await-py': ctx.state.get() at steps/await_.py:{bool_line} was used as a truth "
        "value without being awaited: it is always true (did you forget await?)",
    ])


async def test_node_warns_at_the_call_site_of_a_forgotten_await(app: TestApp) -> None:
    res = await app.request("GET", "/await/js")
    assert (res.status, res.text) == (200, "done")
    line = line_of("steps/await_.js", "ctx.state.set('orders'")
    assert await logged(app, "await-js", 1, "warn") == [
        f"step 'await-js': ctx.state.set() at steps/await_.js:{line} was never awaited "
        "(did you forget await?)"]


@pytest.mark.parametrize("lang", LANGS)
async def test_an_awaitable_reaching_the_response_is_a_500_saying_did_you_forget_await(
        app: TestApp, lang: str) -> None:
    res = await app.request("GET", f"/await-return/{lang}")
    assert res.status == 500
    eid = res.json["error"]["id"]
    rel = f"steps/await_.{lang}"
    line = line_of(rel, "def returns_it" if lang == "py" else "exports.returnsIt")
    line += 1 if lang == "py" else 0
    (message,) = [r.msg for r in app.logs if isinstance(r.data, dict) and r.data.get("error_id") == eid]
    if lang == "py":
        assert message == (
            f"GET /await-return/py -> 500: ForgottenAwait: the handler returned ctx.state.get() "
            f"at {rel}:{line} is an awaitable that was never awaited: did you forget await?")
    else:
        assert message == (
            f"GET /await-return/js -> 500: ForgottenAwait: the handler returned ctx.state.get() "
            f"at {rel}:{line}, not its value: did you forget await?")
    assert records(app, f"await-return-{lang}", "error")[-1].step == f"await-return-{lang}"


# --- the logger: stdlib call shapes, never an exception --------------------------------------


async def test_the_python_logger_takes_the_stdlib_call_shapes(app: TestApp) -> None:
    res = await app.request("GET", "/log/py")
    assert res.status == 204
    await logged(app, "log-py", 8)
    got = [(r.level, r.msg, r.data) for r in records(app, "log-py") if "->" not in r.msg]
    *first, (level, msg, data) = got
    assert first == [
        ("info", "order A1 paid 2 times", {"total": 12.5, "ok": True, "n": 3}),
        ("info", "placed", {"id": "A1"}),
        ("debug", "debugging", None),
        ("warn", "careful now", None),
        ("critical", "on fire", None),
        ("info", "%d orders 'many'", None),
        ("info", "odd (unknown logging keyword(s) ignored: colour; use extra={...})", None),
    ]
    assert (level, msg) == ("error", "division failed for A1")
    assert data["traceback"].startswith("Traceback (most recent call last):")
    assert data["traceback"].rstrip().endswith("ZeroDivisionError: division by zero")


async def test_the_node_logger_takes_printf_and_fields(app: TestApp) -> None:
    res = await app.request("GET", "/log/js")
    assert res.status == 204
    await logged(app, "log-js", 5)
    got = [(r.level, r.msg, r.data) for r in records(app, "log-js") if "->" not in r.msg]
    assert got == [
        ("info", "order A1 paid 2 times", {"total": 12.5, "ok": True}),
        ("info", "placed", {"id": "A1"}),
        ("warn", "careful", None),
        ("critical", "on fire", None),
        ("error", "circular", "<ref *1> { self: [Circular *1] }"),
    ]


async def test_json_logs_keep_the_field_types(app: TestApp) -> None:
    record = next(r for r in records(app, "log-py") if r.msg == "order A1 paid 2 times")
    line = json.loads(json.dumps(record.to_dict()))
    assert line["data"] == {"total": 12.5, "ok": True, "n": 3}
