"""A bounded, in-process trace store fed by the runtime hooks.

A trace is everything one API request or cron tick caused: one span per step
invocation (its timings, the events it emitted, the state it touched, its error). The
store keeps the newest `limit` traces (500 by default) and forgets the oldest, so a
long-running app never grows without bound. The admin API (`/__motia/api/traces`) and
the Workbench read it; nothing else depends on it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from motia.runner.hooks import Hooks

if TYPE_CHECKING:
    from motia.runner.bus.base import Event
    from motia.runner.state.base import DeadLetter
    from motia.runner.workers.api import InvocationContext

MAX_TRACES = 500
MAX_SPANS = 200  # per trace: a runaway fan-out must not eat the memory either
MAX_STATE_OPS = 100  # per span


@dataclass(slots=True)
class Span:
    """One invocation of one step (one attempt)."""

    step: str
    event_id: str
    topic: str | None
    attempt: int
    start: float
    end: float | None = None
    status: str = "running"  # running | ok | error
    error: dict[str, Any] | None = None
    #: {topic, event_id}, with `delayed_until` (and `fired` once published) for a delayed one
    emits: list[dict[str, Any]] = field(default_factory=list)
    state_ops: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "step": self.step, "event_id": self.event_id, "topic": self.topic,
            "attempt": self.attempt, "start": self.start, "end": self.end,
            "duration": None if self.end is None else self.end - self.start,
            "status": self.status, "emits": list(self.emits), "state_ops": list(self.state_ops),
        }
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass(slots=True)
class Trace:
    """Everything one request, cron tick or `motia emit` caused, and what became of it.

    Its `status` is where the story ended: "error" while a dead letter of it waits or the
    latest attempt of some event failed (an attempt a retry made good does not count),
    "running" while a latest attempt still runs, "done" once every dead letter was
    replayed and the replays succeeded, else "ok". `story()` tells how it got there
    (failed attempts, dead letters, replays, the end) in time order, for the Workbench.
    """

    trace_id: str
    started: float
    spans: list[Span] = field(default_factory=list)
    dead_letters: list[str] = field(default_factory=list)
    replayed: list[str] = field(default_factory=list)
    #: the cron step whose tick started this trace (None for a request or an event)
    cron: str | None = None
    notes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        if set(self.dead_letters) - set(self.replayed):
            return "error"
        latest: dict[tuple[str, str], Span] = {}
        for span in self.spans:
            key = (span.step, span.event_id)
            if key not in latest or span.attempt >= latest[key].attempt:
                latest[key] = span
        if any(span.status == "error" for span in latest.values()):
            return "error"
        if any(span.status == "running" for span in latest.values()):
            return "running"
        return "done" if self.replayed else "ok"

    @property
    def ended(self) -> float:
        ends = [s.end for s in self.spans if s.end is not None]
        return max(ends, default=self.started)

    def summary(self) -> dict[str, Any]:
        steps = list(dict.fromkeys(s.step for s in self.spans))
        return {
            "trace_id": self.trace_id, "started": self.started,
            "duration": self.ended - self.started, "steps": steps,
            "status": self.status, "root": self.cron or (steps[0] if steps else None),
            "spans": len(self.spans), "cron": self.cron,
            "failed": sum(s.status == "error" for s in self.spans),
            "replayed": len(self.replayed),
        }

    def story(self) -> list[dict[str, Any]]:
        """Failed attempts, dead letters and replays in time order, then how it ended."""
        told = list(self.notes)  # recorded as the hooks saw it happen: in order already
        status = self.status
        if told and status != "error":
            told.append({"kind": status, "time": self.ended, "step": None})
        return told

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary(), "spans": [s.to_dict() for s in self.spans],
                "story": self.story()}


class TraceStore(Hooks):
    """Builds traces from `before_invoke`/`after_invoke`/`after_publish`/... hooks."""

    def __init__(self, limit: int = MAX_TRACES) -> None:
        self.limit = limit
        self._traces: OrderedDict[str, Trace] = OrderedDict()
        self._open: dict[tuple[str, str, int], Span] = {}

    # --- queries ------------------------------------------------------------------------

    def get(self, trace_id: str) -> Trace | None:
        return self._traces.get(trace_id)

    def recent(self, limit: int = 50) -> list[Trace]:
        """Newest first (by the time the trace started)."""
        newest = sorted(self._traces.values(), key=lambda t: t.started, reverse=True)
        return newest[: max(limit, 0)]

    def __len__(self) -> int:
        return len(self._traces)

    def __contains__(self, trace_id: object) -> bool:
        return trace_id in self._traces

    def clear(self) -> None:
        self._traces.clear()
        self._open.clear()

    # --- hooks --------------------------------------------------------------------------

    def before_invoke(self, step: str, ctx: InvocationContext, payload: Any) -> None:
        # on every request's and every event's path: one clock read, no helper calls
        now = time.time()
        trace = self._traces.get(ctx.trace_id)
        if trace is None:
            trace = self._traces[ctx.trace_id] = Trace(ctx.trace_id, now)
            if len(self._traces) > self.limit:
                self._evict()
        span = Span(step, ctx.event_id, ctx.topic, ctx.attempt, now)
        if len(trace.spans) < MAX_SPANS:
            trace.spans.append(span)
        self._open[(step, ctx.event_id, ctx.attempt)] = span

    def after_invoke(
        self, step: str, ctx: InvocationContext, duration: float, error: BaseException | None
    ) -> None:
        span = self._open.pop((step, ctx.event_id, ctx.attempt), None)
        if span is None:
            return
        span.end = span.start + duration if duration else time.time()
        span.status = "ok" if error is None else "error"
        if error is not None:
            span.error = _error(error)
            trace = self._traces.get(ctx.trace_id)
            if trace is not None:
                _note(trace, {"kind": "failed", "time": span.end, "step": step,
                              "attempt": span.attempt, "error": span.error})

    def after_state_op(self, step: str, ctx: InvocationContext, op: str, args: list[Any]) -> None:
        span = self._open.get((step, ctx.event_id, ctx.attempt))
        if span is None or len(span.state_ops) >= MAX_STATE_OPS:
            return
        op = op.removeprefix("state.")  # workers report "state.get"; the API says "get"
        record: dict[str, Any] = {"op": op, "group": args[0] if args else None}
        if len(args) > 1 and op not in ("get_group", "clear", "list"):
            record["key"] = args[1]
        span.state_ops.append(record)

    def after_publish(self, events: list[Event]) -> None:
        for event in events:
            trace = self._traces.get(event.trace_id)
            if trace is None or event.source is None:
                continue
            span = _latest(trace, event.source)
            if span is not None:
                emit: dict[str, Any] = {"topic": event.topic, "event_id": event.event_id}
                if event.delayed_until is not None:
                    emit["delayed_until"] = event.delayed_until
                span.emits.append(emit)

    def after_delay_fired(self, event: Event, late: float) -> None:
        """Mark the delayed emit as published (`fired`, epoch s) on the emitting span."""
        trace = self._traces.get(event.trace_id)
        if trace is None or event.source is None:
            return
        for span in reversed(trace.spans):
            for emit in span.emits:
                if emit["event_id"] == event.event_id and "fired" not in emit:
                    emit["fired"] = time.time()
                    return

    def after_dead_letter(self, letter: DeadLetter) -> None:
        trace = self._traces.get(letter.trace_id)
        if trace is not None:
            trace.dead_letters.append(letter.id)
            _note(trace, {"kind": "dead_letter", "time": time.time(), "step": letter.step,
                          "letter": letter.id})

    def after_replay(self, letter: DeadLetter, event: Event) -> None:
        trace = self._traces.get(letter.trace_id)
        if trace is not None:
            trace.replayed.append(letter.id)
            _note(trace, {"kind": "replayed", "time": time.time(), "step": letter.step,
                          "letter": letter.id, "edited": event.data != letter.data})

    def after_cron_fired(self, step: str, scheduled: float, trace_id: str) -> None:
        trace = self._traces.get(trace_id)
        if trace is None:
            trace = self._traces[trace_id] = Trace(trace_id, time.time())
            if len(self._traces) > self.limit:
                self._evict()
        trace.cron = step

    # --- internals ------------------------------------------------------------------------

    def _evict(self) -> None:
        """Forget the oldest traces beyond the limit, and their spans still open."""
        while len(self._traces) > self.limit:
            for span in self._traces.popitem(last=False)[1].spans:
                self._open.pop((span.step, span.event_id, span.attempt), None)


def _note(trace: Trace, note: dict[str, Any]) -> None:
    if len(trace.notes) < MAX_SPANS:  # a letter replayed in a loop must not eat memory
        trace.notes.append(note)


def _latest(trace: Trace, step: str) -> Span | None:
    for span in reversed(trace.spans):
        if span.step == step:
            return span
    return None


def _error(error: BaseException) -> dict[str, Any]:
    to_dict = getattr(error, "to_dict", None)
    if callable(to_dict):
        return dict(to_dict())
    return {"type": type(error).__name__, "message": str(error)}
