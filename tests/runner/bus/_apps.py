"""Small Apps and a recording consumer for the bus tests, built straight from the plan IR."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from motia.compiler.ir import App, Backoff, Handler, Step, Topic
from motia.runner.bus.base import Consumer, Event

FAST = Backoff(0.05, 2, 0.2)


def unique_name() -> str:
    """A fresh app name, so tests sharing one broker never see each other's queues."""
    return f"t{uuid.uuid4().hex[:10]}"


def event_step(name: str, *topics: str, retries: int = 3, workers: int = 1,
               concurrency: int = 8, backoff: Backoff = FAST) -> Step:
    return Step(name=name, type="event", subscribes=topics, retries=retries, backoff=backoff,
                workers=workers, concurrency=concurrency, handler=Handler(f"steps/{name}.py"))


def noop_step(name: str, *topics: str) -> Step:
    return Step(name=name, type="noop", subscribes=topics)


def make_app(*steps: Step, name: str | None = None) -> App:
    topics = sorted({t for s in steps for t in s.subscribes})
    return App(name=name or unique_name(), root="/tmp", topics=tuple(Topic(t) for t in topics),
               steps=steps)


def event(topic: str = "orders", data: object = None, source: str | None = None) -> Event:
    return Event(topic=topic, data={"n": 1} if data is None else data, trace_id="trace-1",
                 source=source)


@dataclass
class Recorder:
    """Consumers that record what each step received; `fail` decides per event to raise."""

    fail: Callable[[str, Event], Exception | None] = lambda step, ev: None
    hold: float = 0.0
    gate: asyncio.Event | None = None  # when set, consumers wait for it before finishing
    received: list[tuple[str, Event]] = field(default_factory=list)
    inflight: Counter[str] = field(default_factory=Counter)
    max_inflight: Counter[str] = field(default_factory=Counter)
    finished: list[tuple[str, Event]] = field(default_factory=list)

    def consumer(self, step: str) -> Consumer:
        async def consume(ev: Event) -> None:
            self.received.append((step, ev))
            self.inflight[step] += 1
            self.max_inflight[step] = max(self.max_inflight[step], self.inflight[step])
            try:
                if self.gate is not None:
                    await self.gate.wait()
                if self.hold:
                    await asyncio.sleep(self.hold)
                error = self.fail(step, ev)
                if error is not None:
                    raise error
                self.finished.append((step, ev))
            finally:
                self.inflight[step] -= 1

        return consume

    def consumers(self, *steps: str) -> dict[str, Consumer]:
        return {s: self.consumer(s) for s in steps}

    def of(self, step: str) -> list[Event]:
        return [ev for s, ev in self.received if s == step]


async def eventually(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    """Wait until `predicate()` holds; fail the test with a clear message after `timeout`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)
