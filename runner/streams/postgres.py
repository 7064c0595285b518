"""Stream fan-out through PostgreSQL LISTEN/NOTIFY on the app's state database.

The channel is `motia_streams_<hash of the namespace>` (an identifier of at most 63
bytes, whatever the app's name). NOTIFY carries at most 8000 bytes, so a bigger change is
parked in the table `motia_stream_spill` (rows older than a minute are swept by the next
big change) and the notification carries only its key; every listener reads it there.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import asyncpg

from motia.runner.state._unavailable import CONNECT_TIMEOUT, unavailable
from motia.runner.streams.base import FanOut

DEFAULT_URL = "postgresql://127.0.0.1:5432/test"
#: payloads up to this many bytes travel in the notification itself
INLINE = 7900
SPILL_TTL = 60.0
_SPILL_PREFIX = "@spill:"


class PostgresFanOut(FanOut):
    kind = "postgres"

    def __init__(self, namespace: str, url: str | None = None) -> None:
        super().__init__(namespace)
        self.url = url or DEFAULT_URL
        digest = hashlib.sha1(namespace.encode()).hexdigest()[:16]
        self.channel = f"motia_streams_{digest}"
        self._listen: asyncpg.Connection | None = None
        self._send: asyncpg.Pool | None = None

    async def _open(self) -> None:
        try:
            self._listen = await asyncpg.connect(self.url, timeout=CONNECT_TIMEOUT)
            self._send = await asyncpg.create_pool(self.url, min_size=1, max_size=4,
                                                   timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            await self.close()
            raise unavailable("PostgreSQL", self.url, exc) from None
        await self._listen.add_listener(self.channel, self._on_notify)
        await self._send.execute("CREATE TABLE IF NOT EXISTS motia_stream_spill ("
                                 "key text PRIMARY KEY, value text NOT NULL, "
                                 "at timestamptz NOT NULL DEFAULT now())")

    def _on_notify(self, connection: object, pid: int, channel: str, payload: str) -> None:
        if payload.startswith(_SPILL_PREFIX):
            asyncio.get_running_loop().create_task(self._fetch(payload[len(_SPILL_PREFIX):]))
        else:
            self._deliver(payload)

    async def _fetch(self, key: str) -> None:
        if self._send is None:
            return
        text = await self._send.fetchval("SELECT value FROM motia_stream_spill WHERE key = $1", key)
        if text is not None:
            self._deliver(text)

    async def publish(self, text: str) -> None:
        assert self._send is not None, "open() first"
        try:
            if len(text.encode()) <= INLINE:
                await self._send.execute("SELECT pg_notify($1, $2)", self.channel, text)
                return
            key = uuid.uuid4().hex
            async with self._send.acquire() as connection, connection.transaction():
                await connection.execute(
                    "DELETE FROM motia_stream_spill WHERE at < now() - make_interval(secs => $1)",
                    SPILL_TTL)
                await connection.execute(
                    "INSERT INTO motia_stream_spill (key, value) VALUES ($1, $2)", key, text)
                await connection.execute("SELECT pg_notify($1, $2)", self.channel,
                                         _SPILL_PREFIX + key)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise unavailable("PostgreSQL", self.url, exc) from None

    async def close(self) -> None:
        self._receive = None
        listen, pool, self._listen, self._send = self._listen, self._send, None, None
        if listen is not None:
            await listen.close()
        if pool is not None:
            await pool.close()
