"""Delayed events (`ctx.emit({..., "delay": "30s"})`): kept in the state store until due.

Why the store, not the broker: a delay can be days, and the runtime must not hold a
message that long on RabbitMQ (an unacked one trips the broker's consumer timeout; a TTL
queue per delay only expires messages at its head, so arbitrary delays would need one
queue each). The state store is already shared by every replica and durable on every
production backend, and on the embedded default (SQLite, a file): one schedule, the same
on every bus. With the in-memory store a delayed event lives only as long as the process.

The schedule: each delayed event is one entry of the reserved group `__motia.delayed`,
keyed `<due, epoch ms, 15 digits>.<event id>`, so the group's key order is due order and
every store's paging (`_page`: an index seek on SQLite and PostgreSQL, a lex range on
Redis) reads the earliest first. The value is the event as JSON (`Event.to_dict`).

Firing: every replica runs the loop; there is no leader to fail over. It reads the
earliest `BATCH` entries, fires those due, then sleeps until the next one is due (never
more than `POLL`, so it sees entries other replicas added; a local `add` wakes it at
once). To fire an entry it takes a short lease on it (renewed while held), checks the
entry is still there (another replica may have fired it since the read), publishes the
event to the bus (fan-out happens now, to the steps subscribed now), deletes the entry
and frees the lease. A replica killed between its publish and the delete leaves the
entry, which another replica fires again: a duplicate, never a loss (at-least-once, as
everywhere). One killed between taking the lease and the publish leaves the event late
by at most the lease's TTL (`CLAIM_TTL`). An event is never published before it is due.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from motia.runner.delivery.leases import LeaseKeeper
from motia.runner.hooks import Hooks
from motia.runner.state.base import DELAYED_GROUP, StateStore

if TYPE_CHECKING:
    from motia.runner.bus.base import Event
    from motia.runner.scheduler import Clock

_log = logging.getLogger("motia.bus")

#: the longest the loop sleeps without reading the schedule (s): how late an event another
#: replica scheduled can be found (the replica that scheduled it wakes at its due time)
POLL = 0.5
#: entries read per pass; a pass that finds them all due reads again at once
BATCH = 200
#: events published at once by one replica
FIRE_AT_ONCE = 32
#: lease on an entry being fired (s), renewed every CLAIM_RENEW while the publish runs
CLAIM_TTL = 3.0
CLAIM_RENEW = 1.0
#: after a failed pass (the store or the broker is down), the next one in this many s
RETRY = 1.0
_DIGITS = 15


def entry_key(event: Event) -> str:
    """The schedule key of a delayed event: its due time (rounded up to the ms, so it
    never fires early) then its id."""
    assert event.delayed_until is not None
    return f"{math.ceil(event.delayed_until * 1000):0{_DIGITS}d}.{event.event_id}"


def due_of(key: str) -> float:
    """The due time (epoch seconds) a schedule key holds."""
    return int(key[:_DIGITS]) / 1000


def is_delayed(event: Event, now: float) -> bool:
    """True when `event` is to be kept until later rather than published now."""
    return event.delayed_until is not None and event.delayed_until > now


class DelayedEvents:
    """The schedule of one bus: `add` keeps events, the loop (`start`/`stop`) fires them."""

    def __init__(self, store: StateStore, publish: Callable[[list[Event]], Awaitable[None]],
                 hooks: Hooks, clock: Clock | None = None) -> None:
        from motia.runner.scheduler import SystemClock

        self.store = store
        self.hooks = hooks
        self.clock: Clock = clock or SystemClock()
        self._publish = publish
        self._leases = LeaseKeeper(store, ttl=CLAIM_TTL, every=CLAIM_RENEW)
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._sleeping_until = math.inf
        self._failing = False

    async def add(self, events: Sequence[Event]) -> None:
        """Keep `events` (each with `delayed_until`) in the store; returns once they are
        safe there, like a publish. Wakes the loop when one is due before it would."""
        writes = [self.store._set(DELAYED_GROUP, entry_key(e), json.dumps(e.to_dict()))
                  for e in events]
        await (writes[0] if len(writes) == 1 else asyncio.gather(*writes))
        first = min(e.delayed_until or 0.0 for e in events)
        if first < self._sleeping_until and self._wake is not None:
            self._wake.set()

    async def pending(self) -> int:
        """How many delayed events wait now (all replicas), for the Workbench and tests."""
        return len(await self.store._items(DELAYED_GROUP))

    # --- the loop -------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="motia-delayed-events")

    async def stop(self) -> None:
        """Stop firing (what is due later stays in the store for the next start)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._leases.close()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()  # an add from here on wakes the sleep after this pass
            try:
                wait = await self._pass()
                if self._failing:
                    _log.info("delayed events: the schedule is read again")
                self._failing = False
            except Exception as exc:  # noqa: BLE001 -- the store is down: try again soon
                if not self._failing:
                    _log.warning("delayed events: cannot read the schedule (%s: %s); "
                                 "retrying every %g s", type(exc).__name__, exc, RETRY)
                self._failing = True
                wait = RETRY
            if wait > 0:
                await self._sleep(self.clock.time() + wait)

    async def _pass(self) -> float:
        """Fire what is due among the earliest entries; seconds until the next pass."""
        rows = await self.store._page(DELAYED_GROUP, None, "", BATCH)
        now = self.clock.time()
        due = [(key, text) for key, text in rows if due_of(key) <= now]
        if due:
            gate = asyncio.Semaphore(FIRE_AT_ONCE)

            async def one(key: str, text: str) -> bool:
                async with gate:
                    return await self._fire(key, text)

            fired = await asyncio.gather(*(one(k, t) for k, t in due), return_exceptions=True)
            problems = [f for f in fired if isinstance(f, Exception)]
            if problems:
                raise problems[0]
            if not all(fired):  # another replica is firing some of them: look again soon
                return 0.05
            if len(rows) == BATCH:
                return 0.0
        later = rows[len(due):]
        if not later:
            return POLL
        return min(max(due_of(later[0][0]) - self.clock.time(), 0.0), POLL)

    async def _fire(self, key: str, text: str) -> bool:
        """Publish one due entry unless another replica holds or fired it; True when it is
        done (by us or by another), False while another replica holds it."""
        from motia.runner.bus.base import Event

        lease = await self._leases.acquire(f"delayed/{key}")
        if lease is None:
            return False
        try:
            if await self.store._get(DELAYED_GROUP, key) is None:
                return True  # fired by another replica between our read and our lease
            event = Event.from_dict(json.loads(text))
            await self._publish([event])
            await self.store._delete(DELAYED_GROUP, key)
        finally:
            await lease.release()
        self.hooks.after_delay_fired(event, max(self.clock.time() - due_of(key), 0.0))
        return True

    async def _sleep(self, until: float) -> None:
        """Sleep until `until`, or until `add` schedules something due before it."""
        assert self._wake is not None
        self._sleeping_until = until
        try:
            sleeper = asyncio.ensure_future(self.clock.sleep_until(until))
            waker = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait((sleeper, waker), return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waker.cancel()
        finally:
            self._sleeping_until = math.inf
