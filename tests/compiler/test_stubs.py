"""Handler stubs: golden files, validity as code, and never overwriting a file.

Golden files live in tests/compiler/golden/stubs/ (suffixed .golden so linters skip
them); after an intended template change
regenerate them with `MOTIA_UPDATE_GOLDEN=1 .venv/bin/pytest tests/compiler/test_stubs.py`
and review the diff.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
from pathlib import Path
from typing import ClassVar

import pytest
from golden_check import assert_golden
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sample_apps import PAYMENT, billing

from motia.compiler.ir import App, Handler, Step, Topic
from motia.compiler.pytypes import render_python_types
from motia.compiler.stubs import stub_text, write_stubs
from motia.compiler.tstypes import render_ts_types
from motia.errors import CompileError

WRITTEN = ["steps/cleanup.py", "steps/create_invoice.js", "steps/get_invoice.mjs",
           "steps/stripe_webhook.py"]


def _signature(source: str, function: str) -> list[str]:
    tree = ast.parse(source)
    found = [n for n in tree.body if isinstance(n, ast.AsyncFunctionDef) and n.name == function]
    assert found, f"no async def {function}"
    return [arg.arg for arg in found[0].args.args]


def test_stubs_match_golden(tmp_path: Path) -> None:
    # Given the SPEC example with no handler files / When stubs are written
    written = write_stubs(billing(tmp_path))
    # Then one file per running step, sorted, each equal to its golden file
    assert [p.relative_to(tmp_path).as_posix() for p in written] == WRITTEN
    for path in written:
        assert_golden(f"stubs/{path.name}.golden", path.read_text(encoding="utf-8"))


def test_python_stubs_compile_with_the_signature_of_their_type(tmp_path: Path) -> None:
    write_stubs(billing(tmp_path))
    webhook = (tmp_path / "steps/stripe_webhook.py").read_text(encoding="utf-8")
    cleanup = (tmp_path / "steps/cleanup.py").read_text(encoding="utf-8")
    compile(webhook, "stripe_webhook.py", "exec")
    assert _signature(webhook, "handler") == ["req", "ctx"]
    assert _signature(cleanup, "cleanup") == ["ctx"]
    assert '"pattern": "^[A-Z]{3}$"' in webhook
    assert "payment.received (schema Payment): Stripe confirmed a payment" in webhook


def test_event_stub_shows_the_subscribed_payload(tmp_path: Path) -> None:
    app = App(name="a", root=str(tmp_path), topics=(Topic("paid", PAYMENT, "Payment"),),
              steps=(Step(name="on-paid", type="event", subscribes=("paid",),
                          handler=Handler("h.py", "on_paid")),))
    (path,) = write_stubs(app)
    source = path.read_text(encoding="utf-8")
    assert _signature(source, "on_paid") == ["data", "ctx"]
    assert "Payload of paid (data), schema Payment:" in source


async def test_generated_python_handlers_run(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the written api stub and the types it imports (the worker puts the project
    # root on sys.path) / When its handler is called with a request
    write_stubs(billing(tmp_path))
    (tmp_path / "motia_types.py").write_text(render_python_types(billing(tmp_path)))
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = importlib.util.spec_from_file_location("stub", tmp_path / "steps/stripe_webhook.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    class Logger:
        def info(self, message: str, data: object) -> None:
            self.seen = (message, data)

    class Ctx:
        logger = Logger()

    class Req:
        params: ClassVar[dict[str, str]] = {}

    result = await module.handler(Req(), Ctx())
    # Then it answers 200 and logged its call
    assert result == {"status": 200, "body": {"ok": True}}
    assert Ctx.logger.seen == ("stripe-webhook called", {"params": {}})


def test_stubs_pass_mypy_strict_and_tsc_with_the_generated_types(
    tmp_path: Path, mypy: str, motia_for_mypy: Path, tsc: str
) -> None:
    # Given every stub of the SPEC example and the two type files
    app = billing(tmp_path)
    write_stubs(app)
    (tmp_path / "motia_types.py").write_text(render_python_types(app))
    (tmp_path / "motia-types.d.ts").write_text(render_ts_types(app))
    (tmp_path / "jsconfig.json").write_text(
        '{"compilerOptions": {"checkJs": true, "allowJs": true, "noEmit": true, "strict": true,'
        ' "target": "es2022", "module": "nodenext", "lib": ["es2022"]},'
        ' "include": ["steps", "motia-types.d.ts"]}')
    # When both checkers read them, Then neither finds anything
    env = {**os.environ, "MYPYPATH": str(motia_for_mypy)}
    typed = subprocess.run([mypy, "--strict", "--no-incremental", "steps", "motia_types.py"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert typed.returncode == 0, typed.stdout
    checked = subprocess.run([tsc, "-p", "jsconfig.json"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=300)
    assert (checked.returncode, checked.stdout) == (0, "")


def test_node_stubs_pass_node_check(tmp_path: Path, node: str) -> None:
    for path in write_stubs(billing(tmp_path)):
        if path.suffix != ".py":
            check = subprocess.run([node, "--check", str(path)], capture_output=True, text=True, check=False)
            assert check.returncode == 0, check.stderr


def test_cjs_and_esm_export_styles(tmp_path: Path) -> None:
    write_stubs(billing(tmp_path))
    assert "exports.handler = async (data, ctx) => {" in (
        tmp_path / "steps/create_invoice.js").read_text(encoding="utf-8")
    assert "export async function getInvoice(req, ctx) {" in (
        tmp_path / "steps/get_invoice.mjs").read_text(encoding="utf-8")


def test_existing_files_are_never_overwritten(tmp_path: Path) -> None:
    # Given one handler already written by the user
    mine = tmp_path / "steps/stripe_webhook.py"
    mine.parent.mkdir()
    mine.write_text("# mine\n", encoding="utf-8")
    # When stubs are written twice
    first = write_stubs(billing(tmp_path))
    second = write_stubs(billing(tmp_path))
    # Then the user's file is untouched and the second run writes nothing
    assert mine.read_text(encoding="utf-8") == "# mine\n"
    assert mine not in first and len(first) == 3
    assert second == []


def test_noop_steps_get_no_stub(tmp_path: Path) -> None:
    app = App(name="a", root=str(tmp_path), steps=(Step(name="review", type="noop"),))
    assert write_stubs(app) == []
    assert list(tmp_path.iterdir()) == []


def test_steps_sharing_a_file_get_one_function_each(tmp_path: Path) -> None:
    app = App(name="a", root=str(tmp_path), steps=(
        Step(name="create", type="api", method="POST", path="/o",
             handler=Handler("steps/orders.py", "create")),
        Step(name="tick", type="cron", cron="* * * * *",
             handler=Handler("steps/orders.py", "tick")),
    ))
    (path,) = write_stubs(app)
    source = path.read_text(encoding="utf-8")
    assert _signature(source, "create") == ["req", "ctx"]
    assert _signature(source, "tick") == ["ctx"]


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        (Handler("h.py", "class"),
         r"step 's': handler function 'class' is not a valid name in a \.py file"),
        (Handler("h.mjs", "default", "node"), "handler function 'default' is not a valid name"),
        (Handler("h.rb", "x"), r"step 's': no stub for handler extension '\.rb'"),
        (Handler("../escape.py"), r"step 's': handler '\.\./escape\.py' is outside the project"),
    ],
)
def test_impossible_stubs_are_refused_before_writing(
    tmp_path: Path, handler: Handler, message: str
) -> None:
    root = tmp_path / "p"
    root.mkdir()
    app = App(name="a", root=str(root), steps=(
        Step(name="ok", type="cron", cron="* * * * *", handler=Handler("ok.py")),
        Step(name="s", type="cron", cron="* * * * *", handler=handler),
    ))
    with pytest.raises(CompileError, match=message):
        write_stubs(app)
    assert list(root.iterdir()) == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.text(max_size=15), description=st.text(max_size=30), topic=st.text(max_size=10),
       pattern=st.text(max_size=10))
def test_any_text_yields_valid_python(name: str, description: str, topic: str,
                                      pattern: str) -> None:
    # Given names, descriptions and schema strings full of quotes and odd characters
    schema = {"type": "object", "properties": {"x": {"type": "string", "pattern": pattern,
                                                      "description": description}}}
    app = App(name=name, root="/nowhere", topics=(Topic(topic, schema, description=description),),
              steps=(Step(name=name, type="api", method="POST", path="/x", body=schema,
                          description=description, emits=(topic,), handler=Handler("h.py")),))
    # When the stub is rendered / Then it still parses
    source = stub_text(app, app.steps)
    tree = ast.parse(source)
    assert _signature(source, "handler") == ["req", "ctx"]
    assert isinstance(tree.body[0], ast.Expr)


NASTY = 'a*/b"""c\\\u2028d`${x}` \'q\' </script>\x00\ud800 e'


