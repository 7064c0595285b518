"""`motia dev`: handler edits restart their workers, motia.yaml edits swap the plan, a
broken edit keeps the last good version serving, response schemas are checked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from _runtime_projects import write_project

from motia.runner.dev import DevReloader
from motia.testing import TestApp

YAML = """
    version: 1
    app: devapp
    topics:
      hello.said: {schema: {type: object}}
    flows:
      f: {}
    steps:
      hello:
        type: api
        method: GET
        path: /hello
        emits: [hello.said]
        responses: {200: {type: object, required: [greeting]}}
        flows: [f]
        handler: steps/hello.py
      hello-js:
        type: api
        method: GET
        path: /hello-js
        flows: [f]
        handler: steps/hello.js
"""

FILES = {
    "steps/hello.py": """
        async def handler(req, ctx):
            await ctx.emit({"topic": "hello.said", "data": {}})
            return {"status": 200, "body": {"greeting": "hello"}}
    """,
    "steps/hello.js": """
        exports.handler = async (req, ctx) => ({ status: 200, body: { greeting: 'hello' } });
    """,
    "steps/bye.py": """
        def handler(req, ctx):
            return {"status": 200, "body": {"greeting": "bye"}}
    """,
    "steps/listen.py": """
        async def handler(data, ctx):
            await ctx.state.incr("heard", "count", 1)
    """,
}

NEW_STEPS = """\
  listen:
    type: event
    subscribes: [hello.said]
    flows: [f]
    handler: steps/listen.py
  bye:
    type: api
    method: GET
    path: /bye
    flows: [f]
    handler: steps/bye.py
"""


@pytest_asyncio.fixture
async def dev(tmp_path: Path, node: str) -> AsyncIterator[tuple[TestApp, Path]]:
    source = write_project(tmp_path, YAML, FILES)
    async with TestApp(source, dev=True) as app:
        assert app.runtime is not None
        stop = asyncio.Event()
        watcher = asyncio.create_task(DevReloader(app.runtime, source, debounce_ms=50).watch(stop))
        await asyncio.sleep(0.3)  # let the watcher register before the first edit
        try:
            yield app, source
        finally:
            stop.set()
            await watcher


async def edit_until(path: Path, text: str, done: Callable[[], Awaitable[bool]]) -> None:
    """Write `path` until `done()` holds (an edit made while the watcher starts may be missed)."""
    for _ in range(5):
        path.write_text(text)
        for _ in range(40):
            if await done():
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"editing {path.name} never took effect")


async def greeting(app: TestApp, path: str) -> object:
    res = await app.request("GET", path)
    return res.json.get("greeting") if isinstance(res.json, dict) else res.status


async def test_a_handler_edit_restarts_only_its_workers(dev: tuple[TestApp, Path]) -> None:
    app, source = dev
    assert await greeting(app, "/hello") == "hello"
    assert await greeting(app, "/hello-js") == "hello"
    py, js = source.parent / "steps/hello.py", source.parent / "steps/hello.js"

    await edit_until(py, FILES["steps/hello.py"].replace('"hello"}', '"bonjour"}').replace(
        "\n        ", "\n"), lambda: _is(app, "/hello", "bonjour"))
    await edit_until(js, "exports.handler = async () => ({ status: 200, body: { greeting: 'hola' } });\n",
                     lambda: _is(app, "/hello-js", "hola"))
    assert any("reloaded the workers of hello" in r.msg for r in app.logs)


async def _is(app: TestApp, path: str, expected: str) -> bool:
    return await greeting(app, path) == expected


async def test_a_motia_yaml_edit_swaps_routes_and_subscribers(dev: tuple[TestApp, Path]) -> None:
    app, source = dev
    assert (await app.request("GET", "/bye")).status == 404
    # When two steps are added: a route, and an event step on an existing topic
    await edit_until(source, source.read_text() + NEW_STEPS,
                     lambda: _status_is(app, "/bye", 200))
    # Then the new route serves and the new subscriber gets the topic
    await app.request("GET", "/hello")
    await app.wait_until(lambda: app.state.get("heard", "count"))
    assert any(r.msg.startswith("motia.yaml reloaded; changed: bye, listen") for r in app.logs)


async def _status_is(app: TestApp, path: str, status: int) -> bool:
    return (await app.request("GET", path)).status == status


async def test_a_broken_motia_yaml_keeps_the_last_good_version(dev: tuple[TestApp, Path]) -> None:
    app, source = dev
    good = source.read_text()
    source.write_text(good.replace("path: /hello\n", "path: hello\n"))
    await app.wait_until(lambda: any("still serving the last good version" in r.msg
                                     for r in app.logs), timeout=5)
    [error] = [r for r in app.logs if "still serving the last good version" in r.msg]
    assert error.level == "error"
    assert error.msg == ("motia.yaml has errors; still serving the last good version\n"
                         f"{source}:11:11: path 'hello' must start with '/'\n"
                         "  hint: write `/hello`")
    assert await greeting(app, "/hello") == "hello"  # still served

    # and fixing it reloads normally
    await edit_until(source, good + NEW_STEPS, lambda: _status_is(app, "/bye", 200))


async def test_dev_mode_answers_500_when_a_response_breaks_its_schema(
        dev: tuple[TestApp, Path]) -> None:
    app, source = dev
    await edit_until(source.parent / "steps/hello.py",
                     "async def handler(req, ctx):\n    return {'status': 200, 'body': {}}\n",
                     lambda: _schema_error(app))
    [error] = [r for r in app.logs if r.level == "error" and "does not match" in r.msg]
    assert error.msg == ("GET /hello -> 500: step 'hello' answered 200 with a body that does "
                         "not match its `responses: 200` schema: /greeting: 'greeting' is a "
                         "required property")
    assert error.data["errors"] == [{"in": "response", "path": "/greeting",
                                     "message": "'greeting' is a required property"}]
    assert error.step == "hello" and error.trace_id


async def _schema_error(app: TestApp) -> bool:
    res = await app.request("GET", "/hello")
    return res.status == 500 and res.json["error"]["type"] == "ResponseSchemaError"


@pytest.mark.parametrize("path", [".motia/plan.json", "node_modules/x/index.js", "notes.txt"])
def test_files_the_dev_server_does_not_watch(tmp_path: Path, path: str) -> None:
    reloader = DevReloader.__new__(DevReloader)
    reloader.root = tmp_path
    assert not reloader._wanted(None, str(tmp_path / path))
    assert reloader._wanted(None, str(tmp_path / "steps/a.py"))


def test_only_new_removed_or_rewired_steps_get_new_workers(tmp_path: Path) -> None:
    from dataclasses import replace

    from motia.compiler.ir import App, Handler, Step
    from motia.runner._swap import changed_steps, worker_changes

    a = Step(name="a", type="api", path="/a", handler=Handler("steps/a.py"))
    b = Step(name="b", type="api", path="/b", handler=Handler("steps/b.py"))
    old = App(name="x", root=str(tmp_path), steps=(a, b))
    new = App(name="x", root=str(tmp_path), steps=(
        replace(a, path="/a2", timeout=3.0),  # same code: keeps its workers
        replace(b, handler=Handler("steps/b.py", function="other")),
        Step(name="c", type="api", path="/c", handler=Handler("steps/c.py")),
    ))
    changed = changed_steps(old, new)
    assert changed == {"a", "b", "c"}
    assert worker_changes(old, new, changed) == {"b", "c"}
