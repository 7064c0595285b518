"""A Python client for Motia streams: subscribe to a group or an item, get every change.

    from motia.streams import StreamClient

    async with StreamClient("http://127.0.0.1:3000") as client:
        order = await client.subscribe("orders", "o-42")   # after its snapshot
        print(order.items)                                 # {id: data}, kept current
        async for change in order:                         # {"op", "id", "data", ...}
            print(change["op"], change.get("data"))

One WebSocket carries every subscription of a client. When the connection drops, the
client reconnects (a growing pause, up to `max_pause`) and resumes each subscription
from the last version it got: the server sends what was missed, or a fresh snapshot
when that is too far back (the snapshot frame is then delivered like a change).
`sse()` reads the server-sent-events form of one subscription, for scripts and tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from motia.errors import MotiaError

__all__ = ["StreamClient", "StreamRefused", "Subscription", "sse"]

Key = tuple[str, str, "str | None"]
#: versions a subscription remembers, to drop a frame it already got
_SEEN = 4096


class StreamRefused(MotiaError):
    """Raised by `subscribe` when the server refuses the subscription (auth, unknown stream)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class Subscription:
    """One subscription: `items` (id -> data) kept current, and its changes in order."""

    def __init__(self, client: StreamClient, stream: str, group: str, id_: str | None) -> None:
        self.client = client
        self.stream, self.group, self.id = stream, group, id_
        self.items: dict[str, Any] = {}
        #: the latest version this subscription has seen (what a resume starts from)
        self.version = 0
        self.resumes = 0
        self._changes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._seen: set[int] = set()
        self._recent: deque[int] = deque()
        self._ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def next(self, timeout: float | None = None) -> dict[str, Any]:
        """The next change frame; raises TimeoutError after `timeout` seconds."""
        return await asyncio.wait_for(self._changes.get(), timeout)

    def pending(self) -> int:
        """Changes received and not yet taken with `next`."""
        return self._changes.qsize()

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            yield await self._changes.get()

    def _on_frame(self, frame: dict[str, Any]) -> None:
        op = frame.get("op")
        if op == "snapshot":
            first = not self._ready.done()
            self.items = {item["id"]: item["data"] for item in frame.get("items", [])}
            self.version = int(frame.get("version") or 0)
            if first:
                self._ready.set_result(None)
            else:
                self._changes.put_nowait(frame)  # a resume too far back: the state restarts
            return
        if op == "resume":
            self.resumes += 1
            return
        version = int(frame.get("version") or 0)
        if version in self._seen:
            return  # already seen (another subscription of this connection got it too)
        self._seen.add(version)
        self._recent.append(version)
        if len(self._recent) > _SEEN:
            self._seen.discard(self._recent.popleft())
        self.version = max(self.version, version)
        if op in ("create", "update"):
            self.items[frame["id"]] = frame.get("data")
        elif op == "delete":
            self.items.pop(str(frame.get("id")), None)
        self._changes.put_nowait(frame)

    def _refused(self, status: int, message: str) -> None:
        if not self._ready.done():
            self._ready.set_exception(StreamRefused(status, message))


