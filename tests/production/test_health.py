"""Readiness follows the real services: it fails while Redis or RabbitMQ is out of reach
and comes back by itself, without restarting `motia run`; the first SIGTERM turns it off.

Redis: the test starts its own redis-server on a free port (never the shared one), kills
it and starts it again on the same port. RabbitMQ: the replica gets its own virtual host;
the test closes only that replica's connection (found by pid and connection name) and,
while it keeps the vhost's permissions cleared, the replica cannot reconnect; setting them
back lets it. Nothing else on the shared broker is touched.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import require_service

from ._cluster import Project, eventually, free_port, rabbitmqctl

pytestmark = pytest.mark.services

HEALTH_YAML = """
    version: 1
    app: {app}
    schemas:
      Job: {type: object, required: [id], properties: {id: {type: string}}}
    topics:
      job.created: {schema: Job}
    flows:
      jobs: {}
    steps:
      create-job:
        type: api
        method: POST
        path: /jobs
        body: Job
        emits: [job.created]
        flows: [jobs]
        handler: steps/create_job.py
      run-job:
        type: event
        subscribes: [job.created]
        timeout: 30s
        flows: [jobs]
        handler: steps/run_job.py
"""

HEALTH_FILES = {
    "steps/create_job.py": """
        async def handler(req, ctx):
            await ctx.emit({"topic": "job.created", "data": req.body})
            return {"status": 202, "body": req.body}
    """,
    # A slow job: it says when it started, so the test can stop the replica mid-job.
    "steps/run_job.py": """
        import asyncio, pathlib

        async def handler(job, ctx):
            pathlib.Path(job["id"] + ".started").write_text("yes")
            await asyncio.sleep(4)
    """,
}


class RedisServer:
    """A redis-server of this test's own, on a free port, that keeps nothing on disk."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.root = root
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.root)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await eventually(self._answers, 20, every=0.05, what=f"redis on port {self.port}")

    async def _answers(self) -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return False
        writer.close()
        return True

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class Motia:
    """One `motia run` subprocess of a project, probed on its ops port."""

    def __init__(self, project: Project, *args: str) -> None:
        self.project = project
        self.ops_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOTIA_")}
        env.update(MOTIA_GRACE="20", PYTHONUNBUFFERED="1")
        self.log = project.root / "motia.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "motia", "run", str(project.root), "--metrics-port",
                 str(self.ops_port), *args], stdout=out, stderr=subprocess.STDOUT, env=env,
                cwd=project.root)

    @property
    def ops(self) -> str:
        return f"http://127.0.0.1:{self.ops_port}"

    async def readyz(self) -> tuple[int, dict[str, Any]]:
        async with aiohttp.ClientSession() as session, session.get(
                self.ops + "/readyz", timeout=aiohttp.ClientTimeout(total=10)) as response:
            return response.status, await response.json()

    async def wait_for(self, status: int, timeout: float = 60) -> dict[str, Any]:
        """The first /readyz report answered with `status`."""
        async def check() -> dict[str, Any] | None:
            assert self.proc.poll() is None, self.log.read_text(errors="replace")
            try:
                got, body = await self.readyz()
            except aiohttp.ClientError:
                return None
            return body if got == status else None

        found: dict[str, Any] = await eventually(check, timeout, every=0.1,
                                                 what=f"/readyz {status}")
        return found

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "app", HEALTH_YAML, HEALTH_FILES)


