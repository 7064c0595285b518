"""Emits the worker accepts itself and emits it asks the host about behave the same: each
raises at once when bad, keeps its place in call order, and the host has the last word."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from motia.compiler.ir import Topic
from motia.errors import HandlerError
from motia.runner.workers._process import WorkerProcess
from motia.runner.workers.api import Emit

from .conftest import MakePool, Recorder, app, ctx, step, write

ORDER = {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}
# `pattern` and `format` are beyond the worker's compiled check: these go to the host
SKU = {"type": "object", "required": ["sku"],
       "properties": {"sku": {"type": "string", "pattern": "^[A-Z]{3}-\\d+$"}}}
MAIL = {"type": "string", "format": "email"}
TOPICS = (Topic("order.placed", ORDER), Topic("sku.seen", SKU), Topic("mail.sent", MAIL),
          Topic("anything"))
EMITS = ("order.placed", "sku.seen", "mail.sent", "anything")

PY_ASYNC = """
    from motia.errors import EmitError
    async def handler(events, ctx):
        caught = []
        for event in events:
            try:
                await ctx.emit(event)
            except EmitError as exc:
                caught.append(str(exc).split(":")[0])
        return caught
    """
PY_THREAD = """
    from motia.errors import EmitError
    def handler(events, ctx):
        caught = []
        for event in events:
            try:
                ctx.emit(event)
            except EmitError as exc:
                caught.append(str(exc).split(":")[0])
        return caught
    """
JS = """
    exports.handler = async (events, ctx) => {
      const caught = [];
      for (const event of events) {
        try { await ctx.emit(event); } catch (e) { caught.push(`${e.name}: ${e.message.split(':')[0]}`); }
      }
      return caught;
    };
    """

EVENTS = [
    {"topic": "order.placed", "data": {"id": 1}},           # fast check: surely valid
    {"topic": "sku.seen", "data": {"sku": "ABC-12"}},        # pattern: asked, accepted
    {"topic": "order.placed", "data": {"id": "one"}},       # fast check unsure: asked, rejected
    {"topic": "sku.seen", "data": {"sku": "abc"}},           # pattern: asked, rejected
    {"topic": "mail.sent", "data": "not an address"},        # format: asked, rejected
    {"topic": "mail.sent", "data": "ada@example.com"},       # format: asked, accepted
    {"topic": "anything", "data": [1, {"a": None}]},        # no schema: any data
    {"topic": "order.placd", "data": {"id": 2}},            # undeclared: asked, rejected
    {"topic": "order.placed", "data": {"id": 3, "x": 1.5}},  # surely valid
]
ACCEPTED = [Emit("order.placed", {"id": 1}), Emit("sku.seen", {"sku": "ABC-12"}),
            Emit("mail.sent", "ada@example.com"), Emit("anything", [1, {"a": None}]),
            Emit("order.placed", {"id": 3, "x": 1.5})]


@pytest.mark.parametrize("handler", ["steps/a.py", "steps/t.py", "steps/j.js"])
async def test_accepted_and_rejected_emits_keep_call_order_whoever_checked_them(
    tmp_path: Path, make_pool: MakePool, recorder: Recorder, node: str, handler: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given an async, a plain (threaded) and a Node.js handler emitting a mix of events
    write(tmp_path, {"steps/a.py": PY_ASYNC, "steps/t.py": PY_THREAD, "steps/j.js": JS})
    pool = make_pool(app(tmp_path, step("s", handler, emits=EMITS), topics=TOPICS), node=node)
    asked: list[str] = []
    on_call = WorkerProcess._on_call

    def spy(self: WorkerProcess, message: dict[str, Any]) -> None:
        asked.append(message["args"][0]["topic"])
        on_call(self, message)

    monkeypatch.setattr(WorkerProcess, "_on_call", spy)

    # When it runs
    result = await pool.invoke("s", EVENTS, ctx())

    # Then every bad emit raised in the handler, each named by its topic
    prefix = "EmitError: " if handler.endswith(".js") else ""
    assert result.value == [f"{prefix}ctx.emit('order.placed')", f"{prefix}ctx.emit('sku.seen')",
                            f"{prefix}ctx.emit('mail.sent')", f"{prefix}step 's' cannot emit "
                            "'order.placd'"]
    # And the good ones come back in the order they were emitted, each seen by the hook
    assert result.emits == ACCEPTED
    assert [c[2] for c in recorder.named("after_emit")] == [e.topic for e in ACCEPTED]
    # And only the emits the worker's check was not sure of were asked of the host
    assert asked == ["sku.seen", "order.placed", "sku.seen", "mail.sent", "mail.sent",
                     "order.placd"]


@pytest.mark.parametrize(("handler", "code"), [
    ("steps/forge.py", """
        async def handler(data, ctx):
            ctx._emits.append(["order.placed", '{"id": "forged"}'])
        """),
    ("steps/forge.js", """
        exports.handler = async (data, ctx) => { ctx._emits.push(['order.placed', '{"id": "forged"}']); };
        """),
])
async def test_the_host_rejects_an_emit_that_bypassed_the_workers_check(
    tmp_path: Path, make_pool: MakePool, recorder: Recorder, node: str, handler: str, code: str
) -> None:
    # Given a handler that slips an invalid emit into the result behind ctx.emit's back
    write(tmp_path, {handler: code})
    pool = make_pool(app(tmp_path, step("s", handler, emits=EMITS), topics=TOPICS), node=node)

    # When it runs, Then the invocation fails with the host's EmitError and nothing is emitted
    with pytest.raises(HandlerError, match=r"ctx.emit\('order.placed'\): data does not match "
                                           r"the topic's schema: /id: 'forged' is not of type "
                                           r"'integer'") as caught:
        await pool.invoke("s", None, ctx())
    assert caught.value.type == "EmitError"
    assert recorder.named("after_emit") == []


async def test_a_reload_that_keeps_the_workers_sends_them_the_new_schemas(
    tmp_path: Path, make_pool: MakePool, node: str
) -> None:
    # Given running Python and Node.js workers whose emits pass the topic's schema
    write(tmp_path, {"steps/a.py": PY_ASYNC, "steps/j.js": JS})
    steps = (step("py", "steps/a.py", emits=EMITS), step("js", "steps/j.js", emits=EMITS))
    pool = make_pool(app(tmp_path, *steps, topics=TOPICS), node=node)
    events = [{"topic": "order.placed", "data": {"id": 1}}]
    for name in ("py", "js"):
        assert (await pool.invoke(name, events, ctx())).emits == [Emit("order.placed", {"id": 1})]
    pids = {w.pid for w in pool.workers}

    # When the plan is reloaded with a stricter schema and no handler changed
    stricter = dataclasses.replace(TOPICS[0], schema={**ORDER, "properties": {
        "id": {"type": "integer", "minimum": 10}}})
    await pool.reload(app(tmp_path, *steps, topics=(stricter, *TOPICS[1:])), changed=())

    # Then the same workers raise at once for data the new schema rejects
    assert {w.pid for w in pool.workers} == pids
    py = await pool.invoke("py", events, ctx())
    js = await pool.invoke("js", events, ctx())
    assert (py.value, py.emits) == (["ctx.emit('order.placed')"], [])
    assert (js.value, js.emits) == (["EmitError: ctx.emit('order.placed')"], [])


async def test_an_emit_that_is_not_json_raises_at_once(
    tmp_path: Path, make_pool: MakePool, node: str
) -> None:
    write(tmp_path, {
        "steps/nan.py": """
            async def handler(data, ctx):
                try:
                    ctx.emit({"topic": "anything", "data": float("nan")})
                except Exception as exc:
                    return f"{type(exc).__name__}: {exc}"
            """,
        "steps/big.js": """
            exports.handler = async (data, ctx) => {
              try { await ctx.emit({topic: 'anything', data: 10n}); } catch (e) { return `${e.name}: ${e.message}`; }
            };
            """,
    })
    pool = make_pool(app(tmp_path, step("py", "steps/nan.py", emits=EMITS),
                         step("js", "steps/big.js", emits=EMITS), topics=TOPICS), node=node)
    py = await pool.invoke("py", None, ctx())
    js = await pool.invoke("js", None, ctx())
    assert py.value.startswith("EmitError: ctx.emit('anything'): the data is not JSON: Out of range")
    assert js.value.startswith("EmitError: ctx.emit('anything'): the data is not JSON: Do not know "
                               "how to serialize a BigInt")
    assert py.emits == js.emits == []


def test_emits_that_are_not_a_list_fail_the_invocation_instead_of_hanging_it() -> None:
    # Given a result whose `emits` field is not a list (a broken or foreign worker)
    from types import SimpleNamespace

    from motia.runner.workers._calls import HandlerCalls
    from motia.runner.workers._emits import EmitValidator

    the_step = step("s", "steps/a.py", emits=EMITS)
    host = SimpleNamespace(step=the_step, owner=SimpleNamespace(
        validator=EmitValidator(app(Path("."), the_step, topics=TOPICS)), hooks=Recorder()))
    inv = SimpleNamespace(ctx=ctx(), emits=[])

    # When the host takes the result, Then the invocation gets an error naming the fault
    error = HandlerCalls._accept_emits(host, inv, {"topic": "order.placed"})  # type: ignore[arg-type]
    assert error is not None and error.type == "ProtocolError"
    assert error.message == ("the worker sent emits that are not a list: "
                             "{'topic': 'order.placed'}")
    assert inv.emits == [] and host.owner.hooks.calls == []
