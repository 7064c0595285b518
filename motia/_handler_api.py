"""The types a handler programs against: what `req` and `ctx` are.

They are Protocols (the runtime hands a handler its own light objects, which have these
members) plus a few TypedDicts for the dicts a handler passes in. `motia compile --types`
writes per-step versions of them into motia_types.py: `CreateOrderRequest` is an
`ApiRequest[Order]`, and `CreateOrderContext` a `Context` whose `emit` takes only the
step's topics, each with its own data type. docs/types.md shows both in use.

Everything here is typing only: importing it costs the worker nothing it does not already
load (stdlib `typing`).

The awaitable members (`ctx.emit`, every `ctx.state.*` and `ctx.streams.*` call) are
typed for `async def` handlers, which await them. A plain `def` handler runs in a thread
and gets the values themselves, without `await`; type such a handler's `ctx` as `Any`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, NotRequired, Protocol, TypeAlias, TypedDict, TypeVar

from motia._response import Response

__all__ = [
    "ApiRequest", "AppendOp", "Context", "Emit", "EventContext", "IncrementOp", "Logger",
    "MergeOp", "Next", "RemoveOp", "SetOp", "State", "StateItem", "StatePage", "Stream",
    "StatePath", "StreamEvent", "Streams", "UpdateOp",
]


class Emit(TypedDict):
    """What `ctx.emit` takes: `{"topic": "order.placed", "data": {...}}`.

    `topic` must be in the step's `emits:` and `data` must match the topic's schema, else
    the call raises EmitError at once. Events are published when the handler succeeds
    (an API step's before its response is sent), never for a failed attempt.
    """

    topic: str
    data: Any
    #: the event id (`ctx.event_id` downstream); default: derived from this invocation
    id: NotRequired[str]
    #: publish this much later, durably: a duration such as `"30s"` or `"5m"`
    delay: NotRequired[str | float]


# Type parameters with defaults (PEP 696), so that a bare `ApiRequest` or `Context` means
# "any body" / "any emit" even under `mypy --strict`. typing.TypeVar takes `default=`
# only from Python 3.13: checkers read typing_extensions' (they ship it), and at run time
# the default changes nothing.
if TYPE_CHECKING:
    from typing_extensions import TypeVar as _TypeVar

    BodyT_co = _TypeVar("BodyT_co", covariant=True, default=Any)
    EmitT_contra = _TypeVar("EmitT_contra", contravariant=True, default=Emit)
    ItemT = _TypeVar("ItemT", default=Any)
else:
    BodyT_co = TypeVar("BodyT_co", covariant=True)
    EmitT_contra = TypeVar("EmitT_contra", contravariant=True)
    ItemT = TypeVar("ItemT")


# --- the request ----------------------------------------------------------------------


class ApiRequest(Protocol[BodyT_co]):
    """What an API handler gets as `req`; `ApiRequest[Order]` when the body is an Order.

    The body has already been checked against the step's `body:` schema (a request that
    breaks it was answered 400 before the handler ran).
    """

    @property
    def body(self) -> BodyT_co:
        """The parsed JSON body (None when the request has none)."""
        ...

    @property
    def raw_body(self) -> bytes:
        """The body exactly as the client sent it (`b""` when there is none): what a
        webhook signature, such as Stripe's `t=...,v1=...` HMAC-SHA256, is computed over."""
        ...

    @property
    def query(self) -> Mapping[str, Any]:
        """Query parameters: a string each, or a list of strings for a parameter the
        step's `query:` schema declares as an array (`?tag=a&tag=b`)."""
        ...

    @property
    def params(self) -> Mapping[str, Any]:
        """Path parameters, each a string: `/orders/{id}` gives `req.params["id"]`.
        (Typed `Any` here so that a step's own request type in motia_types.py can name
        its parameters exactly.)"""
        ...

    @property
    def headers(self) -> Mapping[str, str]:
        """Request headers, looked up case-insensitively (`req.headers["Stripe-Signature"]`)."""
        ...

    @property
    def method(self) -> str:
        """The HTTP method, upper case."""
        ...

    @property
    def path(self) -> str:
        """The request path, without the query string."""
        ...