@pytest.fixture
async def redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    if shutil.which("redis-server") is None:
        reason = "redis-server is not on PATH (this test starts a Redis of its own)"
        if os.environ.get("MOTIA_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason} and MOTIA_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(reason)
    server = RedisServer(tmp_path)
    await server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def motia() -> Iterator[list[Motia]]:
    started: list[Motia] = []
    yield started
    for replica in started:
        replica.stop()


async def test_readiness_fails_while_redis_is_down_and_recovers_by_itself(
        project: Project, redis: RedisServer, motia: list[Motia]) -> None:
    # Given a workers replica keeping its state in our own Redis, ready
    replica = Motia(project, "--role", "workers", "--state", "redis", "--state-url", redis.url)
    motia.append(replica)
    ready = await replica.wait_for(200)
    assert ready["checks"]["state"] == {"ok": True, "kind": "redis", "url": redis.url}
    # When Redis dies
    redis.kill()
    # Then /readyz answers 503 naming Redis, its URL and the fix
    down = await replica.wait_for(503)
    assert down["not_ready"] == ["state"]
    state = down["checks"]["state"]
    assert state["ok"] is False and state["kind"] == "redis"
    assert state["error"].startswith(f"Redis state store at {redis.url} is unreachable (")
    assert state["error"].endswith("); start Redis or pass --state-url / MOTIA_STATE_URL")
    # When Redis is back on the same port, Then readiness returns without a restart
    await redis.start()
    await replica.wait_for(200)
    assert replica.proc.poll() is None


async def test_readiness_fails_while_the_broker_connection_is_gone(
        project: Project, motia: list[Motia]) -> None:
    require_service("rabbitmq")
    # Given a gateway replica on a vhost of its own, ready
    vhost = f"motia-health-{project.app}"
    await rabbitmqctl("add_vhost", vhost)
    try:
        await rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        url = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
        replica = Motia(project, "--role", "gateway", "--port", str(free_port()),
                        "--events", "rabbitmq", "--amqp-url", url, "--state", "memory")
        motia.append(replica)
        ready = await replica.wait_for(200)
        masked = f"amqp://guest:***@127.0.0.1:5672/{vhost}"
        assert ready["checks"]["events"] == {"ok": True, "kind": "rabbitmq", "url": masked}
        # When its connection is closed (and reconnecting is refused for now)
        await rabbitmqctl("clear_permissions", "-p", vhost, "guest")
        await _close_connections_of(replica.proc.pid, project.app)
        # Then /readyz answers 503 naming RabbitMQ, its URL without the password, the fix
        down = await replica.wait_for(503)
        assert down["not_ready"] == ["events"]
        error = down["checks"]["events"]["error"]
        assert error.startswith(f"RabbitMQ at {masked} is not connected (")
        assert error.endswith("); reconnecting by itself every 1 s: check the broker is up")
        assert "guest:guest" not in str(down)
        # When the broker takes it again, Then readiness returns without a restart
        await rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        await replica.wait_for(200)
    finally:
        for replica in motia:
            replica.stop()
        await rabbitmqctl("delete_vhost", vhost)


async def test_the_first_sigterm_turns_readiness_off_while_work_drains(
        project: Project, motia: list[Motia]) -> None:
    # Given a replica (all roles, embedded backends) in the middle of a 4-second job
    port = free_port()
    replica = Motia(project, "--port", str(port), "--state", "memory")
    motia.append(replica)
    await replica.wait_for(200)
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{port}/jobs", json={"id": "slow"}) as r:
            assert r.status == 202
    await eventually(lambda: (project.root / "slow.started").exists(), 30,
                     what="the slow job to start")
    # When it gets SIGTERM
    replica.proc.send_signal(signal.SIGTERM)
    # Then the very next probe is a 503 saying it is draining, while it still drains
    status, body = await replica.readyz()
    assert (status, body["not_ready"], body["checks"]["lifecycle"]) == (503, ["lifecycle"], {
        "ok": False, "phase": "draining",
        "error": "stopping: in-flight work is draining and no new work is taken"})
    assert replica.proc.poll() is None
    # And it exits 0 once the job is done
    assert await asyncio.to_thread(replica.proc.wait, 30) == 0


async def _close_connections_of(pid: int, app: str) -> None:
    """Close the AMQP connections named `motia.<app>:<pid>` (the replica's), and no other."""
    name = f'"motia.{app}:{pid}"'
    listing = await rabbitmqctl("list_connections", "pid", "client_properties")
    pids = [line.split("\t")[0] for line in listing.splitlines() if name in line]
    assert pids, f"no connection named {name} in:\n{listing}"
    for connection in pids:
        await rabbitmqctl("close_connection", connection, "test")
