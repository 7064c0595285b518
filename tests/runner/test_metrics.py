"""Prometheus metrics on the embedded backends: `/metrics` on the gateway's port and on
the ops port (`--metrics-port`) of roles without HTTP, parsed with prometheus-client's own
parser; every counter moves by exactly what the test caused. The RabbitMQ + Redis case
with several replicas is tests/production/test_observability.py."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest
from _runtime_projects import FIXABLE_FILES, FIXABLE_YAML, copy_example, write_project
from prometheus_client.parser import text_string_to_metric_families

from motia.compiler import compile_project
from motia.compiler.ir import App
from motia.runner.app import Runtime
from motia.runner.config import RunConfig
from motia.runner.metrics import MAX_REASONS, Metrics, reason_label

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """{(sample name, labels): value} of a /metrics answer (its `_created` samples left out)."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples
            if not s.name.endswith("_created")}


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def scrape(url: str) -> tuple[Samples, str]:
    async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as response:
        assert response.status == 200
        return parse(await response.text()), response.headers["Content-Type"]


async def until(check: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@pytest.fixture
def fixable(tmp_path: Path) -> App:
    app: App = compile_project(write_project(tmp_path, FIXABLE_YAML, FIXABLE_FILES)).app
    return app


async def test_counters_move_by_exactly_the_requests_invocations_retries_and_dead_letters(
        fixable: App) -> None:
    # Given the app whose event step fails until fixed (retries: 1), on the embedded backends
    config = RunConfig(state="memory", port=0, log_format="none")
    async with Runtime(fixable, config) as runtime, aiohttp.ClientSession() as http:
        # When 3 jobs are posted, 1 request is invalid and 1 goes to no route
        for job in ("a", "b", "c"):
            async with http.post(runtime.url + "/jobs", json={"id": job}) as res:
                assert res.status == 202
        async with http.post(runtime.url + "/jobs", json={"nope": 1}) as res:
            assert res.status == 400
        async with http.get(runtime.url + "/jobs/a/nowhere") as res:
            assert res.status == 404

        async def dead_lettered() -> bool:
            return len(await runtime.dead_letters()) == 3

        await until(dead_lettered)
        samples, content_type = await scrape(runtime.url)
    # Then the text is Prometheus' and each series counts exactly what happened
    assert content_type.startswith("text/plain; version=")
    assert value(samples, "motia_http_responses_total",
                 method="POST", route="/jobs", status="202") == 3
    assert value(samples, "motia_http_responses_total",
                 method="POST", route="/jobs", status="400") == 1
    assert value(samples, "motia_http_responses_total",
                 method="GET", route="unmatched", status="404") == 1
    assert value(samples, "motia_invocations_total", step="create-job") == 3
    assert value(samples, "motia_invocations_total", step="run-job") == 6  # 2 attempts each
    assert value(samples, "motia_invocation_failures_total",
                 step="run-job", error="RuntimeError") == 6
    assert value(samples, "motia_invocation_failures_total",
                 step="create-job", error="RuntimeError") is None
    assert value(samples, "motia_invocation_duration_seconds_count", step="create-job") == 3
    assert value(samples, "motia_invocation_duration_seconds_bucket",
                 step="run-job", le="+Inf") == 6
    assert value(samples, "motia_events_published_total", topic="job.created") == 3
    assert value(samples, "motia_retries_total", step="run-job", reason="RuntimeError") == 3
    assert value(samples, "motia_dead_letters_total", step="run-job", reason="RuntimeError") == 3
    assert value(samples, "motia_queue_depth", step="run-job") == 0
    # And no label holds an id or a job's value
    labels = {v for (_, pairs) in samples for _, v in pairs}
    assert not {"a", "b", "c"} & labels


async def test_routes_are_counted_by_their_template_not_the_filled_in_path(
        tmp_path: Path, node: str) -> None:
    # Given the example app with GET /orders/{id}
    app = compile_project(copy_example(tmp_path / "shop")).app
    async with Runtime(app, RunConfig(state="memory", port=0, log_format="none")) as runtime, \
            aiohttp.ClientSession() as http:
        # When three different orders are asked for
        for order in ("o1", "o2", "o3"):
            async with http.get(f"{runtime.url}/orders/{order}") as res:
                assert res.status == 404  # none exists: the handler answers 404
        samples, _ = await scrape(runtime.url)
    # Then they are one series, under the route template
    routes = {dict(pairs)["route"] for (name, pairs) in samples
              if name == "motia_http_responses_total"}
    assert routes == {"/orders/{id}"}
    assert value(samples, "motia_http_responses_total",
                 method="GET", route="/orders/{id}", status="404") == 3


async def test_a_workers_replica_serves_its_metrics_on_the_ops_port(fixable: App) -> None:
    # Given a workers-role replica with an ops server, consuming the embedded bus
    config = RunConfig(state="memory", role="workers", metrics_port=0, log_format="none")
    async with Runtime(fixable, config) as runtime:
        assert runtime.port is None and runtime.ops_url
        # When an event is emitted into it (the way `motia emit` does) and dead-lettered
        await runtime.emit("job.created", {"id": "x"})

        async def dead_lettered() -> bool:
            return len(await runtime.dead_letters()) == 1

        await until(dead_lettered)
        samples, _ = await scrape(runtime.ops_url)
    # Then its own ops port counts the two attempts, the retry and the dead letter
    assert value(samples, "motia_invocations_total", step="run-job") == 2
    assert value(samples, "motia_retries_total", step="run-job", reason="RuntimeError") == 1
    assert value(samples, "motia_dead_letters_total", step="run-job", reason="RuntimeError") == 1
    assert value(samples, "motia_events_published_total", topic="job.created") == 1


async def test_two_replicas_in_one_process_each_count_only_their_own(fixable: App) -> None:
    config = RunConfig(state="memory", port=0, log_format="none")
    async with Runtime(fixable, config) as one, Runtime(fixable, config) as two, \
            aiohttp.ClientSession() as http:
        async with http.post(one.url + "/jobs", json={"id": "1"}) as res:
            assert res.status == 202
        first, _ = await scrape(one.url)
        second, _ = await scrape(two.url)
    assert value(first, "motia_invocations_total", step="create-job") == 1
    assert value(second, "motia_invocations_total", step="create-job") is None


async def test_metrics_can_be_turned_off(fixable: App) -> None:
    config = RunConfig.resolve({"state": "memory", "port": 0, "log_format": "none"},
                               env={"MOTIA_METRICS": "0"})
    assert config.metrics is False
    async with Runtime(fixable, config) as runtime, aiohttp.ClientSession() as http:
        assert runtime.metrics is None
        async with http.get(runtime.url + "/metrics") as res:
            assert res.status == 404  # no such route: it is the steps' catch-all answering


def test_free_text_reasons_become_bounded_labels() -> None:
    assert reason_label("exited with code 3 (killed: OOM)") == "exited with code N"
    assert reason_label("state store unreachable: redis at 127.0.0.1:6379") == (
        "state store unreachable")
    assert reason_label("") == "unknown"
    metrics = Metrics()
    for n in range(MAX_REASONS + 5):
        metrics.after_worker_exited("s", n, f"reason{chr(97 + n)}")
    metrics.after_worker_exited("s", 1, "was stopped")  # asked for: not a restart
    reasons = {s.labels["reason"] for f in text_string_to_metric_families(
        asyncio.run(metrics.render()).decode()) for s in f.samples
        if s.name == "motia_worker_restarts_total"}
    assert len(reasons) == MAX_REASONS + 1 and "other" in reasons


GATED_YAML = """
    version: 1
    app: gated
    topics:
      job.created: {schema: {type: object}}
    flows:
      jobs: {}
    steps:
      run-job:
        type: event
        subscribes: [job.created]
        workers: 1
        concurrency: 1
        flows: [jobs]
        handler: steps/run_job.py
"""
GATED_FILES = {
    "steps/run_job.py": """
        import asyncio

        async def handler(job, ctx):
            while not await ctx.state.get("gate", "open"):
                await asyncio.sleep(0.02)
    """,
}


async def test_queue_depth_counts_the_events_waiting_at_scrape_time(tmp_path: Path) -> None:
    # Given a step that runs one event at a time and holds it until a gate opens
    app = compile_project(write_project(tmp_path, GATED_YAML, GATED_FILES)).app
    config = RunConfig(state="memory", role="workers", metrics_port=0, log_format="none")
    async with Runtime(app, config) as runtime:
        assert runtime.ops_url and runtime.store is not None
        # When 5 events arrive while the first one is held
        for n in range(5):
            await runtime.emit("job.created", {"n": n})

        async def holding() -> bool:
            samples, _ = await scrape(runtime.ops_url or "")
            return value(samples, "motia_invocations_total", step="run-job") == 1

        await until(holding)
        # Then 4 wait in the queue
        samples, _ = await scrape(runtime.ops_url)
        assert value(samples, "motia_queue_depth", step="run-job") == 4
        # And once the gate opens, none do
        await runtime.store.set("gate", "open", True)

        async def drained() -> bool:
            samples, _ = await scrape(runtime.ops_url or "")
            return value(samples, "motia_queue_depth", step="run-job") == 0 and value(
                samples, "motia_invocation_duration_seconds_count", step="run-job") == 5

        await until(drained)


async def test_a_killed_worker_counts_as_a_restart_with_its_reason(fixable: App) -> None:
    import os
    import signal

    # Given a replica whose workers are started at boot
    config = RunConfig(state="memory", port=0, log_format="none", eager=True)
    async with Runtime(fixable, config) as runtime:
        pids = [w.pid for w in runtime.pool.workers if w.pid]
        assert pids
        # When one worker process is killed from outside
        os.kill(pids[0], signal.SIGKILL)

        async def counted() -> bool:
            samples, _ = await scrape(runtime.url)
            return any(name == "motia_worker_restarts_total" for name, _ in samples)

        await until(counted)
        samples, _ = await scrape(runtime.url)
    # Then one restart is counted, its reason the signal, not the pid
    restarts = {dict(labels)["reason"]: v for (name, labels), v in samples.items()
                if name == "motia_worker_restarts_total"}
    assert restarts == {"was killed by SIGKILL": 1}


async def test_flow_control_waits_are_counted_per_step_and_rule_never_per_key(
        tmp_path: Path) -> None:
    # Given the gated step with `flow: {concurrency: {limit: 1}}`: a held event keeps its slot
    yaml = GATED_YAML.replace("        concurrency: 1\n",
                              "        concurrency: 4\n        flow:\n"
                              "          concurrency: {limit: 1, key: k}\n")
    app = compile_project(write_project(tmp_path, yaml, GATED_FILES)).app
    config = RunConfig(state="memory", role="workers", metrics_port=0, log_format="none")
    async with Runtime(app, config) as runtime:
        assert runtime.ops_url and runtime.store is not None
        # When two events of one key arrive while the first is held
        await runtime.emit("job.created", {"k": "customer-42"})
        await runtime.emit("job.created", {"k": "customer-42"})

        async def deferred() -> bool:
            samples, _ = await scrape(runtime.ops_url or "")
            return (value(samples, "motia_deferrals_total", step="run-job",
                          reason="flow.concurrency") or 0) >= 1

        await until(deferred)
        await runtime.store.set("gate", "open", True)
        samples, _ = await scrape(runtime.ops_url)
    # Then the wait is counted under the rule's name, and the key is no label
    reasons = {dict(labels)["reason"] for name, labels in samples
               if name == "motia_deferrals_total"}
    assert reasons == {"flow.concurrency"}
    assert "customer-42" not in {v for _, labels in samples for _, v in labels}
