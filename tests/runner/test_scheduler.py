"""The cron loop: schedules (5/6 fields, time zones), no drift, no overlap, retries, and
one firing per tick across replicas sharing a store.

The loop is driven through a small stand-in invoker (`invoke`, `publish_emits`) whose
handler is a Python function, with the real TickRunner, store, logger and hooks around
it; the real runtime is covered end to end in test_runtime_e2e.py.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from motia.compiler.ir import App, Backoff, Handler, Step
from motia.errors import HandlerError
from motia.runner.delivery.leases import LeaseKeeper
from motia.runner.delivery.log import DeliveryLog
from motia.runner.delivery.pipeline import DeliveryServices
from motia.runner.delivery.ticks import TickRunner
from motia.runner.hooks import Hooks, HookSet
from motia.runner.logs import Logger, LogRecord
from motia.runner.scheduler import Scheduler, ticks
from motia.runner.state.base import DeadLetter, StateStore
from motia.runner.state.memory import MemoryStore
from motia.runner.workers.api import InvocationContext, InvocationResult

EVERY_SECOND = "* * * * * *"


def cron_step(expr: str = EVERY_SECOND, *, retries: int = 0, zone: str | None = None) -> Step:
    return Step(name="tick", type="cron", cron=expr, timezone=zone, retries=retries,
                backoff=Backoff(0.05, 1, 0.05), handler=Handler("steps/tick.py"))


class _Seen(Hooks):
    def __init__(self) -> None:
        self.fired: list[float] = []
        self.logs: list[LogRecord] = []
        self.letters: list[DeadLetter] = []

    def after_cron_fired(self, step: str, scheduled: float, trace_id: str) -> None:
        self.fired.append(scheduled)

    def after_dead_letter(self, letter: DeadLetter) -> None:
        self.letters.append(letter)

    def on_log(self, record: LogRecord) -> None:
        self.logs.append(record)


class _Runtime:
    """The parts a Scheduler runs on, with `handler(ctx)` playing the step's handler."""

    def __init__(self, step: Step, store: StateStore,
                 handler: Callable[[InvocationContext], Awaitable[None]]) -> None:
        self.app = App(name="cron-test", root="/tmp", steps=(step,))
        self.store = store
        self.seen = _Seen()
        self.hooks = HookSet(self.seen)
        self.logger = Logger(self.hooks, fmt="none")
        self.hooks.add(DeliveryLog(self.logger))
        self.handler = handler
        self.calls: list[InvocationContext] = []
        services = DeliveryServices(invoker=self, store=store, leases=LeaseKeeper(store),
                                    logger=self.logger)
        self.ticks = TickRunner(services, self.hooks, lambda: self.app)

    def scheduler(self, clock: Any = None) -> Scheduler:
        return Scheduler(self.ticks, self.store, self.logger, self.hooks, lambda: self.app,
                         clock=clock)

    async def invoke(self, step: Step, payload: Any, ctx: InvocationContext) -> InvocationResult:
        self.calls.append(ctx)
        await self.handler(ctx)
        return InvocationResult(None)

    async def publish_emits(self, step: Step, ctx: InvocationContext, emits: Any) -> list[Any]:
        return []


async def _quick(ctx: InvocationContext) -> None:
    return None


class _Clock:
    """A clock that jumps to each wake-up time at once, up to `until`, then waits forever:
    a schedule runs as fast as the loop turns and stops at a known point."""

    def __init__(self, now: float, until: float) -> None:
        self.now = now
        self.until = until

    def time(self) -> float:
        return self.now

    async def sleep_until(self, when: float) -> None:
        if when > self.until:
            await asyncio.Event().wait()  # past the end of the test: until cancelled
        self.now = max(self.now, when)
        await asyncio.sleep(0)  # let the tick started before this wake-up run


