"""The worker wire protocol: message names and framing, shared by the host and the Python worker.

Frames are a 4-byte big-endian length followed by that many bytes of UTF-8 JSON (one
object per frame). PROTOCOL.md is the prose version of this module; a test checks that
every constant below is documented there. This module is imported by the worker process,
so it must stay light: stdlib `json` and `struct` only.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import Any

#: the environment variable naming the worker's end of the socketpair (default 3)
WORKER_FD_ENV = "MOTIA_WORKER_FD"
PROTOCOL_VERSION = 2

HEADER = struct.Struct(">I")
#: frames above this are a protocol error (a runaway payload, or a desynchronised stream)
MAX_FRAME = 256 * 1024 * 1024

#: frames joined into one write at most: a full batch goes out at once, so that the two
#: ends work in parallel on a stream of calls rather than taking turns on big batches
BATCH = 16

#: the longest event id `ctx.emit({..., "id"})` may set (an AMQP message id is a short string)
MAX_EVENT_ID = 200


def bad_event_id(topic: str, event_id: object) -> str | None:
    """What is wrong with an id given to `ctx.emit`, or None (both ends ask this)."""
    if isinstance(event_id, str) and 0 < len(event_id) <= MAX_EVENT_ID:
        return None
    return (f"ctx.emit({topic!r}): id must be a non-empty string of at most {MAX_EVENT_ID} "
            f"characters, got {event_id!r}")

def wire_bytes(raw: bytes) -> str | dict[str, str]:
    """Bytes as a JSON value for an `invoke` payload (an API request's `raw_body`): the
    text itself when it is UTF-8 (decoding and re-encoding valid UTF-8 gives back the
    same bytes), else `{"base64": ...}`. The worker turns it back with `from_wire`."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        import base64

        return {"base64": base64.b64encode(raw).decode("ascii")}


def from_wire(value: object) -> bytes:
    """The bytes `wire_bytes` encoded (`b""` for None)."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, dict) and isinstance(value.get("base64"), str):
        import base64

        return base64.b64decode(value["base64"])
    return b""


#: the longest delay `ctx.emit({..., "delay"})` may ask for, in seconds (a year: longer is
#: almost always a unit slip, such as milliseconds written as seconds)
MAX_DELAY = 365 * 86400.0
DELAY_FORMS = ('a duration such as "30s", "5m", "2h" or "1d" (units ms, s, m, h, d), '
               "or a number of seconds")


def emit_delay(topic: str, value: object, where: str | None = None) -> float:
    """The seconds of a `ctx.emit({..., "delay"})` (both ends ask this); ValueError with
    the accepted forms when it is none of them. The spelling is motia.yaml's durations.
    `where` names the call in the message (default `ctx.emit('<topic>')`)."""
    from motia.compiler.units import parse_duration  # only when a delay is given
    from motia.errors import CompileError

    where = f"ctx.emit({topic!r})" if where is None else where
    try:
        seconds = parse_duration(value)
    except CompileError:
        raise ValueError(f"{where}: delay must be {DELAY_FORMS} from 0, got {value!r}") from None
    if seconds > MAX_DELAY:
        raise ValueError(f"{where}: delay {value!r} is longer than the limit of 365 days; "
                         "publish nearer the time, or store the date and check it from a "
                         "cron step")
    return seconds


# --- message types (the "type" field) ------------------------------------------------------
# worker -> host
READY = "ready"
FATAL = "fatal"
RESULT = "result"
ERROR = "error"
CANCELLED = "cancelled"
LOG = "log"
CALL = "call"
# host -> worker
INVOKE = "invoke"
REPLY = "reply"
CANCEL = "cancel"
SHUTDOWN = "shutdown"
TOPICS = "topics"

WORKER_MESSAGES = (READY, FATAL, RESULT, ERROR, CANCELLED, LOG, CALL)
HOST_MESSAGES = (INVOKE, REPLY, CANCEL, SHUTDOWN, TOPICS)

# --- operations a handler asks of the host (the "op" field of a call) ------------------------
OP_EMIT = "emit"
OP_STATE_GET = "state.get"
OP_STATE_SET = "state.set"
OP_STATE_DELETE = "state.delete"
OP_STATE_GET_GROUP = "state.get_group"
OP_STATE_CLEAR = "state.clear"
OP_STATE_INCR = "state.incr"
OP_STATE_UPDATE = "state.update"
OP_STATE_LIST = "state.list"
# ctx.streams.<name>.*: args start with the stream's name (runner/streams/hub.py answers)
OP_STREAM_SET = "streams.set"
OP_STREAM_GET = "streams.get"
OP_STREAM_DELETE = "streams.delete"
OP_STREAM_GET_GROUP = "streams.get_group"
OP_STREAM_SEND = "streams.send"
#: a middleware's `next()`: the host runs the next middleware or the handler; the value is
#: the response `{"status", "body", "headers"}`
OP_NEXT = "next"
STREAM_OPS = (OP_STREAM_SET, OP_STREAM_GET, OP_STREAM_DELETE, OP_STREAM_GET_GROUP, OP_STREAM_SEND)
OPS = (
    OP_EMIT, OP_STATE_GET, OP_STATE_SET, OP_STATE_DELETE, OP_STATE_GET_GROUP, OP_STATE_CLEAR,
    OP_STATE_INCR, OP_STATE_UPDATE, OP_STATE_LIST, *STREAM_OPS, OP_NEXT,
)

# --- worker exit codes (anything else is a crash) --------------------------------------------
EXIT_OK = 0
EXIT_LOAD_FAILED = 3
EXIT_PROTOCOL = 4



def _not_json(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _encoder(default: Callable[[Any], Any], allow_nan: bool) -> Callable[[Any], str]:
    """The stdlib's C encoder built once (json.dumps rebuilds it on every call, which was
    a third of the encoding time). No circular-reference bookkeeping: a cycle ends in
    RecursionError, which callers treat like any other "not JSON" value."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # an interpreter without the C accelerator
        encoder = json.JSONEncoder(separators=(",", ":"), default=default, allow_nan=allow_nan)
        return encoder.encode
    encode = make(None, default, json.encoder.encode_basestring, None, ":", ",", False,
                  False, allow_nan)
    return lambda value: "".join(encode(value, 0))


