"""What a Python handler receives: `ctx` (SPEC section 4) and, for API steps, `req`.

Every `ctx.state.*` call is a round trip to the host, which owns the state store.
`ctx.emit` is one only when the worker's fast check of the topic's schema is not sure the
data is valid (see `Worker.emit`). The same methods serve both kinds of handler:

- called on the worker's event loop (an `async def` handler) they return an awaitable;
- called from a worker thread (a plain `def` handler runs in the thread pool) they block
  that thread until the host answers and return the value itself, so a plain handler
  writes `ctx.state.get("g", "k")` without `await`. The request is still sent by the
  loop (`call_soon_threadsafe`); the thread waits on a `concurrent.futures.Future`.

`ctx.logger.*` never waits: the line is queued for the host and the call returns
(`_pylogger`). On the loop the awaitable is a `Pending` (`_pyawait`), which warns when
it is never awaited.
Runs inside the worker process: keep imports light.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from motia._response import Response
from motia.runner.workers import _protocol as p
from motia.runner.workers._pyawait import Pending
from motia.runner.workers._pylogger import Logger as Logger

if TYPE_CHECKING:
    from motia.runner.workers.python_worker import Worker


#: how a warning names each call: `ctx.state.get`
_NAMES = {op: f"ctx.{op}" for op in p.OPS}


class Headers(dict):  # type: ignore[type-arg]
    """Request headers: names are stored lower case and looked up in any case."""

    __slots__ = ()

    def __getitem__(self, name: str) -> str:
        value: str = dict.__getitem__(self, name.lower() if isinstance(name, str) else name)
        return value

    def __contains__(self, name: object) -> bool:
        return dict.__contains__(self, name.lower() if isinstance(name, str) else name)

    def get(self, name: str, default: Any = None) -> Any:
        return dict.get(self, name.lower() if isinstance(name, str) else name, default)


class Request(dict):  # type: ignore[type-arg]
    """An API request: `req.body` and `req["body"]` both work (also query, params,
    headers, method, path); `req.raw_body` is the body's exact bytes."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"request has no field {name!r}; it has "
                                 f"{sorted({*self, 'raw_body'})}") from None

    @property
    def headers(self) -> Headers:
        """Looked up case-insensitively: `req.headers["Stripe-Signature"]`."""
        found = self.get("headers")
        if type(found) is not Headers:
            found = self["headers"] = Headers(found or {})
        return found

    @property
    def raw_body(self) -> bytes:
        """The body exactly as received (`b""` without one), decoded once from the wire."""
        wire = self.get("raw_body")
        if type(wire) is bytes:
            return wire
        value = self["raw_body"] = p.from_wire(wire)
        return value


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

    def update(self, group: str, key: str, ops: Sequence[Any]) -> Any:
        """Apply `ops` (set, merge, increment, append, remove at a dotted path) atomically;
        the new value. docs/state.md has the rules."""
        return self._ctx._call(p.OP_STATE_UPDATE, [group, key, list(ops)])

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

    def send(self, group: str, event: Mapping[str, Any]) -> Any:
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


class Next:
    """A middleware's `next`: `await next()` runs the next middleware, or the step's
    handler, in its own worker (the host does it: a `next` call) and returns its
    `Response`, which the middleware may change and return."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def __call__(self) -> Any:
        ctx = self._ctx
        worker = ctx._worker
        if threading.get_ident() != worker.loop_thread:
            return _response(worker.call_from_thread(ctx._id, p.OP_NEXT, []))
        call = worker.call(ctx._id, p.OP_NEXT, [])
        out: asyncio.Future[Any] = worker.loop.create_future()
        call.add_done_callback(lambda done: _settle(out, done))
        return Pending(out, "next", None, ctx._id, worker.warn)


def _response(value: dict[str, Any]) -> Response:
    return Response(value["status"], value.get("body"), value.get("headers"))


def _settle(out: asyncio.Future[Any], done: asyncio.Future[Any]) -> None:
    if out.done():
        return
    if done.cancelled():
        out.cancel()
    elif done.exception() is not None:
        out.set_exception(done.exception())  # type: ignore[arg-type]
    else:
        out.set_result(_response(done.result()))


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
        worker = self._worker
        result = worker.emit(self, event["topic"], event.get("data"), event.get("id"),
                             event.get("delay"))
        if threading.get_ident() != worker.loop_thread:
            return result
        return Pending(result, "ctx.emit", event["topic"], self._id, worker.warn)

    def _call(self, op: str, args: list[Any]) -> Any:
        worker = self._worker
        if threading.get_ident() == worker.loop_thread:
            return Pending(worker.call(self._id, op, args), _NAMES[op], None, self._id,
                           worker.warn)
        return worker.call_from_thread(self._id, op, args)

    def __repr__(self) -> str:
        return f"<ctx trace_id={self.trace_id} event_id={self.event_id} attempt={self.attempt}>"
