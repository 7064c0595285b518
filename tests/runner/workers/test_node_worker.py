"""Node.js handlers (CommonJS and ES modules) speak the same protocol with camelCase ctx."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from motia.errors import HandlerError

from .conftest import MakePool, Recorder, app, ctx, step, write


async def test_every_step_type_returns_its_result(tmp_path: Path, make_pool: MakePool, node: str) -> None:
    # Given an api handler in CommonJS, an event handler in ESM (.mjs) and a cron one in .cjs
    write(tmp_path, {
        "steps/api.js": """
            exports.handler = async (req, ctx) => ({status: 201, body: {
              got: [req.body, req.query, req.params, req.headers, req.method, req.path]}});
            """,
        "steps/event.mjs": """
            export async function handler(data, ctx) {
              return {data, ids: [ctx.traceId, ctx.eventId, ctx.attempt, ctx.topic]};
            }
            """,
        "steps/cron.cjs": "module.exports = async (ctx) => ({trace: ctx.traceId, topic: ctx.topic});\n",
    })
    pool = make_pool(app(tmp_path, step("api", "steps/api.js", "api"),
                         step("event", "steps/event.mjs"), step("cron", "steps/cron.cjs", "cron")),
                     node=node)
    request = {"body": {"id": 1}, "query": {"q": "x"}, "params": {"id": "7"},
               "headers": {"h": "v"}, "method": "POST", "path": "/orders/7"}

    # When each is invoked
    api = await pool.invoke("api", request, ctx(1))
    event = await pool.invoke("event", {"n": 2}, ctx(2, attempt=2, topic="order.placed"))
    cron = await pool.invoke("cron", None, ctx(3))

    # Then each got its arguments and returned its value
    assert api.value == {"status": 201, "body": {
        "got": [{"id": 1}, {"q": "x"}, {"id": "7"}, {"h": "v"}, "POST", "/orders/7"]}}
    assert event.value == {"data": {"n": 2}, "ids": ["trace-2", "event-2", 2, "order.placed"]}
    assert cron.value == {"trace": "trace-3", "topic": None}


async def test_an_es_module_js_file_in_a_module_package_loads(
    tmp_path: Path, make_pool: MakePool, node: str
) -> None:
    write(tmp_path, {
        "package.json": '{"type": "module"}',
        "steps/helper.js": "export const twice = (n) => n * 2;\n",
        "steps/esm.js": """
            import { twice } from './helper.js';
            export const handler = async (data) => twice(data);
            """,
    })
    pool = make_pool(app(tmp_path, step("esm", "steps/esm.js")), node=node)
    assert (await pool.invoke("esm", 21, ctx())).value == 42


async def test_commonjs_handlers_require_sibling_modules(tmp_path: Path, make_pool: MakePool, node: str) -> None:
    write(tmp_path, {
        "steps/pricing.js": "exports.total = (items) => items.reduce((a, b) => a + b, 0);\n",
        "steps/invoice.js": """
            const { total } = require('./pricing');
            exports.handler = (items) => ({total: total(items)});
            """,
    })
    pool = make_pool(app(tmp_path, step("invoice", "steps/invoice.js")), node=node)
    assert (await pool.invoke("invoice", [1, 2, 3], ctx())).value == {"total": 6}


async def test_invocations_overlap_in_one_worker(tmp_path: Path, make_pool: MakePool, node: str) -> None:
    # Given a handler recording when it starts and ends a 300 ms wait
    write(tmp_path, {"steps/slow.js": """
        exports.handler = async () => {
          const start = Date.now();
          await new Promise((r) => setTimeout(r, 300));
          return {start, end: Date.now(), pid: process.pid};
        };
        """})
    pool = make_pool(app(tmp_path, step("slow", "steps/slow.js", concurrency=8)), node=node)
    await pool.invoke("slow", None, ctx())

    # When 8 run at once
    results = [r.value for r in await asyncio.gather(*(pool.invoke("slow", None, ctx(i)) for i in range(8)))]

    # Then they overlapped in one process
    assert len({r["pid"] for r in results}) == 1
    assert max(r["start"] for r in results) < min(r["end"] for r in results)


async def test_a_throwing_handler_reports_type_and_message_and_the_worker_survives(
    tmp_path: Path, make_pool: MakePool, node: str
) -> None:
    write(tmp_path, {"steps/boom.js": """
        class PaymentDeclined extends Error { constructor(m) { super(m); this.name = 'PaymentDeclined'; } }
        exports.handler = async (data) => {
          if (data.fail) throw new PaymentDeclined(`card ${data.card} declined`);
          return process.pid;
        };
        """})
    pool = make_pool(app(tmp_path, step("boom", "steps/boom.js")), node=node)
    pid = (await pool.invoke("boom", {"fail": False}, ctx())).value

    with pytest.raises(HandlerError, match=r"^boom: card 4242 declined$") as caught:
        await pool.invoke("boom", {"fail": True, "card": 4242}, ctx())

    assert caught.value.type == "PaymentDeclined"
    assert "steps/boom.js" in caught.value.traceback
    assert (await pool.invoke("boom", {"fail": False}, ctx())).value == pid


async def test_console_output_and_logger_become_log_records(
    tmp_path: Path, make_pool: MakePool, recorder: Recorder, node: str
) -> None:
    write(tmp_path, {"steps/noisy.js": """
        exports.handler = async (data, ctx) => {
          console.log('from console.log');
          console.error('from console.error');
          ctx.logger.info('structured', {order: data.order});
          return 'ok';
        };
        """})
    pool = make_pool(app(tmp_path, step("noisy", "steps/noisy.js")), node=node)
    results = [await pool.invoke("noisy", {"order": i}, ctx(i)) for i in range(3)]
    await asyncio.sleep(0.1)

    assert [r.value for r in results] == ["ok"] * 3
    structured = [r for r in recorder.logs if r.msg == "structured"]
    assert [(r.level, r.data, r.step, r.trace_id) for r in structured] == [
        ("info", {"order": i}, "noisy", f"trace-{i}") for i in range(3)]
    assert recorder.messages("noisy").count("from console.log") == 3
    assert [r.level for r in recorder.logs if r.msg == "from console.error"] == ["warn"] * 3