async def _until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_the_loop_fires_a_seconds_schedule_every_ten_seconds() -> None:
    # Given a */10-seconds step and a clock at 11:59:55 that stops after 12:00:30
    start = datetime(2024, 5, 1, 11, 59, 55, tzinfo=UTC).timestamp()
    runtime = _Runtime(cron_step("*/10 * * * * *"), MemoryStore(), _quick)
    scheduler = runtime.scheduler(clock=_Clock(start, until=start + 35))
    # When the scheduler runs until the clock stops
    scheduler.start()
    try:
        await _until(lambda: len(runtime.calls) == 4)
    finally:
        await scheduler.stop(2.0)
    # Then it fired at :00, :10, :20 and :30 of 12:00, once each, with a trace each
    fired = [datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S") for t in runtime.seen.fired]
    assert fired == ["12:00:00", "12:00:10", "12:00:20", "12:00:30"]
    assert len({c.trace_id for c in runtime.calls}) == 4


async def _run(runtime: _Runtime, seconds: float) -> None:
    scheduler = runtime.scheduler()
    scheduler.start()
    await asyncio.sleep(seconds)
    await scheduler.stop(2.0)


def test_six_fields_put_seconds_first_and_five_fields_are_minutes() -> None:
    start = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()
    every_15s = ticks(cron_step("*/15 * * * * *"), start)
    assert [every_15s.get_next(float) - start for _ in range(3)] == [15, 30, 45]
    hourly = ticks(cron_step("0 * * * *"), start)
    assert hourly.get_next(float) - start == 3600


def test_the_step_time_zone_is_honoured_across_daylight_saving() -> None:
    # 09:00 in Paris is 08:00 UTC in winter and 07:00 UTC in summer (DST began 31 March).
    start = datetime(2024, 3, 30, 12, 0, tzinfo=UTC).timestamp()
    paris = ticks(cron_step("0 9 * * *", zone="Europe/Paris"), start)
    first, second = (datetime.fromtimestamp(paris.get_next(float), UTC) for _ in range(2))
    assert (first.day, first.hour, second.day, second.hour) == (31, 7, 1, 7)
    start = datetime(2024, 3, 29, 12, 0, tzinfo=UTC).timestamp()
    winter = datetime.fromtimestamp(
        ticks(cron_step("0 9 * * *", zone="Europe/Paris"), start).get_next(float), UTC)
    assert (winter.day, winter.hour) == (30, 8)


async def test_ticks_follow_the_schedule_without_drift() -> None:
    # Given a handler taking 300 ms on an every-second schedule
    async def slowish(ctx: InvocationContext) -> None:
        await asyncio.sleep(0.3)

    runtime = _Runtime(cron_step(), MemoryStore(), slowish)
    await _run(runtime, 3.2)
    # Then each tick is a whole second after the previous one: time spent does not add up
    fired = runtime.seen.fired
    assert len(fired) >= 2
    assert all(t == int(t) for t in fired)
    assert [b - a for a, b in itertools.pairwise(fired)] == [1.0] * (len(fired) - 1)
    assert len({c.trace_id for c in runtime.calls}) == len(runtime.calls)  # a trace per tick


async def test_a_tick_still_running_is_not_started_twice() -> None:
    async def slow(ctx: InvocationContext) -> None:
        await asyncio.sleep(1.6)

    runtime = _Runtime(cron_step(), MemoryStore(), slow)
    await _run(runtime, 2.5)
    warnings = [r.msg for r in runtime.seen.logs if r.level == "warn"]
    assert any("skipped: the previous tick is still running" in m for m in warnings)
    assert len(runtime.calls) < len(runtime.seen.fired) + len(warnings) + 1
    assert len(runtime.calls) <= 2


async def test_a_failing_tick_is_retried_with_the_step_backoff() -> None:
    async def flaky(ctx: InvocationContext) -> None:
        if ctx.attempt < 3:
            raise HandlerError("tick", "boom", type="RuntimeError")

    runtime = _Runtime(cron_step(retries=3), MemoryStore(), flaky)
    await _run(runtime, 1.6)
    first = [c for c in runtime.calls if c.event_id == runtime.calls[0].event_id]
    assert [c.attempt for c in first] == [1, 2, 3]
    assert len({c.trace_id for c in first}) == 1
    assert any(r.msg == "cron tick attempt 1 failed (tick: boom); retry in 0.05s"
               for r in runtime.seen.logs)


async def test_a_tick_out_of_retries_is_a_dead_letter() -> None:
    async def broken(ctx: InvocationContext) -> None:
        raise HandlerError("tick", "still broken", type="RuntimeError")

    # Given a cron step whose handler always fails, with one retry
    store = MemoryStore()
    runtime = _Runtime(cron_step(retries=1), store, broken)
    # When its first tick has run out of retries
    await _run(runtime, 1.4)
    # Then the tick is a dead letter: no topic, no data, its tick id and trace, 2 attempts
    [letter, *_] = await store.dead_letters("tick")
    first = runtime.calls[0]
    assert (letter.step, letter.topic, letter.data, letter.attempts) == ("tick", "", None, 2)
    assert (letter.event_id, letter.trace_id) == (first.event_id, first.trace_id)
    assert (letter.error["type"], letter.error["message"]) == ("RuntimeError", "still broken")
    # And the error line says so, with the way to replay it
    errors = [r for r in runtime.seen.logs if r.level == "error"]
    assert errors[0].msg == (f"cron tick dead-lettered after 2 attempt(s): RuntimeError: still "
                             f"broken; replay with `motia dlq replay {letter.id}`")
    assert errors[0].step == "tick" and errors[0].trace_id == first.trace_id


async def test_a_replayed_tick_runs_again_with_its_ids() -> None:
    # Given a tick dead-lettered while the handler was broken
    broken = {"yes": True}

    async def handler(ctx: InvocationContext) -> None:
        if broken["yes"]:
            raise HandlerError("tick", "down", type="RuntimeError")

    store = MemoryStore()
    runtime = _Runtime(cron_step(retries=0), store, handler)
    await _run(runtime, 1.2)
    [letter, *_] = await store.dead_letters("tick")
    taken = await store.take_dead_letter(letter.id)
    assert taken is not None
    # When the handler is fixed and the letter replayed
    broken["yes"] = False
    before, letters = len(runtime.calls), len(runtime.seen.letters)
    event = runtime.ticks.replay(taken)
    await runtime.ticks.close(5.0)
    # Then the tick ran once more as a first attempt of the same tick id and trace
    again = runtime.calls[before:]
    assert [(c.event_id, c.trace_id, c.attempt, c.topic) for c in again] == [
        (letter.event_id, letter.trace_id, 1, None)]
    assert (event.event_id, event.trace_id) == (letter.event_id, letter.trace_id)
    # And it succeeded: no new dead letter, the replayed one is gone
    assert len(runtime.seen.letters) == letters
    assert letter.id not in {d.id for d in await store.dead_letters()}


async def test_replicas_sharing_a_store_fire_each_tick_once(tmp_path: Path) -> None:
    from motia.runner.state import create_store

    # Given three replicas, each with its own connection to one SQLite file
    stores = [create_store("sqlite", namespace="cron-test", root=tmp_path) for _ in range(3)]
    for store in stores:
        await store.open()
    try:
        runtimes = [_Runtime(cron_step(), store, _quick) for store in stores]
        # When they all run the every-second schedule for a while
        await asyncio.gather(*(_run(r, 2.6) for r in runtimes))
    finally:
        for store in stores:
            await store.close()
    # Then every scheduled second ran exactly once, on one replica or another
    fired = sorted(t for r in runtimes for t in r.seen.fired)
    assert len(fired) >= 2
    assert len(fired) == len(set(fired))
    assert time.time() - fired[-1] < 5


async def test_run_now_fires_one_tick_through_the_pipeline_and_the_lease(tmp_path: Path) -> None:
    from motia.runner.scheduler import fire_now
    from motia.runner.state.sqlite import SQLiteStore

    # Given a cron step on a shared (SQLite) store, so Run now takes a lease
    store = SQLiteStore("cron-test", tmp_path / "state.db")
    await store.open()
    try:
        runtime = _Runtime(cron_step(), store, _quick)
        step = runtime.app.steps[0]
        # When Run now is asked twice with one key, then with another
        kwargs: dict[str, Any] = {"store": store, "ticks": runtime.ticks, "hooks": runtime.hooks,
                                  "logger": runtime.logger}
        first = await fire_now(step, "k1", **kwargs)
        second = await fire_now(step, "k1", **kwargs)
        third = await fire_now(step, "k2", **kwargs)
        await _until(lambda: len(runtime.calls) == 2)
        await runtime.ticks.close(5.0)
        # Then the same key fired once, a new key fired again, each a tick of its own
        assert first is not None and second is None and third is not None
        assert len(runtime.calls) == 2 and len(runtime.seen.fired) == 2
        assert runtime.calls[0].event_id != runtime.calls[1].event_id
        assert runtime.calls[0].trace_id == first
    finally:
        await store.close()


async def test_run_now_waits_for_a_tick_still_running() -> None:
    from motia.errors import TickRunning
    from motia.runner.scheduler import fire_now

    class Busy:
        def is_running(self, name: str) -> bool:
            return True

    runtime = _Runtime(cron_step(), MemoryStore(), _quick)
    step = runtime.app.steps[0]
    message = "cron step 'tick' is still running its previous tick; try again when it has finished"
    with pytest.raises(TickRunning, match=re.escape(message)):
        await fire_now(step, "k", store=runtime.store, ticks=runtime.ticks, hooks=runtime.hooks,
                       logger=runtime.logger, scheduler=Busy())  # type: ignore[arg-type]
    assert runtime.calls == []
