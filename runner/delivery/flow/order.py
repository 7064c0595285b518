"""`flow.order {key}`: one delivery of one key at a time, in publish order, through retries.

Each event carries the number its key's sequence gave it when it was published
(sequence.py); the store keeps the number that is next per key (`<step>:order:<key>:next`,
from 1). A delivery whose number is next takes the key's lock (a lease with an owner
token: a dead holder's lock frees within seconds), runs, and moves `next` on; a later
number is deferred to wait its turn (without a worker slot), an earlier one was already
handled and is skipped (a redelivered duplicate).

A failed attempt leaves `next` where it is: the event's retry is the key's next delivery,
and later events of the key wait. `next` moves on when the event succeeds, is skipped, is
rejected, or fails its last attempt (it becomes a dead letter): a failing event holds its
key until it is retried to success or dead-lettered, never longer.

A number that never arrives (its publisher took it and then failed to publish) is a gap:
once `next` has not moved for `gap_after(step)` seconds, longer than any real event could
take through all its retries, the waiting event with the following number skips it.
Events without a number (a dead letter replayed) run at once, outside the order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from motia.compiler.ir import Order as Rule
from motia.compiler.ir import Step
from motia.runner.delivery.base import Defer, Delivery, Next, Reject, Skip
from motia.runner.delivery.flow import _wait
from motia.runner.delivery.flow.sequence import seq_label
from motia.runner.delivery.leases import Lease, LeaseKeeper
from motia.runner.state.base import StateStore

_log = logging.getLogger("motia.delivery")

#: slack on top of a step's longest possible run before a missing number is a gap (s)
GAP_SLACK = 60.0


def gap_after(step: Step) -> float:
    """Seconds after which a number that never came is skipped: every attempt's timeout,
    every backoff, and GAP_SLACK."""
    backoffs = sum(step.backoff.delay(n) for n in range(1, step.retries + 1))
    return (step.retries + 1) * step.timeout + backoffs + GAP_SLACK


class Order:
    """Run a key's events one at a time in their publish order (module docstring)."""

    def __init__(self, step: Step, rule: Rule, store: StateStore, leases: LeaseKeeper,
                 clock: Callable[[], float] = time.time) -> None:
        self.step = step
        self.store = store
        self.leases = leases
        self.clock = clock
        self.read = _wait.reader(rule.key)
        self.label = seq_label(step, "order")
        self.gap = gap_after(step)

    async def __call__(self, delivery: Delivery, call_next: Next) -> None:
        seq = (delivery.event.seqs or {}).get(self.label)
        if seq is None:
            await call_next(delivery)
            return
        key = _wait.key_of(self.read, delivery)
        await self._check_turn(key, seq, await self._next(key))
        lock = await self.leases.acquire(_wait.name(self.step, "order", key, "lock"))
        if lock is None:
            raise Defer(_wait.poll(), f"flow.order: key {key!r} is busy")
        try:
            await self._check_turn(key, seq, await self._next(key))  # moved meanwhile?
        except BaseException:
            await lock.release()
            raise
        await self._run(delivery, call_next, key, seq, lock)

    async def _run(self, delivery: Delivery, call_next: Next, key: str, seq: int,
                   lock: Lease) -> None:
        try:
            await call_next(delivery)
        except asyncio.CancelledError:
            lock.abandon()
            raise
        except Defer:
            await lock.release()
            raise
        except (Skip, Reject):
            await self._advance(key, seq, lock)
            raise
        except BaseException:
            if delivery.event.attempt > self.step.retries:  # its last attempt: a dead letter
                await self._advance(key, seq, lock)
            else:
                await lock.release()
            raise
        await self._advance(key, seq, lock)

    async def _next(self, key: str) -> dict[str, Any]:
        raw = await self.store.flow_get(self._next_name(key))
        if isinstance(raw, dict) and isinstance(raw.get("n"), int):
            return raw
        return {"n": 1, "at": None}

    async def _check_turn(self, key: str, seq: int, nxt: dict[str, Any]) -> None:
        if seq < nxt["n"]:
            raise Skip(f"flow.order: event {seq} of key {key!r} was already handled")
        if seq == nxt["n"]:
            return
        if await self._skip_gap(key, nxt):
            nxt = await self._next(key)
            if seq <= nxt["n"]:
                return await self._check_turn(key, seq, nxt)
        raise Defer(_wait.poll(seq - nxt["n"]), f"flow.order: key {key!r} waits for "
                    f"event {nxt['n']} before {seq}")

    async def _skip_gap(self, key: str, nxt: dict[str, Any]) -> bool:
        """Move `next` past a number that never came; True when it did. Under the key's
        lock, and only while `next` is what this waiter saw."""
        now = self.clock()
        starting = nxt["at"] is None  # nothing ran for this key yet: start the gap clock
        if not starting and now - nxt["at"] < self.gap:
            return False
        lock = await self.leases.acquire(_wait.name(self.step, "order", key, "lock"))
        if lock is None:
            return False
        try:
            if await self._next(key) != nxt:
                return False
            if starting:
                await self.store.flow_set(self._next_name(key), {"n": nxt["n"], "at": now})
                return False
            _log.warning("step %s: flow.order key %r: event %d never arrived in %g s; "
                         "skipping it", self.step.name, key, nxt["n"], self.gap)
            await self.store.flow_set(self._next_name(key), {"n": nxt["n"] + 1, "at": now})
            return True
        finally:
            await lock.release()

    async def _advance(self, key: str, seq: int, lock: Lease) -> None:
        try:
            if not lock.lost:
                await self.store.flow_set(self._next_name(key),
                                          {"n": seq + 1, "at": self.clock()})
        finally:
            await lock.release()

    def _next_name(self, key: str) -> str:
        return _wait.name(self.step, "order", key, "next")
