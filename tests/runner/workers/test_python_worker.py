"""Python handlers run in their own worker processes and see the context of SPEC section 4."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from motia.errors import HandlerError

from .conftest import MakePool, Recorder, app, ctx, step, write


async def test_every_step_type_returns_its_result(tmp_path: Path, make_pool: MakePool) -> None:
    # Given an api, an event and a cron handler in Python
    write(tmp_path, {
        "steps/api.py": """
            async def handler(req, ctx):
                return {"status": 200, "body": {
                    "attr": [req.body, req.query, req.params, req.headers, req.method, req.path],
                    "item": [req["body"], req["method"]]}}
            """,
        "steps/event.py": """
            async def handler(data, ctx):
                return {"data": data, "ids": [ctx.trace_id, ctx.event_id, ctx.attempt, ctx.topic]}
            """,
        "steps/cron.py": """
            async def handler(ctx):
                return {"trace": ctx.trace_id, "topic": ctx.topic}
            """,
    })
    pool = make_pool(app(tmp_path, step("api", "steps/api.py", "api"),
                         step("event", "steps/event.py"), step("cron", "steps/cron.py", "cron")))
    request = {"body": {"id": 1}, "query": {"q": "x"}, "params": {"id": "7"},
               "headers": {"h": "v"}, "method": "POST", "path": "/orders/7"}

    # When each is invoked
    api = await pool.invoke("api", request, ctx(1))
    event = await pool.invoke("event", {"n": 2}, ctx(2, attempt=3, topic="order.placed"))
    cron = await pool.invoke("cron", None, ctx(3))

    # Then each gets its own arguments and returns its value
    assert api.value == {"status": 200, "body": {
        "attr": [{"id": 1}, {"q": "x"}, {"id": "7"}, {"h": "v"}, "POST", "/orders/7"],
        "item": [{"id": 1}, "POST"]}}
    assert event.value == {"data": {"n": 2}, "ids": ["trace-2", "event-2", 3, "order.placed"]}
    assert cron.value == {"trace": "trace-3", "topic": None}
    assert api.emits == [] and api.duration > 0


async def test_plain_def_handler_runs_off_the_loop_with_a_synchronous_ctx(
    tmp_path: Path, make_pool: MakePool
) -> None:
    # Given a plain def handler that uses ctx.state without await
    write(tmp_path, {"steps/sync.py": """
        import threading
        def handler(data, ctx):
            ctx.state.set("g", "k", data)
            ctx.logger.info("from a thread")
            return {"read": ctx.state.get("g", "k"), "n": ctx.state.incr("g", "n", 5),
                    "thread": threading.current_thread().name}
        """})
    pool = make_pool(app(tmp_path, step("sync", "steps/sync.py")))

    # When it is invoked
    result = await pool.invoke("sync", {"v": 1}, ctx())

    # Then the state calls returned values directly, in a handler thread
    assert result.value["read"] == {"v": 1} and result.value["n"] == 5
    assert result.value["thread"].startswith("motia-handler")


@pytest.mark.parametrize("kind", ["async", "sync"])
async def test_invocations_overlap_up_to_concurrency(
    tmp_path: Path, make_pool: MakePool, kind: str
) -> None:
    # Given a handler that records when it starts and ends a 0.3 s sleep
    body = {
        "async": "async def handler(data, ctx):\n    t = time.time()\n    await asyncio.sleep(0.3)\n",
        "sync": "def handler(data, ctx):\n    t = time.time()\n    time.sleep(0.3)\n",
    }[kind]
    write(tmp_path, {"steps/slow.py": "import asyncio, os, time\n" + body
                     + "    return {'start': t, 'end': time.time(), 'pid': os.getpid()}\n"})
    pool = make_pool(app(tmp_path, step("slow", "steps/slow.py", concurrency=8)))
    await pool.invoke("slow", {}, ctx())  # the worker is up

    # When 8 invocations are made at once
    results = await asyncio.gather(*(pool.invoke("slow", {}, ctx(i)) for i in range(8)))

    # Then one worker ran all of them at the same time: each started before any ended
    assert len({r.value["pid"] for r in results}) == 1
    assert max(r.value["start"] for r in results) < min(r.value["end"] for r in results)


async def test_invocations_beyond_concurrency_wait_for_a_slot(tmp_path: Path, make_pool: MakePool) -> None:
    # Given concurrency 2
    write(tmp_path, {"steps/slow.py": """
        import asyncio, time
        async def handler(data, ctx):
            t = time.time()
            await asyncio.sleep(0.2)
            return [t, time.time()]
        """})
    pool = make_pool(app(tmp_path, step("slow", "steps/slow.py", concurrency=2)))

    # When 4 are made at once
    spans = sorted(r.value for r in await asyncio.gather(*(pool.invoke("slow", {}, ctx(i)) for i in range(4))))

    # Then the last two started only after the first two ended
    assert spans[2][0] >= min(spans[0][1], spans[1][1])
    assert pool.stats()["slow"]["in_flight"] == 0


async def test_a_raising_handler_reports_type_and_message_and_the_worker_survives(
    tmp_path: Path, make_pool: MakePool
) -> None:
    # Given a handler that raises on demand
    write(tmp_path, {"steps/boom.py": """
        import os
        class PaymentDeclined(Exception):
            pass
        async def handler(data, ctx):
            if data["fail"]:
                raise PaymentDeclined(f"card {data['card']} declined")
            return os.getpid()
        """})
    pool = make_pool(app(tmp_path, step("boom", "steps/boom.py")))
    pid = (await pool.invoke("boom", {"fail": False}, ctx())).value

    # When it raises
    with pytest.raises(HandlerError, match=r"^boom: card 4242 declined$") as caught:
        await pool.invoke("boom", {"fail": True, "card": 4242}, ctx())

    # Then the caller sees the type, message and traceback, and the same worker serves on
    assert caught.value.type == "PaymentDeclined"
    assert 'raise PaymentDeclined' in caught.value.traceback
    assert (await pool.invoke("boom", {"fail": False}, ctx())).value == pid
    assert pool.stats()["boom"]["restarts"] == 0


async def test_a_result_that_is_not_json_is_a_handler_error(tmp_path: Path, make_pool: MakePool) -> None:
    write(tmp_path, {"steps/bad.py": "async def handler(data, ctx):\n    return {1, 2}\n"})
    pool = make_pool(app(tmp_path, step("bad", "steps/bad.py")))
    with pytest.raises(HandlerError, match="the handler returned a value that is not JSON: "
                                           "Object of type set is not JSON serializable"):
        await pool.invoke("bad", {}, ctx())


async def test_logs_and_prints_become_log_records_and_do_not_break_the_protocol(
    tmp_path: Path, make_pool: MakePool, recorder: Recorder
) -> None:
    # Given a handler that prints to stdout and stderr (even protocol-looking bytes) and logs
    write(tmp_path, {"steps/noisy.py": """
        import sys
        async def handler(data, ctx):
            print("\\x00\\x00\\x00\\x05hello from print")
            print("to stderr", file=sys.stderr)
            ctx.logger.warn("structured", {"order": data["order"]})
            return "ok"
        """})
    pool = make_pool(app(tmp_path, step("noisy", "steps/noisy.py")))

    # When it is invoked a few times
    results = [await pool.invoke("noisy", {"order": i}, ctx(i)) for i in range(3)]
    await asyncio.sleep(0.1)  # stdout travels on its own pipe

    # Then results arrive intact and every line became a record of this step
    assert [r.value for r in results] == ["ok"] * 3
    structured = [r for r in recorder.logs if r.msg == "structured"]
    assert [(r.level, r.data, r.step, r.trace_id, r.event_id) for r in structured] == [
        ("warn", {"order": i}, "noisy", f"trace-{i}", f"event-{i}") for i in range(3)]
    assert recorder.messages("noisy").count("\x00\x00\x00\x05hello from print") == 3
    assert [r.level for r in recorder.logs if r.msg == "to stderr"] == ["warn"] * 3


async def test_handlers_import_sibling_modules_and_installed_packages(
    tmp_path: Path, make_pool: MakePool
) -> None:
    # Given a handler in a subfolder importing its sibling, a project package and PyYAML
    write(tmp_path, {
        "steps/billing/pricing.py": "def total(items):\n    return sum(items)\n",
        "lib/money.py": "CURRENCY = 'EUR'\n",
        "steps/billing/invoice.py": """
            import yaml
            import pricing
            from lib.money import CURRENCY
            async def handler(data, ctx):
                return {"total": pricing.total(data), "currency": CURRENCY,
                        "yaml": yaml.safe_load("a: 1")}
            """,
    })
    pool = make_pool(app(tmp_path, step("invoice", "steps/billing/invoice.py")))
    result = await pool.invoke("invoice", [1, 2, 3], ctx())
    assert result.value == {"total": 6, "currency": "EUR", "yaml": {"a": 1}}


async def test_the_worker_imports_only_its_own_handler(tmp_path: Path, make_pool: MakePool) -> None:
    # Given two steps whose modules record themselves, and a worker that lists heavy modules
    write(tmp_path, {
        "steps/one.py": """
            import sys
            async def handler(data, ctx):
                heavy = [m for m in ("aiohttp", "jsonschema", "yaml") if m in sys.modules]
                return {"two": "steps.two" in sys.modules, "heavy": heavy}
            """,
        "steps/two.py": "async def handler(data, ctx):\n    return 2\n",
    })
    pool = make_pool(app(tmp_path, step("one", "steps/one.py"), step("two", "steps/two.py")))
    assert (await pool.invoke("one", None, ctx())).value == {"two": False, "heavy": []}


async def test_a_named_function_is_used(tmp_path: Path, make_pool: MakePool) -> None:
    write(tmp_path, {"steps/multi.py": "def handler(d, c):\n    return 1\ndef other(d, c):\n    return 2\n"})
    pool = make_pool(app(tmp_path, step("multi", "steps/multi.py:other")))
    assert (await pool.invoke("multi", None, ctx())).value == 2
