"""How many events wait on each flow-control rule across the whole app, not one replica.

A replica sees only the events it deferred itself (waiting.py), and a waiting event comes
back to any replica. So each replica publishes what it sees into the shared store every
PUBLISH_EVERY seconds, as one entry of a reserved group that lives GAUGE_TTL seconds
(`StateStore.put_gauge`); `app_wide()` merges every live entry. A replica that dies stops
renewing its entry, and its share is gone within GAUGE_TTL; no counter is incremented and
decremented, so a crash can never leak a count. A replica with nothing waiting removes its
entry and writes nothing more until something waits again, so an idle app costs nothing.
On the memory store (one process) it is the same code path, one entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from typing import Any

from motia.runner.delivery.flow.waiting import FlowWaiting, merge
from motia.runner.state.base import StateStore

#: how often a replica publishes its waiting events (seconds): the count's freshness
PUBLISH_EVERY = 1.0
#: how long a replica's entry lives without being published again (seconds)
GAUGE_TTL = 3.0


class WaitingGauge:
    """Publishes one replica's waiting events to the store, and reads the app's total."""

    def __init__(self, store: StateStore, waiting: FlowWaiting, *,
                 every: float = PUBLISH_EVERY, ttl: float = GAUGE_TTL) -> None:
        self.store = store
        self.waiting = waiting
        self.every = every
        self.ttl = ttl
        #: this replica's name in the store: host and pid, readable by an operator (and a
        #: test), plus a random tail so a reused pid never takes over a stale entry
        self.replica = f"{socket.gethostname()}-{os.getpid()}-{os.urandom(3).hex()}"
        self._generation = -1  # of this replica's newest entry (numbers never repeat)
        self._live = False  # an entry of this replica is in the store
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="motia-flow-gauge")

    async def close(self) -> None:
        """Stop publishing and remove this replica's entry (its events are not ours now)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):  # the store may be gone: the TTL cleans up
            await self._drop()

    async def publish(self) -> None:
        """Write this replica's waiting events now (or remove its entry when none wait)."""
        snapshot = self.waiting.snapshot()
        if not snapshot:
            await self._drop()
            return
        self._generation += 1
        self._live = True
        await self.store.put_gauge(self.replica, self._generation, snapshot, self.ttl)

    async def app_wide(self) -> dict[str, dict[str, int]]:
        """step -> rule -> events waiting now on every live replica (each event once)."""
        entries: dict[str, Any] = await self.store.gauges()
        entries[self.replica] = self.waiting.snapshot()  # this replica's, fresher than stored
        return merge(entries.values())

    async def _drop(self) -> None:
        if self._live:
            await self.store.drop_gauge(self.replica, self._generation)
            self._live = False

    async def _run(self) -> None:
        while True:
            try:
                await self.publish()
            except Exception:  # noqa: BLE001 - the store is down: the count is stale, no more
                pass
            await asyncio.sleep(self.every)
