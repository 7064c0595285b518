"""A recording OTLP/HTTP trace receiver for the tests (no OpenTelemetry Collector runs on
our CI machines, so the tests start this instead of one).

It is a real HTTP server speaking the OTLP/HTTP protocol: `POST /v1/traces` with an
`ExportTraceServiceRequest` protobuf body (gzip or not), decoded with opentelemetry-proto,
answered with an empty `ExportTraceServiceResponse`. Every span received is kept as a
`Received` row with hex ids, so tests compare ids with the ones in logs and headers.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

KINDS = {Span.SPAN_KIND_SERVER: "server", Span.SPAN_KIND_CLIENT: "client",
         Span.SPAN_KIND_PRODUCER: "producer", Span.SPAN_KIND_CONSUMER: "consumer",
         Span.SPAN_KIND_INTERNAL: "internal"}


@dataclass
class Received:
    """One exported span as the receiver decoded it."""

    name: str
    kind: str
    trace_id: str
    span_id: str
    parent: str  # "" for a root span
    service: str
    start: int
    end: int
    status: int  # 0 unset, 1 ok, 2 error
    attributes: dict[str, Any] = field(default_factory=dict)
    resource: dict[str, Any] = field(default_factory=dict)


class OtlpReceiver:
    """`async with OtlpReceiver() as rx:`; point OTEL_EXPORTER_OTLP_TRACES_ENDPOINT at
    `rx.endpoint`; `await rx.wait(lambda spans: ...)` for what the test expects."""

    def __init__(self) -> None:
        self.spans: list[Received] = []
        self.requests = 0
        self._runner: web.AppRunner | None = None
        self.endpoint = ""

    async def __aenter__(self) -> OtlpReceiver:
        app = web.Application()
        app.router.add_post("/v1/traces", self._export)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.endpoint = f"http://127.0.0.1:{port}/v1/traces"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _export(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        message = ExportTraceServiceRequest()
        message.ParseFromString(body)
        self.requests += 1
        for resource_spans in message.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    self.spans.append(Received(
                        name=span.name, kind=KINDS.get(span.kind, str(span.kind)),
                        trace_id=span.trace_id.hex(), span_id=span.span_id.hex(),
                        parent=span.parent_span_id.hex(),
                        service=str(resource.get("service.name", "")),
                        start=span.start_time_unix_nano, end=span.end_time_unix_nano,
                        status=span.status.code,
                        attributes={a.key: _value(a.value) for a in span.attributes},
                        resource=resource))
        return web.Response(body=ExportTraceServiceResponse().SerializeToString(),
                            content_type="application/x-protobuf")

    def of_trace(self, trace_id: str) -> list[Received]:
        return [s for s in self.spans if s.trace_id == trace_id]

    async def wait(self, done: Callable[[list[Received]], bool], timeout: float = 30.0,
                   what: str = "the expected spans") -> list[Received]:
        deadline = time.monotonic() + timeout
        while not done(self.spans):
            if time.monotonic() > deadline:
                names = sorted((s.trace_id[:8], s.name) for s in self.spans)
                raise AssertionError(f"{what} not received in {timeout:g} s; got {names}")
            await asyncio.sleep(0.05)
        return self.spans


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return None if kind is None else getattr(value, kind)


def tree(spans: list[Received]) -> list[tuple[str, str, str]]:
    """(name, kind, parent's name) of every span, sorted: the shape of a trace."""
    by_id = {s.span_id: s for s in spans}
    return sorted((s.name, s.kind, by_id[s.parent].name if s.parent in by_id else
                   ("<remote>" if s.parent else "")) for s in spans)


#: the example app's POST /orders -> order.placed (Node.js) -> payment.charged (Python)
CHECKOUT_TREE = [
    ("POST /orders", "server", "<remote>"),
    ("deliver order.placed", "consumer", "publish order.placed"),
    ("deliver payment.charged", "consumer", "publish payment.charged"),
    ("invoke charge-payment", "internal", "deliver order.placed"),
    ("invoke create-order", "internal", "POST /orders"),
    ("invoke send-receipt", "internal", "deliver payment.charged"),
    ("publish order.placed", "producer", "invoke create-order"),
    ("publish payment.charged", "producer", "invoke charge-payment"),
    ("publish receipt.sent", "producer", "invoke send-receipt"),
    ("state get", "client", "invoke send-receipt"),
    ("state incr", "client", "invoke charge-payment"),
    ("state incr", "client", "invoke charge-payment"),
    ("state set", "client", "invoke charge-payment"),
    ("state set", "client", "invoke create-order"),
    ("state set", "client", "invoke send-receipt"),
    ("state update", "client", "invoke send-receipt"),
]
