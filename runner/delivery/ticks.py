"""Cron ticks through the same pipeline and policy as events.

The cron loop (runner/scheduler.py) decides *when* a tick fires; `TickRunner` runs it:
the step's pipeline (an `idempotent` cron step claims its tick id like an event id), a
failed attempt retried with the step's backoff, and a tick out of retries written as a
dead letter (topic "", data None, the tick id as event id), so `motia dlq replay`
runs it again (`replay`, in whichever replica serves the admin API: every role has a
worker pool). A tick waits for its retry in its own task, which the cron loop counts as
"still running", so the next tick of that step is skipped rather than run beside it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from motia.compiler.ir import App, Step
from motia.runner.bus.base import Event
from motia.runner.delivery.base import Delivery
from motia.runner.delivery.pipeline import DeliveryServices, Pipeline, pipeline_for
from motia.runner.delivery.policy import DeliveryPolicy, context_of
from motia.runner.hooks import Hooks
from motia.runner.state.base import DeadLetter

_log = logging.getLogger("motia.cron")


def tick_event(trace_id: str, event_id: str, scheduled: float, attempt: int = 1) -> Event:
    """A cron tick as the pipeline sees it: no topic, no data."""
    return Event(topic="", data=None, trace_id=trace_id, event_id=event_id, attempt=attempt,
                 time=scheduled)


class TickRunner:
    """Runs (and replays) the ticks of the cron steps of the plan being served."""

    def __init__(self, services: DeliveryServices, hooks: Hooks, plan: Callable[[], App]) -> None:
        self.services = services
        self.hooks = hooks
        self.plan = plan
        self._pipelines: dict[str, tuple[App, Step, Pipeline]] = {}
        self._replays: set[asyncio.Task[None]] = set()

    async def run(self, name: str, event: Event) -> None:
        """Run one tick of step `name` until it succeeds or is dead-lettered."""
        retries: list[tuple[Event, float]] = []

        async def later(step: Step, retry: Event, delay: float) -> None:
            retries.append((retry, delay))

        policy = DeliveryPolicy(self.services.store, self.hooks, later)
        while True:
            try:
                step, pipeline = self._pipeline(name)
            except KeyError:
                _log.warning("cron step %s is no longer in the plan; tick %s dropped its "
                             "retry", name, event.event_id)
                return
            try:
                await pipeline(Delivery(step, event, context_of(event)))
                return
            except Exception as exc:  # noqa: BLE001 -- every ending is the policy's to decide
                await self._settle(policy, step, event, exc)
            if not retries:
                return
            event, delay = retries.pop()
            await asyncio.sleep(delay)

    def replay(self, letter: DeadLetter) -> Event:
        """Run a dead-lettered tick again now, as a first attempt, in the background."""
        event = tick_event(letter.trace_id, letter.event_id, letter.time)
        self.start(letter.step, event, "replay")
        return event

    def start(self, name: str, event: Event, why: str = "run") -> asyncio.Task[None]:
        """Run one tick of step `name` in the background (a replay, a "Run now");
        `close` waits for it like for the scheduled ones."""
        task = asyncio.get_running_loop().create_task(self.run(name, event),
                                                      name=f"motia-{why}:{name}")
        self._replays.add(task)
        task.add_done_callback(self._replays.discard)
        return task

    async def close(self, grace: float) -> None:
        """Let replayed ticks finish within `grace` seconds, then cancel them."""
        if self._replays:
            _, late = await asyncio.wait(set(self._replays), timeout=max(grace, 0.0))
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    def _pipeline(self, name: str) -> tuple[Step, Pipeline]:
        app = self.plan()
        cached = self._pipelines.get(name)
        if cached is None or cached[0] is not app:
            step = app.step(name)
            cached = self._pipelines[name] = (app, step, pipeline_for(app, step, self.services))
        return cached[1], cached[2]

    async def _settle(self, policy: DeliveryPolicy, step: Step, event: Event,
                      exc: Exception) -> None:
        try:
            await policy.settle(step, event, exc)
        except Exception as failure:  # noqa: BLE001 -- a tick has no broker to keep it
            _log.error("cron step %s: tick %s failed (%s) and could not be dead-lettered: %s",
                       step.name, event.event_id, exc, failure)
