"""A handler that cannot be loaded is a clear HandlerLoadError naming the file, never a hang."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from motia.compiler.ir import Step
from motia.errors import HandlerLoadError

from .conftest import MakePool, Recorder, app, ctx, step, write

BROKEN = {
    "python": {
        "syntax": ("steps/bad.py", "async def handler(data, ctx)\n    return 1\n",
                   r"bad: steps/bad.py:1: SyntaxError: expected ':' \(fix the file"),
        "function": ("steps/bad.py", "async def handle(data, ctx):\n    return 1\n",
                     (r"bad: steps/bad.py has no function 'handler' \(did you mean 'handle'\?\): "
                     r"define `async def handler\(...\)` in it, or name the function in motia.yaml "
                     r"as `handler: steps/bad.py:<function>`")),
        "module": ("steps/bad.py", "import no_such_package\nasync def handler(d, c):\n    pass\n",
                   (r"bad: steps/bad.py: cannot import module 'no_such_package' \(No module named "
                   r"'no_such_package'\): install it into the runner's Python environment \(.* -m pip "
                   r"install no_such_package\) or fix the import")),
        "raises": ("steps/bad.py", "raise RuntimeError('no config')\n",
                   r"bad: steps/bad.py: importing the module raised RuntimeError: no config"),
    },
    "node": {
        "syntax": ("steps/bad.js", "exports.handler = async (data) => {\n  return 1;\n",
                   r"bad: steps/bad.js:\d+: SyntaxError: Unexpected end of input \(fix the file"),
        "function": ("steps/bad.js", "exports.handle = async () => 1;\n",
                     (r"bad: steps/bad.js has no function 'handler': export it .* or name the "
                     r"function in motia.yaml as `handler: steps/bad.js:<function>`")),
        "module": ("steps/bad.js", "const x = require('no-such-package');\nexports.handler = () => x;\n",
                   (r"bad: steps/bad.js: cannot import module 'no-such-package': install it "
                   r"\(`npm install no-such-package` in the project folder\) or fix the import")),
        "raises": ("steps/bad.js", "throw new Error('no config');\n",
                   r"bad: steps/bad.js: loading the module threw Error: no config"),
    },
}
CASES = [(lang, kind) for lang, kinds in BROKEN.items() for kind in kinds]


@pytest.fixture
def language(request: pytest.FixtureRequest) -> str:
    lang: str = request.param
    if lang == "node":
        request.getfixturevalue("node")
    return lang


@pytest.mark.parametrize(("language", "kind"), CASES, indirect=["language"])
async def test_a_broken_handler_fails_the_first_call_naming_the_file(
    tmp_path: Path, make_pool: MakePool, language: str, kind: str
) -> None:
    # Given a handler file with a problem
    path, text, message = BROKEN[language][kind]
    write(tmp_path, {path: text})
    pool = make_pool(app(tmp_path, step("bad", path)))

    # When it is first called, Then the call fails at once with the file and the fix
    start = time.monotonic()
    with pytest.raises(HandlerLoadError, match=message):
        await pool.invoke("bad", None, ctx())
    assert time.monotonic() - start < 10

    # And the next call fails the same way (a retry, or at once during the backoff)
    with pytest.raises(HandlerLoadError, match=message):
        await pool.invoke("bad", None, ctx())


async def test_eager_start_raises_for_a_broken_handler(tmp_path: Path, make_pool: MakePool) -> None:
    write(tmp_path, {"steps/ok.py": "async def handler(d, c):\n    return 1\n",
                     "steps/bad.py": "def handler(:\n"})
    pool = make_pool(app(tmp_path, step("ok", "steps/ok.py"), step("bad", "steps/bad.py")), eager=True)
    with pytest.raises(HandlerLoadError, match=r"^bad: steps/bad.py:1: SyntaxError"):
        await pool.start()


async def test_a_missing_handler_file_says_how_to_create_it(tmp_path: Path, make_pool: MakePool) -> None:
    pool = make_pool(app(tmp_path, step("gone", "steps/gone.py")))
    with pytest.raises(HandlerLoadError, match=r"gone: steps/gone.py: handler file not found "
                                               r"\(create it, or run `motia compile --stubs`"):
        await pool.invoke("gone", None, ctx())


async def test_a_fixed_handler_loads_after_the_backoff(
    tmp_path: Path, make_pool: MakePool, recorder: Recorder
) -> None:
    # Given a broken handler that failed once
    write(tmp_path, {"steps/h.py": "def handler(:\n"})
    pool = make_pool(app(tmp_path, step("h", "steps/h.py")))
    with pytest.raises(HandlerLoadError):
        await pool.invoke("h", None, ctx())
    assert any("handler failed to load: steps/h.py:1" in m for m in recorder.messages("h"))

    # When the file is fixed, Then the next call after the retry time loads it
    write(tmp_path, {"steps/h.py": "async def handler(d, c):\n    return 'fixed'\n"})
    assert (await pool.invoke("h", None, ctx())).value == "fixed"


async def test_a_handler_that_exits_while_loading_is_a_load_error(tmp_path: Path, make_pool: MakePool) -> None:
    write(tmp_path, {"steps/quit.py": "import os, sys\nprint('bye', file=sys.stderr)\nos._exit(7)\n"})
    pool = make_pool(app(tmp_path, step("quit", "steps/quit.py")))
    with pytest.raises(HandlerLoadError, match=r"quit: steps/quit.py: the worker exited with code 7 "
                                               r"before it was ready; its last output:\nbye"):
        await pool.invoke("quit", None, ctx())


async def test_a_handler_stuck_at_import_is_a_load_error(tmp_path: Path, make_pool: MakePool) -> None:
    write(tmp_path, {"steps/stuck.py": "import time\ntime.sleep(60)\n"})
    pool = make_pool(app(tmp_path, step("stuck", "steps/stuck.py")))
    pool.startup_timeout = 0.5
    with pytest.raises(HandlerLoadError, match=r"stuck: steps/stuck.py: the handler did not finish "
                                               r"loading within 0.5 s"):
        await pool.invoke("stuck", None, ctx())


async def test_missing_node_is_a_clear_error(
    tmp_path: Path, make_pool: MakePool, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, {"steps/h.js": "exports.handler = () => 1;\n"})
    monkeypatch.setenv("MOTIA_NODE", str(tmp_path / "no-node"))
    pool = make_pool(app(tmp_path, step("js", "steps/h.js")))
    with pytest.raises(HandlerLoadError, match=r"js: steps/h.js: MOTIA_NODE names '.*no-node', "
                                               r"which is not an executable"):
        await pool.invoke("js", None, ctx())
    monkeypatch.delenv("MOTIA_NODE")
    monkeypatch.setenv("PATH", str(tmp_path))
    pool = make_pool(app(tmp_path, step("js", "steps/h.js")))
    with pytest.raises(HandlerLoadError, match=r"js: steps/h.js: Node.js is needed to run this "
                                               r"handler but `node` is not on PATH"):
        await pool.invoke("js", None, ctx())


async def test_unknown_and_noop_steps_are_refused(tmp_path: Path, make_pool: MakePool) -> None:
    pool = make_pool(app(tmp_path, Step("review", "noop")))
    with pytest.raises(KeyError, match="no step named 'nope' in the plan"):
        await pool.invoke("nope", None, ctx())
    with pytest.raises(HandlerLoadError, match="step 'review' is a noop step without a handler"):
        await pool.invoke("review", None, ctx())
