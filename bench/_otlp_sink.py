"""An OTLP/HTTP endpoint that accepts every export and drops it (bench/observability.py):
the far end of the exporter, in its own process so it costs the server nothing.

    python bench/_otlp_sink.py PORT      # prints "ready" once listening
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web


async def export(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=b"", content_type="application/x-protobuf")  # an empty response


async def serve(port: int) -> None:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/traces", export)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()  # until terminated


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
