"""The idempotency middleware: a key a step completed is never run again.

For a step with `idempotent: true` or `idempotency: {key, ttl}` the key of a delivery is
its event id, or the business key the step names (`data.id`), read from the event's data
(an event without it falls back to its event id). Before running, the delivery claims
the key with a short lease (leases.py); a second copy of it (a broker redelivers unacked
messages at once when a connection drops, to another replica, while the first copy may
still be running) waits a moment for that claim, then is deferred and looks again later,
so it never holds a worker slot for long. Once the handler and its emits succeeded the key
is marked done for `ttl`; a failing mark is retried on its own (with backoff, bounded by
MARK_PATIENCE) and never re-runs the handler: the delivery still counts as handled.
"""

from __future__ import annotations

import asyncio
import logging

from motia.compiler.ir import Step
from motia.runner.delivery.base import Defer, Delivery, Next, Skip
from motia.runner.delivery.keys import KeyReader, key_reader
from motia.runner.delivery.leases import Lease, LeaseKeeper
from motia.runner.logs import Logger
from motia.runner.state.base import StateStore

_log = logging.getLogger("motia.delivery")

#: how long a copy waits for another copy's claim before it is deferred (seconds)
CLAIM_WAIT = 1.0
#: how often it looks meanwhile (seconds)
CLAIM_POLL = 0.1
#: a deferred copy comes back after this (seconds)
CLAIM_RECHECK = 1.0
#: a delivery that cannot reach the store to claim its key is deferred this long (seconds)
STORE_RECHECK = 1.0
#: how long a completion mark that fails is retried before giving up loudly (seconds)
MARK_PATIENCE = 60.0


def done_key(step: str, key: str) -> str:
    return f"{step}:{key}"


def claim_key(done: str) -> str:
    return f"run:{done}"


class Idempotency:
    """Skip completed keys, claim running ones, mark finished ones (module docstring)."""

    def __init__(self, step: Step, store: StateStore, leases: LeaseKeeper, logger: Logger) -> None:
        assert step.idempotency is not None
        self.store = store
        self.leases = leases
        self.logger = logger
        self.ttl = step.idempotency.ttl
        path = step.idempotency.key
        self.read: KeyReader | None = key_reader(path, root="data") if path else None
        self._store_down = False  # said once per outage, not once per deferred event

    async def __call__(self, delivery: Delivery, call_next: Next) -> None:
        key = self._key(delivery)
        claim = await self._claim(delivery, key)
        try:
            await call_next(delivery)
        except asyncio.CancelledError:
            claim.abandon()  # its handler may still be running in the worker
            raise
        except BaseException:
            await claim.release()  # failed: the retry may run it
            raise
        await self._mark_done(delivery, key)
        await claim.release()

    def _key(self, delivery: Delivery) -> str:
        event = delivery.event
        if self.read is not None:
            value = self.read(event.data)
            if value is not None:
                return done_key(delivery.step.name, "key:" + value)
        return done_key(delivery.step.name, event.event_id)

    async def _claim(self, delivery: Delivery, key: str) -> Lease:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CLAIM_WAIT
        try:
            while not await self.store.is_done(key):
                lease = await self.leases.acquire(claim_key(key))
                if lease is not None:
                    if not await self.store.is_done(key):  # done between check and claim?
                        self._store_back(delivery)
                        return lease
                    await lease.release()
                    break
                if loop.time() >= deadline:
                    raise Defer(CLAIM_RECHECK, "another copy of this event is running")
                await asyncio.sleep(CLAIM_POLL)
        except (Defer, asyncio.CancelledError):
            raise
        except Exception as exc:  # the store is unreachable: wait for it, not an attempt
            if not self._store_down:
                self._store_down = True
                self._log(delivery, "warn", f"could not claim event {delivery.event.event_id} "
                          f"({exc}); its events wait for the state store, looking again "
                          f"every {STORE_RECHECK:g}s")
            raise Defer(STORE_RECHECK, f"state store unreachable: {exc}") from None
        self._log(delivery, "info",
                  f"event {delivery.event.event_id} already handled; skipped (idempotent)")
        raise Skip("duplicate")

    def _store_back(self, delivery: Delivery) -> None:
        if self._store_down:
            self._store_down = False
            self._log(delivery, "info", "the state store answers again; claiming events")

    async def _mark_done(self, delivery: Delivery, key: str) -> None:
        """Record the key as completed, retrying a failing store on its own (never by
        running the handler again); after MARK_PATIENCE seconds, give up loudly."""
        loop = asyncio.get_running_loop()
        deadline, delay, failures = loop.time() + MARK_PATIENCE, 0.1, 0
        while True:
            try:
                await self.store.mark_done(key, self.ttl)
            except Exception as exc:  # noqa: BLE001 -- the store's error says what is wrong
                failures += 1
                if loop.time() + delay > deadline:
                    self._log(delivery, "error", f"event {delivery.event.event_id} was handled "
                              f"but its completion mark could not be written after {failures} "
                              f"tries ({exc}); a redelivery of it would run again")
                    return
                if failures == 1:
                    self._log(delivery, "warn", f"event {delivery.event.event_id} was handled; "
                              f"writing its completion mark failed ({exc}); retrying")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if failures:
                self._log(delivery, "info", f"completion mark of event "
                          f"{delivery.event.event_id} written after {failures + 1} tries")
            return

    def _log(self, delivery: Delivery, level: str, message: str) -> None:
        event = delivery.event
        self.logger.log(level, message, step=delivery.step.name, trace_id=event.trace_id,
                        event_id=event.event_id)
