"""What a Python handler receives: `ctx` (SPEC section 4) and, for API steps, `req`.

Every `ctx.state.*` call is a round trip to the host, which owns the state store.
`ctx.emit` is one only when the worker's fast check of the topic's schema is not sure the
data is valid (see `Worker.emit`). The same methods serve both kinds of handler:

- called on the worker's event loop (an `async def` handler) they return an awaitable;
- called from a worker thread (a plain `def` handler runs in the thread pool) they block
  that thread until the host answers and return the value itself, so a plain handler
  writes `ctx.state.get("g", "k")` without `await`. The request is still sent by the
  loop (`call_soon_threadsafe`); the thread waits on a `concurrent.futures.Future`.

`ctx.logger.*` never waits: the line is queued for the host and the call returns.
Runs inside the worker process: keep imports light.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from motia.runner.workers import _protocol as p

if TYPE_CHECKING:
    from motia.runner.workers.python_worker import Worker


class Request(dict):  # type: ignore[type-arg]
    """An API request: `req.body` and `req["body"]` both work (also query, params,
    headers, method, path)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"request has no field {name!r}; it has {sorted(self)}") from None


class Logger:
    """`ctx.logger`: structured lines tagged by the host with step, trace id and event id."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def _log(self, level: str, msg: Any, data: Any) -> None:
        ctx = self._ctx
        ctx._worker.send_log({"type": p.LOG, "id": ctx._id, "level": level, "msg": str(msg),
                              "data": data})

    def debug(self, msg: Any, data: Any = None) -> None:
        self._log("debug", msg, data)

    def info(self, msg: Any, data: Any = None) -> None:
        self._log("info", msg, data)

    def warn(self, msg: Any, data: Any = None) -> None:
        self._log("warn", msg, data)

    warning = warn

    def error(self, msg: Any, data: Any = None) -> None:
        self._log("error", msg, data)


class State:
    """`ctx.state`: shared JSON state, the same groups Node.js handlers see."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def get(self, group: str, key: str) -> Any:
        return self._ctx._call(p.OP_STATE_GET, [group, key])

    def set(self, group: str, key: str, value: Any) -> Any:
        return self._ctx._call(p.OP_STATE_SET, [group, key, value])

    def delete(self, group: str, key: str) -> Any:
        return self._ctx._call(p.OP_STATE_DELETE, [group, key])

    def get_group(self, group: str) -> Any:
        return self._ctx._call(p.OP_STATE_GET_GROUP, [group])

    def clear(self, group: str) -> Any:
        return self._ctx._call(p.OP_STATE_CLEAR, [group])

    def incr(self, group: str, key: str, by: float = 1) -> Any:
        return self._ctx._call(p.OP_STATE_INCR, [group, key, by])

    def update(self, group: str, key: str, ops: list[dict[str, Any]]) -> Any:
        """Apply `ops` (set, merge, increment, append, remove at a dotted path) atomically;
        the new value. docs/state.md has the rules."""
        return self._ctx._call(p.OP_STATE_UPDATE, [group, key, ops])

    def list(self, group: str, prefix: str | None = None, limit: int = 100,
             cursor: str | None = None) -> Any:
        """One page of `group` in key order: {"items": [{"key", "value"}], "cursor"}; pass
        the cursor back for the next page (None after the last)."""
        return self._ctx._call(p.OP_STATE_LIST, [group, prefix, limit, cursor])


class Stream:
    """`ctx.streams.<name>`: items pushed to subscribed clients as they change."""

    __slots__ = ("_ctx", "name")

    def __init__(self, ctx: Context, name: str) -> None:
        self._ctx = ctx
        self.name = name

    def set(self, group: str, id: str, data: Any) -> Any:  # noqa: A002 - SPEC's name
        """Create or replace the item; StreamError when `data` breaks the stream's schema."""
        return self._ctx._call(p.OP_STREAM_SET, [self.name, group, id, data])

    def get(self, group: str, id: str) -> Any:  # noqa: A002
        return self._ctx._call(p.OP_STREAM_GET, [self.name, group, id])

    def delete(self, group: str, id: str) -> Any:  # noqa: A002
        return self._ctx._call(p.OP_STREAM_DELETE, [self.name, group, id])

    def get_group(self, group: str) -> Any:
        return self._ctx._call(p.OP_STREAM_GET_GROUP, [self.name, group])

    def send(self, group: str, event: dict[str, Any]) -> Any:
        """Send `{"type", "data"}` to the group's subscribers; not stored."""
        return self._ctx._call(p.OP_STREAM_SEND, [self.name, group, event])

    def __repr__(self) -> str:
        return f"<stream {self.name}>"


class Streams:
    """`ctx.streams`: `ctx.streams.messages`, or `ctx.streams["chat-log"]` for any name."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def __getattr__(self, name: str) -> Stream:
        if name.startswith("__"):
            raise AttributeError(name)
        return Stream(self._ctx, name)

    def __getitem__(self, name: str) -> Stream:
        return Stream(self._ctx, name)


class Context:
    """`ctx`: ids of this invocation plus emit, state, streams and logger."""

    __slots__ = ("_emits", "_id", "_logger", "_state", "_worker", "attempt", "event_id", "topic",
                 "trace_id")

    def __init__(self, worker: Worker, inv_id: int, ids: dict[str, Any],
                 emits: list[list[Any]]) -> None:
        self._worker = worker
        self._id = inv_id
        self._emits = emits
        self.trace_id: str = ids.get("trace_id", "")
        self.event_id: str = ids.get("event_id", "")
        self.attempt: int = ids.get("attempt", 1)
        self.topic: str | None = ids.get("topic")
        self._state: State | None = None
        self._logger: Logger | None = None

    @property
    def state(self) -> State:
        if self._state is None:
            self._state = State(self)
        return self._state

    @property
    def streams(self) -> Streams:
        return Streams(self)

    @property
    def logger(self) -> Logger:
        if self._logger is None:
            self._logger = Logger(self)
        return self._logger

    def emit(self, event: Mapping[str, Any]) -> Any:
        """Emit `{"topic", "data"}` when the handler succeeds; raises EmitError at once
        when the topic is not declared or the data breaks its schema. `"id"` sets the
        emitted event's id (else one derived from this event's id, stable on a retry);
        `"delay"` (`"30s"`, or seconds) publishes it that much later, durably."""
        if not isinstance(event, dict) or not isinstance(event.get("topic"), str):
            raise TypeError(f'ctx.emit takes {{"topic": str, "data": ...}}, got {event!r}')
        return self._worker.emit(self, event["topic"], event.get("data"), event.get("id"),
                                 event.get("delay"))

    def _call(self, op: str, args: list[Any]) -> Any:
        worker = self._worker
        if threading.get_ident() == worker.loop_thread:
            return worker.call(self._id, op, args)
        return worker.call_from_thread(self._id, op, args)

    def __repr__(self) -> str:
        return f"<ctx trace_id={self.trace_id} event_id={self.event_id} attempt={self.attempt}>"
