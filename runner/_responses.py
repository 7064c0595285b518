"""The one rule for what an API handler (or a middleware) returns, and its HTTP encoding.

A handler returns `Response(status, body, headers)` (the worker sends it as the dict
below) or a dict `{"status": int, "body"?: ..., "headers"?: ...}`, nothing else. An
earlier rule read any other dict as the body of a 200, so `{"status": "shipped"}` was a
500 while `{"status": "shipped", "id": 1}` was a 200: one rule, and a message showing the
accepted shapes, make both the same clear error.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

_RESPONSE_KEYS = frozenset({"status", "body", "headers"})

#: quoted by every "bad response" message, so the fix is in the log line itself
ACCEPTED_SHAPES = ('return Response(status, body, headers) (from motia import Response) '
                   'or a dict {"status": <int 100-599>, "body"?: ..., "headers"?: {...}}')

#: `dumps` with its encoder built once (json.dumps builds one per call when given options)
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


class BadResponse(ValueError):
    """Raised by `split_response` when a handler's return value is not a response."""


def split_response(value: Any) -> tuple[int, Any, dict[str, str]]:
    """(status, body, headers) of a handler's return value; BadResponse otherwise."""
    if type(value) is dict and "status" in value:
        status = value["status"]
        if type(status) is int and 100 <= status <= 599 and _RESPONSE_KEYS.issuperset(value):
            headers = value.get("headers")
            if not headers:
                return status, value.get("body"), {}
            if isinstance(headers, dict):
                return status, value.get("body"), {str(k): str(v) for k, v in headers.items()}
    raise BadResponse(_describe(value))


def _describe(value: Any) -> str:
    shown = _short(value)
    if isinstance(value, dict):
        extra = sorted(set(map(str, value)) - _RESPONSE_KEYS)
        status = value.get("status")
        if "status" not in value:
            problem = "it has no int `status`"
        elif type(status) is not int:
            problem = f"its `status` is {status!r}, not an int"
        elif not 100 <= status <= 599:
            problem = f"its `status` {status} is not an HTTP status code (100-599)"
        elif extra:
            problem = f"it has keys other than status, body and headers: {', '.join(extra)}"
        else:
            problem = f"its `headers` is {_short(value.get('headers'))}, not an object"
        hint = (' (to send this dict as the body, wrap it: {"status": 200, "body": ...})'
                if "status" not in value or extra or type(status) is not int else "")
        return f"the handler returned {shown}: {problem}{hint}; {ACCEPTED_SHAPES}"
    return f"the handler returned {shown}, which is not a response; {ACCEPTED_SHAPES}"


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def make_response(status: int, body: Any, headers: dict[str, str]) -> web.Response:
    """`body` encoded: None empty, a str as text/plain, anything else as JSON."""
    if body is None:
        return web.Response(status=status, headers=headers or None)
    if isinstance(body, str):
        data, content_type = body.encode(), "text/plain"
    else:
        data, content_type = _dumps(body).encode(), "application/json"
    if not headers:  # the common case, and the cheapest way aiohttp builds a response
        return web.Response(status=status, body=data, content_type=content_type, charset="utf-8")
    if not any(k.lower() == "content-type" for k in headers):
        headers = {**headers, "Content-Type": f"{content_type}; charset=utf-8"}
    return web.Response(status=status, body=data, headers=headers)


def response_dict(response: web.Response) -> dict[str, Any]:
    """What `await next()` gives a middleware: the response as {"status", "body",
    "headers"}, the body decoded back (JSON, text, or None when empty)."""
    raw = response.body if isinstance(response.body, bytes) else b""
    body: Any = None
    if raw:
        text = raw.decode("utf-8", errors="replace")
        body = text
        if response.content_type == "application/json":
            try:
                body = json.loads(text)
            except ValueError:
                pass
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return {"status": response.status, "body": body, "headers": headers}
