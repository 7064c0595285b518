"""The delivery pipeline end to end, on every bus: validation at delivery, idempotency by
business key (events and API requests), explicit emit ids. Real runtime, real workers
(Python and Node.js), the memory bus and the real RabbitMQ."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from _runtime_projects import services, write_project

from motia.runner.bus.base import Event
from motia.testing import TestApp

ORDERS_YAML = """
    version: 1
    app: {app}
    defaults: {retries: 2, backoff: {initial: 50ms, factor: 1, max: 50ms}, timeout: 5s}
    schemas:
      Order:
        type: object
        required: [id, amount]
        properties: {id: {type: string}, amount: {type: integer, minimum: 1}}
    topics:
      order.placed: {schema: Order}
      invoice.created: {schema: Order}
    flows:
      orders: {}
    steps:
      place:
        type: api
        method: POST
        path: /orders
        body: Order
        emits: [order.placed]
        idempotency: {key: body.id, ttl: 1h}
        flows: [orders]
        handler: steps/place.py
      charge:
        type: event
        subscribes: [order.placed]
        emits: [invoice.created]
        idempotency: {key: data.id}
        flows: [orders]
        handler: steps/charge.py
      invoice:
        type: event
        subscribes: [invoice.created]
        idempotent: true
        flows: [orders]
        handler: steps/invoice.js
