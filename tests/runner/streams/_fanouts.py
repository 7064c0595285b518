"""Two replicas' stream hubs on each fan-out, for the fan-out contract suite.

Each kind runs on the services a cluster of that kind has: memory (one process: the one
hub is both "replicas"), RabbitMQ fan-out over a Redis store, Redis pub/sub over a Redis
store, PostgreSQL LISTEN/NOTIFY over a PostgreSQL store. Every test gets its own app
name (namespace), and its keys, rows and exchange are removed afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from motia.compiler import compile_project
from motia.runner.state import create_store
from motia.runner.state.base import StateStore
from motia.runner.streams import create_fanout
from motia.runner.streams._outbox import Outbox
from motia.runner.streams._wire import Frame
from motia.runner.streams.hub import StreamHub, Subscription
from motia.runner.streams.items import StreamItems


def root_conftest() -> ModuleType:
    """tests/conftest.py (require_service, the service URLs), whichever `conftest` pytest
    imported last; loaded under the name tests/runner/state/_state_backends.py uses."""
    module = sys.modules.get("tests.conftest")
    if module is None:
        path = Path(__file__).resolve().parents[2] / "conftest.py"
        spec = importlib.util.spec_from_file_location("tests.conftest", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["tests.conftest"] = module
        spec.loader.exec_module(module)
    return module


KINDS = ["memory", "rabbitmq", "redis", "postgres"]
#: the store each fan-out runs beside, and the services the pair needs
STORE = {"memory": "memory", "rabbitmq": "redis", "redis": "redis", "postgres": "postgres"}
SERVICES = {"memory": [], "rabbitmq": ["rabbitmq", "redis"], "redis": ["redis"],
            "postgres": ["postgres"]}

YAML = """
version: 1
app: {app}
streams:
  things: {{schema: {{type: object, required: [n]}}}}
steps:
  noop: {{type: noop, streams: [things]}}
"""


class Collector:
    """A client connection that reads everything at once: the frames it got, parsed."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    def write_now(self, frame: Frame) -> bool:
        self.frames.append(json.loads(frame.text))
        return True

    async def write(self, frame: Frame) -> None:
        self.write_now(frame)

    def changes(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("op") not in ("snapshot", "resume")]


class Replicas:
    """Hubs of one app on `kind`; `hubs[0]` and `hubs[1]` are two replicas (one for memory)."""

    def __init__(self, kind: str, root: Path, urls: dict[str, str]) -> None:
        self.kind, self.root, self.urls = kind, root, urls
        self.app_name = f"fo{uuid.uuid4().hex[:10]}"
        project = root / "motia.yaml"
        project.write_text(YAML.format(app=self.app_name))
        self.app = compile_project(project).app
        self.hubs: list[StreamHub] = []
        self.stores: list[StateStore] = []

    async def start(self) -> Replicas:
        for _ in range(1 if self.kind == "memory" else 2):
            store = create_store(STORE[self.kind], namespace=self.app_name,
                                 url=self.urls.get(STORE[self.kind]), root=self.root)
            await store.open()
            self.stores.append(store)
            fanout = create_fanout(self.kind, namespace=self.app_name,
                                   amqp_url=self.urls.get("rabbitmq"),
                                   state_url=self.urls.get(STORE[self.kind]))
            hub = StreamHub(self.app, StreamItems(store), fanout)
            await hub.open()
            self.hubs.append(hub)
        return self

    @property
    def a(self) -> StreamHub:
        return self.hubs[0]

    @property
    def b(self) -> StreamHub:
        return self.hubs[-1]

    async def subscribe(self, hub: StreamHub, group: str, id_: str | None = None,
                        since: int | None = None) -> Collector:
        collector = Collector()
        await hub.subscribe(Subscription("things", group, id_, Outbox(collector)), since)
        return collector

    async def close(self) -> None:
        for hub in self.hubs:
            with contextlib.suppress(Exception):
                await hub.close()
        for store in self.stores:
            with contextlib.suppress(Exception):
                await store.close()
        await self._purge()

    async def _purge(self) -> None:
        kind = STORE[self.kind]
        if kind == "redis":
            import redis.asyncio as aioredis

            client = aioredis.Redis.from_url(self.urls["redis"])
            keys = [k async for k in client.scan_iter(match=f"motia:{{{self.app_name}}}:*")]
            if keys:
                await client.delete(*keys)
            await client.aclose()
        elif kind == "postgres":
            import asyncpg

            conn = await asyncpg.connect(self.urls["postgres"])
            await conn.execute("DELETE FROM motia_state WHERE namespace = $1", self.app_name)
            await conn.close()
        if self.kind == "rabbitmq":
            import aio_pika

            from motia.runner.streams.rabbitmq import exchange_name

            with contextlib.suppress(Exception):
                async with await aio_pika.connect(self.urls["rabbitmq"]) as connection:
                    channel = await connection.channel()
                    await channel.exchange_delete(exchange_name(self.app_name))


async def until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)