_encode = _encoder(_not_json, False)
_encode_lenient = _encoder(repr, True)
#: the decoder's C scanner, called directly: json.loads adds two regex scans per message
_scan: Callable[[str, int], tuple[Any, int]] = (
    json.JSONDecoder().scan_once)  # type: ignore[attr-defined]
_pack = HEADER.pack
_unpack_from = HEADER.unpack_from
#: what encoding a value that is not JSON raises
NOT_JSON = (TypeError, ValueError, RecursionError)


class ProtocolError(Exception):
    """Raised when the byte stream is not a sequence of well-formed frames."""


_string = json.encoder.encode_basestring_ascii


def invoke_frame(inv_id: int, payload: Any, trace_id: str, event_id: str, attempt: int,
                 topic: str | None) -> bytes:
    """The `invoke` frame, formatted around the encoded payload: the hottest message, and
    ~30% cheaper than encoding the equivalent dict."""
    body = (f'{{"type":"invoke","id":{inv_id:d},"ctx":{{"trace_id":{_string(trace_id)},'
            f'"event_id":{_string(event_id)},"attempt":{attempt:d},'
            f'"topic":{"null" if topic is None else _string(topic)}}},'
            f'"payload":{_encode(payload)}}}').encode()
    return _pack(len(body)) + body


