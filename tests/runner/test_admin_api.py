"""The admin API under /__motia/api/ (notes/ADMIN_API.md) and the runtime roles."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from _runtime_projects import FIXABLE_FILES, FIXABLE_YAML, services, write_project

from motia.compiler import compile_project
from motia.compiler.ir import App
from motia.errors import UsageError
from motia.runner.app import Runtime
from motia.runner.config import RunConfig
from motia.testing import TestApp


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path, FIXABLE_YAML, FIXABLE_FILES)


async def test_app_describes_the_plan_graph_layout_and_mermaid(project: Path) -> None:
    async with TestApp(project) as app:
        body = (await app.request("GET", "/__motia/api/app")).json
        assert {"plan", "graph", "mermaid"} <= set(body)
        assert [s["name"] for s in body["plan"]["steps"]] == ["create-job", "run-job"]
        assert body["mermaid"].startswith(("flowchart", "graph", "%%"))
        assert "step:run-job" in {n["id"] for n in body["graph"]["nodes"]}


async def test_state_can_be_listed_read_written_and_deleted(project: Path) -> None:
    async with TestApp(project) as app:
        base = "/__motia/api/state"
        assert (await app.request("PUT", f"{base}/carts/c1", json={"n": 2})).json == {
            "value": {"n": 2}}
        assert (await app.request("GET", base)).json == {"groups": ["carts"]}
        assert (await app.request("GET", f"{base}/carts")).json == {
            "group": "carts", "items": {"c1": {"n": 2}}, "cursor": None}
        assert (await app.request("GET", f"{base}/carts/c1")).json == {"value": {"n": 2}}
        assert (await app.request("DELETE", f"{base}/carts/c1")).json == {"deleted": True}
        assert (await app.request("GET", f"{base}/carts/c1")).json == {"value": None}
        reserved = await app.request("GET", f"{base}/__motia.dlq")
        assert reserved.status == 400 and "reserved" in reserved.json["error"]["message"]


async def test_a_group_is_read_in_key_order_a_page_at_a_time(project: Path) -> None:
    async with TestApp(project) as app:
        base = "/__motia/api/state/users"
        for key in ("u:3", "u:1", "admin", "u:2"):
            await app.state.set("users", key, key.upper())
        # Without limit: every key, in order; with prefix: only those
        whole = (await app.request("GET", base)).json
        assert list(whole["items"]) == ["admin", "u:1", "u:2", "u:3"]
        assert whole["cursor"] is None
        # With limit: one page and the cursor of the next
        first = (await app.request("GET", f"{base}?prefix=u:&limit=2")).json
        assert (first["items"], type(first["cursor"])) == ({"u:1": "U:1", "u:2": "U:2"}, str)
        rest = (await app.request(
            "GET", f"{base}?prefix=u:&limit=2&cursor={first['cursor']}")).json
        assert rest == {"group": "users", "items": {"u:3": "U:3"}, "cursor": None}
        # Bad paging parameters are a 400 that says what to send
        for query, message in [
            ("limit=many", "state.list limit 'many': expected a whole number from 1 to 1000"),
            ("limit=0", "state.list limit 0: expected a whole number from 1 to 1000"),
            ("cursor=%3F%3F", "state.list cursor '??': not a cursor state.list returned; "
                              'pass the "cursor" of the previous page, or None for the first page'),
        ]:
            bad = await app.request("GET", f"{base}?{query}")
            assert (bad.status, bad.json["error"]["message"]) == (400, message)


async def test_logs_are_filtered_and_streamed_live(project: Path) -> None:
    async with TestApp(project) as app, aiohttp.ClientSession() as session:
        await app.state.set("config", "fixed", True)
        async with session.get(f"{app.url}/__motia/api/logs/stream?step=create-job") as stream:
            assert stream.headers["Content-Type"] == "text/event-stream"
            assert await stream.content.readline() == b": connected\n"
            await stream.content.readline()
            res = await app.request("POST", "/jobs", json={"id": "live"})
            line = await asyncio.wait_for(stream.content.readline(), 5)
            record = json.loads(line.removeprefix(b"data: "))
            assert record["step"] == "create-job"
            assert record["trace_id"] == res.headers["x-trace-id"]
        await app.wait_for_topic("job.created")
        logs = (await app.request("GET", "/__motia/api/logs?step=create-job&limit=5")).json
        assert logs["logs"] and all(r["step"] == "create-job" for r in logs["logs"])
        errors = (await app.request("GET", "/__motia/api/logs?level=error")).json["logs"]
        assert all(r["level"] == "error" for r in errors)


async def test_dead_letters_of_a_step_replay_all_at_once(project: Path) -> None:
    async with TestApp(project) as app:
        for n in range(3):
            await app.emit("job.created", {"id": f"j{n}"})
        await app.wait_for_topic("job.created", count=3)
        assert len((await app.request("GET", "/__motia/api/dlq")).json["dead_letters"]) == 3
        await app.state.set("config", "fixed", True)
        replayed = (await app.request("POST", "/__motia/api/dlq/replay?step=run-job")).json
        assert len(replayed["replayed"]) == 3
        await app.wait_until(lambda: _done(app, 3))


async def _done(app: TestApp, n: int) -> bool:
    return len(await app.state.get_group("done")) == n


@pytest.fixture
async def shared_app(project: Path) -> AsyncIterator[App]:
    """The project's plan under a unique app name, for roles sharing the real RabbitMQ
    (its exchange and queues are deleted afterwards)."""
    services().require_service("rabbitmq")
    app = dataclasses.replace(compile_project(project).app, name=f"t{uuid.uuid4().hex[:10]}")
    yield app
    import aio_pika

    from motia.runner.bus.rabbitmq import RabbitMQBus
    from motia.runner.state.memory import MemoryStore

    async with await aio_pika.connect(services().AMQP_URL) as connection:
        channel = await connection.channel()
        for name in RabbitMQBus(app, MemoryStore(app.name)).queue_names():
            await channel.queue_delete(name)
        await channel.exchange_delete(f"motia.{app.name}")


def _role(role: str, **options: object) -> RunConfig:
    return RunConfig(events="rabbitmq", amqp_url=services().AMQP_URL, state="memory", port=0, role=role,
                     log_format="none", **options)  # type: ignore[arg-type]


async def test_the_gateway_role_publishes_and_the_workers_role_consumes(shared_app: App) -> None:
    gateway = Runtime(shared_app, _role("gateway"))
    async with gateway:
        assert gateway.port and gateway.scheduler is None
        assert gateway.bus is not None and gateway.bus._consumers == {}
    workers = Runtime(shared_app, _role("workers"))
    async with workers:
        assert workers.port is None and workers.gateway is None
        assert workers.bus is not None and set(workers.bus._consumers) == {"run-job"}


@pytest.mark.parametrize("role", ["gateway", "cron"])
async def test_a_publishing_role_on_the_memory_bus_is_refused_with_the_fix(
    project: Path, role: str
) -> None:
    # Given a gateway (or cron) replica on the in-process event bus
    runtime = Runtime(compile_project(project).app,
                      RunConfig(state="memory", port=0, role=role, log_format="none"))
    # When it starts, Then it refuses, says why and how to fix it, and started nothing
    with pytest.raises(UsageError) as refused:
        await runtime.start()
    assert str(refused.value) == (
        f"--role {role} with the memory event bus: the events it publishes would wait in "
        "this process's memory, where no step consumes them; use --events rabbitmq "
        "(MOTIA_AMQP_URL) with a shared --state so the workers role receives them, or "
        "--role all to run every part in one process")
    assert runtime.store is None and runtime.pool is None


@pytest.mark.parametrize(("role", "warm"), [
    ("gateway", {"create-job"}), ("workers", {"run-job"}), ("all", {"create-job", "run-job"}),
])
async def test_eager_warms_only_the_steps_the_role_runs(
    shared_app: App, role: str, warm: set[str]
) -> None:
    # Given --eager on a replica with one role
    app = shared_app
    config = _role(role, eager=True)
    # When it has started, Then only the steps of that role have worker processes
    async with Runtime(app, config) as runtime:
        stats = runtime.pool.stats()
        assert {step for step, s in stats.items() if s["pids"]} == warm


async def test_off_loopback_the_admin_api_needs_the_workbench_token(project: Path) -> None:
    async with TestApp(project, host="0.0.0.0", token="s3cret") as app:
        port = app.url.rsplit(":", 1)[1]
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/__motia/api/health") as res:
                assert res.status == 401
                assert (await res.json())["error"]["type"] == "Unauthorized"
            headers = {"Authorization": "Bearer s3cret"}
            async with session.get(f"{base}/__motia/api/health", headers=headers) as res:
                assert res.status == 200
            # every admin and Workbench route is guarded, and its errors stay JSON
            async with session.get(f"{base}/__motia/", allow_redirects=False) as res:
                assert res.status == 401
            async with session.get(f"{base}/__motia/api/traces/nope", headers=headers) as res:
                assert res.status == 404
                assert (await res.json())["error"]["type"] == "NotFound"
            # the mutating Workbench endpoints too: Run now, replay, delete
            for method, path in (("POST", "/__motia/api/cron/any/run"),
                                 ("POST", "/__motia/api/dlq/x/replay"),
                                 ("DELETE", "/__motia/api/dlq/x")):
                async with session.request(method, base + path) as res:
                    assert res.status == 401, path
            async with session.post(f"{base}/jobs", json={"id": "open"}) as res:
                assert res.status == 202  # the app's own API is not behind the token


async def test_a_port_in_use_is_a_clear_error_and_nothing_is_left_running(project: Path) -> None:
    from motia.errors import AdapterUnavailable

    async with TestApp(project) as first:
        port = int(first.url.rsplit(":", 1)[1])
        app = compile_project(project).app
        second = Runtime(app, RunConfig(state="memory", port=port, log_format="none"))
        with pytest.raises(AdapterUnavailable, match=rf"cannot listen on http://127.0.0.1:{port}: "
                                                     r".*; pick another port with --port"):
            await second.start()
        assert second.pool is not None and second.pool.closing  # unwound
