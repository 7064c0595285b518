"""The cron loop: fires each cron step at its schedule, once per tick, without drift.

Each cron step gets one task. The next tick is computed by croniter from the previous
*scheduled* time (never from "now"), so ticks stay on the schedule however long each
one takes; a tick that is missed because the process was busy or down is skipped, not
replayed (SPEC section 5). Schedules are read by motia.compiler.cron, the one home of
cron syntax: 5 fields, or 6 with seconds first (`*/10 * * * * *` is every ten seconds);
a step's `timezone:` is honoured, DST included. Time comes from a `Clock` (the system's
by default) so tests can run a schedule without waiting for it.

A tick still running when the next one is due is not started twice: the new tick is
skipped with a warning. Each tick runs through the delivery pipeline (runner/delivery/
ticks.py): a failing tick is retried with the step's backoff, like an event, and a tick
out of retries becomes a dead letter that `motia dlq replay` runs again. With several
replicas, a lease in the shared store keyed by step and scheduled time lets exactly one
of them fire each tick.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from croniter import croniter

from motia.compiler import cron
from motia.compiler.ir import App, Step
from motia.errors import TickRunning
from motia.runner.bus.base import new_id
from motia.runner.delivery.ticks import TickRunner, tick_event
from motia.runner.hooks import Hooks
from motia.runner.logs import Logger
from motia.runner.state.base import StateStore

LEASE_TTL = 300.0
"""How long a tick's lease lives: far longer than replicas' clocks disagree."""
LATE = 1.0
"""A tick found more than this many seconds in the past on wake-up counts as missed."""


_TICKS = uuid.UUID("0c2f6a8e-5e7b-4f0d-8a43-6d6f74696163")


def tick_id(step: str, scheduled: float) -> str:
    """A tick's `ctx.event_id`: the same on every replica and every retry of that tick, so
    a handler (or an idempotent step downstream of its emits) can recognise it."""
    return uuid.uuid5(_TICKS, f"{step}@{scheduled:.3f}").hex


def ticks(step: Step, after: float) -> croniter:
    """A croniter over the step's schedule, in its timezone, starting after `after`."""
    assert step.cron is not None
    return cron.schedule(step.cron, step.timezone, after)


class Clock(Protocol):
    """Where the scheduler reads the time and waits for it."""

    def time(self) -> float:
        """Now, in epoch seconds."""
        ...

    async def sleep_until(self, when: float) -> None:
        """Return once `time()` has reached `when`."""
        ...


class SystemClock:
    """The wall clock: the scheduler's clock outside tests."""

    def time(self) -> float:
        return time.time()

    async def sleep_until(self, when: float) -> None:
        """Sleep to `when`, re-checking so a clock jump cannot fire early."""
        while True:
            remaining = when - time.time()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, 30.0))


