"""OpenTelemetry traces, exported over OTLP/HTTP to a recording receiver the test starts
(tests/_otlp_receiver.py: a real OTLP/HTTP server decoding the protobuf with
opentelemetry-proto, since no collector runs here), on the embedded backends.

The replicated case (RabbitMQ + Redis, several processes) is
tests/production/test_observability.py."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from _otlp_receiver import CHECKOUT_TREE, OtlpReceiver, Received, tree
from _runtime_projects import REPO, copy_example

from motia.errors import UsageError
from motia.runner import otel
from motia.testing import TestApp

ORDER = {"customer": "ada@example.com", "currency": "EUR",
         "items": [{"sku": "book", "quantity": 2, "price": 1500}]}
INCOMING = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TRACE_ID, CALLER = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"



@pytest.fixture
async def receiver(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[OtlpReceiver]:
    async with OtlpReceiver() as rx:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", rx.endpoint)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
        monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
        yield rx


@pytest.fixture
def example(tmp_path: Path, node: str) -> Path:
    return copy_example(tmp_path / "shop")


def _receipt_published(spans: list[Received]) -> bool:
    return any(s.name == "publish receipt.sent" for s in spans)


async def test_one_request_through_api_event_event_is_one_trace(
        receiver: OtlpReceiver, example: Path) -> None:
    async with TestApp(example) as app:
        # Given a request that arrives with a W3C traceparent
        res = await app.request("POST", "/orders", json=ORDER, headers={"traceparent": INCOMING})
        assert res.status == 201
        # When the Node.js charge step and the Python receipt step have run
        await app.wait_for_topic("receipt.sent", timeout=15)
        spans = await receiver.wait(_receipt_published, what="the checkout's spans")
        # Then every span is in the caller's trace, parented as the work flowed
        assert {s.trace_id for s in spans} == {TRACE_ID}
        assert tree(spans) == CHECKOUT_TREE
        assert len({s.span_id for s in spans}) == len(spans)  # every span its own id
        server = next(s for s in spans if s.kind == "server")
        assert server.parent == CALLER
        assert server.attributes == {"http.request.method": "POST", "http.route": "/orders",
                                     "http.response.status_code": 201}
        # And the response names the request's span in its own traceparent
        assert res.headers["traceparent"] == f"00-{TRACE_ID}-{server.span_id}-01"
        # And both languages' invocations are spans of the step, with its language
        languages = {s.attributes["motia.step"]: s.attributes["motia.handler.language"]
                     for s in spans if s.name.startswith("invoke ")}
        assert languages == {"create-order": "python", "charge-payment": "node",
                             "send-receipt": "python"}
        assert {s.service for s in spans} == {"shop"}
        # And the trace id is the one the logs and the Workbench show
        assert {r.trace_id for r in app.logs if r.msg == "payment charged"} == {TRACE_ID}
        assert [s.step for s in app.traces.get(TRACE_ID).spans] == [
            "create-order", "charge-payment", "send-receipt"]


async def test_a_new_trace_id_is_the_one_the_response_and_the_workbench_show(
        receiver: OtlpReceiver, example: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "checkout")
    async with TestApp(example) as app:
        # Given a request without any trace header
        res = await app.request("POST", "/orders", json=ORDER)
        trace_id = res.headers["x-trace-id"]
        await app.wait_for_topic("receipt.sent", timeout=15)
        spans = await receiver.wait(_receipt_published, what="the checkout's spans")
        # Then its spans are exported under the id the runtime chose, as the root
        assert {s.trace_id for s in spans} == {trace_id}
        server = next(s for s in spans if s.kind == "server")
        assert server.parent == ""
        assert res.headers["traceparent"] == f"00-{trace_id}-{server.span_id}-01"
        assert app.traces.get(trace_id) is not None
        # And OTEL_SERVICE_NAME names the service
        assert {s.service for s in spans} == {"checkout"}


async def test_a_failed_invocation_is_an_error_span(receiver: OtlpReceiver,
                                                    tmp_path: Path) -> None:
    from _runtime_projects import FIXABLE_FILES, FIXABLE_YAML, write_project

    source = write_project(tmp_path / "fixable", FIXABLE_YAML, FIXABLE_FILES)
    async with TestApp(source) as app:
        # Given an event step that fails twice (retries: 1), then is dead-lettered
        res = await app.request("POST", "/jobs", json={"id": "j1"})
        trace_id = res.headers["x-trace-id"]
        spans = await receiver.wait(
            lambda got: sum(s.name == "deliver job.created" for s in got) == 2,
            what="both deliveries")
        # Then both attempts are error spans naming the error, under one trace
        runs = sorted((s.attributes["motia.attempt"], s.status, s.attributes["error.type"])
                      for s in receiver.of_trace(trace_id) if s.name == "invoke run-job")
        assert runs == [(1, 2, "RuntimeError"), (2, 2, "RuntimeError")]
        deliveries = sorted(s.attributes["motia.outcome"] for s in spans
                            if s.name == "deliver job.created")
        assert deliveries == ["RuntimeError", "RuntimeError"]


def test_traces_are_on_only_when_an_endpoint_is_configured() -> None:
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
    assert otel.exporter({}) is None
    assert otel.exporter(endpoint) == "otlp"
    assert otel.exporter({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}) \
        == "otlp"
    assert otel.exporter({**endpoint, "OTEL_SDK_DISABLED": "true"}) is None
    assert otel.exporter({**endpoint, "OTEL_TRACES_EXPORTER": "none"}) is None
    assert otel.exporter({"OTEL_TRACES_EXPORTER": "console"}) == "console"
    with pytest.raises(UsageError, match=r"^OTEL_TRACES_EXPORTER='zipkin': expected one of "
                                         r"otlp, console, none \(OTLP is sent over "
                                         r"HTTP/protobuf\)$"):
        otel.exporter({"OTEL_TRACES_EXPORTER": "zipkin"})
    assert otel.exporter({**endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}) == "otlp"
    with pytest.raises(UsageError, match=r"^OTEL_EXPORTER_OTLP_PROTOCOL='grpc': Motia exports "
                                         r"OTLP over HTTP only; set it to http/protobuf \(or "
                                         r"unset it\) and point the endpoint at the collector's "
                                         r"OTLP/HTTP port \(4318\)$"):
        otel.exporter({**endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})


def test_with_traces_off_the_sdk_is_never_imported(tmp_path: Path) -> None:
    # Given no OTEL_* variable, When a runtime starts and serves a request in a fresh
    # interpreter, Then no module of the OpenTelemetry SDK was loaded
    source = copy_example(tmp_path / "shop")
    script = f"""