"""

ORDERS_FILES = {
    # amount 13 fails the first time it is placed: a failed first attempt
    "steps/place.py": """
        async def handler(req, ctx):
            order = req.body
            n = await ctx.state.incr("runs", "place:" + order["id"], 1)
            if order["amount"] == 13 and n == 1:
                raise RuntimeError("the card network timed out")
            await ctx.emit({"topic": "order.placed", "data": order})
            return {"status": 201, "body": {"id": order["id"], "run": n},
                    "headers": {"x-order": order["id"]}}
        """,
    "steps/charge.py": """
        async def handler(order, ctx):
            await ctx.state.incr("runs", "charge:" + order["id"], 1)
            await ctx.emit({"topic": "invoice.created", "data": order, "id": "inv-" + order["id"]})
        """,
    "steps/invoice.js": """
        exports.handler = async (order, ctx) => {
          await ctx.state.incr('runs', 'invoice:' + order.id, 1);
          await ctx.state.set('invoice_ids', order.id, ctx.eventId);
        };
        """,
}

BUSES = ["memory", "rabbitmq"]


@pytest.fixture(params=BUSES)
async def orders(request: pytest.FixtureRequest, tmp_path: Path, node: str) -> AsyncIterator[TestApp]:
    """The orders app running on each bus in turn (a unique app name on the shared broker,
    its queues and exchange deleted afterwards)."""
    kind: str = request.param
    options: dict[str, str] = {}
    if kind == "rabbitmq":
        services().require_service("rabbitmq")
        options["amqp_url"] = services().AMQP_URL
    name = f"t{uuid.uuid4().hex[:10]}"
    source = write_project(tmp_path, ORDERS_YAML.replace("{app}", name), ORDERS_FILES)
    app = TestApp(source, events=kind, **options)
    try:
        async with app:
            yield app
    finally:
        if kind == "rabbitmq":
            await _delete_topology(app)


async def _delete_topology(app: TestApp) -> None:
    import aio_pika

    from motia.runner.bus.rabbitmq import RabbitMQBus
    from motia.runner.state.memory import MemoryStore

    plan = app.runtime.app if app.runtime is not None else None
    assert plan is not None
    async with await aio_pika.connect(services().AMQP_URL) as connection:
        channel = await connection.channel()
        for name in RabbitMQBus(plan, MemoryStore(plan.name)).queue_names():
            await channel.queue_delete(name)
        await channel.exchange_delete(f"motia.{plan.name}")


async def _runs(app: TestApp) -> dict[str, int]:
    return dict(await app.state.get_group("runs"))


# --- validation at delivery -----------------------------------------------------------------


async def test_data_breaking_the_topic_schema_is_a_dead_letter_not_an_attempt(
    orders: TestApp,
) -> None:
    # Given an event someone put on the bus without ctx.emit's check (another program)
    bus = orders.runtime.bus if orders.runtime else None
    assert bus is not None
    event = Event(topic="order.placed", data={"id": 7, "amount": 0}, trace_id="outside")
    # When it is delivered
    await bus.publish([event])
    await orders.wait_for_topic("order.placed")
    # Then the handler never ran, and a dead letter holds the event with every error
    [letter] = await orders.dead_letters("charge")
    assert await _runs(orders) == {}
    assert (letter.event_id, letter.data, letter.attempts) == (event.event_id, event.data, 0)
    assert letter.error["type"] == "SchemaViolation"
    assert letter.error["message"] == (
        "data on topic 'order.placed' does not match its schema Order: /amount: 0 is less "
        "than the minimum of 1; /id: 7 is not of type 'string'")
    assert letter.error["errors"] == [
        {"path": "/amount", "message": "0 is less than the minimum of 1"},
        {"path": "/id", "message": "7 is not of type 'string'"}]


# --- idempotency by business key, explicit emit ids ------------------------------------------


async def test_an_event_step_runs_once_per_business_key_and_emits_its_own_id(
    orders: TestApp,
) -> None:
    # Given the same order arriving twice as two different events (two event ids)
    first = await orders.emit("order.placed", {"id": "o-1", "amount": 5})
    second = await orders.emit("order.placed", {"id": "o-1", "amount": 5})
    assert first != second
    await orders.wait_for_topic("order.placed", count=2)
    await orders.wait_for_topic("invoice.created")
    # Then charge ran once (data.id is its key), and invoice once, for the event id charge
    # gave it
    assert await _runs(orders) == {"charge:o-1": 1, "invoice:o-1": 1}
    assert await orders.state.get("invoice_ids", "o-1") == "inv-o-1"
    skipped = [r.msg for r in orders.logs if r.step == "charge" and "skipped" in r.msg]
    assert skipped == [f"event {second} already handled; skipped (idempotent)"]


async def test_a_repeated_request_gets_the_first_answer_without_running_again(
    orders: TestApp,
) -> None:
    # Given an order placed once
    body = {"id": "o-2", "amount": 5}
    first = await orders.request("POST", "/orders", json=body)
    # When the same request comes again (a webhook delivered twice)
    again = await orders.request("POST", "/orders", json=body)
    await orders.wait_for_topic("invoice.created")
    # Then it gets the first answer, marked as a replay, and nothing ran twice
    assert (first.status, first.json) == (201, {"id": "o-2", "run": 1})
    assert (again.status, again.json, again.headers["x-order"]) == (201, first.json, "o-2")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["x-trace-id"] != first.headers["x-trace-id"]
    assert await _runs(orders) == {"place:o-2": 1, "charge:o-2": 1, "invoice:o-2": 1}


async def test_concurrent_repeats_wait_for_the_first_and_share_its_answer(
    orders: TestApp,
) -> None:
    # When ten copies of one request arrive at once
    body = {"id": "o-3", "amount": 5}
    answers = await asyncio.gather(*(orders.request("POST", "/orders", json=body)
                                     for _ in range(10)))
    # Then the handler ran once and all ten got its answer
    assert {(a.status, a.json["run"]) for a in answers} == {(201, 1)}
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 9
    assert (await _runs(orders))["place:o-3"] == 1


async def test_a_failed_first_attempt_does_not_poison_the_key(orders: TestApp) -> None:
    # Given a request whose first run fails
    body = {"id": "o-4", "amount": 13}
    failed = await orders.request("POST", "/orders", json=body)
    assert failed.status == 500
    # When the client retries with the same key
    retried = await orders.request("POST", "/orders", json=body)
    # Then the handler runs again, and that answer is the one kept
    assert (retried.status, retried.json) == (201, {"id": "o-4", "run": 2})
    kept = await orders.request("POST", "/orders", json=body)
    assert (kept.status, kept.json, kept.headers["Idempotent-Replayed"]) == (
        201, {"id": "o-4", "run": 2}, "true")


# --- a completion mark that fails ---------------------------------------------------------

MARK_YAML = """
    version: 1
    app: marks
    defaults: {retries: 3, backoff: {initial: 50ms, factor: 1, max: 50ms}, timeout: 30s}
    topics:
      job.created: {}
    flows:
      jobs: {}
    steps:
      finish:
        type: event
        subscribes: [job.created]
        idempotent: true
        flows: [jobs]
        handler: steps/finish.py
