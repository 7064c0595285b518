"""`cors:` served by the gateway: preflights answered, allowed origins named on responses.

A browser sends `OPTIONS` with `Origin` and `Access-Control-Request-Method` (and
`-Headers`) before a cross-origin request that is not "simple" (a JSON body, a custom
header). From an allowed origin that preflight gets a 204 with the allowed methods and
headers; from any other origin it gets a 204 without `Access-Control-Allow-Origin`,
which is how a browser is told no (an error status would only hide the reason). The
real request then gets `Access-Control-Allow-Origin` when its origin is allowed.

Only the steps' catch-all route goes through it, and only when the app has `cors:`; the
admin API and Workbench stay same-origin.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from multidict import CIMultiDict

from motia.compiler.ir import Cors

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class CorsPolicy:
    """The answers `cors:` calls for; `handle(request, handler)` applies them."""

    def __init__(self, cors: Cors) -> None:
        self.cors = cors
        self.any_origin = "*" in cors.origins
        self.origins = frozenset(cors.origins)
        self.methods = ", ".join(cors.methods)
        self.expose = ", ".join(cors.expose)

    def allowed(self, origin: str) -> bool:
        return self.any_origin or origin.rstrip("/") in self.origins

    async def handle(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """`handler`'s answer to `request` with the CORS headers, or the preflight's."""
        origin = request.headers.get("Origin")
        if origin is None:
            return await handler(request)
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            return self.preflight(request, origin)
        response = await handler(request)
        if self.allowed(origin):
            self._allow(response.headers, origin)
            if self.expose:
                response.headers["Access-Control-Expose-Headers"] = self.expose
        else:
            response.headers.add("Vary", "Origin")
        return response

    def preflight(self, request: web.Request, origin: str) -> web.Response:
        """204 always; the allowing headers only for an allowed origin and method."""
        response = web.Response(status=204)
        wanted = request.headers.get("Access-Control-Request-Method", "").upper()
        if not self.allowed(origin) or wanted not in self.cors.methods:
            response.headers["Vary"] = "Origin"
            return response
        headers = response.headers
        self._allow(headers, origin)
        headers["Access-Control-Allow-Methods"] = self.methods
        asked = request.headers.get("Access-Control-Request-Headers", "")
        allowed = self._headers(asked)
        if allowed:
            headers["Access-Control-Allow-Headers"] = allowed
        headers["Access-Control-Max-Age"] = str(int(self.cors.max_age))
        headers.add("Vary", "Access-Control-Request-Method, Access-Control-Request-Headers")
        return response

    def _allow(self, headers: CIMultiDict[str], origin: str) -> None:
        cors = self.cors
        if self.any_origin and not cors.credentials:
            headers["Access-Control-Allow-Origin"] = "*"
        else:
            headers["Access-Control-Allow-Origin"] = origin
            headers.add("Vary", "Origin")
        if cors.credentials:
            headers["Access-Control-Allow-Credentials"] = "true"

    def _headers(self, asked: str) -> str:
        """The requested headers that are allowed (all of them without `headers:`)."""
        names = [h.strip().lower() for h in asked.split(",") if h.strip()]
        if self.cors.headers is None:
            return ", ".join(names)
        return ", ".join(self.cors.headers)
