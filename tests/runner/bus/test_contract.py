"""The event bus contract, run unchanged against every backend (see conftest.make_bus)."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from motia.runner.bus.base import BusClosed, EventBus
from motia.runner.state.base import DLQ_GROUP
from motia.runner.state.memory import MemoryStore

from ._apps import Recorder, event, event_step, eventually, make_app, noop_step
from .conftest import MakeBus


async def test_an_open_bus_answers_the_readiness_ping(make_bus: MakeBus) -> None:
    # Given an open bus, When the readiness probe pings it, Then it answers (no error)
    bus = await make_bus(make_app(event_step("a", "orders")))
    assert await bus.ping() is None


async def test_an_event_fans_out_to_every_running_subscriber_only(make_bus: MakeBus) -> None:
    # Given two subscribers of `orders`, a noop subscriber and a step on another topic
    app = make_app(event_step("a", "orders"), event_step("b", "orders"),
                   noop_step("drawn", "orders"), event_step("c", "refunds"))
    rec = Recorder()
    bus = await make_bus(app)
    await bus.start(rec.consumers("a", "b", "c"))
    # When one event is published
    await bus.publish([event("orders")])
    # Then each subscriber gets it exactly once and nobody else does
    await eventually(lambda: len(rec.of("a")) == 1 and len(rec.of("b")) == 1)
    await asyncio.sleep(0.2)
    assert sorted(s for s, _ in rec.received) == ["a", "b"]


async def test_event_fields_survive_transport(make_bus: MakeBus) -> None:
    # Given a subscriber
    app = make_app(event_step("a", "orders"))
    rec = Recorder()
    bus = await make_bus(app)
    await bus.start(rec.consumers("a"))
    sent = event("orders", {"id": "o-1", "items": [1, 2.5, "x", None], "ok": True},
                 source="create-order")
    # When an event with rich data is published
    await bus.publish([sent])
    await eventually(lambda: len(rec.of("a")) == 1)
    # Then every field arrives as sent
    got = rec.of("a")[0]
    assert (got.topic, got.data, got.event_id, got.trace_id, got.attempt, got.source) == (
        "orders", sent.data, sent.event_id, "trace-1", 1, "create-order")
    assert got.first_failure is None
    assert got.time == pytest.approx(sent.time, abs=1e-3)


async def test_a_consumer_failing_twice_then_succeeding_is_retried(make_bus: MakeBus) -> None:
    # Given a consumer that fails on attempts 1 and 2
    app = make_app(event_step("a", "orders", retries=3))
    rec = Recorder(fail=lambda step, ev: RuntimeError("flaky") if ev.attempt < 3 else None)
    bus = await make_bus(app)
    await bus.start(rec.consumers("a"))
    # When an event is published
    await bus.publish([event("orders")])
    await eventually(lambda: len(rec.finished) == 1)
    # Then it was delivered as attempts 1, 2, 3 of the same event, and no dead letter exists
    got = rec.of("a")
    assert [e.attempt for e in got] == [1, 2, 3]
    assert len({e.event_id for e in got}) == 1
    assert got[0].first_failure is None
    assert got[1].first_failure is not None and got[1].first_failure == got[2].first_failure
    await asyncio.sleep(0.2)
    assert len(rec.of("a")) == 3
    assert await bus.store.dead_letters() == []


async def test_a_consumer_that_always_fails_ends_as_one_dead_letter(make_bus: MakeBus) -> None:
    # Given a consumer that always fails, with two retries
    app = make_app(event_step("a", "orders", retries=2))
    rec = Recorder(fail=lambda step, ev: ValueError("card declined"))
    bus = await make_bus(app)
    await bus.start(rec.consumers("a"))
    sent = event("orders", {"id": "o-9"})
    # When an event is published
    await bus.publish([sent])
    await eventually(lambda: len(rec.of("a")) == 3)
    await eventually(lambda: bool(_letters(bus)))
    # Then after attempts 1..3 exactly one dead letter holds the event and its error
    await asyncio.sleep(0.2)
    assert [e.attempt for e in rec.of("a")] == [1, 2, 3]
    letters = await bus.store.dead_letters()
    assert len(letters) == 1
    letter = letters[0]
    assert (letter.step, letter.topic, letter.data, letter.event_id, letter.trace_id) == (
        "a", "orders", {"id": "o-9"}, sent.event_id, "trace-1")
    assert letter.attempts == 3
    assert letter.error["type"] == "ValueError"
    assert letter.error["message"] == "card declined"
    assert "card declined" in letter.error["traceback"]


async def test_replay_delivers_a_dead_letter_to_its_step_only(make_bus: MakeBus) -> None:
    # Given a dead letter of step a, whose topic b also subscribes to
    app = make_app(event_step("a", "orders", retries=0), event_step("b", "orders"))
    broken = {"a": True}
    rec = Recorder(fail=lambda step, ev: RuntimeError("bug") if broken.get(step) else None)
    bus = await make_bus(app)
    await bus.start(rec.consumers("a", "b"))
    await bus.publish([event("orders")])
    await eventually(lambda: bool(_letters(bus)))
    letter = (await bus.store.dead_letters())[0]
    # When the bug is fixed and the letter replayed
    broken["a"] = False
    taken = await bus.store.take_dead_letter(letter.id)
    assert taken is not None
    replayed = await bus.replay(taken)
    # Then step a (only) receives it again as a first attempt of the same event
    await eventually(lambda: len(rec.of("a")) == 2)
    await asyncio.sleep(0.2)
    again = rec.of("a")[1]
    assert (again.event_id, again.attempt, again.data) == (letter.event_id, 1, letter.data)
    assert replayed.event_id == letter.event_id
    assert len(rec.of("b")) == 1
    assert await bus.store.dead_letters() == []


async def test_per_step_concurrency_limit_is_respected(make_bus: MakeBus) -> None:
    # Given a step allowing 2 workers x 2 concurrent deliveries, and a slow consumer
    app = make_app(event_step("a", "orders", workers=2, concurrency=2),
                   event_step("b", "orders", workers=1, concurrency=1))
    rec = Recorder(hold=0.03)
    bus = await make_bus(app)
    await bus.start(rec.consumers("a", "b"))
    # When 20 events arrive at once
    await bus.publish([event("orders", {"i": i}) for i in range(20)])
    await eventually(lambda: len(rec.finished) == 40)
    # Then no more than workers x concurrency ran at once per step (and the limit was reached)
    assert rec.max_inflight["a"] == 4
    assert rec.max_inflight["b"] == 1


async def test_close_waits_for_deliveries_in_flight(make_bus: MakeBus) -> None:
    # Given a delivery in progress
    app = make_app(event_step("a", "orders"))
    rec = Recorder(hold=0.3)
    bus = await make_bus(app)
    await bus.start(rec.consumers("a"))
    await bus.publish([event("orders")])
    await eventually(lambda: rec.inflight["a"] == 1)
    # When the bus closes with a grace period longer than the delivery
    await bus.close(grace=5.0)
    # Then the delivery finished first and nothing was dead-lettered
    assert len(rec.finished) == 1
    assert await bus.store.dead_letters() == []


async def test_every_event_is_delivered_exactly_once_when_nothing_fails(
    make_bus: MakeBus,
) -> None:
    # Given two subscribers
    app = make_app(event_step("a", "orders", concurrency=16), event_step("b", "orders"))
    rec = Recorder()
    bus = await make_bus(app)
    await bus.start(rec.consumers("a", "b"))
    # When 500 events are published in batches
    sent = [event("orders", {"i": i}) for i in range(500)]
    for i in range(0, 500, 50):
        await bus.publish(sent[i:i + 50])
    await eventually(lambda: len(rec.finished) == 1000, timeout=30)
    await asyncio.sleep(0.2)
    # Then each step received each event exactly once
    for step in ("a", "b"):
        counts = Counter(e.event_id for e in rec.of(step))
        assert set(counts) == {e.event_id for e in sent}
        assert set(counts.values()) == {1}


async def test_publish_after_close_is_a_clear_error(make_bus: MakeBus) -> None:
    bus = await make_bus(make_app(event_step("a", "orders")))
    await bus.close()
    with pytest.raises(BusClosed, match=r"event bus of app 't\w+' is closed: events can be "
                                        r"published only between open\(\) and close\(\)"):
        await bus.publish([event("orders")])


def _letters(bus: EventBus) -> bool:
    """Synchronous peek for `eventually`: the tests' MemoryStore keeps dead letters in a dict."""
    assert isinstance(bus.store, MemoryStore)
    return bool(bus.store._groups_data.get(DLQ_GROUP))
