"""End to end through motia.testing: the example app (Python and Node.js steps), retries,
dead letters and replay, cron, trace continuity, and shutdown with work in flight."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from _runtime_projects import FIXABLE_FILES, FIXABLE_YAML, copy_example, write_project

from motia.testing import TestApp

ORDER = {"customer": "ada@example.com", "currency": "EUR",
         "items": [{"sku": "book", "quantity": 2, "price": 1500},
                   {"sku": "pen", "quantity": 1, "price": 250}]}


@pytest.fixture
def example(tmp_path: Path, node: str) -> Path:
    return copy_example(tmp_path / "shop")


async def test_an_order_flows_from_the_api_through_two_events_into_state(example: Path) -> None:
    async with TestApp(example) as app:
        # Given an order placed over HTTP (Python API step)
        res = await app.request("POST", "/orders", json=ORDER)
        assert res.status == 201
        order_id = res.json["id"]
        assert res.json["total"] == 3250
        # When the Node.js charge step and the Python receipt step have run
        await app.wait_for_topic("receipt.sent", timeout=15)
        # Then state written by both languages is visible to both
        stored = await app.state.get("orders", order_id)
        assert (stored["status"], stored["history"]) == ("paid", [{"status": "paid",
                                                                  "amount": 3250}])
        assert (await app.state.get("payments", order_id))["amount"] == 3250
        assert await app.state.get("receipts", order_id) == {
            "order_id": order_id, "amount": 3250, "currency": "EUR"}
        stats = await app.request("GET", "/stats")  # a Node.js API step
        assert stats.json == {"revenue": 3250, "orders": 1}
        got = await app.request("GET", f"/orders/{order_id}")
        assert (got.status, got.json["status"]) == (200, "paid")


async def test_one_trace_id_follows_the_request_through_three_steps(example: Path) -> None:
    async with TestApp(example) as app:
        parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        res = await app.request("POST", "/orders", json=ORDER, headers={"traceparent": parent})
        trace_id = "0af7651916cd43dd8448eb211c80319c"
        assert res.headers["x-trace-id"] == trace_id
        await app.wait_for_topic("receipt.sent", timeout=15)

        trace = app.traces.get(trace_id)
        assert trace is not None
        assert [s.step for s in trace.spans] == ["create-order", "charge-payment", "send-receipt"]
        assert all(s.status == "ok" and s.end is not None for s in trace.spans)
        create, charge, receipt = trace.spans
        assert charge.event_id == create.emits[0]["event_id"]  # the event it emitted
        assert receipt.event_id == charge.emits[0]["event_id"]
        assert {"op": "set", "group": "payments", "key": res.json["id"]} in charge.state_ops
        # every handler's log line carries the same trace id
        lines = {r.step: r for r in app.logs if r.msg in ("order placed", "payment charged",
                                                          "receipt sent")}
        assert set(lines) == {"create-order", "charge-payment", "send-receipt"}
        assert {r.trace_id for r in lines.values()} == {trace_id}
        assert lines["send-receipt"].event_id == receipt.event_id

        # and the admin API serves the same trace
        summary = (await app.request("GET", "/__motia/api/traces")).json["traces"][0]
        assert summary["trace_id"] == trace_id and summary["status"] == "ok"
        assert summary["root"] == "create-order"
        detail = (await app.request("GET", f"/__motia/api/traces/{trace_id}")).json
        assert [s["step"] for s in detail["spans"]] == [
            "create-order", "charge-payment", "send-receipt"]
        assert any(line["msg"] == "payment charged" for line in detail["logs"])


FLAKY_YAML = """
    version: 1
    app: flaky
    defaults: {retries: 3, backoff: {initial: 50ms, factor: 2, max: 200ms}}
    topics:
      ping: {schema: {type: object}}
    flows:
      f: {}
    steps:
      flaky:
        type: event
        subscribes: [ping]
        flows: [f]
        handler: steps/flaky.py
