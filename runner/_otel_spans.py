"""OpenTelemetry spans built from the runtime hooks, exported over OTLP/HTTP.

Imported only when traces are on (runner/otel.py). Every span is made when its hook
reports the thing already done, with the times and the W3C ids the runtime chose:

    HTTP request (SERVER)            after_request, span = the request's, parent = traceparent
      invoke <step> (INTERNAL)       after_invoke, span = ctx.span_id, parent = ctx.parent_span
        state <op> (CLIENT)          after_state_op, parent = the invocation
        publish <topic> (PRODUCER)   after_publish, span = event.span_id, parent = the invocation
          deliver <topic> (CONSUMER) after_deliver (any process), parent = event.span_id
            invoke <step> ...

The ids are not the SDK's: `_GivenIds` hands the tracer the id of the span being made,
so the trace id a span is exported with is the one in the logs, the Workbench and the
`x-trace-id` header, and a delivery in another process finds its parent by the
`traceparent` the event carried. Each `Runtime` has its own TracerProvider (never the
global one), flushed when it stops. Hooks run on the event loop, one at a time, so
setting the next ids and starting the span cannot interleave.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode

from motia.runner import traceparent
from motia.runner.hooks import Hooks

if TYPE_CHECKING:
    from motia.compiler.ir import App
    from motia.runner.bus.base import Event
    from motia.runner.workers.api import InvocationContext

_SAMPLED = trace.TraceFlags(trace.TraceFlags.SAMPLED)
#: how a delivery that ended without running to success still went as planned
_NOT_ERRORS = frozenset({"ok", "Skip", "Defer"})


class _GivenIds(RandomIdGenerator):
    """The next span's ids as the runtime chose them; random when none are set."""

    def __init__(self) -> None:
        self.trace_id = 0
        self.span_id = 0

    def generate_trace_id(self) -> int:
        return self.trace_id or super().generate_trace_id()

    def generate_span_id(self) -> int:
        chosen, self.span_id = self.span_id, 0
        return chosen or super().generate_span_id()


class OtelSpans(Hooks):
    """Exports one span per request, invocation, publish, delivery and state operation."""

    def __init__(self, plan: Callable[[], App], role: str, *, console: bool = False) -> None:
        self._plan = plan
        app = plan()
        attributes: dict[str, Any] = {"motia.app": app.name, "motia.role": role}
        if not os.environ.get("OTEL_SERVICE_NAME"):
            attributes["service.name"] = app.name
        self._ids = _GivenIds()
        self.provider = TracerProvider(resource=Resource.create(attributes),
                                       id_generator=self._ids)
        exporter: SpanExporter = ConsoleSpanExporter() if console else _otlp()
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self._tracer = self.provider.get_tracer("motia")
        self._messaging = "motia"

    def set_bus(self, kind: str) -> None:
        """The bus these events travel on (`messaging.system`: rabbitmq, memory)."""
        self._messaging = kind

    def close(self) -> None:
        """Export what is buffered and stop (blocking: call it off the event loop)."""
        self.provider.shutdown()

    # --- hooks ----------------------------------------------------------------------------

    def after_request(self, method: str, route: str, status: int, start: float,
                      duration: float, trace_id: str, span_id: str,
                      parent_span: str | None) -> None:
        attributes: dict[str, Any] = {"http.request.method": method,
                                      "http.response.status_code": status}
        if route:
            attributes["http.route"] = route
        self._span(f"{method} {route}" if route else method, SpanKind.SERVER, trace_id,
                   span_id, parent_span, start, start + duration, attributes,
                   f"HTTP {status}" if status >= 500 else None)

    def after_invoke(
        self, step: str, ctx: InvocationContext, duration: float, error: BaseException | None
    ) -> None:
        end = time.time()
        attributes: dict[str, Any] = {"motia.step": step, "motia.event_id": ctx.event_id,
                                      "motia.attempt": ctx.attempt,
                                      "motia.handler.language": self._language(step)}
        if ctx.topic:
            attributes["motia.topic"] = ctx.topic
        failed = None
        if error is not None:
            kind = getattr(error, "type", None) or type(error).__name__
            attributes["error.type"] = kind
            failed = f"{kind}: {getattr(error, 'message', None) or error}"
        self._span(f"invoke {step}", SpanKind.INTERNAL, ctx.trace_id, ctx.span_id,
                   ctx.parent_span, end - duration, end, attributes, failed)

    def after_state_op(self, step: str, ctx: InvocationContext, op: str, args: list[Any]) -> None:
        now = time.time()
        op = op.removeprefix("state.")
        attributes: dict[str, Any] = {"motia.step": step, "motia.state.op": op}
        if args and isinstance(args[0], str):
            attributes["motia.state.group"] = args[0]
        self._span(f"state {op}", SpanKind.CLIENT, ctx.trace_id, None, ctx.span_id, now, now,
                   attributes)

    def after_publish(self, events: list[Event]) -> None:
        now = time.time()
        for event in events:
            if event.span_id is None:
                continue  # sent on again (a retry, a replay): its publish span exists
            self._span(f"publish {event.topic}", SpanKind.PRODUCER, event.trace_id,
                       event.span_id, event.parent_span, min(event.time, now), now,
                       self._message(event, "publish"))

    def after_deliver(self, step: str, event: Event, span_id: str, start: float,
                      duration: float, outcome: str) -> None:
        attributes = self._message(event, "process")
        attributes.update({"motia.step": step, "motia.attempt": event.attempt,
                           "motia.outcome": outcome})
        self._span(f"deliver {event.topic}", SpanKind.CONSUMER, event.trace_id, span_id,
                   event.span_id, start, start + duration, attributes,
                   None if outcome in _NOT_ERRORS else outcome)

    # --- internals ------------------------------------------------------------------------

    def _span(self, name: str, kind: SpanKind, trace_id: str, span_id: str | None,
              parent: str | None, start: float, end: float, attributes: dict[str, Any],
              error: str | None = None) -> None:
        ids = self._ids
        ids.trace_id = _trace_int(trace_id, attributes)
        ids.span_id = int(span_id, 16) if span_id else 0
        context = Context()  # never the caller's current span: the parent is explicit
        if parent:
            context = trace.set_span_in_context(NonRecordingSpan(SpanContext(
                ids.trace_id, int(parent, 16), is_remote=True, trace_flags=_SAMPLED)), context)
        span = self._tracer.start_span(name, context=context, kind=kind, attributes=attributes,
                                       start_time=int(start * 1e9))
        ids.trace_id = ids.span_id = 0
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end(end_time=int(max(end, start) * 1e9))

    def _message(self, event: Event, operation: str) -> dict[str, Any]:
        return {"messaging.system": self._messaging, "messaging.operation.type": operation,
                "messaging.destination.name": event.topic,
                "messaging.message.id": event.event_id}

    def _language(self, step: str) -> str:
        try:
            handler = self._plan().step(step).handler
        except KeyError:
            return "unknown"
        return "unknown" if handler is None else str(handler.language)


def _trace_int(trace_id: str, attributes: dict[str, Any]) -> int:
    """The trace id as OTel's 128-bit integer; a client's own `x-trace-id` that is not a
    W3C id is hashed to one, and kept as the `motia.trace_id` attribute."""
    if traceparent.is_w3c_trace_id(trace_id):
        return int(trace_id, 16)
    attributes["motia.trace_id"] = trace_id
    return int(hashlib.blake2b(trace_id.encode(), digest_size=16).hexdigest(), 16) or 1


def _otlp() -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers, timeout and compression from OTEL_*