"""

# The side effect is a line in a file (the store is the thing that goes down); the handler
# holds on until the test lets it finish, so the store can be stopped mid-run.
MARK_FILES = {
    "steps/finish.py": """
        import asyncio
        import pathlib

        ROOT = pathlib.Path(__file__).resolve().parent.parent

        async def handler(job, ctx):
            with open(ROOT / "runs.log", "a") as runs:
                runs.write(ctx.event_id + "\\n")
            (ROOT / "started").touch()
            while not (ROOT / "go").exists():
                await asyncio.sleep(0.02)
        """,
}


async def test_a_failing_completion_mark_is_retried_alone_and_the_handler_runs_once(
    tmp_path: Path, own_redis: Any,
) -> None:
    # Given an idempotent step on a Redis of the test's own, its handler mid-run
    source = write_project(tmp_path, MARK_YAML, MARK_FILES)
    async with TestApp(source, state="redis", state_url=own_redis.url) as app:
        event = Event(topic="job.created", data={"n": 1}, trace_id="outage")
        assert app.runtime is not None and app.runtime.bus is not None
        await app.runtime.bus.publish([event])
        await app.wait_until(lambda: (tmp_path / "started").exists(), timeout=30)
        # When Redis goes down, the handler finishes, and Redis is back ~15 s later
        own_redis.stop()
        (tmp_path / "go").touch()
        failed = f"event {event.event_id} was handled; writing its completion mark failed"
        await app.wait_until(lambda: any(r.msg.startswith(failed) for r in app.logs), 30)
        await asyncio.sleep(15)  # the outage itself: the scenario, not a wait for anything
        own_redis.start()
        written = f"completion mark of event {event.event_id} written after "
        await app.wait_until(lambda: any(r.msg.startswith(written) for r in app.logs), 30)
        # Then the handler ran once, nothing was retried or dead-lettered, and a
        # redelivery of the event is recognised as done
        await app.runtime.bus.publish([event])
        skipped = f"event {event.event_id} already handled; skipped (idempotent)"
        await app.wait_until(lambda: any(r.msg == skipped for r in app.logs), 30)
        assert (tmp_path / "runs.log").read_text().split() == [event.event_id]
        assert await app.dead_letters() == []
        assert not any("retry in" in r.msg for r in app.logs)


# --- cron ticks out of retries ----------------------------------------------------------------

CRON_YAML = """
    version: 1
    app: ticks
    defaults: {retries: 1, backoff: {initial: 50ms, factor: 1, max: 50ms}, timeout: 5s}
    flows:
      jobs: {}
    steps:
      nightly:
        type: cron
        cron: "* * * * * *"
        flows: [jobs]
        handler: steps/nightly.py
"""

CRON_FILES = {
    "steps/nightly.py": """
        async def handler(ctx):
            await ctx.state.incr("attempts", ctx.event_id, 1)
            if not await ctx.state.get("switches", "fixed"):
                raise RuntimeError("the report server is down")
            await ctx.state.set("reports", ctx.event_id, ctx.trace_id)
        """,
}


async def test_a_cron_tick_out_of_retries_is_a_dead_letter_replay_runs_again(
    tmp_path: Path,
) -> None:
    # Given a cron step whose handler fails on every attempt
    source = write_project(tmp_path, CRON_YAML, CRON_FILES)
    async with TestApp(source) as app:
        [letter, *_] = await app.wait_until(lambda: app.dead_letters("nightly"), timeout=10)
        # Then its tick is a dead letter after its two attempts, with the tick's ids
        assert (letter.topic, letter.data, letter.attempts) == ("", None, 2)
        assert letter.error["message"] == "the report server is down"
        assert await app.state.get("attempts", letter.event_id) == 2
        # When the cause is fixed and the letter replayed through the admin API
        await app.state.set("switches", "fixed", True)
        replayed = await app.request("POST", f"/__motia/api/dlq/{letter.id}/replay")
        assert (replayed.status, replayed.json["event_id"]) == (200, letter.event_id)
        # Then that tick runs again, under its own tick id and trace, and succeeds
        report = await app.wait_until(lambda: app.state.get("reports", letter.event_id))
        assert report == letter.trace_id
        assert await app.state.get("attempts", letter.event_id) == 3
        assert letter.id not in {d.id for d in await app.dead_letters()}
