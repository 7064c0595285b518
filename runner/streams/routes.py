"""The stream routes on the gateway, and the admin API listing streams for the Workbench.

- GET /__motia/streams                          WebSocket (websocket.py)
- GET /__motia/streams/{stream}/{group}[/{id}]  server-sent events (sse.py)
- GET /__motia/streams.js                       the browser client, always public
- GET /__motia/api/streams                      every stream, its schema and groups
- GET /__motia/api/streams/{stream}/{group}     one group's items with their versions

The client routes take the Workbench token only when the app has no `streams_auth`
(auth.py says why); the admin routes always go through the admin API's guard.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from motia.runner._http_errors import dumps, error_response
from motia.runner.streams import sse, websocket
from motia.runner.streams.auth import StreamsAuth

if TYPE_CHECKING:
    from motia.runner.app import Runtime

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Wrap = Callable[[Handler], Handler]
CLIENT_JS = Path(__file__).resolve().parent / "streams.js"


def add_stream_routes(app: web.Application, runtime: Runtime, public: Wrap, guarded: Wrap) -> None:
    """Mount the stream routes on `app`; `public` and `guarded` are the gateway's wrappers
    without and with the Workbench token guard."""
    auth = StreamsAuth(runtime)
    clients = public if auth.custom else guarded

    async def ws(request: web.Request) -> web.StreamResponse:
        return await websocket.serve_websocket(request, runtime.streams, auth)

    async def events(request: web.Request) -> web.StreamResponse:
        return await sse.serve_sse(request, runtime.streams, auth)

    app.router.add_get("/__motia/streams.js", public(_client_js))
    app.router.add_get("/__motia/streams", clients(ws))
    app.router.add_get("/__motia/streams/{stream}/{group}", clients(events))
    app.router.add_get("/__motia/streams/{stream}/{group}/{id}", clients(events))
    admin = _Admin(runtime)
    app.router.add_get("/__motia/api/streams", guarded(admin.streams))
    app.router.add_get("/__motia/api/streams/{stream}/{group}", guarded(admin.group))


async def _client_js(request: web.Request) -> web.StreamResponse:
    return web.Response(body=CLIENT_JS.read_bytes(), headers={
        "Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "no-cache",
        "Access-Control-Allow-Origin": "*", "X-Content-Type-Options": "nosniff"})


class _Admin:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def streams(self, request: web.Request) -> web.StreamResponse:
        hub = self.rt.streams
        listed = [{"name": s.name, "description": s.description, "schema": s.schema,
                   "schema_name": s.schema_name,
                   "writers": [step.name for step in self.rt.app.steps if s.name in step.streams],
                   "groups": await hub.items.groups(s.name)} for s in self.rt.app.streams]
        return _json({"streams": listed, "fanout": hub.fanout.kind,
                      "subscribers": hub.subscribers()})

    async def group(self, request: web.Request) -> web.StreamResponse:
        stream, group = request.match_info["stream"], request.match_info["group"]
        hub = self.rt.streams
        if stream not in hub.stream_names:
            return error_response(404, "NotFound", f"no stream named {stream!r}")
        items = await hub.items.get_group(stream, group)
        return _json({"stream": stream, "group": group,
                      "version": await hub.items.version(stream, group),
                      "items": [{"id": i, "data": d, "version": v}
                                for i, (v, d) in sorted(items.items())]})


def _json(value: object) -> web.Response:
    return web.Response(text=dumps(value), content_type="application/json")
