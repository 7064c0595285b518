"""How a delivery that did not simply succeed ends: the one home of retries and dead letters.

Every bus and the cron loop hand each delivery's exception to `DeliveryPolicy.settle`:

- `Skip`   the delivery needed no run (a duplicate): the skip hook, nothing else;
- `Defer`  put it back after `delay` seconds with the same attempt number (not a failure);
- `Reject` a dead letter now (data that breaks its schema can never succeed);
- any other exception is a failed attempt: the next one after the step's backoff, or,
  after `retries` retries, a dead letter with the error.

The policy puts an event back through its `requeue` function (a bus's `_send_to`, the
cron loop's timer), so a waiting event never holds a worker slot. When `settle` itself
raises (the retry or the dead letter could not be recorded) the caller keeps the event
for redelivery (a broker nack, a memory bus re-send): nothing is dropped.
"""

from __future__ import annotations

import base64
import math
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from motia.compiler.ir import Step
from motia.errors import InvocationError
from motia.runner.delivery.base import Defer, Reject, Skip
from motia.runner.hooks import Hooks
from motia.runner.state.base import DeadLetter, StateStore
from motia.runner.workers.api import InvocationContext

if TYPE_CHECKING:
    from motia.runner.bus.base import Event

Requeue = Callable[[Step, "Event", float], Awaitable[None]]

UNREADABLE = "UnreadableMessage"
#: raw bodies longer than this are kept truncated in their dead letter (bytes)
RAW_BODY_LIMIT = 64 * 1024


class DeliveryPolicy:
    """Retries with backoff, deferrals and dead letters for one bus (or the cron loop)."""

    def __init__(self, store: StateStore, hooks: Hooks, requeue: Requeue) -> None:
        self.store = store
        self.hooks = hooks
        self.requeue = requeue

    async def settle(self, step: Step, event: Event, exc: Exception) -> None:
        """End a delivery that raised `exc` (see the module docstring)."""
        if isinstance(exc, Skip):
            self.hooks.after_skip(step.name, context_of(event), exc.reason)
        elif isinstance(exc, Defer):
            await self.requeue(step, event, exc.delay)
            self.hooks.after_defer(step.name, event, exc.delay, exc.reason)
        elif isinstance(exc, Reject):
            await self.dead_letter(step, event, exc.error, attempts=event.attempt - 1)
        elif event.attempt <= step.retries:
            delay = step.backoff.delay(event.attempt)
            retry = replace(event, attempt=event.attempt + 1,
                            first_failure=event.first_failure or time.time())
            await self.requeue(step, retry, delay)
            self.hooks.after_retry_scheduled(step.name, retry, delay, str(exc),
                                             error_type(exc))
        else:
            await self.dead_letter(step, event, error_record(exc), attempts=event.attempt)

    async def dead_letter(self, step: Step, event: Event, error: dict[str, Any], *,
                          attempts: int) -> DeadLetter:
        letter = DeadLetter(
            step=step.name, topic=event.topic, data=event.data, event_id=event.event_id,
            trace_id=event.trace_id, attempts=attempts, error=error,
        )
        await self.store.add_dead_letter(letter)
        self.hooks.after_dead_letter(letter)
        return letter

    async def unreadable(self, step: Step, raw: dict[str, Any], reason: str) -> DeadLetter:
        """A dead letter for a message the bus could not turn into an event (see `raw_record`)."""
        headers = raw.get("headers") or {}
        letter = DeadLetter(
            step=step.name, topic=str(headers.get("topic") or raw.get("routing_key") or ""),
            data=None, event_id=str(headers.get("event_id") or raw.get("message_id") or ""),
            trace_id=str(headers.get("trace_id") or ""), attempts=0,
            error={"type": UNREADABLE, "message": reason, "traceback": ""}, raw=raw,
        )
        await self.store.add_dead_letter(letter)
        self.hooks.after_dead_letter(letter)
        return letter


def context_of(event: Event) -> InvocationContext:
    return InvocationContext(trace_id=event.trace_id, event_id=event.event_id,
                             attempt=event.attempt, topic=event.topic or None)


def error_type(exc: BaseException) -> str:
    """The class name of what failed an attempt (the handler's own for a handler error)."""
    return exc.type if isinstance(exc, InvocationError) else type(exc).__name__


def error_record(exc: BaseException) -> dict[str, Any]:
    """The {type, message, traceback} kept with a dead letter."""
    if isinstance(exc, InvocationError):
        return {"type": exc.type, "message": exc.message, "traceback": exc.traceback}
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return {"type": type(exc).__name__, "message": str(exc), "traceback": tb}


def raw_record(body: bytes, headers: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """What a dead letter keeps of an unreadable message: its body (UTF-8 text when it is,
    base64 otherwise; cut at RAW_BODY_LIMIT bytes), its headers as text, and `extra`
    (routing key, message id)."""
    kept = body[:RAW_BODY_LIMIT]
    try:
        text, encoding = kept.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(kept).decode("ascii"), "base64"
    return {"body": text, "encoding": encoding, "size": len(body),
            "truncated": len(body) > RAW_BODY_LIMIT,
            "headers": {str(k): _plain(v) for k, v in headers.items()}, **extra}


def raw_body(raw: Mapping[str, Any]) -> bytes:
    """The body bytes a `raw_record` kept (the first RAW_BODY_LIMIT of them)."""
    text = str(raw.get("body", ""))
    return base64.b64decode(text) if raw.get("encoding") == "base64" else text.encode()


def _plain(value: Any) -> Any:
    """A header value as JSON: bytes as text (or base64), nested tables and lists kept."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
