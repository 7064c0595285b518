"""A WebSocket client that can stop reading for real: a socket with a tiny receive buffer.

aiohttp's client keeps reading into its own buffers and the kernel grows a loopback
socket's buffers to tens of megabytes, so "a client that stops reading" needs a raw
socket whose SO_RCVBUF is pinned small. The handshake and frames are RFC 6455, minimal.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
from typing import Any
from urllib.parse import urlsplit


class RawWebSocket:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, url: str, path: str = "/__motia/streams") -> RawWebSocket:
        parts = urlsplit(url)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (parts.hostname, parts.port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=2 ** 16)
        writer.write((f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    async def send_json(self, value: Any) -> None:
        payload = json.dumps(value).encode()
        mask = os.urandom(4)
        assert len(payload) < 126
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
        await self.writer.drain()

    async def read_until_close(self) -> tuple[int, str]:
        """Read (and drop) frames until the server's close frame: its (code, reason)."""
        while True:
            first, second = await self.reader.readexactly(2)
            size = second & 0x7F
            if size == 126:
                (size,) = struct.unpack(">H", await self.reader.readexactly(2))
            elif size == 127:
                (size,) = struct.unpack(">Q", await self.reader.readexactly(8))
            payload = await self.reader.readexactly(size)
            if first & 0x0F == 0x8:
                return struct.unpack(">H", payload[:2])[0], payload[2:].decode()

    def close(self) -> None:
        self.writer.close()
