"""Event step consumers: what the bus calls for each delivery of an event to a step.

A consumer runs the step's handler in its worker and, only when it succeeded, publishes
the events it emitted (same trace id, the step as their source). Any failure propagates
to the bus, whose template method retries with the step's backoff or dead-letters.

A step with `idempotent: true` is skipped for an event id it already completed: the
mark is written to the (shared) store after success and kept for `DONE_TTL`, so a
redelivery after a crash or a broker reconnect does not repeat the side effects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from motia.runner.bus.base import Consumer, Event
from motia.runner.workers.api import InvocationContext

if TYPE_CHECKING:
    from motia.runner.app import Runtime

DONE_TTL = 24 * 3600.0
"""How long an idempotent step remembers an event id it completed (seconds)."""


def done_key(step: str, event_id: str) -> str:
    return f"{step}:{event_id}"


def consumers_for(runtime: Runtime) -> dict[str, Consumer]:
    """One consumer per event step of the runtime's plan that actually runs."""
    return {
        step.name: make_consumer(runtime, step.name)
        for step in runtime.app.steps_of("event")
        if step.runs and step.subscribes
    }


def make_consumer(runtime: Runtime, name: str) -> Consumer:
    """The consumer of step `name`; it looks the step up on every call so a plan swap
    (`motia dev`) changes its timeout, retries or handler without re-subscribing."""

    async def consume(event: Event) -> None:
        step = runtime.app.step(name)
        store = runtime.store
        assert store is not None
        key = done_key(name, event.event_id)
        if step.idempotent and await store.is_done(key):
            runtime.logger.info(f"event {event.event_id} already handled; skipped (idempotent)",
                                step=name, trace_id=event.trace_id, event_id=event.event_id)
            return
        ctx = InvocationContext(trace_id=event.trace_id, event_id=event.event_id,
                                attempt=event.attempt, topic=event.topic)
        result = await runtime.invoke(step, event.data, ctx)
        await runtime.publish_emits(step, ctx, result.emits)
        if step.idempotent:
            await store.mark_done(key, DONE_TTL)

    consume.__qualname__ = f"consume[{name}]"
    return consume
