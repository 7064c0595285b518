"""The delays a held-back event waits, and the key a rule reads from an event.

A waiting event goes back to the bus for one of a few fixed delays (RUNGS): on RabbitMQ
each distinct delay is a TTL queue, so a handful of them serve every wait. A longer wait
is walked down in rungs (the largest rung not past the due time, then again).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from motia.compiler.ir import Step
from motia.runner.delivery.base import Delivery
from motia.runner.delivery.keys import KeyReader, key_reader

#: every delay (seconds) flow control defers an event for
RUNGS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 15.0, 60.0, 300.0, 1800.0)
#: how soon a waiting event looks again when it waits for another one to finish
POLL: tuple[float, ...] = (0.1, 0.25)
#: the key of events whose data lacks the key's value (they share it)
MISSING_KEY = ""


def rung(seconds: float) -> float:
    """The largest rung not longer than `seconds` (the shortest one at least)."""
    best = RUNGS[0]
    for delay in RUNGS:
        if delay <= seconds:
            best = delay
    return best


def poll(distance: int = 1) -> float:
    """How long to wait for a slot or a turn: a short random rung, longer when `distance`
    other events are ahead (they take a while), so waiters do not look in lockstep."""
    if distance > 4:
        return rung(min(0.1 * distance, 2.0))
    return random.choice(POLL)


def reader(path: str | None) -> KeyReader | None:
    """Reads a rule's key out of an event's data; None when the rule has one key."""
    if path is None:
        return None
    return key_reader("data." + path, root="data")


def key_of(read: KeyReader | None, delivery: Delivery) -> str:
    if read is None:
        return MISSING_KEY
    value = read(delivery.event.data)
    return MISSING_KEY if value is None else value


def name(step: Step, rule: str, key: str, *extra: str | int) -> str:
    """The store name of a rule's counter, slot or lock for one key."""
    return ":".join((step.name, rule, key, *(str(part) for part in extra)))


def rungs_for(steps: Sequence[Step]) -> list[float]:
    """The deferral delays steps with `flow:` may use (their RabbitMQ queues)."""
    return list(RUNGS) if any(step.flow_control for step in steps) else []
