"""Short leases in the shared store, renewed while their holder lives.

A run claim (and an API idempotency key in progress, and later flow control's slots and
order locks) is a lease under a fresh owner token: only that owner can release it
(compare-and-delete) or renew it. The holder's `LeaseKeeper` renews every lease it holds
every `every` seconds, so a lease stays short (`ttl`, a few seconds) however long the
handler runs, and the lease of a holder that died (kill -9, a lost machine) runs out
within `ttl` seconds instead of after the step's whole timeout.

A renewal that finds the lease gone (this process stalled longer than `ttl`) marks it
`lost` and logs it: another copy may now run too, which at-least-once delivery allows.
A store outage only delays renewals; the keeper keeps trying while the lease is held.
"""

from __future__ import annotations

import asyncio
import logging
import os

from motia.runner.state.base import StateStore

_log = logging.getLogger("motia.delivery")

#: how long a lease lives without renewal (seconds): a dead holder's lease is free after it
LEASE_TTL = 6.0
#: how often a live holder renews (seconds); a stall longer than TTL - EVERY loses leases
RENEW_EVERY = 2.0


class Lease:
    """One lease this process holds; `release()` when done, `abandon()` to let it expire."""

    __slots__ = ("_keeper", "lost", "name", "owner", "parked")

    def __init__(self, keeper: LeaseKeeper, name: str, owner: str) -> None:
        self._keeper = keeper
        self.name = name
        self.owner = owner
        self.lost = False
        #: held for reuse while nothing runs under it (a lingering concurrency slot):
        #: `LeaseKeeper.close` gives such leases back instead of letting them run out
        self.parked = False

    async def release(self) -> None:
        """Stop renewing and free the lease now (only if still ours). Never raises: a
        lease that cannot be freed (store down) runs out by itself within its TTL."""
        self._keeper._held.pop(self.name, None)
        if self._keeper.closed:  # shutting down: the store may be closed already
            return
        try:
            await self._keeper.store.release_lease(self.name, self.owner)
        except Exception as exc:  # noqa: BLE001 -- it expires on its own
            _log.warning("could not release lease %s (%s); it expires within %g s",
                         self.name, exc, self._keeper.ttl)

    def abandon(self) -> None:
        """Stop renewing without releasing (the run may still be going on in a worker)."""
        self._keeper._held.pop(self.name, None)


class LeaseKeeper:
    """Takes leases in `store` and renews all of them from one task while any is held."""

    def __init__(self, store: StateStore, *, ttl: float = LEASE_TTL,
                 every: float = RENEW_EVERY) -> None:
        self.store = store
        self.ttl = ttl
        self.every = every
        self._held: dict[str, Lease] = {}
        self._task: asyncio.Task[None] | None = None
        self._failing = False  # renewals fail (the store is down): said once, not per lease
        #: set by close(): what is still held runs out by itself
        self.closed = False

    async def acquire(self, name: str) -> Lease | None:
        """The lease `name` under a new owner token, or None while someone else holds it."""
        owner = os.urandom(12).hex()
        if not await self.store.acquire_lease(name, self.ttl, owner):
            return None
        lease = self._held[name] = Lease(self, name, owner)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._renew_while_held(), name="motia-lease-keeper")
        return lease

    @property
    def held(self) -> int:
        return len(self._held)

    async def close(self) -> None:
        """Stop renewing; give back parked leases (nothing runs under them), and let what
        is still in use run out within its TTL (its handler may still be running)."""
        parked = [lease for lease in self._held.values() if lease.parked]
        await asyncio.gather(*(lease.release() for lease in parked), return_exceptions=True)
        self.closed = True
        self._held.clear()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _renew_while_held(self) -> None:
        while self._held:
            await asyncio.sleep(self.every)
            leases = list(self._held.values())
            results = await asyncio.gather(
                *(self.store.renew_lease(lease.name, lease.owner, self.ttl) for lease in leases),
                return_exceptions=True)
            failures = [r for r in results if isinstance(r, Exception)]
            self._report(failures, len(leases))
            for lease, renewed in zip(leases, results, strict=True):
                if renewed is False and self._held.get(lease.name) is lease:
                    self._lose(lease)

    def _report(self, failures: list[Exception], held: int) -> None:
        """One line when renewals start failing, one when they work again."""
        if failures and not self._failing:
            _log.warning("could not renew %d of %d lease(s) (%s); retrying every %g s",
                         len(failures), held, failures[0], self.every)
        elif not failures and self._failing:
            _log.info("leases renewed again")
        self._failing = bool(failures)

    def _lose(self, lease: Lease) -> None:
        lease.lost = True
        del self._held[lease.name]
        _log.warning("lease %s ran out before it was renewed (this process stalled for over "
                     "%g s); another copy may run at the same time", lease.name, self.ttl)