# --- state ----------------------------------------------------------------------------

#: a path inside a value: dotted (`"address.city"`, `""` for the whole value) or a list of
#: segments, for keys that contain dots
StatePath: TypeAlias = str | Sequence[str]


class SetOp(TypedDict):
    """`{"set": path, "value": v}`: put `v` at `path`."""

    set: StatePath
    value: Any


class MergeOp(TypedDict):
    """`{"merge": path, "value": {...}}`: shallow-merge an object into the one at `path`."""

    merge: StatePath
    value: Mapping[str, Any]


class IncrementOp(TypedDict):
    """`{"increment": path, "by": n}`: add `n` (default 1) to the number at `path`."""

    increment: StatePath
    by: NotRequired[float]


class AppendOp(TypedDict):
    """`{"append": path, "value": v}`: add `v` to the end of the array at `path`."""

    append: StatePath
    value: Any


class RemoveOp(TypedDict):
    """`{"remove": path}`: delete what is at `path` (`""`: the whole key)."""

    remove: StatePath


#: one operation of `ctx.state.update`
UpdateOp: TypeAlias = SetOp | MergeOp | IncrementOp | AppendOp | RemoveOp


class StateItem(TypedDict):
    """One entry of a `StatePage`."""

    key: str
    value: Any


class StatePage(TypedDict):
    """One page of `ctx.state.list`: pass `cursor` back for the next (None after the last)."""

    items: list[StateItem]
    cursor: str | None


class State(Protocol):
    """`ctx.state`: JSON values by group and key, shared by every step of the app, both
    languages and every replica. A missing key reads as None."""

    def get(self, group: str, key: str) -> Awaitable[Any]:
        """The value stored at `group`/`key`, or None."""
        ...

    def set(self, group: str, key: str, value: Any) -> Awaitable[Any]:
        """Store a JSON value at `group`/`key`, replacing what was there."""
        ...

    def delete(self, group: str, key: str) -> Awaitable[Any]:
        """Remove `group`/`key` (nothing happens when it is not there)."""
        ...

    def get_group(self, group: str) -> Awaitable[dict[str, Any]]:
        """Every key of `group` with its value (use `list` for a big group)."""
        ...

    def clear(self, group: str) -> Awaitable[Any]:
        """Remove every key of `group`."""
        ...

    def incr(self, group: str, key: str, by: float = 1) -> Awaitable[float]:
        """Add `by` to the number at `group`/`key` atomically (missing counts as 0) and
        return the new number."""
        ...

    def update(self, group: str, key: str, ops: Sequence[UpdateOp]) -> Awaitable[Any]:
        """Apply `ops` to the value atomically, on every store, and return the new value:
        no concurrent update is ever lost."""
        ...

    def list(self, group: str, prefix: str | None = None, limit: int = 100,
             cursor: str | None = None) -> Awaitable[StatePage]:
        """One page of `group` in key order (keys starting with `prefix`), stable while
        the group changes."""
        ...


# --- logging --------------------------------------------------------------------------

ExcInfo: TypeAlias = (bool | BaseException
                      | tuple[type[BaseException], BaseException, TracebackType | None]
                      | tuple[None, None, None] | None)


