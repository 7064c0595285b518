"""Swapping the plan of a running runtime (`motia dev` after motia.yaml changed).

Only what changed is replaced: the workers of steps whose definition changed, the route
table (cheap, always rebuilt), the cron loops of changed cron steps, and the event bus
only when the delivery topology changed (subscriptions, retries, backoff, concurrency).
A replaced in-memory bus hands over what it still held: its close writes undelivered
events as dead letters, and those are replayed at once into the new bus.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from motia.compiler.ir import App
from motia.runner.bus.memory import UNDELIVERED

if TYPE_CHECKING:
    from motia.runner.app import Runtime


def changed_steps(old: App, new: App) -> set[str]:
    """Names of steps that are new, removed or defined differently in `new`."""
    before = {s.name: s for s in old.steps}
    after = {s.name: s for s in new.steps}
    return {n for n in before.keys() | after.keys() if before.get(n) != after.get(n)}


def worker_changes(old: App, new: App, changed: set[str]) -> set[str]:
    """Changed steps whose workers must be replaced: new or removed steps, or a different
    handler or process shape. Others keep their workers (the pool takes their new
    timeout, emits, schemas in place)."""
    before = {s.name: s for s in old.steps}
    after = {s.name: s for s in new.steps}
    out = set()
    for name in changed:
        a, b = before.get(name), after.get(name)
        if a is None or b is None or _process_shape(a) != _process_shape(b):
            out.add(name)
    return out


def _process_shape(step: Any) -> Any:
    return (step.handler, step.workers, step.concurrency, step.memory, step.type)


def delivery_topology(app: App) -> Any:
    """What the bus was built from; when it differs, the bus is replaced."""
    steps = tuple(
        (s.name, s.subscribes, s.retries, s.backoff, s.workers, s.concurrency)
        for s in app.steps if s.runs and s.subscribes
    )
    return steps, tuple(t.name for t in app.topics)


async def swap_plan(runtime: Runtime, app: App) -> set[str]:
    """Serve `app` from now on; returns the names of the steps that changed."""
    from motia.runner.app import _maybe_await

    old = runtime.app
    changed = changed_steps(old, app)
    runtime._set_app(app)
    if runtime.pool is not None:
        await _maybe_await(runtime.pool.reload(app, changed=worker_changes(old, app, changed)))
    if runtime.gateway is not None:
        runtime.gateway.swap(app)
    if delivery_topology(old) != delivery_topology(app):
        await _swap_bus(runtime, app)
    if runtime.scheduler is not None:
        runtime.scheduler.update(list(app.steps))
    return changed


async def _swap_bus(runtime: Runtime, app: App) -> None:
    from motia.runner.bus import create_bus

    assert runtime.store is not None and runtime.bus is not None
    config = runtime.config
    started = time.time()
    bus = create_bus(config.events, app=app, store=runtime.store, hooks=runtime.hooks,
                     url=config.amqp_url)
    await bus.open()
    await bus.start(runtime._consumers() if config.consumes else {})
    old, runtime.bus = runtime.bus, bus
    await old.close(config.grace)
    await _hand_over(runtime, app, started)


async def _hand_over(runtime: Runtime, app: App, since: float) -> None:
    """Replay what the old bus set aside while closing, when its step still consumes it."""
    subscribed = {s.name: s.subscribes for s in app.steps if s.runs and s.subscribes}
    for letter in await runtime.dead_letters():
        if letter.error.get("type") != UNDELIVERED or letter.time < since:
            continue
        if letter.topic in subscribed.get(letter.step, ()):
            await runtime.replay(letter.id)
