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

Firing: every replica runs the loop; there is no fixed leader to fail over. It reads
the earliest `BATCH` entries; when none is due it sleeps until the first is (never more
than `POLL`, so it sees entries other replicas added; a local `add` wakes it at once).
When some are due it takes the schedule's lease (`LEASE`, `CLAIM_TTL` s, renewed while
held; a replica that finds it held looks again in `HELD` s), reads the entries again
under it, publishes the due ones to the bus `FIRE_AT_ONCE` at a time (fan-out happens
now, to the steps subscribed now), deletes them, and frees the lease (unless more is due
within `LINGER` s: then it waits for that, lease held). One replica fires
at a time, so no entry is published twice by two live replicas, and a batch costs one
publish round and one delete round rather than a lease per event. A replica killed
between a publish and the delete leaves those entries, which the next holder publishes
again: duplicates, never a loss (at-least-once, as everywhere). One killed while it holds
the lease delays what is due by at most `CLAIM_TTL`. Nothing is published before it is due.
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
#: events published at once (then crossed off together)
FIRE_AT_ONCE = 100
#: the lease a replica holds while it fires, renewed every CLAIM_RENEW s meanwhile. Its
#: TTL is how late a holder's death (kill -9) can make what is due then; a holder whose
#: loop stalls longer than TTL - RENEW loses it, and the next holder may publish a batch
#: a second time (duplicates, never a loss)
LEASE = "delayed-events"
CLAIM_TTL = 0.6
CLAIM_RENEW = 0.15
#: how soon a replica that found the lease held looks again (s)
HELD = 0.05
#: a holder that finds the next event due within this many seconds waits for it, lease held
LINGER = 0.1
#: after a failed pass (the store or the broker is down), the next one in this many s
RETRY = 1.0
#: how long `stop` lets the batch being published finish before cancelling it (s)
STOP_GRACE = 5.0
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
        self._stopping = False

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
        """How many delayed events wait now (all replicas): tests, the shutdown warning."""
        return len(await self.store._items(DELAYED_GROUP))

    # --- the loop -------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="motia-delayed-events")

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop firing once the batch being published is crossed off (within `grace` s, so
        a clean shutdown makes no duplicates); what is due later stays in the store for the
        next start. With the in-memory store it is lost, which is said once, with the fix."""
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            if self._wake is not None:
                self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(task), grace)
            except TimeoutError:
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._leases.close()
        if task is not None and self.store.kind == "memory":
            waiting = await self.pending()
            if waiting:
                _log.warning("%d delayed event(s) not yet due are lost: the in-memory state "
                             "store keeps them only while the process runs; use --state "
                             "sqlite (the default), redis or postgres to keep them", waiting)

    async def _run(self) -> None:
        assert self._wake is not None
        while not self._stopping:
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
            if wait > 0 and not self._stopping:
                await self._sleep(self.clock.time() + wait)

    async def _pass(self) -> float:
        """Fire what is due, holding the schedule's lease; seconds until the next pass."""
        rows = await self.store._page(DELAYED_GROUP, None, "", BATCH)
        if not rows or due_of(rows[0][0]) > self.clock.time():
            return self._wait(rows)  # nothing due: no lease needed to know when to look
        lease = await self._leases.acquire(LEASE)
        if lease is None:
            return HELD  # another replica is firing: look again soon
        try:
            while not lease.lost and not self._stopping:
                # read again under the lease: nothing read before it may be fired twice
                rows = await self.store._page(DELAYED_GROUP, None, "", BATCH)
                now = self.clock.time()
                due = [(key, text) for key, text in rows if due_of(key) <= now]
                for at in range(0, len(due), FIRE_AT_ONCE):
                    if lease.lost or self._stopping:
                        break
                    await self._fire(due[at:at + FIRE_AT_ONCE])
                if len(due) < BATCH:
                    wait = self._wait(rows[len(due):])
                    if wait > LINGER:
                        return wait
                    # more is due in a moment: keep the lease rather than give it up and
                    # take it again (two store round trips per pass under a steady stream)
                    await self.clock.sleep_until(self.clock.time() + wait)
            return 0.0
        finally:
            await lease.release()

    def _wait(self, later: list[tuple[str, str]]) -> float:
        """Seconds until the first of `later` (the earliest not yet due) is, at most POLL."""
        if not later:
            return POLL
        return min(max(due_of(later[0][0]) - self.clock.time(), 0.0), POLL)

    async def _fire(self, due: list[tuple[str, str]]) -> None:
        """Publish due entries, then cross them off. A crash between the two leaves them
        to be published again (duplicates); a failed publish leaves them all."""
        from motia.runner.bus.base import Event

        events = [Event.from_dict(json.loads(text)) for _, text in due]
        await self._publish(events)
        await self.store._delete_many(DELAYED_GROUP, [key for key, _ in due])
        now = self.clock.time()
        for (key, _), event in zip(due, events, strict=True):
            self.hooks.after_delay_fired(event, max(now - due_of(key), 0.0))

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
