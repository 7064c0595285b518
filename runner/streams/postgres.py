"""Stream fan-out through PostgreSQL LISTEN/NOTIFY on the app's state database.

The channel is `motia_streams_<hash of the namespace>` (an identifier of at most 63
bytes, whatever the app's name). NOTIFY carries at most 8000 bytes, so a bigger change is
parked in the table `motia_stream_spill` (rows older than a minute are swept by the next
big change) and the notification carries only its key; every listener reads it there.

One dedicated connection listens. When it drops (a server restart, an idle timeout, an
administrator's pg_terminate_backend), it is opened again with a growing pause and LISTENs
again; changes notified meanwhile are lost (see base.py: the items are in the store). The
notifications of one publisher arrive in the order it committed them; the hub puts those
of several publishers (replicas) back in version order.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid

import asyncpg

from motia.runner.state._unavailable import CONNECT_TIMEOUT, unavailable
from motia.runner.streams.base import FanOut

DEFAULT_URL = "postgresql://127.0.0.1:5432/test"
#: payloads up to this many bytes travel in the notification itself
INLINE = 7900
SPILL_TTL = 60.0
#: the longest pause between attempts to open the listening connection again (seconds)
MAX_PAUSE = 5.0
_SPILL_PREFIX = "@spill:"
_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
_log = logging.getLogger("motia.streams")


class PostgresFanOut(FanOut):
    kind = "postgres"

    def __init__(self, namespace: str, url: str | None = None) -> None:
        super().__init__(namespace)
        self.url = url or DEFAULT_URL
        digest = hashlib.sha1(namespace.encode()).hexdigest()[:16]
        self.channel = f"motia_streams_{digest}"
        #: the connections' application_name, so an operator can tell them apart
        self.application_name = f"motia:{namespace}:streams"[:63]
        self._listen: asyncpg.Connection | None = None
        self._send: asyncpg.Pool | None = None
        self._reconnect: asyncio.Task[None] | None = None
        self._closing = False
        self._fetches: set[asyncio.Task[None]] = set()

    async def _open(self) -> None:
        self._closing = False
        settings = {"application_name": self.application_name}
        try:
            self._send = await asyncpg.create_pool(self.url, min_size=1, max_size=4,
                                                   timeout=CONNECT_TIMEOUT,
                                                   server_settings=settings)
            await self._send.execute("CREATE TABLE IF NOT EXISTS motia_stream_spill ("
                                     "key text PRIMARY KEY, value text NOT NULL, "
                                     "at timestamptz NOT NULL DEFAULT now())")
            await self._connect_listener()
        except _ERRORS as exc:
            await self.close()
            raise unavailable("PostgreSQL", self.url, exc) from None

    async def _connect_listener(self) -> None:
        connection = await asyncpg.connect(
            self.url, timeout=CONNECT_TIMEOUT,
            server_settings={"application_name": self.application_name})
        try:
            await connection.add_listener(self.channel, self._on_notify)
        except BaseException:
            await connection.close()
            raise
        connection.add_termination_listener(self._on_lost)
        self._listen = connection

    def _on_lost(self, connection: object) -> None:
        if self._closing or connection is not self._listen:
            return
        self._listen = None
        _log.warning("streams: PostgreSQL LISTEN connection lost; reconnecting")
        self._reconnect = asyncio.get_running_loop().create_task(self._connect_again())

    async def _connect_again(self) -> None:
        pause = 0.1
        while not self._closing:
            try:
                await self._connect_listener()
            except _ERRORS as exc:
                _log.warning("streams: PostgreSQL LISTEN reconnect failed (%s); retrying in "
                             "%.1f s", exc, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, MAX_PAUSE)
            else:
                if self._closing:
                    await self._close_listener()
                return

    def _on_notify(self, connection: object, pid: int, channel: str, payload: str) -> None:
        if payload.startswith(_SPILL_PREFIX):
            task = asyncio.get_running_loop().create_task(self._fetch(payload[len(_SPILL_PREFIX):]))
            self._fetches.add(task)
            task.add_done_callback(self._fetches.discard)
        else:
            self._deliver(payload)

    async def _fetch(self, key: str) -> None:
        if self._send is None:
            return
        try:
            text = await self._send.fetchval(
                "SELECT value FROM motia_stream_spill WHERE key = $1", key)
        except _ERRORS as exc:
            _log.warning("streams: a change parked in motia_stream_spill could not be read "
                         "(%s); its subscribers get it with their next snapshot", exc)
            return
        if text is not None:
            self._deliver(text)

    async def publish(self, text: str) -> None:
        """NOTIFY every listener; a pooled connection the server closed is replaced once."""
        assert self._send is not None, "open() first"
        try:
            try:
                await self._notify(self._send, text)
            except (asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError,
                    asyncpg.AdminShutdownError):
                await self._notify(self._send, text)
        except _ERRORS as exc:
            raise unavailable("PostgreSQL", self.url, exc) from None

    async def _notify(self, pool: asyncpg.Pool, text: str) -> None:
        if len(text.encode()) <= INLINE:
            await pool.execute("SELECT pg_notify($1, $2)", self.channel, text)
            return
        key = uuid.uuid4().hex
        async with pool.acquire() as connection, connection.transaction():
            await connection.execute(
                "DELETE FROM motia_stream_spill WHERE at < now() - make_interval(secs => $1)",
                SPILL_TTL)
            await connection.execute(
                "INSERT INTO motia_stream_spill (key, value) VALUES ($1, $2)", key, text)
            await connection.execute("SELECT pg_notify($1, $2)", self.channel,
                                     _SPILL_PREFIX + key)

    async def close(self) -> None:
        self._closing = True
        self._receive = None
        reconnect, self._reconnect = self._reconnect, None
        if reconnect is not None:
            reconnect.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reconnect
        for task in list(self._fetches):
            task.cancel()
        await self._close_listener()
        pool, self._send = self._send, None
        if pool is not None:
            await pool.close()

    async def _close_listener(self) -> None:
        listen, self._listen = self._listen, None
        if listen is not None and not listen.is_closed():
            with contextlib.suppress(*_ERRORS):
                await listen.close(timeout=2)
