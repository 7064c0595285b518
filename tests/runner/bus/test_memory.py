"""What only the in-process bus promises: nothing is lost at shutdown, closed means closed."""

from __future__ import annotations

import asyncio

import pytest

from motia.errors import UsageError
from motia.runner.bus import create_bus
from motia.runner.bus.base import BusClosed
from motia.runner.bus.memory import UNDELIVERED, UNDELIVERED_MESSAGE, MemoryBus
from motia.runner.state.memory import MemoryStore

from ._apps import Recorder, event, event_step, eventually, make_app


async def _open() -> MemoryBus:
    app = make_app(event_step("a", "orders", concurrency=1, retries=2))
    bus = MemoryBus(app, MemoryStore(app.name))
    await bus.open()
    return bus


async def test_close_keeps_queued_and_retrying_events_as_undelivered_dead_letters() -> None:
    # Given one delivery in flight, one event waiting for a retry and two queued behind
    bus = await _open()
    rec = Recorder(hold=0.2, fail=lambda s, ev: RuntimeError("x") if ev.data["i"] == 0 else None)
    await bus.start(rec.consumers("a"))
    await bus.publish([event("orders", {"i": i}) for i in range(4)])
    await eventually(lambda: any(ev.data["i"] == 1 for _, ev in rec.received))
    # When the bus closes
    await bus.close(grace=5.0)
    # Then the in-flight delivery finished and every other event is a dead letter
    letters = await bus.store.dead_letters()
    assert sorted(d.data["i"] for d in letters) == [0, 2, 3]
    assert {(d.error["type"], d.error["message"]) for d in letters} == {
        (UNDELIVERED, UNDELIVERED_MESSAGE)}
    assert UNDELIVERED_MESSAGE == "runner stopped before delivery; replay with `motia dlq replay`"
    retried = next(d for d in letters if d.data["i"] == 0)
    assert retried.attempts == 1
    assert [ev.data["i"] for _, ev in rec.finished] == [1]


async def test_a_delivery_past_the_grace_period_is_cut_off_and_kept() -> None:
    # Given a delivery that takes far longer than the grace period
    bus = await _open()
    rec = Recorder(hold=30)
    await bus.start(rec.consumers("a"))
    await bus.publish([event("orders")])
    await eventually(lambda: rec.inflight["a"] == 1)
    # When the bus closes with a short grace
    await bus.close(grace=0.05)
    # Then the event is kept as an undelivered dead letter counting the cut-off attempt
    [letter] = await bus.store.dead_letters()
    assert (letter.step, letter.attempts, letter.error["type"]) == ("a", 1, UNDELIVERED)


async def test_publish_before_open_is_a_clear_error() -> None:
    app = make_app(event_step("a", "orders"))
    bus = MemoryBus(app, MemoryStore(app.name))
    with pytest.raises(BusClosed, match=r"is not open: call open\(\) before publishing"):
        await bus.publish([event("orders")])


async def test_an_event_nobody_subscribes_to_is_accepted_and_dropped() -> None:
    # Given no step subscribes to `audit` / When it is published / Then nothing happens
    bus = await _open()
    await bus.publish([event("audit")])
    await bus.close()
    assert await bus.store.dead_letters() == []


async def test_close_is_idempotent_and_fast_when_idle() -> None:
    bus = await _open()
    await bus.start(Recorder().consumers("a"))
    await asyncio.wait_for(bus.close(grace=10), timeout=1)
    await bus.close()


def test_create_bus_picks_the_backend_by_name() -> None:
    app = make_app(event_step("a", "orders"))
    store = MemoryStore(app.name)
    assert isinstance(create_bus("memory", app=app, store=store), MemoryBus)
    assert create_bus("rabbitmq", app=app, store=store).kind == "rabbitmq"
    with pytest.raises(UsageError, match=r"unknown event bus 'kafka': expected one of "
                                         r"memory, rabbitmq \(--events or adapters.events"):
        create_bus("kafka", app=app, store=store)