def result_frame(inv_id: int, value: Any, emits: list[list[Any]] | None = None) -> bytes:
    """The `result` frame (the worker's hottest message), formatted the same way. `emits`
    are the invocation's accepted `[topic, data as JSON text]` pairs, with the event id
    (or None) as a third item and the delay in seconds as a fourth when the handler set
    them (data None: rejected after all, left out),
    each encoded once, when `ctx.emit` was called."""
    body = f'{{"type":"result","id":{inv_id:d},"value":{_encode(value)}'
    if emits:
        listed = ",".join(_emit_text(entry) for entry in emits if entry[1] is not None)
        body += f',"emits":[{listed}]'
    data = (body + "}").encode()
    return _pack(len(data)) + data


def _emit_text(entry: list[Any]) -> str:
    """`[topic, data text]`, then optionally the event id (or None) and the delay in s."""
    text = f'{{"topic":{_string(entry[0])},"data":{entry[1]}'
    if len(entry) > 2 and entry[2] is not None:
        text += f',"id":{_string(entry[2])}'
    if len(entry) > 3:
        text += f',"delay":{_encode(entry[3])}'
    return text + "}"


def encode(value: Any) -> str:
    """`value` as strict JSON text (no NaN); raises one of NOT_JSON."""
    return _encode(value)


def decode(text: str) -> Any:
    """The value of JSON `text` as the other end will see it."""
    return _scan(text, 0)[0]


def frame(message: dict[str, Any]) -> bytes:
    """One frame; raises one of NOT_JSON when `message` is not strict JSON."""
    body = _encode(message).encode()
    return _pack(len(body)) + body


def frame_lenient(message: dict[str, Any]) -> bytes:
    """A frame for log lines: values that are not JSON are sent as their repr()."""
    body = _encode_lenient(message).encode()
    return _pack(len(body)) + body


class FrameBuffer:
    """The receiving side, for an `asyncio.BufferedProtocol`: the socket reads straight
    into this buffer (`get_buffer`), and `updated(n)` returns the complete messages.

    Why not `asyncio.Protocol.data_received`: asyncio then allocates a fresh 256 KiB bytes
    object per read (an mmap/munmap pair and page faults), which measured ~30 us per read
    on our machines, a fifth of the round-trip budget. The buffer is never resized in
    place (asyncio may still hold a view of it): it is replaced when a frame outgrows it.
    """

    __slots__ = ("_buf", "_end", "_size", "_view")

    def __init__(self, size: int = 256 * 1024) -> None:
        self._size = size
        self._buf = bytearray(size)
        self._view: memoryview = memoryview(self._buf)
        self._end = 0  # bytes received and not yet consumed start at 0 and end here

    def get_buffer(self) -> memoryview:
        return self._view[self._end:] if self._end else self._view

    def updated(self, nbytes: int) -> list[Any]:
        end = self._end + nbytes
        buf, view = self._buf, self._view
        messages: list[Any] = []
        pos = 0
        while end - pos >= 4:
            (size,) = _unpack_from(buf, pos)
            if size > MAX_FRAME:
                raise ProtocolError(f"frame of {size} bytes is over the {MAX_FRAME} byte limit")
            stop = pos + 4 + size
            if stop > end:
                break
            try:
                messages.append(_scan(str(view[pos + 4:stop], "utf-8"), 0)[0])
            except (StopIteration, ValueError) as exc:
                raise ProtocolError(f"frame is not UTF-8 JSON: {exc!r}") from None
            pos = stop
        if pos == end:
            self._end = 0
            if len(buf) > self._size:  # a huge frame is done: give its memory back
                self._buf = bytearray(self._size)
                self._view = memoryview(self._buf)
        else:
            self._keep(pos, end)
        return messages

    def _keep(self, pos: int, end: int) -> None:
        """Move an incomplete frame to the start, in a bigger buffer if it needs one."""
        rest = end - pos
        need = _unpack_from(self._buf, pos)[0] + 4 if rest >= 4 else 4
        if need > len(self._buf):
            bigger = bytearray(max(need, 2 * len(self._buf)))
            bigger[:rest] = self._buf[pos:end]
            self._buf, self._view = bigger, memoryview(bigger)
        elif pos:
            self._buf[:rest] = self._buf[pos:end]
        self._end = rest
