"""Real `motia run` replicas for the production tests: start, probe, kill, stop, clean up.

A `Project` is a motia.yaml plus handler files written into tmp_path under a unique app
name, so its exchange `motia.<app>`, its queues `motia.<app>.<step>` and its Redis keys
`motia:{<app>}:*` never collide with another test or another user of the shared broker.
A `Replica` is one `python -m motia run` subprocess of that project on its own port;
`Cluster` owns every replica a test started and, at the end, stops them with SIGTERM and
deletes the app's broker topology and state.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
from conftest import AMQP_URL, POSTGRES_URL, REDIS_URL

from motia.compiler.ir import App
from motia.runner.state.base import StateStore

STATE_URLS = {"redis": REDIS_URL, "postgres": POSTGRES_URL}
READY = "Press Ctrl+C to stop."
HEALTH = "/__motia/api/health"
GRACE = 5.0  # MOTIA_GRACE of every replica: how long SIGTERM may drain


class Project:
    """A generated project: `root/motia.yaml` (with `{app}` filled in) and its handlers."""

    def __init__(self, root: Path, yaml: str, files: dict[str, str]) -> None:
        self.root = root
        self.app = f"pt{uuid.uuid4().hex[:10]}"
        root.mkdir(parents=True, exist_ok=True)
        self.source = root / "motia.yaml"
        self.source.write_text(textwrap.dedent(yaml).lstrip().replace("{app}", self.app))
        for rel, text in files.items():
            self.write(rel, text)

    def write(self, rel: str, text: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())

    def plan(self) -> App:
        from motia.compiler import compile_project

        app: App = compile_project(self.source).app
        return app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_pids(pid: int) -> dict[int, str]:
    """The descendants of `pid` (a replica's workers, and the fork server they are forked
    from) -> their command lines."""
    out = subprocess.run(["ps", "-ww", "-e", "-o", "pid=,ppid=,args="],
                         capture_output=True, text=True, check=False).stdout
    parents, args = {}, {}
    for line in out.splitlines():
        fields = line.split(None, 2)
        if len(fields) >= 2 and fields[0].isdigit() and fields[1].isdigit():
            parents[int(fields[0])] = int(fields[1])
            args[int(fields[0])] = fields[2] if len(fields) > 2 else ""
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return {p: args[p] for p in sorted(found)}


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class Replica:
    """One `motia run` process of `project`; `await start()`, then `stop()` or `kill9()`."""

    def __init__(self, project: Project, name: str, *, role: str = "all", state: str = "redis",
                 amqp_url: str = AMQP_URL, eager: bool = True,
                 state_url: str | None = None, metrics: bool = False,
                 env: dict[str, str] | None = None) -> None:
        self.project = project
        self.name = name
        self.role = role
        self.state = state
        self.state_url = state_url or STATE_URLS[state]
        self.amqp_url = amqp_url
        self.eager = eager
        self.port = free_port()
        #: the ops server's port (`--metrics-port`), when asked for
        self.ops_port = free_port() if metrics else None
        self.env = dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.terminated = False
        self.killed_pids: set[int] = set()  # this replica's processes killed by the test

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ops_url(self) -> str | None:
        return None if self.ops_port is None else f"http://127.0.0.1:{self.ops_port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def serves_http(self) -> bool:
        return self.role in ("all", "gateway")

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "motia", "run", str(self.project.root),
               "--events", "rabbitmq", "--amqp-url", self.amqp_url,
               "--state", self.state, "--state-url", self.state_url,
               "--port", str(self.port), "--role", self.role]
        if self.ops_port is not None:
            cmd += ["--metrics-port", str(self.ops_port)]
        return cmd + (["--eager"] if self.eager else [])

    def _log(self, stream: str) -> Path:
        return self.project.root / f"{self.name}.{self.starts}.{stream}"

    def output(self) -> str:
        """Everything this replica printed (all its runs), for failure messages."""
        parts = []
        for n in range(1, self.starts + 1):
            for stream in ("out", "err"):
                path = self.project.root / f"{self.name}.{n}.{stream}"
                if path.exists():
                    parts.append(f"--- {path.name}\n{path.read_text(errors='replace')}")
        return "\n".join(parts)

    def launch(self) -> None:
        """Spawn the process (readiness is `wait_ready`)."""
        self.starts += 1
        self.terminated = False
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOTIA_")}
        env.update(MOTIA_GRACE=str(GRACE), PYTHONUNBUFFERED="1", **self.env)
        with open(self._log("out"), "wb") as out, open(self._log("err"), "wb") as err:
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=err, env=env,
                                         cwd=self.project.root, start_new_session=True)

    async def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while not await self._ready(session):
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise AssertionError(f"replica {self.name} exited with {self.proc.returncode}"
                                         f" before it was ready:\n{self.output()[-4000:]}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"replica {self.name} not ready after {timeout:g} s:\n"
                                         f"{self.output()[-4000:]}")
                await asyncio.sleep(0.1)

    async def _ready(self, session: aiohttp.ClientSession) -> bool:
        if not self.serves_http:
            return READY in self._log("out").read_text(errors="replace")
        try:
            async with session.get(self.url + HEALTH, timeout=aiohttp.ClientTimeout(total=2)) as r:
                return r.status == 200 and (await r.json())["app"] == self.project.app
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def start(self, timeout: float = 60.0) -> None:
        self.launch()
        await self.wait_ready(timeout)

    def workers(self, step: str | None = None) -> list[int]:
        """Pids of this replica's worker processes (of `step` only, when given)."""
        return [pid for pid, args in child_pids(self.pid).items()
                if step is None or f'"step":"{step}"' in args]

    async def kill_worker(self, step: str, wait: float = 10.0) -> int:
        """SIGKILL one worker of `step` (waiting for its replacement after an earlier kill)."""
        pids = await eventually(lambda: self.workers(step), wait, every=0.1,
                                what=f"a {step} worker in replica {self.name}")
        self._sigkill(pids[0])
        return int(pids[0])

    async def kill9(self) -> None:
        """SIGKILL the replica itself (its workers are orphaned: they must exit by themselves)."""
        orphans = self.workers()
        self._sigkill(self.pid)
        assert self.proc is not None
        await _exited(self.proc, 10.0)
        self.killed_pids.update(orphans)
        deadline = time.monotonic() + 10.0
        while any(alive(p) for p in orphans) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        left = [p for p in orphans if alive(p)]
        for pid in left:  # do not leak them into other tests; the test reports the failure
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        assert not left, f"workers {left} of the killed replica {self.name} did not exit"

    def _sigkill(self, pid: int) -> None:
        self.killed_pids.add(pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    def terminate(self) -> None:
        """Send SIGTERM once (a second one would kill it without draining)."""
        if self.proc is not None and self.proc.poll() is None and not self.terminated:
            self.terminated = True
            self.proc.send_signal(signal.SIGTERM)

    async def stop(self, timeout: float = GRACE + 15.0) -> int | None:
        """SIGTERM and wait (SIGKILL after `timeout`); the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        workers = self.workers()
        self.terminate()
        code = await _exited(self.proc, timeout)
        for pid in workers:
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        return code


async def _exited(proc: subprocess.Popen[bytes], timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait(5)
            break
        await asyncio.sleep(0.05)
    return int(proc.returncode)


class Cluster:
    """The replicas of one test; `close()` stops them all and deletes the apps' traces."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.replicas: list[Replica] = []
        self.projects: list[tuple[Project, str, str]] = []
        self.vhosts: list[str] = []

    def project(self, yaml: str, files: dict[str, str], name: str = "app") -> Project:
        return Project(self.tmp_path / name, yaml, files)

    async def vhost(self) -> str:
        """A fresh RabbitMQ virtual host for this test (deleted at the end); its AMQP URL.

        Its connections can then be cut with `rabbitmqctl close_all_connections --vhost`
        without touching any other client of the shared broker."""
        name = f"motia-test-{uuid.uuid4().hex[:8]}"
        await rabbitmqctl("add_vhost", name)
        self.vhosts.append(name)
        await rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        return AMQP_URL.rstrip("/") + "/" + name

    async def start(self, project: Project, n: int = 3, *, roles: tuple[str, ...] = (),
                    state: str = "redis", amqp_url: str = AMQP_URL,
                    **options: Any) -> list[Replica]:
        """Start `n` replicas (or one per role in `roles`) concurrently; wait for all."""
        if (project, state, amqp_url) not in self.projects:
            self.projects.append((project, state, amqp_url))
        roles = roles or ("all",) * n
        started = [Replica(project, f"r{len(self.replicas) + i}", role=role, state=state,
                           amqp_url=amqp_url, **options) for i, role in enumerate(roles)]
        self.replicas += started
        for replica in started:
            replica.launch()
        await asyncio.gather(*(r.wait_ready() for r in started))
        return started

    async def close(self) -> None:
        for replica in self.replicas:  # SIGTERM all first: they drain in parallel
            replica.terminate()
        await asyncio.gather(*(r.stop() for r in self.replicas))
        for project, state, amqp_url in self.projects:
            if amqp_url == AMQP_URL:
                await delete_topology(project.plan())
            await delete_state(project.app, state)
        for name in self.vhosts:  # with everything declared in it
            await rabbitmqctl("delete_vhost", name)


# --- the services, seen from the test -------------------------------------------------------


@contextlib.asynccontextmanager
async def open_store(app: str, state: str = "redis") -> AsyncIterator[StateStore]:
    """The app's shared store, opened as the replicas open it (to read what handlers wrote)."""
    from motia.runner.state import create_store

    store = create_store(state, namespace=app, url=STATE_URLS[state])
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def delete_topology(app: App) -> None:
    """Delete the app's exchange and every queue it may have declared."""
    import aio_pika

    from motia.runner.bus import _amqp
    from motia.runner.bus.rabbitmq import RabbitMQBus
    from motia.runner.state.memory import MemoryStore

    names = RabbitMQBus(app, MemoryStore(app.name)).queue_names()
    async with await aio_pika.connect(AMQP_URL) as connection:
        channel = await connection.channel()
        for name in names:
            await channel.queue_delete(name)
        await channel.exchange_delete(_amqp.exchange_name(app.name))


async def delete_state(app: str, state: str) -> None:
    """Delete every key the app wrote (Redis `motia:{app}:*`, PostgreSQL rows of its namespace)."""
    if state == "redis":
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            keys = [k async for k in client.scan_iter(match=f"motia:{{{app}}}:*", count=1000)]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()
    elif state == "postgres":
        import asyncpg

        conn = await asyncpg.connect(POSTGRES_URL)
        try:
            await conn.execute("DELETE FROM motia_state WHERE namespace = $1", app)
        finally:
            await conn.close()


async def rabbitmqctl(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        "rabbitmqctl", "-q", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, f"rabbitmqctl {' '.join(args)} failed: {err.decode()}"
    return out.decode()


async def close_all_connections(amqp_url: str) -> None:
    """`rabbitmqctl close_all_connections "test"`, limited to the vhost of `amqp_url` (see
    `Cluster.vhost`) so other clients of the shared broker keep their connections."""
    vhost = amqp_url.rsplit("/", 1)[1]
    assert vhost, "give the replicas their own vhost (Cluster.vhost) before cutting it off"
    await rabbitmqctl("close_all_connections", "--vhost", vhost, "test")


async def listing(what: str, *columns: str, vhost: str = "/") -> list[dict[str, str]]:
    """`rabbitmqctl list_<what> -p VHOST COLUMNS...` as one dict per row (rabbitmqctl may
    print the columns in another order than asked: its header line says which)."""
    args = [f"list_{what}", *columns]
    if what != "channels":  # channels are listed for every vhost (filter on the vhost column)
        args[1:1] = ["-p", vhost]
    header, *rows = (await rabbitmqctl(*args)).splitlines()
    names = header.split("\t")
    assert sorted(names) == sorted(columns), header
    return [dict(zip(names, row.split("\t"), strict=True)) for row in rows]


async def queue_stats(app: str, vhost: str = "/") -> dict[str, dict[str, Any]]:
    """name -> {ready, unacked, consumers, durable, arguments} of the app's queues."""
    rows = await listing("queues", "name", "messages_ready", "messages_unacknowledged",
                         "consumers", "durable", "arguments", vhost=vhost)
    return {row["name"]: {"ready": int(row["messages_ready"]),
                          "unacked": int(row["messages_unacknowledged"]),
                          "consumers": int(row["consumers"]),
                          "durable": row["durable"] == "true", "arguments": row["arguments"]}
            for row in rows if row["name"].startswith(f"motia.{app}.")}


async def eventually(check: Callable[[], Any], timeout: float, every: float = 0.25,
                     what: str = "condition") -> Any:
    """Await `check()` (sync or async) until it is truthy; its value. AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout:g} s")
        await asyncio.sleep(every)
