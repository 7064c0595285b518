"""Motia: event-driven backends from one motia.yaml. Handlers import their types from here.

    from motia import ApiRequest, Context, Response

    async def handler(req: ApiRequest[Order], ctx: Context) -> Response:
        await ctx.emit({"topic": "order.placed", "data": req.body})
        return Response(201, {"id": req.body["id"]})

`motia compile --types` writes motia_types.py with a TypedDict per schema and the typed
request and context of every step (docs/types.md).

Every worker process imports this package, so it loads nothing at import: each name is
imported on first use (the types are typing Protocols; `Response` is one small class).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from motia._handler_api import (
        ApiRequest,
        AppendOp,
        Context,
        Emit,
        EventContext,
        IncrementOp,
        Logger,
        MergeOp,
        Next,
        RemoveOp,
        SetOp,
        State,
        StateItem,
        StatePage,
        StatePath,
        Stream,
        StreamEvent,
        Streams,
        UpdateOp,
    )
    from motia._response import Response

__all__ = [
    "ApiRequest", "AppendOp", "Context", "Emit", "EventContext", "IncrementOp", "Logger",
    "MergeOp", "Next", "RemoveOp", "Response", "SetOp", "State", "StateItem", "StatePage",
    "StatePath", "Stream", "StreamEvent", "Streams", "UpdateOp",
]

_HOME = {name: "motia._handler_api" for name in __all__}
_HOME["Response"] = "motia._response"


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'motia' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value  # the next lookup is a plain global
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
