"""The event bus contract: fan-out, at-least-once delivery, retries, dead letters, replay.

`EventBus` owns the delivery rules users rely on (through the one delivery policy,
runner/delivery/policy.py, which cron shares); a backend supplies transport:

- `_publish(events)`: durably hand events to every subscribed step's queue; return only
  when they are safe (broker confirmed / enqueued in memory).
- `_send_to(step, event, delay)`: put one event on one step's queue only, after `delay`
  seconds (retries and dead-letter replay must not fan out again).
- `_consume(step, prefetch)`: start delivering that step's queue to `self._deliver`.
- `_close(grace)`: stop intake, let in-flight deliveries finish within `grace`, release.

`_deliver(step, event)` is the template method every backend calls per message: it runs
the step's consumer (the runtime's consumers are delivery pipelines) and hands whatever
it raised to the policy, which schedules the next attempt with the step's backoff
through `_send_to`, defers the event, or after the last retry writes a dead letter to
the state store. It returns normally in every case once the message may be
acknowledged: the backend acks after it returns, and leaves the message unacked
(redelivered by the broker) only if it raises, which happens when the retry or dead
letter itself could not be recorded.

`publish` keeps an event whose `delayed_until` is still ahead (`ctx.emit({..., "delay"})`)
in the bus's `DelayedEvents` schedule, in the state store, instead of handing it to
`_publish`; the schedule's loop, started with the bus on every replica, publishes it
when due (delayed.py). Backends do nothing for it.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from motia.compiler.ir import App, Step
from motia.errors import MotiaError, ReplayRefused
from motia.runner.bus.delayed import STOP_GRACE, DelayedEvents, is_delayed
from motia.runner.delivery.flow.sequence import Sequencer
from motia.runner.delivery.policy import DeliveryPolicy
from motia.runner.hooks import Hooks
from motia.runner.state.base import DeadLetter, StateStore


class BusClosed(MotiaError, RuntimeError):
    """Raised when an event is published on a bus that is not open (before open, after close)."""


def new_id() -> str:
    """A random 128-bit id as 32 hex digits (uuid4's randomness without building a UUID)."""
    return os.urandom(16).hex()


@dataclass(frozen=True)
class Event:
    """One event as it travels; `attempt` counts deliveries to the consuming step (1-based)."""

    topic: str
    data: Any
    trace_id: str
    event_id: str = field(default_factory=new_id)
    attempt: int = 1
    first_failure: float | None = None
    source: str | None = None  # the emitting step, None for `motia emit`
    time: float = field(default_factory=time.time)
    #: the W3C span id of the publish that sent this event (the parent-id of the
    #: `traceparent` it travels with); None for `motia emit`, a cron tick, a replay
    span_id: str | None = None
    #: the span of the invocation that emitted it (the publish span's parent); local only
    parent_span: str | None = field(default=None, compare=False, repr=False)
    #: when a delayed emit (`"delay"`) is due, epoch seconds; None for one published at once.
    #: Kept after it fired, so traces and handlers' logs can tell it was delayed.
    delayed_until: float | None = None
    #: flow control's per-key sequence numbers, taken when the event was published:
    #: `"<step>.order"` / `"<step>.debounce"` -> n (runner/delivery/flow/sequence.py)
    seqs: Mapping[str, int] | None = None
    #: the TopicSchemas that already judged `data` in this process (ctx.emit, `motia emit`);
    #: delivery skips checking it again against the same ones. Never sent over a wire.
    validated_by: object = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "data": self.data,
            "trace_id": self.trace_id,
            "event_id": self.event_id,
            "attempt": self.attempt,
            "first_failure": self.first_failure,
            "source": self.source,
            "time": self.time,
            "span_id": self.span_id,
            "delayed_until": self.delayed_until,
            "seqs": None if self.seqs is None else dict(self.seqs),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Event:
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})


#: what the runtime registers per event step: run the handler, publish its emits; raise on failure
Consumer = Callable[[Event], Awaitable[None]]