import asyncio, sys
from motia.testing import TestApp

async def main():
    async with TestApp({str(source)!r}) as app:
        assert (await app.request("GET", "/orders/nope")).status == 404
    print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))

asyncio.run(main())
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, cwd=REPO, timeout=60, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_traceparent_is_read_and_written_as_w3c_says() -> None:
    from motia.runner import traceparent

    assert traceparent.parse(INCOMING) == (TRACE_ID, CALLER)
    assert traceparent.parse(" " + INCOMING.upper() + " ") == (TRACE_ID, CALLER)
    for bad in ("", "garbage", f"00-{'0' * 32}-{CALLER}-01", f"00-{TRACE_ID}-{'0' * 16}-01",
                f"00-{TRACE_ID[:-1]}-{CALLER}-01"):
        assert traceparent.parse(bad) is None, bad
    assert traceparent.format(TRACE_ID, CALLER) == INCOMING
    assert traceparent.format("my-own-trace", CALLER) is None  # not a W3C id: not sent on
    assert traceparent.format(TRACE_ID, None) is None


def test_an_amqp_message_carries_the_publish_span_as_traceparent() -> None:
    from motia.runner.bus import _amqp
    from motia.runner.bus.base import Event

    event = Event(topic="t", data={"a": 1}, trace_id=TRACE_ID, span_id=CALLER,
                  parent_span="1111111111111111")
    message = _amqp.encode(event)
    assert message.headers["traceparent"] == INCOMING
    back = _amqp.decode_parts(message.body, message.headers, "t")
    assert (back.trace_id, back.span_id, back.parent_span) == (TRACE_ID, CALLER, None)


async def test_a_delayed_event_is_delivered_under_the_publish_that_scheduled_it(
        receiver: OtlpReceiver, tmp_path: Path) -> None:
    from _runtime_projects import write_project

    yaml = """
        version: 1
        app: later
        topics:
          job.later: {schema: {type: object}}
        flows:
          jobs: {}
        steps:
          schedule: {type: api, method: POST, path: /later, emits: [job.later], flows: [jobs],
                     handler: steps/schedule.py}
          run: {type: event, subscribes: [job.later], flows: [jobs], handler: steps/run.py}
    """
    files = {"steps/schedule.py": """
        async def handler(req, ctx):
            await ctx.emit({"topic": "job.later", "data": {}, "delay": "200ms"})
            return {"status": 202}
    """, "steps/run.py": """
        async def handler(data, ctx):
            pass
    """}
    async with TestApp(write_project(tmp_path / "later", yaml, files)) as app:
        # Given a request whose step emits an event 200 ms later
        res = await app.request("POST", "/later")
        trace_id = res.headers["x-trace-id"]
        # When it has been delivered
        spans = await receiver.wait(lambda got: any(s.name == "invoke run" for s in got),
                                    what="the delayed event's delivery")
        # Then its delivery hangs under the publish of the invocation that scheduled it
        assert tree(receiver.of_trace(trace_id)) == [
            ("POST /later", "server", ""),
            ("deliver job.later", "consumer", "publish job.later"),
            ("invoke run", "internal", "deliver job.later"),
            ("invoke schedule", "internal", "POST /later"),
            ("publish job.later", "producer", "invoke schedule"),
        ]
        assert len(spans) == 5
