"""Hostile input is a 400 (or a quiet debug line), never a framework 500 or a traceback.

A fuzz run found 206 framework 5xx: JSON nested 100,000 deep, NaN/Infinity, a lone
surrogate, NUL in state keys on PostgreSQL, and a client that disconnects mid-body.
Each case has its exact answer here, on the gateway and the admin API; then hypothesis
sends a few hundred hostile requests (paths, queries, content types, bodies) at every
route of one shared app and asserts that none gets a 5xx and nothing is logged as an
error. Requests are written on a raw socket, so the bytes are exactly the hostile ones.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest
import pytest_asyncio
from _runtime_projects import write_project
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from motia.testing import TestApp

pytestmark = pytest.mark.asyncio(loop_scope="module")

YAML = """
    version: 1
    app: {app}
    schemas:
      Doc:
        type: object
        properties:
          name: {type: string}
          tags: {type: array, items: {type: string}}
    topics:
      doc.posted: {schema: Doc}
    flows:
      docs: {}
    steps:
      echo:
        type: api
        method: POST
        path: /echo
        flows: [docs]
        handler: steps/echo.py
      post-doc:
        type: api
        method: POST
        path: /docs
        body: Doc
        emits: [doc.posted]
        flows: [docs]
        handler: steps/post_doc.py
      get-doc:
        type: api
        method: GET
        path: /docs/{id}
        query: {type: object, properties: {limit: {type: integer}, full: {type: boolean}}}
        flows: [docs]
        handler: steps/get_doc.py
      put-doc:
        type: api
        method: PUT
        path: /docs/{id}
        flows: [docs]
        handler: steps/put_doc.py
      file-doc:
        type: event
        subscribes: [doc.posted]
        flows: [docs]
        handler: steps/file_doc.py
"""

FILES = {
    "steps/echo.py": """
        async def handler(req, ctx):
            return {"status": 200, "body": {"body": req.body, "query": req.query}}
    """,
    "steps/post_doc.py": """
        async def handler(req, ctx):
            await ctx.emit({"topic": "doc.posted", "data": req.body})
            return {"status": 202, "body": {"ok": True}}
    """,
    "steps/get_doc.py": """
        async def handler(req, ctx):
            doc = await ctx.state.get("docs", req.params["id"])
            return {"status": 404 if doc is None else 200, "body": {"doc": doc}}
    """,
    # A careful handler: a key no store can keep is the client's mistake, a 400.
    "steps/put_doc.py": """
        from motia.errors import StateError

        async def handler(req, ctx):
            try:
                await ctx.state.set("docs", req.params["id"], req.body)
            except StateError as exc:
                return {"status": 400, "body": {"error": str(exc)}}
            return {"status": 204}
    """,
    "steps/file_doc.py": """
        async def handler(doc, ctx):
            await ctx.state.update("filed", "all", [{"append": "names", "value": doc.get("name")},
                                                    {"increment": "count"}])
    """,
}

HOSTILE_BODIES: dict[str, bytes] = {
    "deep": b"[" * 100_000 + b"]" * 100_000,
    "deep objects": b'{"a":' * 5000 + b"1" + b"}" * 5000,
    "nan": b'{"name": NaN}',
    "infinity": b"[Infinity, -Infinity]",
    "lone surrogate": b'{"name": "\\ud800"}',
    "lone surrogate key": b'{"\\udfff": 1}',
    "surrogate bytes": b'{"name": "\xed\xa0\x80"}',
    "not utf-8": b'{"name": "\xff\xfe"}',
    "huge integer": b"1" + b"0" * 5000,
}
DEEP = "request body is not valid JSON: it nests arrays and objects more than 100 levels deep; " \
       "flatten the document"
NAN = ("request body is not valid JSON: {} is not a JSON number (JSON has no NaN or Infinity); "
       "send a number, a string or null")
LONE = ("request body is not valid JSON: {} holds a lone surrogate ({}), which is not a "
        "character; send the text as UTF-8 or as a complete surrogate pair")
MESSAGES = {
    "deep": DEEP, "deep objects": DEEP,
    "nan": NAN.format("NaN"), "infinity": NAN.format("Infinity"),
    "lone surrogate": LONE.format("the string at /name", "\\ud800"),
    "lone surrogate key": LONE.format("a key of the object at /", "\\udfff"),
    "surrogate bytes": "request body is not valid JSON: not UTF-8 (invalid continuation byte "
                       "at byte 10)",
    "not utf-8": "request body is not valid JSON: not UTF-8 (invalid start byte at byte 10)",
    "huge integer": "request body is not valid JSON: Exceeds the limit (4300 digits) for integer "
                    "string conversion: value has 5001 digits; use sys.set_int_max_str_digits() "
                    "to increase the limit",
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TestApp]:
    source = _project(tmp_path_factory.mktemp("hostile"))
    async with TestApp(source) as running:
        yield running


def _project(root: Path) -> Path:
    return write_project(root, YAML.replace("{app}", f"h{uuid.uuid4().hex[:10]}"), FILES)


async def raw(app: TestApp, method: str, target: str, body: bytes | None = None,
              headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One request written byte for byte on a fresh connection; (status, body)."""
    host, port = app.url.removeprefix("http://").split(":")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        response = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, content = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), content


