"""Server-sent events: GET /__motia/streams/{stream}/{group}[/{id}], one subscription each.

Every frame is a plain `message` event whose `data` is the same JSON a WebSocket client
gets and whose `id` is its version, so a browser's EventSource reconnects by itself with
`Last-Event-ID` and is sent what it missed (within the ring), else a fresh snapshot
saying why. `?since=N` does the same for clients that cannot set the header.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from motia.errors import StreamError
from motia.runner._http_errors import error_response
from motia.runner.streams._frames import check_stream, since_of
from motia.runner.streams._outbox import Outbox, Overflow
from motia.runner.streams._wire import Frame
from motia.runner.streams.auth import StreamsAuth
from motia.runner.streams.hub import StreamHub, Subscription

HEARTBEAT = 15.0
_VERSION = '"version":'


def _event(text: str) -> bytes:
    """`text` as one SSE event; its id is the frame's version (always its last member)."""
    if text.startswith(":"):
        return f"{text}\n\n".encode()
    at = text.rfind(_VERSION)
    version = text[at + len(_VERSION):-1] if at >= 0 else ""
    return f"id: {version}\ndata: {text}\n\n".encode()


class _Sink:
    """Writes frames as events of one response (chunked, so always through aiohttp)."""

    __slots__ = ("response",)

    def __init__(self, response: web.StreamResponse) -> None:
        self.response = response

    def write_now(self, frame: Frame) -> bool:
        return False

    async def write(self, frame: Frame) -> None:
        await self.response.write(_event(frame.text))


async def serve_sse(request: web.Request, hub: StreamHub, auth: StreamsAuth) -> web.StreamResponse:
    info = request.match_info
    stream, group, id_ = info["stream"], info["group"], info.get("id")
    try:
        check_stream(stream, hub.stream_names)
    except StreamError as exc:
        return error_response(404, "NotFound", str(exc))
    refusal = await auth.check(request, stream, group, id_)
    if refusal is not None:
        return error_response(refusal.status, "Forbidden", refusal.message)
    since = since_of(request.headers.get("Last-Event-ID") or request.query.get("since"))
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no"})
    await response.prepare(request)
    await response.write(b"retry: 1000\n\n")
    outbox = Outbox(_Sink(response))
    sub = Subscription(stream, group, id_, outbox)
    heartbeat = asyncio.create_task(_beat(outbox))
    try:
        await hub.subscribe(sub, since)
        await outbox.run()
    except Overflow:
        if request.transport is not None:
            request.transport.abort()  # EventSource reconnects and resumes from the ring
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        hub.unsubscribe(sub)
        outbox.close()
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
    return response


async def _beat(outbox: Outbox) -> None:
    while not outbox.closed:
        await asyncio.sleep(HEARTBEAT)
        outbox.offer(": keep-alive")
