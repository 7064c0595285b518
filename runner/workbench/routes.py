"""HTTP routes of the Workbench page and the token guard of every /__motia/ path.

The page and its assets are served from the `static/` folder next to this module and
from nowhere else: an asset name is one plain file name, resolved and checked to sit
inside that folder (so `..`, encoded dots, absolute paths, backslashes and symlinks
pointing out all end in a 404, never in a file of the project or the system).

When `motia run` binds a non-loopback host it requires MOTIA_WORKBENCH_TOKEN and adds
`workbench_auth_middleware(token)`: every /__motia/ request must then carry the token,
as `Authorization: Bearer <token>`, as the cookie the page gets, or once as `?token=`
(opening the page from a link, or an EventSource that cannot send headers).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from motia.runner._http_errors import error_response

STATIC_DIR = Path(__file__).resolve().parent / "static"
"""The only folder the Workbench serves files from."""

PREFIX = "/__motia"
TOKEN_COOKIE = "motia_workbench"
"""Cookie set after a `?token=` request so the page's own fetches are authorised."""

_ASSET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*")
_CONTENT_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
}
# The page needs nothing outside its own origin; inline scripts and styles are refused
# so that a value shown on the page (a log line, a state value) can never run as code.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_workbench_routes(
    app: web.Application, wrap: Callable[[Handler], Handler] | None = None
) -> None:
    """Serve the page at GET /__motia/ and its assets at GET /__motia/static/{name}, each
    handler passed through `wrap` when given (the gateway's error and token middlewares)."""
    for path, handler in ((PREFIX, _redirect_to_page), (f"{PREFIX}/", _page),
                          (PREFIX + "/static/{name:.*}", _asset)):
        app.router.add_get(path, wrap(handler) if wrap else handler)


async def _redirect_to_page(request: web.Request) -> web.StreamResponse:
    target = request.rel_url.with_path(f"{PREFIX}/")
    raise web.HTTPFound(location=str(target))


async def _page(request: web.Request) -> web.StreamResponse:
    return _file_response(STATIC_DIR / "index.html")


async def _asset(request: web.Request) -> web.StreamResponse:
    path = resolve_asset(request.match_info["name"])
    if path is None:
        return _error(404, "NotFound", "no such Workbench asset")
    return _file_response(path)


def resolve_asset(name: str, root: Path = STATIC_DIR) -> Path | None:
    """The file `name` names inside `root`, or None when it is not a plain file there.

    Only one path segment of safe characters is accepted; the resolved path (symlinks
    followed) must still be a direct child of `root`.
    """
    if not _ASSET_NAME.fullmatch(name) or ".." in name:
        return None
    base = root.resolve()
    try:
        path = (base / name).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if path.parent != base or not path.is_file():
        return None
    return path


def _file_response(path: Path) -> web.StreamResponse:
    content_type = _CONTENT_TYPES.get(path.suffix, "application/octet-stream")
    headers = {**_SECURITY_HEADERS, "Content-Type": content_type}
    if content_type.startswith("text/") or content_type.endswith(("javascript", "xml")):
        headers["Content-Type"] += "; charset=utf-8"
    return web.Response(body=path.read_bytes(), headers=headers)


def _error(status: int, type_: str, message: str, **headers: str) -> web.Response:
    return error_response(status, type_, message, headers=headers or None)


def workbench_auth_middleware(token: str | None) -> Any:
    """An aiohttp middleware requiring `token` on every /__motia/ path (no-op when None).

    Accepted: header `Authorization: Bearer <token>`, the `motia_workbench` cookie, or
    `?token=<token>` (which also sets the cookie, so the page loaded from a link can
    fetch the admin API). Anything else is a 401 JSON error. Other paths (the app's own
    API steps) are not touched.
    """
    expected = token.encode() if token else None

    @web.middleware
    async def workbench_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if expected is None or not _is_workbench_path(request):
            return await handler(request)
        if _matches(_bearer(request), expected) or _matches(
            request.cookies.get(TOKEN_COOKIE), expected
        ):
            return await handler(request)
        if _matches(request.query.get("token"), expected):
            response = await handler(request)
            if not response.prepared:
                response.set_cookie(
                    TOKEN_COOKIE, token or "", path=PREFIX, httponly=True, samesite="Strict"
                )
            return response
        return _error(
            401,
            "Unauthorized",
            "this Workbench needs its token: send `Authorization: Bearer <MOTIA_WORKBENCH_TOKEN>`"
            " or open /__motia/?token=<MOTIA_WORKBENCH_TOKEN>",
            **{"WWW-Authenticate": 'Bearer realm="motia"'},
        )

    return workbench_auth


def _is_workbench_path(request: web.Request) -> bool:
    # Both the decoded and the raw path are checked: whichever the router matched on,
    # a request that could reach a /__motia/ route is guarded.
    for path in (request.path, request.raw_path):
        lowered = path.lower()
        if lowered == PREFIX or lowered.startswith((PREFIX + "/", PREFIX + "%2f")):
            return True
    return False


def _bearer(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _matches(candidate: str | None, expected: bytes) -> bool:
    return candidate is not None and hmac.compare_digest(candidate.encode(), expected)
