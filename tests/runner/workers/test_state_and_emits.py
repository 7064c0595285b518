"""ctx.state is one store for both languages; ctx.emit is checked against the plan."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from motia.compiler.ir import Topic
from motia.errors import HandlerError
from motia.runner.state.memory import MemoryStore
from motia.runner.workers.api import Emit

from .conftest import MakePool, Recorder, app, ctx, step, write

PAYMENT = {
    "type": "object", "required": ["id", "amount"],
    "properties": {"id": {"type": "string"}, "amount": {"type": "integer", "minimum": 1}},
}
TOPICS = (Topic("payment.received", PAYMENT, "Payment"), Topic("audit.logged"))


async def test_python_and_node_share_state_through_one_store(
    tmp_path: Path, make_pool: MakePool, node: str
) -> None:
    # Given a Python and a Node.js handler that apply state operations they are sent
    write(tmp_path, {
        "steps/py_state.py": """
            async def handler(op, ctx):
                name, args = op
                return await getattr(ctx.state, name)(*args)
            """,
        "steps/js_state.js": "exports.handler = async ([name, args], ctx) => ctx.state[name](...args);\n",
    })
    store = MemoryStore()
    pool = make_pool(app(tmp_path, step("py", "steps/py_state.py"), step("js", "steps/js_state.js")),
                     store=store, node=node)

    async def py(name: str, *args: object) -> object:
        return (await pool.invoke("py", [name, list(args)], ctx())).value

    async def js(name: str, *args: object) -> object:
        return (await pool.invoke("js", [name, list(args)], ctx())).value

    # When Python writes and Node.js reads, and back
    assert await py("set", "orders", "o1", {"total": 10}) == {"total": 10}
    assert await js("get", "orders", "o1") == {"total": 10}
    assert await js("set", "orders", "o2", [1, "two"]) == [1, "two"]
    assert await py("get_group", "orders") == {"o1": {"total": 10}, "o2": [1, "two"]}
    assert await js("getGroup", "orders") == {"o1": {"total": 10}, "o2": [1, "two"]}
    assert await py("get", "orders", "missing") is None
    assert await js("get", "orders", "missing") is None
    await js("delete", "orders", "o1")
    assert await py("get", "orders", "o1") is None
    await py("clear", "orders")

    # Then the store seen by the host agrees
    assert await store.get_group("orders") == {}


async def test_incr_is_atomic_under_concurrency_from_both_languages(
    tmp_path: Path, make_pool: MakePool, node: str
) -> None:
    # Given Python and Node.js handlers that increment one counter, two Python workers
    write(tmp_path, {
        "steps/inc.py": "async def handler(by, ctx):\n    return await ctx.state.incr('c', 'n', by)\n",
        "steps/inc.js": "exports.handler = async (by, ctx) => ctx.state.incr('c', 'n', by);\n",
    })
    store = MemoryStore()
    pool = make_pool(app(tmp_path, step("py", "steps/inc.py", workers=2), step("js", "steps/inc.js")),
                     store=store, node=node)

    # When 300 increments run at once
    calls = [pool.invoke("py" if i % 2 else "js", 1, ctx(i)) for i in range(300)]
    values = [r.value for r in await asyncio.gather(*calls)]

    # Then every increment returned a distinct number and none was lost
    assert sorted(values) == list(range(1, 301))
    assert await store.get("c", "n") == 300


async def test_state_errors_reach_the_handler(tmp_path: Path, make_pool: MakePool, node: str) -> None:
    write(tmp_path, {
        "steps/bad.py": """
            from motia.errors import StateError
            async def handler(data, ctx):
                await ctx.state.set("g", "k", "text")
                try:
                    await ctx.state.incr("g", "k", 1)
                except StateError as exc:
                    return f"caught: {exc}"
            """,
        "steps/bad.js": """
            exports.handler = async (data, ctx) => {
              try { await ctx.state.get('', 'k'); } catch (e) { return `${e.name}: ${e.message}`; }
            };
            """,
    })
    pool = make_pool(app(tmp_path, step("py", "steps/bad.py"), step("js", "steps/bad.js")), node=node)
    assert (await pool.invoke("py", None, ctx())).value == \
        "caught: incr g/k: the value 'text' is not a number"
    assert (await pool.invoke("js", None, ctx())).value == \
        "StateError: state group '': expected a non-empty string"


async def test_accepted_emits_are_returned_with_the_result(
    tmp_path: Path, make_pool: MakePool, recorder: Recorder, node: str
) -> None:
    # Given handlers that emit a valid payment
    write(tmp_path, {
        "steps/pay.py": """
            async def handler(data, ctx):
                await ctx.emit({"topic": "payment.received", "data": data})
                await ctx.emit({"topic": "audit.logged", "data": "anything"})
                return "ok"
            """,
        "steps/pay.js": """
            exports.handler = async (data, ctx) => {
              await ctx.emit({topic: 'payment.received', data});
              return 'ok';
            };
            """,
    })
    emits = ("payment.received", "audit.logged")
    pool = make_pool(app(tmp_path, step("py", "steps/pay.py", emits=emits),
                         step("js", "steps/pay.js", emits=emits), topics=TOPICS), node=node)
    payment = {"id": "p1", "amount": 5}

    # When they run
    py = await pool.invoke("py", payment, ctx(1))
    js = await pool.invoke("js", payment, ctx(2))

    # Then the emits come back in order, for the caller to publish, and the hook saw them
    assert py.emits == [Emit("payment.received", payment), Emit("audit.logged", "anything")]
    assert js.emits == [Emit("payment.received", payment)]
    assert [(s, c.trace_id, t) for s, c, t, _ in recorder.named("after_emit")] == [
        ("py", "trace-1", "payment.received"), ("py", "trace-1", "audit.logged"),
        ("js", "trace-2", "payment.received")]


async def test_a_rejected_emit_raises_in_the_handler_which_can_catch_it(
    tmp_path: Path, make_pool: MakePool, node: str
) -> None:
    # Given handlers that emit an undeclared topic, then a payment breaking its schema
    write(tmp_path, {
        "steps/bad.py": """
            from motia.errors import EmitError
            async def handler(data, ctx):
                caught = []
                for event in data:
                    try:
                        await ctx.emit(event)
                    except EmitError as exc:
                        caught.append(str(exc))
                return caught
            """,
        "steps/bad.js": """
            exports.handler = async (data, ctx) => {
              const caught = [];
              for (const event of data) {
                try { await ctx.emit(event); } catch (e) { caught.push(`${e.name}: ${e.message}`); }
              }
              return caught;
            };
            """,
    })
    pool = make_pool(app(tmp_path, step("py", "steps/bad.py", emits=("payment.received",)),
                         step("js", "steps/bad.js", emits=("payment.received",)), topics=TOPICS),
                     node=node)
    events = [{"topic": "payment.recieved", "data": {}},
              {"topic": "payment.received", "data": {"id": 7, "amount": 0}}]
    undeclared = ("step '{}' cannot emit 'payment.recieved': it is not in the step's emits "
                  "[payment.received]; did you mean 'payment.received'?")
    schema = ("ctx.emit('payment.received'): data does not match the topic's schema Payment: "
              "/amount: 0 is less than the minimum of 1; /id: 7 is not of type 'string'")

    # When they run, Then each rejection raised inside the handler, and nothing was emitted
    py = await pool.invoke("py", events, ctx())
    assert py.value == [undeclared.format("py"), schema] and py.emits == []
    js = await pool.invoke("js", events, ctx())
    assert js.value == [f"EmitError: {undeclared.format('js')}", f"EmitError: {schema}"]
    assert js.emits == []


async def test_a_step_without_emits_is_told_how_to_declare_one(tmp_path: Path, make_pool: MakePool) -> None:
    write(tmp_path, {"steps/quiet.py": """
        async def handler(data, ctx):
            await ctx.emit({"topic": "audit.logged", "data": 1})
        """})
    pool = make_pool(app(tmp_path, step("quiet", "steps/quiet.py"), topics=TOPICS))

    with pytest.raises(HandlerError, match=r"step 'quiet' cannot emit 'audit.logged': it declares "
                                           r"no emits \(add `emits: \[audit.logged\]`") as caught:
        await pool.invoke("quiet", None, ctx())
    assert caught.value.type == "EmitError"


async def test_state_operations_reach_the_hook(
    tmp_path: Path, make_pool: MakePool, recorder: Recorder
) -> None:
    write(tmp_path, {"steps/s.py": "async def handler(d, ctx):\n    await ctx.state.set('g', 'k', 1)\n"})
    pool = make_pool(app(tmp_path, step("s", "steps/s.py")))
    await pool.invoke("s", None, ctx(9))
    assert [(s, c.trace_id, op, args) for s, c, op, args in recorder.named("after_state_op")] == [
        ("s", "trace-9", "state.set", ["g", "k", 1])]
