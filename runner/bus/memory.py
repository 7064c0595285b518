"""The in-process event bus: an asyncio queue per event step, gone when the process exits.

The embedded default (`--events memory`). Fan-out, retries with backoff and dead letters
come from `EventBus`; this module only moves events between queues in one event loop.

Delivery runs at most `workers * concurrency` tasks at once per step. A publish starts a
delivery task at once when the step has a free slot and queues the event otherwise; a
task that finishes takes the next queued event itself instead of exiting, so a busy step
pays neither a dispatcher wake-up nor a new task per event. Retries wait on loop timers
rather than in the queue, so a backoff never blocks a slot.

Shutdown never loses an event: `close(grace)` stops intake, lets in-flight deliveries
finish within `grace`, and writes whatever is still queued, waiting for a retry, or cut
off mid-delivery to the state store as a dead letter of type "Undelivered" (with the
SQLite store it survives the restart; `motia dlq replay` sends it on).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field

from motia.compiler.ir import App, Step
from motia.runner.bus.base import BusClosed, Event, EventBus
from motia.runner.hooks import Hooks
from motia.runner.state.base import StateStore

_log = logging.getLogger("motia.bus")

UNDELIVERED = "Undelivered"
UNDELIVERED_MESSAGE = "runner stopped before delivery; replay with `motia dlq replay`"


@dataclass
class _Lane:
    """One step's queue and what is in flight or waiting for a retry on it."""

    step: Step
    queue: deque[Event] = field(default_factory=deque)
    #: delivery tasks allowed at once; 0 until the step is consumed
    limit: int = 0
    inflight: dict[asyncio.Task[None], Event] = field(default_factory=dict)
    timers: dict[asyncio.TimerHandle, Event] = field(default_factory=dict)


class MemoryBus(EventBus):
    """Queues in this process; see the module docstring for the shutdown guarantee."""

    kind = "memory"

    def __init__(self, app: App, store: StateStore, hooks: Hooks | None = None) -> None:
        super().__init__(app, store, hooks)
        self._lanes: dict[str, _Lane] = {}
        self._routes: dict[str, tuple[_Lane, ...]] = {}
        self._opened = False
        self._closing = False
        self._closed = False

    async def open(self) -> None:
        # Queues are made here, inside the running loop, not in __init__.
        self._lanes = {s.name: _Lane(s) for s in self.app.steps if s.runs and s.subscribes}
        topics = {t for lane in self._lanes.values() for t in lane.step.subscribes}
        self._routes = {
            t: tuple(self._lanes[s.name] for s in self.app.subscribers(t)) for t in topics
        }
        self._opened = True

    async def depths(self) -> dict[str, int]:
        """Queued and waiting for a retry timer, per step (in flight is not waiting)."""
        return {name: len(lane.queue) + len(lane.timers) for name, lane in self._lanes.items()}

    # --- primitives -----------------------------------------------------------------------

    async def _publish(self, events: list[Event]) -> None:
        self._check_open()
        for event in events:
            for lane in self._routes.get(event.topic, ()):
                self._put(lane, event)

    async def _send_to(self, step: Step, event: Event, delay: float) -> None:
        self._check_open()
        lane = self._lanes[step.name]
        if delay <= 0:
            self._put(lane, event)
            return
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle | None = None

        def fire() -> None:
            assert handle is not None
            lane.timers.pop(handle, None)
            if self._closing:  # close() is writing what waits to the store: join it
                lane.queue.append(event)
            else:
                self._put(lane, event)

        handle = loop.call_later(delay, fire)
        lane.timers[handle] = event

    async def _consume(self, step: Step, prefetch: int) -> None:
        self._check_open()
        lane = self._lanes[step.name]
        lane.limit = max(prefetch, 1)
        while lane.queue and len(lane.inflight) < lane.limit:  # published before we consumed
            self._start(lane, lane.queue.popleft())

    async def _close(self, grace: float) -> None:
        if self._closed or self._closing:
            return
        self._closing = True
        try:
            cut_off: list[tuple[Step, Event]] = []
            inflight = {t: lane for lane in self._lanes.values() for t in lane.inflight}
            if inflight:
                _, late = await asyncio.wait(inflight, timeout=max(grace, 0.0))
                for task in late:
                    cut_off.append((inflight[task].step, inflight[task].inflight[task]))
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
            self._closed = True  # from here on a publish fails loudly instead of queueing
            for step, event in cut_off:
                await self._undelivered(step, event, attempts=event.attempt)
            await self._keep_undelivered()
        finally:
            self._closed = True

    # --- delivery -------------------------------------------------------------------------

    def _put(self, lane: _Lane, event: Event) -> None:
        """Deliver `event` now when the step has a free slot, else queue it."""
        if len(lane.inflight) < lane.limit and not self._closing:
            self._start(lane, event)
        else:
            lane.queue.append(event)

    def _start(self, lane: _Lane, event: Event) -> None:
        task = asyncio.get_running_loop().create_task(self._run(lane, event))
        lane.inflight[task] = event

    async def _run(self, lane: _Lane, event: Event) -> None:
        """Deliver `event`, then the queued events after it while the bus is open."""
        task = asyncio.current_task()
        assert task is not None
        delivered = 0
        try:
            while True:
                await self._deliver_safely(lane, event)
                if not lane.queue or self._closing:
                    return
                delivered += 1
                if delivered % 32 == 0:  # a consumer that never suspends must not hog the loop
                    await asyncio.sleep(0)
                    if not lane.queue or self._closing:
                        return
                event = lane.queue.popleft()
                lane.inflight[task] = event
        finally:
            lane.inflight.pop(task, None)

    async def _deliver_safely(self, lane: _Lane, event: Event) -> None:
        try:
            await self._deliver(lane.step, event)
        except Exception:  # noqa: BLE001 -- whatever broke, the event must not be lost
            # The retry or dead letter could not be recorded: like a broker, redeliver.
            _log.exception("step %s: could not record the failure of event %s; redelivering",
                           lane.step.name, event.event_id)
            await self._send_to(lane.step, event, lane.step.backoff.delay(event.attempt))

    # --- shutdown -------------------------------------------------------------------------

    async def _keep_undelivered(self) -> None:
        """Write every event that did not finish delivery to the store as a dead letter."""
        for lane in self._lanes.values():
            pending: list[Event] = []
            for handle, event in list(lane.timers.items()):
                handle.cancel()
                pending.append(event)
            lane.timers.clear()
            pending.extend(lane.queue)
            lane.queue.clear()
            for event in pending:
                await self._undelivered(lane.step, event, attempts=event.attempt - 1)

    async def _undelivered(self, step: Step, event: Event, attempts: int) -> None:
        error = {"type": UNDELIVERED, "message": UNDELIVERED_MESSAGE, "traceback": ""}
        await self.policy.dead_letter(step, event, error, attempts=attempts)

    def _check_open(self) -> None:
        if self._closed:
            raise BusClosed(
                f"the {self.kind} event bus of app {self.app.name!r} is closed: "
                "events can be published only between open() and close()"
            )
        if not self._opened:
            raise BusClosed(f"the {self.kind} event bus of app {self.app.name!r} "
                            "is not open: call open() before publishing")

