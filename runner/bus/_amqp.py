"""RabbitMQ names and the event <-> AMQP message codec, kept apart from the bus logic.

Everything an app declares is named `motia.<app>` (its topic exchange) or
`motia.<app>.<step>[...]` (queues), so several apps share one broker without clashing.
An event travels as a persistent message whose body is the event's data as JSON and
whose headers carry the rest of the envelope (ids, attempt, first failure, source, time,
and the W3C `traceparent` of the publish that sent it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from motia.compiler.ir import Step
from motia.runner import traceparent
from motia.runner.bus.base import Event

CONTENT_TYPE = "application/json"


def exchange_name(app: str) -> str:
    return f"motia.{app}"


def queue_name(app: str, step: str) -> str:
    return f"motia.{app}.{step}"


def retry_queue_name(app: str, step: str, delay: float) -> str:
    """One retry queue per distinct delay: a TTL queue only expires messages at its head."""
    return f"{queue_name(app, step)}.retry.{delay_ms(delay)}"


def delay_ms(delay: float) -> int:
    return max(round(delay * 1000), 1)


def retry_delays(step: Step) -> list[float]:
    """Every backoff delay `step` can wait before a retry (capped by backoff.max, so few)."""
    delays: set[float] = set()
    for n in range(1, step.retries + 1):
        delay = step.backoff.delay(n)
        if delay in delays and delay >= step.backoff.max:
            break
        delays.add(delay)
    return sorted(delays)


def retry_queue_arguments(app: str, step: str, delay: float) -> dict[str, Any]:
    """A retry queue holds a failed event for `delay`, then dead-letters it back to the step."""
    return {
        "x-message-ttl": delay_ms(delay),
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": queue_name(app, step),
    }


def encode(event: Event) -> aio_pika.Message:
    headers: dict[str, Any] = {
        "event_id": event.event_id,
        "trace_id": event.trace_id,
        "attempt": event.attempt,
        "topic": event.topic,
        "time": repr(event.time),  # text: AMQP tables would narrow a float to 32 bits
    }
    if event.first_failure is not None:
        headers["first_failure"] = repr(event.first_failure)
    if event.source is not None:
        headers["source"] = event.source
    parent = traceparent.format(event.trace_id, event.span_id)
    if parent is not None:
        headers[traceparent.HEADER] = parent
    if event.delayed_until is not None:
        headers["delayed_until"] = repr(event.delayed_until)
    if event.seqs:
        headers["seqs"] = json.dumps(dict(event.seqs), separators=(",", ":"))
    return aio_pika.Message(
        json.dumps(event.data, separators=(",", ":")).encode(),
        content_type=CONTENT_TYPE,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=event.event_id,
        headers=headers,
    )


def decode(message: AbstractIncomingMessage) -> Event:
    """The event a message carries; ValueError saying why when it is not a Motia event."""
    return decode_parts(message.body, message.headers or {}, message.routing_key or "")


def decode_parts(body: bytes, headers: Mapping[str, Any], routing_key: str) -> Event:
    """`decode` on a message's parts (a dead letter keeps them to be read again)."""
    try:
        first_failure = headers.get("first_failure")
        source = headers.get("source")
        parent = traceparent.parse(_text(headers.get(traceparent.HEADER) or ""))
        delayed_until = headers.get("delayed_until")
        seqs = headers.get("seqs")
        event = Event(
            topic=_text(headers.get("topic") or routing_key),
            data=json.loads(body),
            trace_id=_text(headers["trace_id"]),
            event_id=_text(headers["event_id"]),
            attempt=int(_text(headers.get("attempt", 1))),
            first_failure=None if first_failure is None else float(_text(first_failure)),
            source=None if source is None else _text(source),
            time=float(_text(headers.get("time", "0"))),
            span_id=None if parent is None else parent[1],
            delayed_until=None if delayed_until is None else float(_text(delayed_until)),
            seqs=None if seqs is None else _seqs(json.loads(_text(seqs))),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(unreadable_reason(body, headers, exc)) from None
    if event.attempt < 1:
        raise ValueError(f"header 'attempt' must be a whole number from 1, got {event.attempt}")
    return event


def _seqs(raw: object) -> dict[str, int]:
    if not isinstance(raw, dict) or not all(isinstance(v, int) for v in raw.values()):
        raise ValueError(f"header 'seqs' is not an object of whole numbers: {raw!r}")
    return {str(k): int(v) for k, v in raw.items()}


def unreadable_reason(body: bytes, headers: Mapping[str, Any], exc: Exception) -> str:
    """Why a message is not a Motia event, in words (the slow path, only on failure)."""
    try:
        json.loads(body)
    except ValueError as error:
        return f"the body is not JSON ({error}); Motia events are JSON documents"
    missing = [name for name in ("trace_id", "event_id") if name not in headers]
    if missing:
        return (f"the message has no {' and no '.join(repr(m) for m in missing)} header: it "
                "was not published by Motia (publish with `motia emit` or the admin API)")
    for name, parse in (("attempt", int), ("first_failure", float), ("time", float),
                        ("delayed_until", float)):
        if name in headers:
            try:
                parse(_text(headers[name]))
            except (TypeError, ValueError):
                return f"header {name!r} is not a number: {headers[name]!r}"
    return f"not a Motia event message ({type(exc).__name__}: {exc})"


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def reason(exc: BaseException) -> str:
    """An exception as `Type: message` for one log line or error message."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
