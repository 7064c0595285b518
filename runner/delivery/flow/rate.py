"""`flow.rate {limit, per, key}`: at most `limit` starts of one key in each window of `per`.

Windows are aligned to the clock (window n is [n*per, (n+1)*per)), and each is one
expiring counter in the shared store (`StateStore.count_in_window`): a delivery counts
itself in the current window and runs when its count is within the limit; otherwise it
is deferred to the start of the next window (in rungs, see _wait.py) and counts again
there. Every replica counts in the same counter, so the limit holds across replicas (up
to the replicas' clock skew at a window's edge). A delivery in the last GUARD of a window
(a tenth of it, at most 0.25 s) counts in that window and in the next one, and runs only
when both have room: its handler may well start in the next window. Every attempt counts, retries too; a
start is counted only once the delivery holds its concurrency slot, so a rate is not
used up by events that then wait for a slot.

A replica takes starts from a window's counter in batches of `limit // BATCH_SHARE` (at
least 1) and hands them out itself, so a high limit costs one store round trip per batch,
not per event; the limit still holds (the counter counts every start handed out), and a
batch a replica does not use up by the window's end is at most 1% of the limit unused.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from motia.compiler.ir import Rate as Rule
from motia.compiler.ir import Step
from motia.runner.delivery.base import Defer, Delivery, Next
from motia.runner.delivery.flow import _wait
from motia.runner.state.base import StateStore

#: the end of each window where a start counts in the next window too: a fraction of the
#: window, and at most GUARD_MAX s
GUARD = 0.1
GUARD_MAX = 0.25
#: a replica takes a window's starts in batches of limit // BATCH_SHARE
BATCH_SHARE = 100
#: a window's counter outlives the window by this much (seconds), then it is gone
COUNTER_SLACK = 5.0


class Rate:
    """Count each start in its window; defer what is over the limit (module docstring)."""

    def __init__(self, step: Step, rule: Rule, store: StateStore,
                 clock: Callable[[], float] = time.time) -> None:
        self.step = step
        self.limit = rule.limit
        self.per = rule.per
        self.store = store
        self.clock = clock
        self.read = _wait.reader(rule.key)
        self.guard = min(rule.per * GUARD, GUARD_MAX)
        self.batch = max(1, rule.limit // BATCH_SHARE)
        #: (key, window) -> starts this replica took from the window's counter, not used yet
        self._taken: dict[tuple[str, int], int] = {}
        self._window = -1

    async def __call__(self, delivery: Delivery, call_next: Next) -> None:
        key = _wait.key_of(self.read, delivery)
        now = self.clock()
        window = math.floor(now / self.per)
        left = (window + 1) * self.per - now  # until the next window starts
        if window > self._window:  # a new window: the older windows' leftovers are void
            self._taken = {k: n for k, n in self._taken.items() if k[1] >= window}
            self._window = window
        windows = ((window, left), (window + 1, left + self.per)) if left <= self.guard \
            else ((window, left),)
        for counted, wait in windows:
            if not self._take_local(key, counted):
                await self._take_batch(key, counted, wait)
        await call_next(delivery)

    def _take_local(self, key: str, window: int) -> bool:
        """One start of this replica's batch for `window`, if any is left."""
        left = self._taken.get((key, window), 0)
        if left <= 0:
            return False
        self._taken[(key, window)] = left - 1
        return True

    async def _take_batch(self, key: str, window: int, wait: float) -> None:
        """Take a batch of `window`'s starts from its counter, one for this delivery; wait
        `wait` seconds (until the window after it) when none is left."""
        count = await self.store.count_in_window(
            _wait.name(self.step, "rate", key, window), wait + COUNTER_SLACK, self.batch)
        granted = min(self.batch, self.limit - (count - self.batch))
        if granted <= 0:
            raise self._wait(key, wait)
        self._taken[(key, window)] = self._taken.get((key, window), 0) + granted - 1

    def _wait(self, key: str, seconds: float) -> Defer:
        return Defer(_wait.rung(seconds), f"flow.rate: {self.limit} starts of key {key!r} in "
                     "this window")
