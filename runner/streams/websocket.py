"""The WebSocket endpoint, GET /__motia/streams: many subscriptions over one connection.

Client frames (JSON text): `{"subscribe": {"stream", "group", "id"?, "since"?}}` and
`{"unsubscribe": {"stream", "group", "id"?}}`. Server frames: per subscription a
`snapshot` (or a `resume` followed by what was missed after `since`), then each change
`{"stream", "group", "id", "op": "create"|"update"|"delete"|"event", "data", "version"}`;
`{"error": {"status", "type", "message"}, "subscribe": ...}` answers a refused or
malformed request and the connection stays open. A client that falls too far behind is
closed with code 1008 and the reason (see _outbox.py).

Change frames are written to the socket as prebuilt bytes (_wire.py, _wssink.py), the
same bytes for every subscriber; that is why the endpoint never negotiates
permessage-deflate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import WSMsgType, web

from motia.errors import StreamError
from motia.runner.streams._frames import subscription_of
from motia.runner.streams._outbox import Outbox, Overflow
from motia.runner.streams._wssink import WebSocketSink
from motia.runner.streams.auth import StreamsAuth
from motia.runner.streams.hub import StreamHub, Subscription
from motia.runner.streams.items import encode

#: subscriptions one connection may hold at once
MAX_SUBSCRIPTIONS = 256
#: the largest client frame accepted (subscriptions are small)
MAX_CLIENT_FRAME = 64 * 1024
CLOSE_TOO_SLOW = 1008
#: seconds a cut-off client has to read its close frame before the socket is dropped
CLOSE_GRACE = 10.0
_HEARTBEAT = 30.0

Key = tuple[str, str, str | None]


class _Connection:
    def __init__(self, ws: web.WebSocketResponse, request: web.Request, hub: StreamHub,
                 auth: StreamsAuth) -> None:
        self.ws, self.request, self.hub, self.auth = ws, request, hub, auth
        transport = request.transport
        assert transport is not None, "the WebSocket is prepared"
        self.outbox = Outbox(WebSocketSink(ws, transport))
        self.subs: dict[Key, Subscription] = {}

    async def serve(self) -> None:
        writer = asyncio.create_task(self._write())
        try:
            async for message in self.ws:
                if message.type != WSMsgType.TEXT:
                    continue
                await self._on_frame(message.data)
        finally:
            self._unsubscribe_all()
            self.outbox.close()
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _write(self) -> None:
        try:
            await self.outbox.run()
        except Overflow as exc:
            self._unsubscribe_all()
            # The close frame lands in the transport's buffer (at most aiohttp's 64 KiB
            # high-water mark plus this frame, so memory stays bounded); a client that
            # never reads again is dropped for good after CLOSE_GRACE.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self.ws.close(code=CLOSE_TOO_SLOW, message=str(exc).encode()[:120]), 1.0)
            transport = self.request.transport
            if transport is not None and not transport.is_closing():
                transport.close()
                asyncio.get_running_loop().call_later(CLOSE_GRACE, transport.abort)
        except (ConnectionError, RuntimeError):
            pass  # the client went away; the reader sees the close

    def _unsubscribe_all(self) -> None:
        for sub in self.subs.values():
            self.hub.unsubscribe(sub)
        self.subs.clear()

    async def _on_frame(self, text: str) -> None:
        try:
            frame = json.loads(text)
        except ValueError as exc:
            return self._error(400, "InvalidJSON", f"frame is not JSON: {exc}", None)
        if isinstance(frame, dict) and "subscribe" in frame:
            return await self._subscribe(frame["subscribe"])
        if isinstance(frame, dict) and "unsubscribe" in frame:
            return self._unsubscribe(frame["unsubscribe"])
        self._error(400, "BadRequest", 'expected {"subscribe": {...}} or {"unsubscribe": {...}}',
                    None)

    async def _subscribe(self, raw: Any) -> None:
        try:
            stream, group, id_, since = subscription_of(raw, self.hub.stream_names)
        except StreamError as exc:
            return self._error(404 if "no stream" in str(exc) else 400, "BadRequest", str(exc), raw)
        key = (stream, group, id_)
        if key not in self.subs and len(self.subs) >= MAX_SUBSCRIPTIONS:
            return self._error(429, "TooManySubscriptions", f"one connection holds at most "
                               f"{MAX_SUBSCRIPTIONS} subscriptions; unsubscribe first", raw)
        refusal = await self.auth.check(self.request, stream, group, id_)
        if refusal is not None:
            return self._error(refusal.status, "Forbidden", refusal.message, raw)
        if key in self.subs:  # subscribing again restarts it: a fresh snapshot
            self.hub.unsubscribe(self.subs.pop(key))
        sub = Subscription(stream, group, id_, self.outbox)
        self.subs[key] = sub
        await self.hub.subscribe(sub, since)

    def _unsubscribe(self, raw: Any) -> None:
        if not isinstance(raw, dict):
            return self._error(400, "BadRequest", 'expected {"unsubscribe": {"stream", "group", '
                               '"id"?}}', raw)
        sub = self.subs.pop((raw.get("stream"), raw.get("group"), raw.get("id")), None)  # type: ignore[arg-type]
        if sub is not None:
            self.hub.unsubscribe(sub)
        self.outbox.offer(encode({"stream": raw.get("stream"), "group": raw.get("group"),
                                  "id": raw.get("id"), "op": "unsubscribed"}))

    def _error(self, status: int, type_: str, message: str, request: Any) -> None:
        self.outbox.offer(encode({"error": {"status": status, "type": type_,
                                            "message": message}, "subscribe": request}))


async def serve_websocket(request: web.Request, hub: StreamHub,
                          auth: StreamsAuth) -> web.StreamResponse:
    ws = web.WebSocketResponse(heartbeat=_HEARTBEAT, max_msg_size=MAX_CLIENT_FRAME,
                               compress=False)
    if not ws.can_prepare(request).ok:
        raise web.HTTPBadRequest(text="this is the streams WebSocket endpoint: connect with a "
                                      "WebSocket client (or use GET /__motia/streams/{stream}/"
                                      "{group} for server-sent events)")
    await ws.prepare(request)
    await _Connection(ws, request, hub, auth).serve()
    return ws
