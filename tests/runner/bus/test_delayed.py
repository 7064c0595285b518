"""Delayed events on every bus: kept in the state store, published when due, never early.

The schedule (runner/bus/delayed.py) is driven by an injectable clock here, so its timing
rules are checked without waiting; then each bus delivers a delayed event for real.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable

import pytest

from motia.runner.bus import delayed
from motia.runner.bus.base import Event
from motia.runner.bus.delayed import DelayedEvents, due_of, entry_key
from motia.runner.hooks import Hooks
from motia.runner.state.base import DELAYED_GROUP
from motia.runner.state.memory import MemoryStore

from ._apps import Recorder, event, event_step, make_app
from .conftest import MakeBus

T0 = 1_800_000_000.0


class _Clock:
    """A clock that jumps to each wake-up at once, up to `until`, then waits forever."""

    def __init__(self, now: float, until: float) -> None:
        self.now = now
        self.until = until

    def time(self) -> float:
        return self.now

    async def sleep_until(self, when: float) -> None:
        if when > self.until:
            await asyncio.Event().wait()
        self.now = max(self.now, when)
        await asyncio.sleep(0)


class _Fired(Hooks):
    def __init__(self) -> None:
        self.late: list[tuple[str, float]] = []

    def after_delay_fired(self, event: Event, late: float) -> None:
        self.late.append((event.event_id, late))


async def _until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_the_schedule_key_sorts_by_due_time_and_never_rounds_early() -> None:
    early = dataclasses.replace(event(), event_id="b", delayed_until=T0 + 9.0001)
    late = dataclasses.replace(event(), event_id="a", delayed_until=T0 + 10.5)
    assert entry_key(early) < entry_key(late)
    assert entry_key(early) == "001800000009001.b" and due_of(entry_key(early)) == T0 + 9.001


async def test_the_schedule_fires_each_event_at_its_due_time_in_due_order(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a schedule on a clock that jumps, holding events due at +30 s, +5 s and +1 day
    # (alone on its store: no other replica adds events it must poll for)
    monkeypatch.setattr(delayed, "POLL", 86400.0 * 7)
    clock = _Clock(T0, until=T0 + 2 * 86400)
    store, published, hooks = MemoryStore("t"), [], _Fired()

    async def publish(events: list[Event]) -> None:
        published.extend((clock.time(), e.event_id) for e in events)

    schedule = DelayedEvents(store, publish, hooks, clock=clock)
    await schedule.add([dataclasses.replace(event(), event_id=i, delayed_until=T0 + d)
                        for i, d in (("thirty", 30), ("five", 5), ("day", 86400))])
    assert await schedule.pending() == 3
    # When the loop runs
    schedule.start()
    try:
        await _until(lambda: len(published) == 3)
    finally:
        await schedule.stop()
    # Then each went out exactly when due (the clock only moves when the loop sleeps), in
    # due order, none early, and the store holds none of them any more
    assert published == [(T0 + 5, "five"), (T0 + 30, "thirty"), (T0 + 86400, "day")]
    assert hooks.late == [("five", 0.0), ("thirty", 0.0), ("day", 0.0)]
    assert await store._items(DELAYED_GROUP) == {}


async def test_an_event_added_while_the_loop_sleeps_wakes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a running schedule on the real clock that polls rarely
    monkeypatch.setattr(delayed, "POLL", 30.0)
    store, published = MemoryStore("t"), []

    async def publish(events: list[Event]) -> None:
        published.extend((time.time(), e) for e in events)

    schedule = DelayedEvents(store, publish, Hooks())
    schedule.start()
    try:
        await asyncio.sleep(0.05)  # the loop is asleep for 30 s
        # When an event due in 0.3 s is added
        due = time.time() + 0.3
        await schedule.add([dataclasses.replace(event(), delayed_until=due)])
        await _until(lambda: bool(published), 5.0)
    finally:
        await schedule.stop()
    # Then it went out when due, not after the poll interval, and not before
    at, fired = published[0]
    assert due <= at < due + 1.0
    assert fired.delayed_until == due


async def test_two_schedules_on_one_store_fire_each_event_once() -> None:
    # Given two replicas' schedules sharing one store, and 50 events due now
    store, published = MemoryStore("t"), []

    async def publish(events: list[Event]) -> None:
        await asyncio.sleep(0.001)
        published.extend(e.event_id for e in events)

    first, second = (DelayedEvents(store, publish, Hooks()) for _ in range(2))
    await first.add([dataclasses.replace(event(), event_id=f"e{n}",
                                         delayed_until=time.time() + 0.2) for n in range(50)])
    first.start()
    second.start()
    try:
        await _until(lambda: len(published) >= 50)
        await asyncio.sleep(0.3)
    finally:
        await first.stop()
        await second.stop()
    # Then every event went out exactly once
    assert sorted(published) == sorted(f"e{n}" for n in range(50))


async def test_a_failed_publish_keeps_the_event_and_fires_it_again() -> None:
    store, attempts = MemoryStore("t"), []

    async def publish(events: list[Event]) -> None:
        attempts.append(time.time())
        if len(attempts) == 1:
            raise ConnectionError("broker down")

    schedule = DelayedEvents(store, publish, Hooks())
    await schedule.add([dataclasses.replace(event(), delayed_until=time.time() + 0.05)])
    schedule.start()
    try:
        await _until(lambda: len(attempts) == 2 and not store._groups_data.get(DELAYED_GROUP))
    finally:
        await schedule.stop()
    assert attempts[1] - attempts[0] >= delayed.RETRY * 0.9


async def test_every_bus_delivers_a_delayed_event_when_due(make_bus: MakeBus) -> None:
    # Given a bus with a consuming step
    app = make_app(event_step("ship", "orders"))
    bus = await make_bus(app)
    recorder = Recorder()
    await bus.start(recorder.consumers("ship"))
    # When an event due in 0.5 s and one due now are published
    due = time.time() + 0.5
    later = dataclasses.replace(event(data={"n": 2}), delayed_until=due)
    await bus.publish([later, event(data={"n": 1})])
    # Then the one due now arrives first, the delayed one at its due time, marked delayed
    await _until(lambda: len(recorder.of("ship")) == 2)
    first, second = recorder.of("ship")
    assert (first.data, first.delayed_until) == ({"n": 1}, None)
    assert second.data == {"n": 2} and second.delayed_until == pytest.approx(due)
    assert second.event_id == later.event_id
    # And it is crossed off the schedule (just after the publish returned: it may arrive first)
    deadline = time.monotonic() + 5.0
    while await bus.delayed.pending() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert await bus.delayed.pending() == 0


async def test_a_dead_holder_of_the_lease_delays_what_is_due_by_at_most_its_ttl() -> None:
    # Given a replica that died holding the schedule's lease (kill -9: never released)
    store, published = MemoryStore("t"), []
    assert await store.acquire_lease(delayed.LEASE, delayed.CLAIM_TTL, "dead-replica")
    taken = time.time()

    async def publish(events: list[Event]) -> None:
        published.extend(time.time() for _ in events)

    # When another replica's schedule has an event due now
    schedule = DelayedEvents(store, publish, Hooks())
    await schedule.add([dataclasses.replace(event(), delayed_until=time.time() + 0.01)])
    schedule.start()
    try:
        await _until(lambda: bool(published), 5.0)
    finally:
        await schedule.stop()
    # Then it goes out once the dead holder's lease ran out, not before, and soon after
    assert taken + delayed.CLAIM_TTL <= published[0] < taken + delayed.CLAIM_TTL + 0.5


async def test_stopping_with_the_memory_store_says_what_is_lost(
    caplog: pytest.LogCaptureFixture
) -> None:
    schedule = DelayedEvents(MemoryStore("t"), lambda events: asyncio.sleep(0), Hooks())
    schedule.start()
    await schedule.add([dataclasses.replace(event(), delayed_until=time.time() + 60)])
    await schedule.stop()
    assert [r.getMessage() for r in caplog.records if r.name == "motia.bus"] == [
        "1 delayed event(s) not yet due are lost: the in-memory state store keeps them only "
        "while the process runs; use --state sqlite (the default), redis or postgres to "
        "keep them"]