"""

FLAKY = """
    async def handler(data, ctx):
        await ctx.state.set("attempts", str(ctx.attempt), ctx.event_id)
        if ctx.attempt < 3:
            raise RuntimeError(f"attempt {ctx.attempt} fails")
        await ctx.state.set("result", "done", ctx.attempt)
"""


async def test_a_failing_event_is_retried_until_it_succeeds(tmp_path: Path) -> None:
    source = write_project(tmp_path, FLAKY_YAML, {"steps/flaky.py": FLAKY})
    async with TestApp(source) as app:
        event_id = await app.emit("ping", {})
        await app.wait_for_topic("ping")
        assert await app.state.get("result", "done") == 3
        # the same event id on every attempt (idempotency keys rely on it)
        assert await app.state.get_group("attempts") == {"1": event_id, "2": event_id,
                                                         "3": event_id}
        assert await app.dead_letters() == []
        spans = app.traces.recent(1)[0].spans
        assert [(s.attempt, s.status) for s in spans] == [(1, "error"), (2, "error"), (3, "ok")]


async def test_after_the_last_retry_a_dead_letter_is_kept_and_replays(tmp_path: Path) -> None:
    source = write_project(tmp_path, FIXABLE_YAML, FIXABLE_FILES)
    async with TestApp(source) as app:
        # Given a job whose step keeps failing (retries: 1, so two attempts)
        res = await app.request("POST", "/jobs", json={"id": "j1"})
        assert res.status == 202
        await app.wait_for_topic("job.created")
        [letter] = await app.dead_letters()
        assert (letter.step, letter.topic, letter.data, letter.attempts) == (
            "run-job", "job.created", {"id": "j1"}, 2)
        assert letter.error["type"] == "RuntimeError"
        assert letter.error["message"] == "job j1 cannot run yet"
        assert letter.trace_id == res.headers["x-trace-id"]
        assert await app.state.get("attempts", "j1") == 2

        # When the cause is fixed (through the admin API) and the letter replayed through it
        put = await app.request("PUT", "/__motia/api/state/config/fixed", json=True)
        assert put.json == {"value": True}
        listed = (await app.request("GET", "/__motia/api/dlq?step=run-job")).json
        assert [d["id"] for d in listed["dead_letters"]] == [letter.id]
        replay = await app.request("POST", f"/__motia/api/dlq/{letter.id}/replay")
        assert replay.json == {"replayed": letter.id, "event_id": letter.event_id, "edited": False,
                               "trace_id": letter.trace_id}

        # Then it runs once more, succeeds, and the dead letter is gone
        await app.wait_until(lambda: app.state.get("done", "j1"))
        assert await app.state.get("done", "j1") == {"attempt": 1}
        assert await app.dead_letters() == []
        again = await app.request("POST", f"/__motia/api/dlq/{letter.id}/replay")
        assert again.status == 404 and again.json["error"]["type"] == "NotFound"


CRON_YAML = """
    version: 1
    app: ticker
    flows:
      f: {}
    steps:
      tick:
        type: cron
        cron: "* * * * * *"
        flows: [f]
        handler: steps/tick.py
"""


async def test_a_six_field_cron_step_fires_every_second(tmp_path: Path) -> None:
    source = write_project(tmp_path, CRON_YAML, {"steps/tick.py": """
        async def handler(ctx):
            await ctx.state.incr("ticks", "count", 1)
            ctx.logger.info("tick")
    """})
    async with TestApp(source) as app:
        await app.wait_until(lambda: _at_least(app, 2), timeout=6)
        ticks = [r for r in app.logs if r.msg == "tick"]
        assert len({r.trace_id for r in ticks}) == len(ticks)  # a trace per tick


async def _at_least(app: TestApp, n: int) -> bool:
    return (await app.state.get("ticks", "count") or 0) >= n


SLOW_YAML = """
    version: 1
    app: drain
    defaults: {concurrency: 2}
    topics:
      work: {schema: {type: object, required: [n], properties: {n: {type: integer}}}}
    flows:
      f: {}
    steps:
      worker:
        type: event
        subscribes: [work]
        flows: [f]
        handler: steps/worker.py