class Logger(Protocol):
    """`ctx.logger`: structured log lines, each tagged with the step, trace id and event id.

    Takes the stdlib's call shapes (`info("order %s", oid, extra={"total": 3})`) and
    Motia's own (`info("order placed", {"id": oid})`: a mapping as the only argument is
    the line's data). A logging call never fails the invocation.
    """

    def debug(self, msg: object, *args: object, exc_info: ExcInfo = None,
              stack_info: bool = False, extra: Mapping[str, object] | None = None) -> None:
        """Log at debug level."""
        ...

    def info(self, msg: object, *args: object, exc_info: ExcInfo = None,
             stack_info: bool = False, extra: Mapping[str, object] | None = None) -> None:
        """Log at info level."""
        ...

    def warn(self, msg: object, *args: object, exc_info: ExcInfo = None,
             stack_info: bool = False, extra: Mapping[str, object] | None = None) -> None:
        """Log at warning level (also spelt `warning`)."""
        ...

    def warning(self, msg: object, *args: object, exc_info: ExcInfo = None,
                stack_info: bool = False, extra: Mapping[str, object] | None = None) -> None:
        """Log at warning level."""
        ...

    def error(self, msg: object, *args: object, exc_info: ExcInfo = None,
              stack_info: bool = False, extra: Mapping[str, object] | None = None) -> None:
        """Log at error level."""
        ...

    def critical(self, msg: object, *args: object, exc_info: ExcInfo = None,
                 stack_info: bool = False, extra: Mapping[str, object] | None = None) -> None:
        """Log at critical level."""
        ...

    def exception(self, msg: object, *args: object, exc_info: ExcInfo = True,
                  stack_info: bool = False, extra: Mapping[str, object] | None = None) -> None:
        """Log at error level with the traceback of the exception being handled."""
        ...


# --- streams --------------------------------------------------------------------------


class StreamEvent(TypedDict):
    """What `ctx.streams.<name>.send` takes: an ephemeral event, sent and not stored."""

    type: str
    data: Any


class Stream(Protocol[ItemT]):
    """One stream declared under `streams:`: items by group and id, pushed to every client
    subscribed to the group (or the item) as they change."""

    def set(self, group: str, id: str, data: ItemT) -> Awaitable[None]:
        """Create or replace the item `group`/`id` (checked against the stream's schema)."""
        ...

    def get(self, group: str, id: str) -> Awaitable[ItemT | None]:
        """The item, or None."""
        ...

    def delete(self, group: str, id: str) -> Awaitable[None]:
        """Remove the item; subscribers get a `delete`."""
        ...

    def get_group(self, group: str) -> Awaitable[dict[str, ItemT]]:
        """Every item of `group` by id."""
        ...

    def send(self, group: str, event: StreamEvent) -> Awaitable[None]:
        """Send `{"type", "data"}` to the group's subscribers without storing it."""
        ...


class Streams(Protocol):
    """`ctx.streams`: one attribute per stream declared under `streams:` in motia.yaml."""

    def __getattr__(self, name: str) -> Stream[Any]:
        """`ctx.streams.messages` is the stream named `messages`."""
        ...


# --- the context ----------------------------------------------------------------------


class Context(Protocol[EmitT_contra]):
    """What every handler gets as `ctx`; `Context[E]` when its emits are typed `E`
    (motia_types.py defines one per step, whose `emit` takes only that step's topics)."""

    @property
    def trace_id(self) -> str:
        """The trace this invocation belongs to: set by the API request (or its
        `traceparent`/`x-trace-id` header) or cron tick that started it, and carried by
        every event it causes."""
        ...

    @property
    def event_id(self) -> str:
        """The id of the event (or request, or tick) being handled: the same on every
        retry and redelivery, so a handler can recognise a repeat."""
        ...

    @property
    def attempt(self) -> int:
        """1 for the first attempt, 2 for the first retry, and so on."""
        ...

    @property
    def topic(self) -> str | None:
        """The topic of the event being handled (None for API and cron steps)."""
        ...

    @property
    def state(self) -> State:
        """Shared state: see `State`."""
        ...

    @property
    def logger(self) -> Logger:
        """Structured logging: see `Logger`."""
        ...

    @property
    def streams(self) -> Streams:
        """The app's streams: see `Streams`."""
        ...

    def emit(self, event: EmitT_contra) -> Awaitable[Any]:
        """Emit an event, published when the handler succeeds: see `Emit`."""
        ...


#: the context of an event handler: the same members (the name reads well in signatures)
EventContext = Context


# --- middleware -----------------------------------------------------------------------


class Next(Protocol):
    """A middleware's third argument: `response = await next()` runs the next middleware
    (or, after the last, the step's handler), each in its own workers, and returns its
    `Response`, which the middleware may change and return. Call it at most once."""

    def __call__(self) -> Awaitable[Response]:
        """Run the rest of the chain; its response."""
        ...
