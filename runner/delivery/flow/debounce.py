"""`flow.debounce {wait, key}`: a burst of one key runs once, with its last event.

Every event of the key was numbered when it was published (sequence.py), so the
latest number taken is the last event published. A delivery runs only when its event
is that last one and `wait` seconds passed since it was published; an older event is
skipped (counted as handled: the newer one will run), and the last one waits in the bus
until its time. A retry of the last event runs again unless a newer one came meanwhile.

An event without a number (a dead letter replayed, a message from an older version) runs
at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from motia.compiler.ir import Debounce as Rule
from motia.compiler.ir import Step
from motia.runner.delivery.base import Defer, Delivery, Next, Skip
from motia.runner.delivery.flow import _wait
from motia.runner.delivery.flow.sequence import counter, seq_label
from motia.runner.state.base import StateStore


class Debounce:
    """Skip superseded events; hold the latest until it is `wait` old (module docstring)."""

    def __init__(self, step: Step, rule: Rule, store: StateStore,
                 clock: Callable[[], float] = time.time) -> None:
        self.step = step
        self.wait = rule.wait
        self.store = store
        self.clock = clock
        self.read = _wait.reader(rule.key)
        self.label = seq_label(step, "debounce")

    async def __call__(self, delivery: Delivery, call_next: Next) -> None:
        event = delivery.event
        seq = (event.seqs or {}).get(self.label)
        if seq is not None:
            key = _wait.key_of(self.read, delivery)
            latest = await self.store.flow_get(counter(self.step, "debounce", key))
            if isinstance(latest, int) and latest > seq:
                raise Skip(f"flow.debounce: a newer event of key {key!r} replaces it")
            left = event.time + self.wait - self.clock()
            if left > 0:
                raise Defer(_wait.rung(left), f"flow.debounce: key {key!r} waits "
                            f"{left:.2f}s for a newer event")
        await call_next(delivery)
