"""`flow.concurrency {limit, key}`: at most `limit` deliveries of one key run at once.

The slots of a key are `limit` leases in the shared store (`<step>:concurrency:<key>:<i>`);
a delivery takes a free one before it runs and gives it back after, whatever the ending.
A delivery that finds every slot taken is deferred (it waits in the bus, holding no
worker slot) and tries again shortly. A slot is a lease with an owner token, renewed while
its holder runs: the slot of a replica that died (kill -9) frees within the lease TTL.
A retry is a new delivery: it needs a slot like any other, so retries count.

With a large limit a delivery tries a few random slots (MAX_TRIES) rather than all of
them: the limit is never exceeded, and a slot frees soon when many are in use.

While a key has slots to spare, a replica keeps a slot it is done with for LINGER seconds
before it gives it back: the next event of the same key on this replica takes it without
a store round trip (under load, most do). A key whose events this replica had to defer
in the last BUSY_FOR seconds is at its limit: its slots go back at once, so waiting events
on every replica get them.
"""

from __future__ import annotations

import asyncio
import random

from motia.compiler.ir import Concurrency as Rule
from motia.compiler.ir import Step
from motia.runner.delivery.base import Defer, Delivery, Next
from motia.runner.delivery.flow import _wait
from motia.runner.delivery.leases import Lease, LeaseKeeper

#: slots one delivery tries before it waits
MAX_TRIES = 8
#: how long a replica keeps a slot it is done with for its next event of the key (s)
LINGER = 0.5
#: a key deferred this recently (s) is at its limit: no lingering
BUSY_FOR = 2.0


class Concurrency:
    """Hold one of the key's `limit` slots while the delivery runs (module docstring)."""

    def __init__(self, step: Step, rule: Rule, leases: LeaseKeeper) -> None:
        self.step = step
        self.limit = rule.limit
        self.leases = leases
        self.read = _wait.reader(rule.key)
        #: key -> slots this replica holds and no delivery uses, each with its release timer
        self._idle: dict[str, list[tuple[Lease, asyncio.TimerHandle]]] = {}
        self._releasing: set[asyncio.Task[None]] = set()
        #: key -> when this replica last had to defer one of its events (loop time)
        self._busy: dict[str, float] = {}

    async def __call__(self, delivery: Delivery, call_next: Next) -> None:
        key = _wait.key_of(self.read, delivery)
        slot = self._reuse(key) or await self._take(key)
        if slot is None:
            self._busy[key] = asyncio.get_running_loop().time()
            raise Defer(_wait.poll(), f"flow.concurrency: {self.limit} of key {key!r} "
                        "already running")
        try:
            await call_next(delivery)
        except asyncio.CancelledError:
            slot.abandon()  # the handler may still run in its worker: the lease runs out
            raise
        except BaseException:
            self._keep(key, slot)
            raise
        self._keep(key, slot)

    def _reuse(self, key: str) -> Lease | None:
        """A slot of `key` this replica kept after a delivery, if one is still good."""
        idle = self._idle.get(key)
        while idle:
            slot, timer = idle.pop()
            timer.cancel()
            slot.parked = False
            if not slot.lost:
                return slot
        return None

    def _keep(self, key: str, slot: Lease) -> None:
        """Keep `slot` for LINGER seconds for the next event of `key`, then give it back."""
        if slot.lost:
            return
        loop = asyncio.get_running_loop()
        busy = self._busy.get(key)
        if busy is not None and loop.time() - busy < BUSY_FOR:
            self._release(slot)
            return
        self._busy.pop(key, None)
        slot.parked = True
        timer = loop.call_later(LINGER, self._give_back, key, slot)
        self._idle.setdefault(key, []).append((slot, timer))

    def _give_back(self, key: str, slot: Lease) -> None:
        idle = self._idle.get(key, [])
        self._idle[key] = [(s, t) for s, t in idle if s is not slot]
        if not self._idle[key]:
            del self._idle[key]
        slot.parked = False
        self._release(slot)

    def _release(self, slot: Lease) -> None:
        task = asyncio.get_running_loop().create_task(slot.release())
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def _take(self, key: str) -> Lease | None:
        slots = random.sample(range(self.limit), min(self.limit, MAX_TRIES))
        for index in slots:
            lease = await self.leases.acquire(_wait.name(self.step, "concurrency", key, index))
            if lease is not None:
                return lease
        return None