class StreamClient:
    """WebSocket client of a Motia app's streams at `url` (the app's base URL)."""

    def __init__(self, url: str, *, token: str | None = None,
                 headers: dict[str, str] | None = None, reconnect: bool = True,
                 max_pause: float = 5.0) -> None:
        self.url = url.rstrip("/") + "/__motia/streams"
        self.headers = dict(headers or {})
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.reconnect = reconnect
        self.max_pause = max_pause
        #: (code, reason) of the last close the server sent, e.g. a too-slow cut-off
        self.close_reason: tuple[int, str] | None = None
        self._subs: dict[Key, Subscription] = {}
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._closing = False
        self.connected = asyncio.Event()

    async def __aenter__(self) -> StreamClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the WebSocket; raises aiohttp.WSServerHandshakeError when refused (401...)."""
        self._session = aiohttp.ClientSession()
        try:
            self._ws = await self._session.ws_connect(self.url, headers=self.headers)
        except BaseException:
            await self._session.close()
            raise
        self.connected.set()
        self._reader = asyncio.create_task(self._read())

    async def subscribe(self, stream: str, group: str, id: str | None = None,  # noqa: A002
                        *, timeout: float = 10.0) -> Subscription:
        """Subscribe and wait for the snapshot; raises StreamRefused when refused."""
        sub = Subscription(self, stream, group, id)
        self._subs[(stream, group, id)] = sub
        await self._send_subscribe(sub, None)
        try:
            await asyncio.wait_for(asyncio.shield(sub._ready), timeout)
        except BaseException:
            self._subs.pop((stream, group, id), None)
            raise
        return sub

    async def unsubscribe(self, sub: Subscription) -> None:
        self._subs.pop((sub.stream, sub.group, sub.id), None)
        if self._ws is not None and not self._ws.closed:
            await self._ws.send_str(json.dumps({"unsubscribe": {
                "stream": sub.stream, "group": sub.group, "id": sub.id}}))

    async def close(self) -> None:
        self._closing = True
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()

    async def _send_subscribe(self, sub: Subscription, since: int | None) -> None:
        body: dict[str, Any] = {"stream": sub.stream, "group": sub.group}
        if sub.id is not None:
            body["id"] = sub.id
        if since is not None:
            body["since"] = since
        assert self._ws is not None, "connect() first"
        await self._ws.send_str(json.dumps({"subscribe": body}))

    async def _read(self) -> None:
        pause = 0.1
        while True:
            assert self._ws is not None
            while True:
                message = await self._ws.receive()
                if message.type == aiohttp.WSMsgType.TEXT:
                    self._route(json.loads(message.data))
                elif message.type == aiohttp.WSMsgType.CLOSE:
                    self.close_reason = (int(message.data), str(message.extra or ""))
                    break
                elif message.type != aiohttp.WSMsgType.BINARY:
                    break
            self.connected.clear()
            if self._closing or not self.reconnect:
                return
            pause = await self._reconnect(pause)

    async def _reconnect(self, pause: float) -> float:
        while True:
            await asyncio.sleep(pause)
            pause = min(pause * 2, self.max_pause)
            try:
                assert self._session is not None
                self._ws = await self._session.ws_connect(self.url, headers=self.headers)
            except (aiohttp.ClientError, OSError):
                continue
            self.connected.set()
            for sub in list(self._subs.values()):
                await self._send_subscribe(sub, sub.version)
            return 0.1

    def _route(self, frame: dict[str, Any]) -> None:
        if "error" in frame:
            request = frame.get("subscribe") or {}
            key: Any = (request.get("stream"), request.get("group"), request.get("id"))
            sub = self._subs.get(key)
            if sub is not None:
                error = frame["error"]
                sub._refused(int(error.get("status", 400)), str(error.get("message")))
            return
        stream, group = frame.get("stream"), frame.get("group")
        if frame.get("op") in ("snapshot", "resume", "unsubscribed"):
            targets = [self._subs.get((stream, group, frame.get("id")))]  # type: ignore[arg-type]
        else:
            targets = [self._subs.get((stream, group, None)),  # type: ignore[arg-type]
                       self._subs.get((stream, group, frame.get("id")))  # type: ignore[arg-type]
                       if frame.get("id") is not None else None]
        for sub in targets:
            if sub is not None:
                sub._on_frame(frame)


async def sse(url: str, stream: str, group: str, id: str | None = None,  # noqa: A002
              *, token: str | None = None, last_event_id: int | None = None,
              session: aiohttp.ClientSession | None = None,
              ) -> AsyncIterator[tuple[int | None, dict[str, Any]]]:
    """(event id, frame) of each server-sent event of one subscription, snapshot first.

    Raises StreamRefused when the server answers with an error status instead."""
    path = f"/__motia/streams/{stream}/{group}" + (f"/{id}" if id is not None else "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    own = session is None
    session = session or aiohttp.ClientSession()
    try:
        async with session.get(url.rstrip("/") + path, headers=headers,
                               timeout=aiohttp.ClientTimeout(total=None)) as response:
            if response.status != 200:
                body = await response.json(content_type=None)
                raise StreamRefused(response.status, body["error"]["message"])
            event_id: int | None = None
            data: list[str] = []
            async for raw in response.content:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("id:"):
                    event_id = int(line[3:].strip()) if line[3:].strip().isdigit() else None
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip())
                elif not line and data:
                    yield event_id, json.loads("\n".join(data))
                    data = []
    finally:
        if own:
            await session.close()
