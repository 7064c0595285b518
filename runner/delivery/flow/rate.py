"""`flow.rate {limit, per, key}`: at most `limit` starts of one key in each window of `per`.

Windows are aligned to the clock (window n is [n*per, (n+1)*per)), and each is one
expiring counter in the shared store (`StateStore.count_in_window`): a delivery counts
itself in the current window and runs when its count is within the limit; otherwise it
is deferred to the start of the next window (in rungs, see _wait.py) and counts again
there. Every replica counts in the same counter, so the limit holds across replicas (up
to the replicas' clock skew at a window's edge). Nothing starts in the last GUARD of a
window (a tenth of it, at most 0.25 s): a delivery admitted there would reach its handler
in the next window, on top of that window's own `limit`. Every attempt counts, retries too; a
start is counted only once the delivery holds its concurrency slot, so a rate is not
used up by events that then wait for a slot.
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

#: the end of each window where nothing is admitted: a fraction of it, and at most GUARD_MAX s
GUARD = 0.1
GUARD_MAX = 0.25
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

    async def __call__(self, delivery: Delivery, call_next: Next) -> None:
        key = _wait.key_of(self.read, delivery)
        now = self.clock()
        window = math.floor(now / self.per)
        left = (window + 1) * self.per - now  # until the next window starts
        if left > self.guard:
            count = await self.store.count_in_window(
                _wait.name(self.step, "rate", key, window), self.per + COUNTER_SLACK)
            if count <= self.limit:
                await call_next(delivery)
                return
        raise Defer(_wait.rung(left), f"flow.rate: {self.limit} starts of key {key!r} in "
                    "this window")