class EventBus(ABC):
    """Delivery rules shared by every backend; see the module docstring for the primitives."""

    kind: str = ""

    def __init__(self, app: App, store: StateStore, hooks: Hooks | None = None) -> None:
        self.app = app
        self.store = store
        self.hooks = hooks or Hooks()
        self._consumers: dict[str, Consumer] = {}
        self._steps: dict[str, Step] = {s.name: s for s in app.steps}
        self.policy = DeliveryPolicy(store, self.hooks, self._send_to)
        #: events published with a delay wait here until due (runner/bus/delayed.py)
        self.delayed = DelayedEvents(store, self._publish_due, self.hooks)
        #: numbers each event per key for the subscribers with `flow.order`/`debounce`
        self.sequencer = Sequencer(app, store)

    # --- lifecycle --------------------------------------------------------------------

    async def open(self) -> None:
        """Connect and declare topology; raise AdapterUnavailable when unreachable."""

    async def ping(self) -> None:
        """Check that the broker is reachable now (the readiness probe asks); raise
        AdapterUnavailable naming it and the fix when not. The memory bus always is."""

    async def depths(self) -> dict[str, int]:
        """Events waiting in each step's queue now (step name -> count), for the
        `motia_queue_depth` gauge; steps the backend cannot count right now are left
        out. The base has no queues to count."""
        return {}

    async def start(self, consumers: Mapping[str, Consumer]) -> None:
        """Begin delivering to `consumers` (step name -> consumer). `{}` publishes only."""
        self._consumers = dict(consumers)
        for name in self._consumers:
            step = self._steps[name]
            await self._consume(step, prefetch=step.workers * step.concurrency)
        self.delayed.start()  # every replica fires due delayed events, whatever its role

    async def close(self, grace: float = 10.0) -> None:
        await self.delayed.stop(min(grace, STOP_GRACE))
        await self._close(grace)

    # --- publishing ---------------------------------------------------------------------

    async def publish(self, events: Sequence[Event]) -> None:
        """Hand `events` to their subscribers; one with `delayed_until` still ahead is kept
        in the schedule instead and published when due. Returns once all are safe. Flow
        control's sequence numbers are taken when an event is published (a delayed one's
        when it is due, so it never holds up the events of its key until then)."""
        if not events:
            return
        events = list(events)
        for event in events:  # a loop, not any(): this is on every publish's path
            if event.delayed_until is not None:
                events = await self._publish_some_later(events)
                break
        else:
            events = list(await self.sequencer.stamp(events))
            await self._publish(events)
        self.hooks.after_publish(events)

    async def _publish_some_later(self, events: list[Event]) -> list[Event]:
        """Schedule the delayed ones, publish the rest now; all of them, in their order."""
        now = time.time()
        later = [e for e in events if is_delayed(e, now)]
        if later:
            await self.delayed.add(later)
        at_once = [e for e in events if not is_delayed(e, now)]
        if not at_once:
            return events
        stamped = list(await self.sequencer.stamp(at_once))
        await self._publish(stamped)
        numbered = iter(stamped)
        return [e if is_delayed(e, now) else next(numbered) for e in events]

    async def _publish_due(self, events: list[Event]) -> None:
        """The schedule's publish of delayed events now due: numbered now, then sent."""
        await self._publish(list(await self.sequencer.stamp(events)))

    async def replay(self, letter: DeadLetter) -> Event:
        """Send a dead letter back to its step as a fresh first attempt. A letter holding a
        message that could not be read is read again first (ReplayRefused if it still
        cannot be)."""
        if letter.raw is not None:
            event = self._reread(letter)
        else:
            event = Event(topic=letter.topic, data=letter.data, trace_id=letter.trace_id,
                          event_id=letter.event_id, attempt=1, source=None)
        await self._send_to(self._steps[letter.step], event, 0.0)
        return event

    def _reread(self, letter: DeadLetter) -> Event:
        """The event an unreadable message's dead letter holds; backends that can receive
        such messages override this with their codec."""
        raise ReplayRefused(f"dead letter {letter.id} holds a message the {self.kind} bus "
                            "cannot read; it was kept")

    # --- delivery (template method) -------------------------------------------------------

    async def _deliver(self, step: Step, event: Event) -> None:
        try:
            await self._consumers[step.name](event)
        except Exception as exc:  # noqa: BLE001 -- every ending is the policy's to decide
            await self.policy.settle(step, event, exc)

    # --- primitives -----------------------------------------------------------------------

    @abstractmethod
    async def _publish(self, events: list[Event]) -> None: ...

    @abstractmethod
    async def _send_to(self, step: Step, event: Event, delay: float) -> None: ...

    @abstractmethod
    async def _consume(self, step: Step, prefetch: int) -> None: ...

    @abstractmethod
    async def _close(self, grace: float) -> None: ...

