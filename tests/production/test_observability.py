"""Metrics and traces across real replicas on RabbitMQ + Redis: a gateway replica and two
workers replicas (`motia run --role ...` processes), each with its own `/metrics` (the
workers on `--metrics-port`), all exporting spans to one recording OTLP/HTTP receiver the
test starts (tests/_otlp_receiver.py; no collector runs on our CI machines)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp
import pytest
from _otlp_receiver import CHECKOUT_TREE, OtlpReceiver, Received, tree
from conftest import REPO
from prometheus_client.parser import text_string_to_metric_families

from ._cluster import Cluster, Replica

pytestmark = pytest.mark.services

ORDER = {"customer": "ada@example.com", "currency": "EUR",
         "items": [{"sku": "book", "quantity": 2, "price": 1500}]}
INCOMING = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID, CALLER = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"

FIXABLE_YAML = """
    version: 1
    app: {app}
    defaults: {retries: 1, backoff: {initial: 50ms, factor: 1, max: 50ms}, timeout: 5s}
    schemas:
      Job: {type: object, required: [id], properties: {id: {type: string}}}
    topics:
      job.created: {schema: Job}
    flows:
      jobs: {}
    steps:
      create-job: {type: api, method: POST, path: /jobs, body: Job, emits: [job.created],
                   flows: [jobs], handler: steps/create_job.py}
      run-job: {type: event, subscribes: [job.created], flows: [jobs],
                handler: steps/run_job.py}
"""
FIXABLE_FILES = {
    "steps/create_job.py": """
        async def handler(req, ctx):
            await ctx.emit({"topic": "job.created", "data": req.body})
            return {"status": 202, "body": {"queued": req.body["id"]}}
    """,
    "steps/run_job.py": """
        async def handler(job, ctx):
            raise RuntimeError(f"job {job['id']} cannot run")
    """,
}


def example_project() -> tuple[str, dict[str, str]]:
    """The repository's example app as (motia.yaml with `{app}`, its handler files)."""
    yaml = (REPO / "motia.yaml").read_text().replace("app: shop", "app: {app}", 1)
    files = {str(p.relative_to(REPO)): p.read_text()
             for folder in ("steps", "schemas") for p in (REPO / folder).rglob("*")
             if p.is_file()}
    return yaml, files


async def metrics(replica: Replica) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    url = replica.ops_url if replica.ops_url and not replica.serves_http else replica.url
    async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as res:
        assert res.status == 200
        text = await res.text()
    return {(s.name, frozenset(s.labels.items())): s.value
            for f in text_string_to_metric_families(text) for s in f.samples
            if not s.name.endswith("_created")}


def total(scrapes: list[dict[tuple[str, frozenset[tuple[str, str]]], float]], name: str,
          **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return sum(s.get(key, 0.0) for s in scrapes)


async def until(check: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():  # type: ignore[misc]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def start(cluster: Cluster, yaml: str, files: dict[str, str],
                env: dict[str, str]) -> tuple[Replica, list[Replica]]:
    project = cluster.project(yaml, files)
    replicas = await cluster.start(project, roles=("gateway", "workers", "workers"),
                                   metrics=True, env=env)
    return replicas[0], replicas[1:]


async def test_one_request_is_one_trace_across_the_gateway_and_two_workers_replicas(
        cluster: Cluster) -> None:
    async with OtlpReceiver() as receiver:
        # Given a gateway and two workers replicas of the example app exporting spans
        yaml, files = example_project()
        env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.endpoint,
               "OTEL_BSP_SCHEDULE_DELAY": "100"}
        gateway, workers = await start(cluster, yaml, files, env)
        # When one order arrives with a W3C traceparent
        async with aiohttp.ClientSession() as http, http.post(
                gateway.url + "/orders", json=ORDER, headers={"traceparent": INCOMING}) as res:
            assert res.status == 201
            returned = res.headers["traceparent"]

        def complete(spans: list[Received]) -> bool:
            # three processes export on their own schedules: wait for every span, not
            # for the last one to be made (the gateway's may arrive after it)
            return len([s for s in spans if s.trace_id == TRACE_ID]) >= len(CHECKOUT_TREE)

        await receiver.wait(complete, timeout=30, what="the checkout's spans")
        spans = receiver.of_trace(TRACE_ID)
        # Then the spans of every process form one trace under the caller's span
        assert tree(spans) == CHECKOUT_TREE
        server = next(s for s in spans if s.kind == "server")
        assert server.parent == CALLER
        assert returned == f"00-{TRACE_ID}-{server.span_id}-01"
        # And the request's spans came from the gateway, the deliveries from the workers
        roles = {s.name: s.resource["motia.role"] for s in spans}
        assert roles["POST /orders"] == roles["publish order.placed"] == "gateway"
        assert roles["deliver order.placed"] == roles["invoke send-receipt"] == "workers"
        assert {s.attributes["messaging.system"] for s in spans
                if s.kind in ("producer", "consumer")} == {"rabbitmq"}


