"""`flow.concurrency {limit, key}`: at most `limit` deliveries of one key run at once.

The slots of a key are `limit` leases in the shared store (`<step>:concurrency:<key>:<i>`);
a delivery takes a free one before it runs and gives it back after, whatever the ending.
A delivery that finds every slot taken is deferred (it waits in the bus, holding no
worker slot) and tries again shortly. A slot is a lease with an owner token, renewed while
its holder runs: the slot of a replica that died (kill -9) frees within the lease TTL.
A retry is a new delivery: it needs a slot like any other, so retries count.

With a large limit a delivery tries a few random slots (MAX_TRIES) rather than all of
them: the limit is never exceeded, and a slot frees soon when many are in use.
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


class Concurrency:
    """Hold one of the key's `limit` slots while the delivery runs (module docstring)."""

    def __init__(self, step: Step, rule: Rule, leases: LeaseKeeper) -> None:
        self.step = step
        self.limit = rule.limit
        self.leases = leases
        self.read = _wait.reader(rule.key)

    async def __call__(self, delivery: Delivery, call_next: Next) -> None:
        key = _wait.key_of(self.read, delivery)
        slot = await self._take(key)
        if slot is None:
            raise Defer(_wait.poll(), f"flow.concurrency: {self.limit} of key {key!r} "
                        "already running")
        try:
            await call_next(delivery)
        except asyncio.CancelledError:
            slot.abandon()  # the handler may still run in its worker: the lease runs out
            raise
        except BaseException:
            await slot.release()
            raise
        await slot.release()

    async def _take(self, key: str) -> Lease | None:
        slots = list(range(self.limit))
        if self.limit > MAX_TRIES:
            slots = random.sample(slots, MAX_TRIES)
        else:
            random.shuffle(slots)
        for index in slots:
            lease = await self.leases.acquire(_wait.name(self.step, "concurrency", key, index))
            if lease is not None:
                return lease
        return None