"""

SLOW = """
    import asyncio

    async def handler(data, ctx):
        await asyncio.sleep(0.3)
        await ctx.state.set("done", str(data["n"]), True)
"""


async def test_shutdown_drains_in_flight_work_and_keeps_the_rest(tmp_path: Path) -> None:
    source = write_project(tmp_path, SLOW_YAML, {"steps/worker.py": SLOW})
    db = str(tmp_path / "state.db")
    # Given 10 slow events, 2 at a time, in a runtime with a SQLite store
    app = TestApp(source, state="sqlite", state_url=db)
    await app.start()
    try:
        for n in range(10):
            await app.emit("work", {"n": n})
        await app.wait_until(lambda: app.state.get("done", "0"), timeout=10)
    finally:
        # When it stops with work in flight and more queued
        await app.stop(grace=5)
    # Then after a restart every event is either done or kept as a dead letter, none lost
    async with TestApp(source, state="sqlite", state_url=db) as again:
        done = set(await again.state.get_group("done"))
        kept = await again.dead_letters()
        assert all(d.error["type"] == "Undelivered" for d in kept)
        assert done.isdisjoint({str(d.data["n"]) for d in kept})
        assert len(done) + len(kept) == 10
        assert len(kept) > 0
        # and replaying what was kept finishes the job
        for letter in kept:
            await again.replay(letter.id)
        await again.wait_until(lambda: _all_done(again), timeout=15)


async def _all_done(app: TestApp) -> bool:
    return len(await app.state.get_group("done")) == 10


async def test_emit_rejects_unknown_topics_and_invalid_data(tmp_path: Path) -> None:
    from motia.runner.app import EventRejected

    source = write_project(tmp_path, SLOW_YAML, {"steps/worker.py": SLOW})
    async with TestApp(source) as app:
        with pytest.raises(EventRejected, match=r"unknown topic 'wrok'; declared topics: work"):
            await app.emit("wrok", {"n": 1})
        with pytest.raises(EventRejected, match=r"data for topic 'work' does not match its "
                                                r"schema: 1 violation\(s\)") as info:
            await app.emit("work", {"n": "one"})
        assert info.value.errors == [{"path": "/n", "message": "'one' is not of type 'integer'"}]
        res = await app.request("POST", "/__motia/api/emit", json={"topic": "work", "data": {}})
        assert res.status == 400
        assert res.json["errors"] == [{"path": "/n", "message": "'n' is a required property"}]
        await asyncio.sleep(0)


IDEMPOTENT_YAML = """
    version: 1
    app: once
    topics:
      charge: {schema: {type: object}}
    flows:
      f: {}
    steps:
      charge-card:
        type: event
        subscribes: [charge]
        idempotent: true
        flows: [f]
        handler: steps/charge.py
"""


async def test_an_idempotent_step_skips_an_event_id_it_already_completed(tmp_path: Path) -> None:
    from motia.runner.bus.base import Event

    source = write_project(tmp_path, IDEMPOTENT_YAML, {"steps/charge.py": """
        async def handler(data, ctx):
            await ctx.state.incr("charges", "count", 1)
    """})
    async with TestApp(source) as app:
        assert app.runtime is not None and app.runtime.bus is not None
        # Given the same event delivered twice (a broker redelivery after a lost ack)
        event = Event(topic="charge", data={}, trace_id="t-1", event_id="evt-1")
        await app.runtime.bus.publish([event])
        await app.wait_for_topic("charge")
        await app.runtime.bus.publish([event])
        # When the copy was skipped, the harness counts it as handled too
        await app.wait_for_topic("charge", count=2)
        # Then its side effect happened once, and the skip was logged with its ids
        assert await app.state.get("charges", "count") == 1
        [skip] = [r for r in app.logs if "already handled" in r.msg]
        assert skip.msg == "event evt-1 already handled; skipped (idempotent)"
        assert (skip.step, skip.trace_id, skip.event_id) == ("charge-card", "t-1", "evt-1")