@pytest.mark.parametrize("extension", [".js", ".cjs", ".mjs", ".py"])
def test_hostile_text_still_yields_valid_code(tmp_path: Path, node: str, extension: str) -> None:
    # Given every name and description full of comment and string terminators
    schema = {"type": "object", "properties": {NASTY: {"type": "string", "pattern": NASTY}}}
    app = App(name=NASTY, root=str(tmp_path), topics=(Topic(NASTY, schema, NASTY, NASTY),),
              steps=(Step(name=NASTY, type="event", subscribes=(NASTY,), emits=(NASTY,),
                          description=NASTY, handler=Handler(f"h{extension}")),))
    # When its stub is written
    (path,) = write_stubs(app)
    # Then the file is valid code in its language
    if extension == ".py":
        compile(path.read_text(encoding="utf-8"), str(path), "exec")
    else:
        check = subprocess.run([node, "--check", str(path)], capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stderr


def test_example_values_follow_the_schema() -> None:
    from motia.compiler._examples import example_value

    assert example_value(PAYMENT) == {"id": "string", "amount": 1, "currency": "string"}
    assert example_value({"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 2}) == [
        "a", "a"]
    assert example_value({"type": "string", "format": "email"}) == "user@example.com"
    assert example_value({"type": "number", "exclusiveMinimum": 5}) == 6
    assert example_value({"type": ["null", "boolean"]}) is True
    assert example_value({"oneOf": [{"const": 3}, {"type": "string"}]}) == 3
    assert example_value({"type": "string", "minLength": 8, "maxLength": 9}) == "stringxx"