def _errors_since(app: TestApp, mark: int) -> list[str]:
    return [f"{r.msg} {r.data}" for r in app.logs[mark:] if r.level == "error"]


# --- each case the fuzz run found ---------------------------------------------------------------


@pytest.mark.parametrize("case", list(HOSTILE_BODIES))
@pytest.mark.parametrize("path", ["/echo", "/docs"])
async def test_a_hostile_body_is_a_400_naming_the_problem(
    app: TestApp, path: str, case: str
) -> None:
    # Given a step without a body schema (/echo) and one with (/docs)
    mark = len(app.logs)
    # When the body is one of the hostile ones
    status, body = await raw(app, "POST", path, HOSTILE_BODIES[case],
                             {"Content-Type": "application/json"})
    # Then it is a 400 saying what is wrong, and nothing is logged as an error
    error = json.loads(body)["error"]
    assert (status, error["type"], error["message"]) == (400, "InvalidJSON", MESSAGES[case])
    assert _errors_since(app, mark) == []


@pytest.mark.parametrize("case", ["deep", "nan", "lone surrogate", "not utf-8"])
@pytest.mark.parametrize(("method", "path"), [("PUT", "/__motia/api/state/g/k"),
                                               ("POST", "/__motia/api/emit")])
async def test_the_admin_api_refuses_hostile_bodies_alike(
    app: TestApp, method: str, path: str, case: str
) -> None:
    status, body = await raw(app, method, path, HOSTILE_BODIES[case])
    error = json.loads(body)["error"]
    assert (status, error["type"], error["message"]) == (400, "InvalidJSON", MESSAGES[case])
    assert await app.state.get_group("g") == {}


async def test_nul_in_json_strings_reaches_the_handler_and_state(app: TestApp) -> None:
    status, body = await raw(app, "PUT", "/docs/d1", b'{"name": "a\\u0000b"}')
    assert status == 204
    assert await app.state.get("docs", "d1") == {"name": "a\x00b"}


@pytest.mark.parametrize("state", ["memory", "sqlite", "postgres"])
async def test_keys_no_store_can_keep_get_the_same_answer_on_every_store(
    tmp_path: Path, state: str, request: pytest.FixtureRequest
) -> None:
    if state == "postgres":
        request.getfixturevalue("postgres")
    # Given the app on each store (PostgreSQL text cannot hold NUL at all)
    async with TestApp(_project(tmp_path), state=state, state_url=None) as running:
        for key in ("a%00b", "k" * 1025):
            # When a key no store can keep is read, written and deleted over HTTP
            read = await raw(running, "GET", f"/docs/{key}")
            written = await raw(running, "PUT", f"/docs/{key}", b'{"name": "n"}')
            admin_get = await raw(running, "GET", f"/__motia/api/state/docs/{key}")
            admin_put = await raw(running, "PUT", f"/__motia/api/state/docs/{key}", b"1")
            admin_delete = await raw(running, "DELETE", f"/__motia/api/state/docs/{key}")
            # Then reads find nothing, writes are a 400 naming the problem, never a 500
            assert read == (404, b'{"doc":null}')
            assert written[0] == 400 and b"state key" in written[1]
            assert admin_get == (200, b'{"value":null}')
            assert admin_put[0] == 400
            assert json.loads(admin_put[1])["error"]["type"] == "StateError"
            assert admin_delete == (200, b'{"deleted":true}')
        nul = json.loads((await raw(running, "PUT", "/__motia/api/state/docs/a%00b", b"1"))[1])
        assert nul["error"]["message"] == (
            "state key 'a\\x00b': contains a NUL character, which the stores cannot keep; "
            "leave it out or encode the name (e.g. hex)")
        assert _errors_since(running, 0) == []
        await running.state.clear("docs")


