"""A server frame encoded once, however many connections it goes to.

A change reaches every subscriber of its group as the same JSON text. Encoding it to
UTF-8, and for WebSocket building the frame header, once per change instead of once per
subscriber is most of what fanning out to a thousand connections costs in Python; the
WebSocket bytes are complete frames (server frames are never masked, and the streams
endpoint never compresses), so each connection writes them to its socket as they are.
"""

from __future__ import annotations

import struct

_TEXT = 0x81  # FIN + opcode 1 (text)


class Frame:
    """One server frame: `text` is the JSON clients get; its encodings are made on first use."""

    __slots__ = ("_payload", "_websocket", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._payload: bytes | None = None
        self._websocket: bytes | None = None

    @property
    def payload(self) -> bytes:
        """The text as UTF-8."""
        if self._payload is None:
            self._payload = self.text.encode()
        return self._payload

    @property
    def websocket(self) -> bytes:
        """The whole unmasked, uncompressed WebSocket text frame (RFC 6455 section 5.2)."""
        if self._websocket is None:
            self._websocket = websocket_header(len(self.payload)) + self.payload
        return self._websocket

    def __len__(self) -> int:
        return len(self.payload)

    def __repr__(self) -> str:
        return f"Frame({self.text[:60]!r})"


def websocket_header(length: int) -> bytes:
    """The header of a final, unmasked text frame whose payload is `length` bytes."""
    if length < 126:
        return struct.pack("!BB", _TEXT, length)
    if length < 65536:
        return struct.pack("!BBH", _TEXT, 126, length)
    return struct.pack("!BBQ", _TEXT, 127, length)
