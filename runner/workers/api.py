"""What the rest of the runner sees of the worker layer: one call, `pool.invoke`.

The gateway, the bus consumers and the cron loop all run handlers through
`WorkerPool.invoke(step, payload, ctx)`. The pool validates `ctx.emit` calls against the
plan, answers `ctx.state.*` from the store, forwards log lines, and returns the emitted
events with the result; the *caller* publishes them, and only on success (SPEC §4).

Payload by step type:
- api:   {"body", "query", "params", "headers", "method", "path"}  (handler gets `req`)
- event: the validated event data                                   (handler gets `data`)
- cron:  None                                                       (handler gets only `ctx`)
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from motia.compiler.ir import Step


_bits = random.getrandbits  # a span id needs uniqueness, not secrecy: half urandom's cost


def new_span_id() -> str:
    """A random 64-bit W3C span id as 16 hex digits (never all zeros, which W3C forbids)."""
    return "%016x" % (_bits(64) or 1)


@dataclass(frozen=True)
class InvocationContext:
    """The ids a handler sees as ctx.trace_id, ctx.event_id, ctx.attempt, ctx.topic.

    `span_id` names this invocation in a trace and `parent_span` what caused it (the HTTP
    request, the delivery of an event; None for a cron tick): the W3C ids OpenTelemetry
    exports and `traceparent` carries, chosen here so every process agrees on them."""

    trace_id: str
    event_id: str
    attempt: int = 1
    topic: str | None = None
    span_id: str = field(default_factory=new_span_id, compare=False)
    parent_span: str | None = field(default=None, compare=False)
    #: a middleware's `next()`: runs the rest of the chain, returns the response as
    #: {"status", "body", "headers"} (None: not a middleware invocation)
    next: Callable[[], Awaitable[dict[str, Any]]] | None = field(
        default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Emit:
    """An event a handler emitted, already validated against the plan; `id` is the event
    id the handler set (`ctx.emit({..., "id": ...})`), None for a derived one; `delay` the
    seconds it asked to be published later by (`"delay"`), None to publish at once."""

    topic: str
    data: Any
    id: str | None = None
    delay: float | None = None


@dataclass
class InvocationResult:
    """The handler's return value and the events it emitted, in emit order."""

    value: Any
    emits: list[Emit] = field(default_factory=list)
    duration: float = 0.0


class StreamCalls(Protocol):
    """What answers a handler's `ctx.streams.*` calls (runner/streams/hub.py's StreamHub)."""

    async def call(self, step: Step, op: str, args: list[Any]) -> Any: ...
