"""Event step consumers: what the bus calls for each delivery of an event to a step.

A consumer runs the step's handler in its worker and, only when it succeeded, publishes
the events it emitted (same trace id, the step as their source). Any failure propagates
to the bus, whose template method retries with the step's backoff or dead-letters.

A step with `idempotent: true` is skipped for an event id it already completed: the
mark is written to the (shared) store after success and kept for `DONE_TTL`, so a
redelivery after a crash or a broker reconnect does not repeat the side effects. Before
running, a delivery also claims the event id (a lease in the shared store): when a broker
connection drops, the broker redelivers its unacked messages at once to another replica
while the first copy is still running, and without the claim both would run. The second
copy waits for the first to finish (then skips) or to fail (then runs); a claim whose
holder died expires after the step's timeout plus `CLAIM_MARGIN`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from motia.compiler.ir import Step
from motia.runner.bus.base import Consumer, Event, new_id
from motia.runner.workers.api import InvocationContext

if TYPE_CHECKING:
    from motia.runner.app import Runtime
    from motia.runner.state.base import StateStore

DONE_TTL = 24 * 3600.0
"""How long an idempotent step remembers an event id it completed (seconds)."""
CLAIM_MARGIN = 5.0
"""A run claim outlives the step's timeout by this much (seconds): cancel, publish, mark."""
CLAIM_POLL = 0.1
"""How often a delivery waiting on another copy's claim looks again (seconds)."""


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

    plan: list[tuple[object, Step]] = []  # (app, its step `name`): App.step() is a scan

    async def consume(event: Event) -> None:
        app = runtime.app
        if plan and plan[0][0] is app:
            step = plan[0][1]
        else:  # first delivery, or the plan was swapped since the last one
            step = app.step(name)
            plan[:] = [(app, step)]
        store = runtime.store
        assert store is not None
        ctx = InvocationContext(trace_id=event.trace_id, event_id=event.event_id,
                                attempt=event.attempt, topic=event.topic)
        if not step.idempotent:
            result = await runtime.invoke(step, event.data, ctx)
            await runtime.publish_emits(step, ctx, result.emits)
            return
        key = done_key(name, event.event_id)
        owner = new_id()
        if not await _claim(store, step, key, owner):
            runtime.logger.info(f"event {event.event_id} already handled; skipped (idempotent)",
                                step=name, trace_id=event.trace_id, event_id=event.event_id)
            runtime.hooks.after_skip(name, ctx, "duplicate")
            return
        try:
            result = await runtime.invoke(step, event.data, ctx)
            await runtime.publish_emits(step, ctx, result.emits)
            await store.mark_done(key, DONE_TTL)
        except asyncio.CancelledError:
            raise  # its handler may still be running in the worker: the claim expires alone
        except Exception:
            await store.release_lease(claim_key(key), owner)  # failed: the retry may run it
            raise
        await store.release_lease(claim_key(key), owner)

    consume.__qualname__ = f"consume[{name}]"
    return consume


def claim_key(key: str) -> str:
    return f"run:{key}"


async def _claim(store: StateStore, step: Step, key: str, owner: str) -> bool:
    """Claim the run of `key`; False when it is done (now, or by the copy we waited for)."""
    while not await store.is_done(key):
        if await store.acquire_lease(claim_key(key), step.timeout + CLAIM_MARGIN, owner):
            if not await store.is_done(key):  # done between our check and our claim?
                return True
            await store.release_lease(claim_key(key), owner)
            return False
        await asyncio.sleep(CLAIM_POLL)  # another delivery of this event is running it
    return False