class Scheduler:
    """One task per cron step of the plan; `update(steps)` follows a plan swap."""

    def __init__(self, ticks: TickRunner, store: StateStore, logger: Logger, hooks: Hooks,
                 plan: Callable[[], App], clock: Clock | None = None) -> None:
        self.ticks = ticks
        self.store = store
        self.logger = logger
        self.hooks = hooks
        self.plan = plan
        self.clock: Clock = clock or SystemClock()
        self._loops: dict[str, asyncio.Task[None]] = {}
        self._running: dict[str, asyncio.Task[None]] = {}  # step -> tick in progress
        self._steps: dict[str, Step] = {}
        self._stopped = False

    def start(self) -> None:
        for step in self.plan().steps_of("cron"):
            self._add(step)

    def update(self, steps: list[Step]) -> None:
        """Follow a new plan: loops of removed or changed cron steps restart."""
        wanted = {s.name: s for s in steps if s.type == "cron" and s.runs and s.cron}
        for name in list(self._loops):
            if wanted.get(name) != self._steps.get(name):
                self._loops.pop(name).cancel()
                self._steps.pop(name, None)
        for name, step in wanted.items():
            if name not in self._loops:
                self._add(step)

    async def stop(self, grace: float) -> None:
        """Stop scheduling; running ticks get `grace` seconds to finish, then are cancelled."""
        self._stopped = True
        loops = list(self._loops.values())
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        self._loops.clear()
        running = list(self._running.values())
        if running:
            _, late = await asyncio.wait(running, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    def _add(self, step: Step) -> None:
        if not step.runs or not step.cron:
            return
        self._steps[step.name] = step
        self._loops[step.name] = asyncio.create_task(self._loop(step),
                                                     name=f"motia-cron:{step.name}")

    # --- the loop ------------------------------------------------------------------------

    async def _loop(self, step: Step) -> None:
        clock = self.clock
        schedule = ticks(step, clock.time())
        scheduled = schedule.get_next(float)
        while not self._stopped:
            await clock.sleep_until(scheduled)
            if clock.time() - scheduled > LATE:
                # Woke up late (suspended, overloaded): skip to the next future tick.
                self.logger.warn(
                    f"cron tick at {_iso(scheduled)} was missed; not replayed", step=step.name)
                schedule = ticks(step, clock.time())
            else:
                await self._fire(step, scheduled)
            scheduled = schedule.get_next(float)

    async def _fire(self, step: Step, scheduled: float) -> None:
        running = self._running.get(step.name)
        if running is not None and not running.done():
            self.logger.warn(
                f"cron tick at {_iso(scheduled)} skipped: the previous tick is still running",
                step=step.name)
            return
        if not await take_lease(self.store, f"cron:{step.name}:{scheduled:.0f}", self.logger,
                                step.name, f"cron tick at {_iso(scheduled)}"):
            return
        task = asyncio.create_task(self._tick(step, scheduled), name=f"motia-tick:{step.name}")
        self._running[step.name] = task

    def is_running(self, name: str) -> bool:
        """True while a tick of step `name` started here is still running."""
        running = self._running.get(name)
        return running is not None and not running.done()

    async def _tick(self, step: Step, scheduled: float) -> None:
        """Run one tick (retries and dead letter included: see TickRunner)."""
        trace_id = new_id()
        self.hooks.after_cron_fired(step.name, scheduled, trace_id)
        await self.ticks.run(step.name, tick_event(trace_id, tick_id(step.name, scheduled),
                                                   scheduled))

    def status(self) -> dict[str, Any]:
        return {name: {"running": name in self._running and not self._running[name].done()}
                for name in self._loops}


async def take_lease(store: StateStore, name: str, logger: Logger, step: str, what: str) -> bool:
    """Take the lease `name` that lets one replica fire a tick; False when another has it
    (or the store cannot say: better to skip one tick than fire it twice)."""
    if store.kind == "memory":
        return True  # a memory store is never shared: this process is the only replica
    try:
        return await store.acquire_lease(name, LEASE_TTL, new_id())
    except Exception as exc:  # noqa: BLE001 -- any store failure means "skip"
        logger.error(f"{what} skipped: could not take its lease: {exc}", step=step)
        return False


async def fire_now(step: Step, key: str, *, store: StateStore, ticks: TickRunner, hooks: Hooks,
                   logger: Logger, scheduler: Scheduler | None = None) -> str | None:
    """Fire one tick of `step` now ("Run now" in the Workbench): the lease
    `cron:<step>:run:<key>` lets exactly one replica fire for one `key`, and the tick runs
    through the same TickRunner pipeline (retries, dead letter) as a scheduled one.
    Returns its trace id, or None when another replica took the lease. TickRunning when
    a tick of the step is still running in this process (a scheduled tick would be
    skipped then too)."""
    if scheduler is not None and scheduler.is_running(step.name):
        raise TickRunning(f"cron step {step.name!r} is still running its previous tick; "
                          "try again when it has finished")
    if not await take_lease(store, f"cron:{step.name}:run:{key}", logger, step.name,
                            "Run now"):
        return None
    now = time.time()
    trace_id = new_id()
    hooks.after_cron_fired(step.name, now, trace_id)
    logger.info("cron tick fired by Run now", step=step.name, trace_id=trace_id)
    event_id = uuid.uuid5(_TICKS, f"{step.name}@run:{key}").hex
    ticks.start(step.name, tick_event(trace_id, event_id, now))
    return trace_id


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds")
