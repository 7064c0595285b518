"""JSON error bodies for every HTTP failure: never an HTML page, never a traceback.

Every error a client sees has the shape `{"error": {"type", "message", "id"}}` (plus
`"errors": [...]` for validation failures). The id is also written to the log line, so
a user reporting "error 3f2a..." can be matched to the server side.
"""

from __future__ import annotations

import functools
import json
import traceback
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from motia.runner.logs import Logger

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: the request's trace id, set by the gateway so the error middleware can log it
TRACE_ID_KEY = web.RequestKey("motia_trace_id", str)

_TYPES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    500: "InternalError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


def error_id() -> str:
    return uuid.uuid4().hex[:16]


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def error_response(
    status: int,
    type_: str,
    message: str,
    *,
    id: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """The one JSON error shape; `id` is minted when not given."""
    body: dict[str, Any] = {"error": {"type": type_, "message": message, "id": id or error_id()}}
    if errors is not None:
        body["errors"] = errors
    return web.Response(
        status=status, text=dumps(body), content_type="application/json", headers=headers
    )


Middleware = Callable[..., Awaitable[web.StreamResponse]]  # (request, *, handler)


def error_middleware(logger: Logger, max_body: int) -> Middleware:
    """Turn aiohttp's HTTPException pages and any unexpected exception into JSON errors."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except Exception as exc:  # the last line of defence: log it, answer JSON
            return failure_response(request, exc, logger, max_body)

    return middleware


def failure_response(
    request: web.Request, exc: Exception, logger: Logger, max_body: int
) -> web.StreamResponse:
    """The JSON answer for an exception a handler let through: aiohttp's HTTP errors keep
    their status, anything else is a logged 500. Call it from an `except` block (it logs
    the traceback being handled); a redirect or other non-error HTTPException is re-raised."""
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        return _from_http_exception(request, exc, logger, max_body)
    eid = error_id()
    logger.error(
        f"{request.method} {request.path}: unexpected {type(exc).__name__}: {exc}",
        {"error_id": eid, "traceback": traceback.format_exc()},
        trace_id=request.get(TRACE_ID_KEY),
    )
    return error_response(500, "InternalError", "internal error; see the server log", id=eid)


def with_middlewares(handler: Handler, middlewares: list[Middleware]) -> Handler:
    """`handler` wrapped by `middlewares` (the first outermost), as aiohttp would, for
    routes that need them on an app that has none: app-wide middlewares cost every
    request, the API steps' included, two extra coroutine layers (~8 us of ~88)."""
    for middleware in reversed(middlewares):
        handler = functools.partial(middleware, handler=handler)
    return handler


def _from_http_exception(
    request: web.Request, exc: web.HTTPException, logger: Logger, max_body: int
) -> web.Response:
    eid = error_id()
    headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
    message = _message(request, exc, max_body)
    if exc.status >= 500:
        logger.error(message, {"error_id": eid, "status": exc.status})
    return error_response(
        exc.status, _TYPES.get(exc.status, "HTTPError"), message, id=eid, headers=headers or None
    )


def _message(request: web.Request, exc: web.HTTPException, max_body: int) -> str:
    if exc.status == 404:
        return f"no route for {request.method} {request.path}"
    if exc.status == 405:
        allowed = exc.headers.get("Allow", "")
        return f"{request.method} is not allowed on {request.path}; allowed: {allowed}"
    if exc.status == 413:
        return too_large_message(max_body)
    return exc.reason or _TYPES.get(exc.status, "error")


async def read_body(request: web.Request, logger: Logger) -> bytes | None:
    """The request's body, or None when the client went away before sending all of it:
    a debug line, not an error with a traceback (nothing of ours failed, and nobody is
    left to answer). A body over the size limit still raises HTTPRequestEntityTooLarge."""
    try:
        return await request.read()
    except ConnectionResetError:  # aiohttp: "Connection lost" mid-body
        logger.debug(f"{request.method} {request.path}: the client disconnected before "
                     "sending the whole body; nothing was run",
                     trace_id=request.get(TRACE_ID_KEY))
        return None


def too_large_message(max_body: int) -> str:
    return (f"request body is larger than the limit of {max_body} bytes; "
            "raise it with --max-body or MOTIA_MAX_BODY")
