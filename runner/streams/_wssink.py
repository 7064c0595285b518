"""Writing change frames to WebSocket connections: at once, and batched per loop turn.

An outbox (_outbox.py) hands a frame to its connection's sink with `write_now`. While
the connection keeps up, the sink only appends the frame's prebuilt bytes (_wire.py) to
its pending list and asks the loop's `_Flusher` to run once the current callback is done;
the flusher then writes each connection's pending frames in a single `transport.write`.
So a change reaches a thousand subscribers in a thousand writes, with no task woken per
subscriber, and a burst of changes costs one write (one system call, one wake-up of the
client) per connection instead of one per change per connection.

Past `HIGH_WATER` bytes waiting (in the socket's buffer plus pending) `write_now` says
no and the outbox queues; its task then calls `write`, which waits for the buffer to
drain below the mark before each frame. A connection therefore holds at most its queue
plus HIGH_WATER and one frame, whatever its client does.
"""

from __future__ import annotations

import asyncio
import weakref

from aiohttp import web

from motia.runner.streams._wire import Frame

#: bytes waiting (socket buffer plus pending) past which frames queue in the outbox instead
HIGH_WATER = 64 * 1024
#: the longest pause between looks at a backed-up socket's buffer (seconds)
DRAIN_POLL = 0.02


class _Flusher:
    """Writes out every sink that got frames during this turn of the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._dirty: list[WebSocketSink] = []

    def add(self, sink: WebSocketSink) -> None:
        if not self._dirty:
            self._loop.call_soon(self._flush)
        self._dirty.append(sink)

    def _flush(self) -> None:
        dirty, self._dirty = self._dirty, []
        for sink in dirty:
            sink.flush()


_flushers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Flusher] = (
    weakref.WeakKeyDictionary())


def _flusher() -> _Flusher:
    loop = asyncio.get_running_loop()
    found = _flushers.get(loop)
    if found is None:
        found = _flushers[loop] = _Flusher(loop)
    return found


class WebSocketSink:
    """The `Sink` (see _outbox.py) of one prepared, uncompressed WebSocket."""

    __slots__ = ("_flusher", "_pending", "_pending_bytes", "transport", "ws")

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport) -> None:
        self.ws, self.transport = ws, transport
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._flusher = _flusher()

    def write_now(self, frame: Frame) -> bool:
        transport = self.transport
        if (transport.is_closing()
                or transport.get_write_buffer_size() + self._pending_bytes > HIGH_WATER):
            return False
        data = frame.websocket
        if not self._pending:
            self._flusher.add(self)
        self._pending.append(data)
        self._pending_bytes += len(data)
        return True

    def flush(self) -> None:
        """Write the pending frames, whole, in one write (aiohttp writes its own ping and
        close frames whole too, so frames never interleave); none after a close."""
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        if not pending or self.ws.closed or self.transport.is_closing():
            return
        self.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    async def write(self, frame: Frame) -> None:
        """Wait until the socket's buffer is below the mark, then write `frame`."""
        self.flush()  # what went before it, first
        pause = 0.002
        while not self.write_now(frame):
            if self.transport.is_closing():
                raise ConnectionResetError("the client went away")
            await asyncio.sleep(pause)  # only connections that fell behind ever wait here
            pause = min(pause * 2, DRAIN_POLL)
        self.flush()
