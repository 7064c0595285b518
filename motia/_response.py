"""`motia.Response`: what an API handler (or a middleware) may return instead of a dict.

Imported by the Python worker: stdlib only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Response:
    """An HTTP response: `return Response(201, {"id": order_id}, {"Location": url})`.

    The same as returning `{"status": 201, "body": {...}, "headers": {...}}`. A `str` body
    is sent as text/plain, anything else as JSON, None as an empty body.
    """

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: Any = None,
                 headers: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = dict(headers) if headers else {}

    def to_dict(self) -> dict[str, Any]:
        """The dict form, as it travels to the gateway."""
        return {"status": self.status, "body": self.body, "headers": self.headers}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Response):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Response({self.status!r}, {self.body!r}, {self.headers!r})"
