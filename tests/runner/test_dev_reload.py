"""`motia dev` reloads: a SyntaxError is shown at once and the last good workers keep
serving; only files a step imports restart its workers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest_asyncio
from _runtime_projects import write_project

from motia.runner.dev import DevReloader
from motia.testing import TestApp

YAML = """
    version: 1
    app: devreload
    flows:
      f: {}
    steps:
      hello:
        type: api
        method: GET
        path: /hello
        flows: [f]
        handler: steps/hello.py
      hello-js:
        type: api
        method: GET
        path: /hello-js
        flows: [f]
        handler: steps/hello.js
"""

HELLO_PY = """\
from lib.words import GREETING


async def handler(req, ctx):
    return {"status": 200, "body": {"greeting": GREETING}}
"""

HELLO_JS = """\
const { greeting } = require('./words');
const { mark } = require('./mark.json');
exports.handler = async () => ({ status: 200, body: { greeting: greeting + mark } });
"""

FILES = {
    "steps/hello.py": HELLO_PY,
    "lib/__init__.py": "",
    "lib/words.py": 'GREETING = "hello"\n',
    "steps/hello.js": HELLO_JS,
    "steps/words.js": "exports.greeting = 'hello';\n",
    "steps/mark.json": '{"mark": ""}\n',
}


@pytest_asyncio.fixture
async def dev(tmp_path: Path, node: str) -> AsyncIterator[tuple[TestApp, Path]]:
    source = write_project(tmp_path, YAML, FILES)
    async with TestApp(source, dev=True) as app:
        assert app.runtime is not None
        stop = asyncio.Event()
        watcher = asyncio.create_task(DevReloader(app.runtime, source, debounce_ms=50,
                                                            refs=()).watch(stop))
        try:
            assert await greeting(app, "/hello") == "hello"  # both workers are up
            assert await greeting(app, "/hello-js") == "hello"
            yield app, tmp_path
        finally:
            stop.set()
            await watcher


async def greeting(app: TestApp, path: str) -> object:
    res = await app.request("GET", path)
    return res.json.get("greeting") if isinstance(res.json, dict) else res.status


async def edit_until(path: Path, text: str, done: Callable[[], Awaitable[bool] | bool],
                     app: TestApp) -> None:
    """Write `path` until `done()` holds (an edit made while the watcher starts may be missed)."""
    for _ in range(5):
        path.write_text(text)
        try:
            await app.wait_until(done, timeout=2)
            return
        except TimeoutError:
            continue
    raise AssertionError(f"editing {path.name} never took effect")


def messages(app: TestApp, level: str | None = None) -> list[str]:
    return [r.msg for r in app.logs if level is None or r.level == level]


def pids(app: TestApp, step: str) -> list[int]:
    assert app.runtime is not None
    return list(app.runtime.pool.stats()[step]["pids"])


async def test_a_python_syntax_error_is_shown_at_once_and_the_old_worker_serves(
        dev: tuple[TestApp, Path]) -> None:
    app, root = dev
    before = pids(app, "hello")
    # When the handler loses a colon
    broken = HELLO_PY.replace("async def handler(req, ctx):", "async def handler(req, ctx)")
    await edit_until(root / "steps/hello.py", broken,
                     lambda: any("SyntaxError" in m for m in messages(app, "error")), app)
    # Then the error is logged with file and line, and the last good worker still serves
    [error] = [m for m in messages(app, "error") if "SyntaxError" in m]
    assert error == ("steps/hello.py:4: SyntaxError: expected ':'\n"
                     "  still serving the last good version of hello; fix the file to reload")
    assert not any(m.startswith("reloaded the workers") for m in messages(app))
    assert await greeting(app, "/hello") == "hello"
    assert pids(app, "hello") == before
    # And fixing it reloads
    await edit_until(root / "steps/hello.py", HELLO_PY.replace('GREETING}', '"fixed"}'),
                     lambda: _is(app, "/hello", "fixed"), app)
    assert "reloaded the workers of hello" in messages(app)


async def test_a_node_syntax_error_is_shown_at_once_and_the_old_worker_serves(
        dev: tuple[TestApp, Path]) -> None:
    app, root = dev
    broken = HELLO_JS.replace("mark } });", "mark } );")
    assert broken != HELLO_JS
    await edit_until(root / "steps/hello.js", broken,
                     lambda: any("SyntaxError" in m for m in messages(app, "error")), app)
    [error] = [m for m in messages(app, "error") if "SyntaxError" in m]
    assert error == ("steps/hello.js:3: SyntaxError: Unexpected token ')'\n"
                     "  still serving the last good version of hello-js; fix the file to "
                     "reload")
    assert await greeting(app, "/hello-js") == "hello"


async def test_a_syntax_error_in_an_imported_module_holds_the_step_that_imports_it(
        dev: tuple[TestApp, Path]) -> None:
    app, root = dev
    await edit_until(root / "lib/words.py", 'GREETING = ("hello"\n',
                     lambda: any("SyntaxError" in m for m in messages(app, "error")), app)
    [error] = [m for m in messages(app, "error") if "SyntaxError" in m]
    assert error == ("lib/words.py:1: SyntaxError: '(' was never closed\n"
                     "  still serving the last good version of hello; fix the file to reload")
    assert await greeting(app, "/hello") == "hello"


async def test_an_edit_of_an_imported_module_restarts_only_the_steps_importing_it(
        dev: tuple[TestApp, Path]) -> None:
    app, root = dev
    js_before = pids(app, "hello-js")
    await edit_until(root / "lib/words.py", 'GREETING = "bonjour"\n',
                     lambda: _is(app, "/hello", "bonjour"), app)
    assert "reloaded the workers of hello" in messages(app)
    await edit_until(root / "steps/words.js", "exports.greeting = 'hola';\n",
                     lambda: _is(app, "/hello-js", "hola"), app)
    assert "reloaded the workers of hello-js" in messages(app)
    assert pids(app, "hello-js") != js_before
    # a .json file a Node.js handler requires is one of its files too
    await edit_until(root / "steps/mark.json", '{"mark": "!"}\n',
                     lambda: _is(app, "/hello-js", "hola!"), app)


async def test_a_new_file_no_step_imports_restarts_nothing(dev: tuple[TestApp, Path]) -> None:
    app, root = dev
    before = {step: pids(app, step) for step in ("hello", "hello-js")}
    (root / "scripts").mkdir()
    await edit_until(root / "scripts/seed.py", "print('seeding')\n",
                     lambda: "not reloading: no step imports scripts/seed.py" in messages(
                         app, "debug"), app)
    await edit_until(root / "tools.js", "module.exports = 1;\n",
                     lambda: "not reloading: no step imports tools.js" in messages(
                         app, "debug"), app)
    assert not any(m.startswith("reloaded") for m in messages(app))
    assert {step: pids(app, step) for step in ("hello", "hello-js")} == before


async def _is(app: TestApp, path: str, expected: str) -> bool:
    return await greeting(app, path) == expected


async def test_a_handler_still_broken_keeps_holding_when_its_imports_change(
        dev: tuple[TestApp, Path]) -> None:
    app, root = dev
    broken = HELLO_PY.replace("async def handler(req, ctx):", "async def handler(req, ctx)")
    await edit_until(root / "steps/hello.py", broken,
                     lambda: any("SyntaxError" in m for m in messages(app, "error")), app)
    # When a module it imports is edited while the handler is still broken
    await edit_until(root / "lib/words.py", 'GREETING = "bonjour"\n',
                     lambda: len([m for m in messages(app, "error") if "SyntaxError" in m]) > 1,
                     app)
    # Then the handler's error is shown again and the last good worker still serves
    errors = {m for m in messages(app, "error") if "SyntaxError" in m}
    assert errors == {"steps/hello.py:4: SyntaxError: expected ':'\n"
                      "  still serving the last good version of hello; fix the file to reload"}
    assert await greeting(app, "/hello") == "hello"
    assert not any(m.startswith("reloaded the workers") for m in messages(app))