@pytest.mark.parametrize("path", ["/echo", "/__motia/api/emit", "/__motia/api/state/g/k"])
async def test_a_client_that_disconnects_mid_body_is_a_quiet_debug_line(
    app: TestApp, path: str
) -> None:
    # Given a client that announces 1,000 bytes, sends 8 and hangs up
    mark = len(app.logs)
    host, port = app.url.removeprefix("http://").split(":")
    _, writer = await asyncio.open_connection(host, int(port))
    method = "PUT" if "state" in path else "POST"
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
                 '{"a": 1,'.encode())
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    # Then the gateway logs one debug line, no error and no traceback
    expected = (f"{method} {path}: the client disconnected before sending the whole body; "
                "nothing was run")
    lines = await app.wait_until(lambda: [r for r in app.logs[mark:] if r.msg == expected],
                                 timeout=10)
    assert [r.level for r in lines] == ["debug"]
    assert _errors_since(app, mark) == []
    # And the app goes on serving
    assert (await raw(app, "POST", "/echo", b"[1]"))[0] == 200


# --- the fuzz test --------------------------------------------------------------------------------

#: path and query parts sent as they are: escapes of NUL, of a surrogate's (invalid)
#: UTF-8, of bytes that are not UTF-8, broken escapes, and a raw byte that is not ASCII
_RAW = ["..", "%00", "%ED%A0%80", "%FF", "%2F", "%C0%AF", "%", "%zz", "\xff"]
_NAMES = st.text(max_size=12) | st.sampled_from(["", "__motia.dlq", "a" * 2000, *_RAW])


def _segment(text: str) -> str:
    """A path or query part: percent-encoded, lone surrogates as their (invalid) UTF-8."""
    if text in _RAW:
        return text
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


_ROUTES = st.sampled_from([
    ("POST", "/echo"), ("POST", "/docs"), ("GET", "/docs/{}"), ("PUT", "/docs/{}"),
    ("GET", "/nope/{}"), ("GET", "/__motia/api/health"), ("GET", "/__motia/api/app"),
    ("GET", "/__motia/api/state"), ("GET", "/__motia/api/state/{}"),
    ("GET", "/__motia/api/state/{}/{}"), ("PUT", "/__motia/api/state/{}/{}"),
    ("DELETE", "/__motia/api/state/{}/{}"), ("GET", "/__motia/api/dlq"),
    ("POST", "/__motia/api/dlq/replay"), ("POST", "/__motia/api/dlq/{}/replay"),
    ("POST", "/__motia/api/emit"), ("GET", "/__motia/api/logs"), ("GET", "/__motia/api/traces"),
    ("GET", "/__motia/api/traces/{}"),
])
_METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
_QUERY_KEYS = st.sampled_from(["limit", "prefix", "cursor", "full", "step", "level",
                               "trace_id", "x"])
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=4),
    max_leaves=10,
)
_BODIES = st.one_of(
    st.none(),
    st.sampled_from(list(HOSTILE_BODIES.values())),
    _JSON.map(lambda v: json.dumps(v).encode()),
    st.builds(lambda topic, data: json.dumps({"topic": topic, "data": data}).encode(),
              st.sampled_from(["doc.posted", "nope", ""]), _JSON),
    st.binary(max_size=64),
)
_CONTENT_TYPES = st.sampled_from([None, "application/json", "text/plain",
                                  "application/x-www-form-urlencoded", "multipart/form-data",
                                  "application/json; charset=latin-1", "garbage"])


@st.composite
def _requests(draw: st.DrawFn) -> tuple[str, str, bytes | None, dict[str, str]]:
    method, target = draw(_ROUTES)
    if draw(st.integers(0, 4)) == 0:  # now and then the wrong method
        method = draw(_METHODS)
    while "{}" in target:
        target = target.replace("{}", _segment(draw(_NAMES)), 1)
    query = draw(st.lists(st.tuples(_QUERY_KEYS, _NAMES), max_size=3))
    if query:
        target += "?" + "&".join(f"{k}={_segment(v)}" for k, v in query)
    headers = {}
    content_type = draw(_CONTENT_TYPES)
    if content_type:
        headers["Content-Type"] = content_type
    if draw(st.booleans()):
        headers["traceparent"] = draw(st.sampled_from(["00-zz-yy-01", "garbage", "00-" + "0" * 32
                                                       + "-" + "0" * 16 + "-01"]))
    return method, target, draw(_BODIES), headers


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=_requests())
async def test_fuzzed_requests_to_the_gateway_and_admin_api_never_get_a_5xx(
    app: TestApp, request: tuple[str, str, bytes | None, dict[str, str]]
) -> None:
    method, target, body, headers = request
    mark = len(app.logs)
    status, content = await raw(app, method, target, body, headers)
    assert status < 500, (method, target, body, headers, content[:500])
    assert _errors_since(app, mark) == [], (method, target, body, headers)
