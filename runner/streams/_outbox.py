"""A bounded send buffer per client connection: a slow client is cut off, never waited for.

The hub hands every change to each subscribed connection's outbox with `offer`, which
never blocks. While the connection keeps up (nothing queued, its socket's buffer below
the high-water mark) the frame is written to the socket at once, inside `offer`: no task
wakes per subscriber, which is what lets one replica feed a thousand of them. Otherwise
the frame is queued and the connection's own task (`run`) writes the queue out, waiting
for that socket alone. When a client stops reading, its kernel buffers fill, the socket
buffer passes the mark, and the queue grows until it is past `MAX_FRAMES` frames or
`MAX_BYTES` bytes; then the outbox is closed with a reason and the connection is
dropped. Memory per connection is bounded, and no other subscriber waits for the slow one.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol

from motia.runner.streams._wire import Frame

#: frames a connection may fall behind by before it is cut off
MAX_FRAMES = 1000
#: bytes of frames a connection may fall behind by before it is cut off
MAX_BYTES = 4 * 1024 * 1024


class Overflow(Exception):
    """Raised by `Outbox.run` when the client fell too far behind; the message says how far."""


class Sink(Protocol):
    """How one connection writes frames (websocket.py and sse.py each have one)."""

    def write_now(self, frame: Frame) -> bool:
        """Write `frame` without waiting if the socket has room; False leaves it queued."""

    async def write(self, frame: Frame) -> None:
        """Write `frame`, waiting for the socket to drain as long as it takes."""


class Outbox:
    """Frames waiting to be written to one client through `sink`."""

    __slots__ = ("_bytes", "_frames", "_max_bytes", "_max_frames", "_runner", "_sending",
                 "_sink", "_wake", "closed", "reason")

    def __init__(self, sink: Sink, *, max_frames: int | None = None,
                 max_bytes: int | None = None) -> None:
        self._sink = sink
        self._frames: deque[Frame] = deque()
        self._bytes = 0
        self._max_frames = MAX_FRAMES if max_frames is None else max_frames
        self._max_bytes = MAX_BYTES if max_bytes is None else max_bytes
        self._wake: asyncio.Future[None] | None = None
        self._runner: asyncio.Task[object] | None = None
        self._sending = False
        self.closed = False
        self.reason = ""

    def offer(self, frame: Frame | str) -> None:
        """Write or queue `frame` for the client; past the limits the outbox closes instead."""
        if self.closed:
            return
        if isinstance(frame, str):
            frame = Frame(frame)
        frames = self._frames
        if not frames and not self._sending and self._sink.write_now(frame):
            return
        frames.append(frame)
        self._bytes += len(frame)
        if len(frames) > self._max_frames or self._bytes > self._max_bytes:
            self.close(f"too slow: {len(frames)} messages ({self._bytes} bytes) behind; "
                       "reconnect to get a fresh snapshot")
        else:
            self._notify()

    @property
    def queued(self) -> int:
        """Frames waiting (not yet handed to the socket)."""
        return len(self._frames)

    def close(self, reason: str = "") -> None:
        """Stop: `run` ends (raising Overflow when `reason` is set) and frames are dropped."""
        if not self.closed:
            self.closed, self.reason = True, reason
            self._frames.clear()
            self._bytes = 0
            self._notify()
            if reason and self._sending and self._runner is not None:
                self._runner.cancel()  # it waits on a socket that is not being read

    async def run(self) -> None:
        """Write queued frames until closed; raises Overflow for a slow client."""
        frames = self._frames
        self._runner = asyncio.current_task()
        try:
            while not self.closed:
                if not frames:
                    self._wake = asyncio.get_running_loop().create_future()
                    await self._wake
                    continue
                self._sending = True
                while frames and not self.closed:
                    frame = frames.popleft()
                    self._bytes -= len(frame)
                    await self._sink.write(frame)
                self._sending = False
        except asyncio.CancelledError:
            if not self.reason or self._runner is None:
                raise
            self._runner.uncancel()  # cancelled by close(): the caller still closes the socket
        if self.reason:
            raise Overflow(self.reason)

    def _notify(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)
        self._wake = None