async def test_counters_add_up_across_replicas_on_rabbitmq_and_redis(cluster: Cluster) -> None:
    # Given a gateway and two workers replicas whose event step always fails (retries: 1)
    gateway, workers = await start(cluster, FIXABLE_YAML, FIXABLE_FILES, {})
    # When 4 jobs are posted
    async with aiohttp.ClientSession() as http:
        for n in range(4):
            async with http.post(gateway.url + "/jobs", json={"id": f"j{n}"}) as res:
                assert res.status == 202

    async def all_dead_lettered() -> bool:
        return total([await metrics(w) for w in workers], "motia_dead_letters_total",
                     step="run-job", reason="RuntimeError") == 4

    await until(all_dead_lettered)
    front = await metrics(gateway)
    back = [await metrics(w) for w in workers]
    # Then the gateway counted the requests, its invocations and its publishes
    assert total([front], "motia_http_responses_total",
                 method="POST", route="/jobs", status="202") == 4
    assert total([front], "motia_invocations_total", step="create-job") == 4
    assert total([front], "motia_events_published_total", topic="job.created") == 4
    # And the workers replicas between them every attempt, retry and dead letter, once
    assert total(back, "motia_invocations_total", step="run-job") == 8
    assert total(back, "motia_invocation_failures_total",
                 step="run-job", error="RuntimeError") == 8
    assert total(back, "motia_retries_total", step="run-job", reason="RuntimeError") == 4
    assert total([front], "motia_invocations_total", step="run-job") == 0
    # And every replica reports the (now empty) queue of the step from the broker
    for scrape in (front, *back):
        assert scrape[("motia_queue_depth", frozenset({("step", "run-job")}))] == 0


CRON_YAML = """
    version: 1
    app: {app}
    flows:
      clock: {}
    steps:
      every-second: {type: cron, cron: "* * * * * *", flows: [clock], handler: steps/tick.py}
"""
CRON_FILES = {"steps/tick.py": """
    async def handler(ctx):
        await ctx.state.incr("ticks", "n", 1)
"""}


async def test_a_cron_replica_serves_its_metrics_on_its_ops_port(cluster: Cluster) -> None:
    # Given a cron-role replica (no HTTP of its own) with --metrics-port
    project = cluster.project(CRON_YAML, CRON_FILES)
    (replica,) = await cluster.start(project, roles=("cron",), metrics=True)
    assert not replica.serves_http and replica.ops_url

    # When its cron step has fired a few times
    async def fired() -> bool:
        return total([await metrics(replica)], "motia_invocations_total",
                     step="every-second") >= 3

    await until(fired)
    # Then its ops port counts the ticks, timed, and none failed
    scrape = await metrics(replica)
    count = total([scrape], "motia_invocation_duration_seconds_count", step="every-second")
    assert count >= 3
    assert [labels for name, labels in scrape if name == "motia_invocation_failures_total"] == []
