"""Stream fan-out through Redis pub/sub on the app's state server.

One channel per app, `motia:{<namespace>}:streams` (the state store's key prefix, so
apps sharing a server stay apart). Publishing goes through a small pool; a dedicated
connection listens. When the listening connection drops (a Redis restart), it is opened
again with a growing pause, and changes published meanwhile are lost (see base.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from motia.runner.state._unavailable import CONNECT_TIMEOUT, unavailable
from motia.runner.streams.base import FanOut

DEFAULT_URL = "redis://127.0.0.1:6379/0"
_log = logging.getLogger("motia.streams")


class RedisFanOut(FanOut):
    kind = "redis"

    def __init__(self, namespace: str, url: str | None = None) -> None:
        super().__init__(namespace)
        self.url = url or DEFAULT_URL
        self.channel = f"motia:{{{namespace}}}:streams"
        self._client: aioredis.Redis | None = None
        self._listener: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None

    async def _open(self) -> None:
        client = aioredis.Redis.from_url(
            self.url, socket_connect_timeout=CONNECT_TIMEOUT, protocol=2,
            client_name=f"motia:{self.namespace}:streams")
        try:
            await client.ping()
        except (RedisError, OSError) as exc:
            await client.aclose()
            raise unavailable("Redis", self.url, exc) from None
        self._client = client
        self._ready = asyncio.get_running_loop().create_future()
        self._listener = asyncio.create_task(self._listen())
        await self._ready

    async def _listen(self) -> None:
        pause = 0.1
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)  # type: ignore[union-attr]
            try:
                await pubsub.subscribe(self.channel)
                if self._ready is not None and not self._ready.done():
                    self._ready.set_result(None)
                pause = 0.1
                while True:
                    message: Any = await pubsub.get_message(timeout=None)
                    if message is not None and message["type"] == "message":
                        self._deliver(message["data"].decode())
            except (RedisError, OSError) as exc:
                if self._ready is not None and not self._ready.done():
                    self._ready.set_exception(unavailable("Redis", self.url, exc))
                    return
                _log.warning("streams: Redis pub/sub connection lost (%s); reconnecting", exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def publish(self, text: str) -> None:
        assert self._client is not None, "open() first"
        try:
            await self._client.publish(self.channel, text)
        except (RedisError, OSError) as exc:
            raise unavailable("Redis", self.url, exc) from None

    async def close(self) -> None:
        self._receive = None
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
