"""Fan-out of stream updates to 1,000 WebSocket subscribers on one replica, beside a bare
aiohttp WebSocket broadcast of the same messages in the same run.

Motia: a Runtime (memory store, in-process fan-out) whose hub gets `set` calls; the
clients are aiohttp WebSockets subscribed to one group. Bare: an aiohttp app whose
handler sends each message to every connected socket. Both print delivered messages/s
at full speed and p50/p99 from the send (`set`) to receipt at half that rate.

    python bench/streams.py [--subscribers 1000] [--updates 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

YAML = """
version: 1
app: benchstreams
streams:
  ticks: {schema: {type: object, required: [n, t]}}
steps:
  noop: {type: noop, streams: [ticks]}
"""


async def _clients(url: str, count: int, subscribe: dict | None) -> list:
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    sockets = []
    for _ in range(count):
        ws = await session.ws_connect(url, max_msg_size=0)
        if subscribe is not None:
            await ws.send_json({"subscribe": subscribe})
            await ws.receive()  # the snapshot
        sockets.append(ws)
    return [session, sockets]


async def _receive(sockets: list, expected: int, latencies: list[float]) -> None:
    async def one(ws) -> None:
        for _ in range(expected):
            message = await ws.receive()
            sent = json.loads(message.data)["data"]["t"]
            latencies.append(time.perf_counter() - sent)

    await asyncio.gather(*(one(ws) for ws in sockets))


async def _run(send, sockets: list, updates: int, rate: float | None) -> tuple[float, list[float]]:
    latencies: list[float] = []
    receiving = asyncio.create_task(_receive(sockets, updates, latencies))
    started = time.perf_counter()
    for n in range(updates):
        await send({"n": n, "t": time.perf_counter()})
        if rate:
            await asyncio.sleep(max(started + (n + 1) / rate - time.perf_counter(), 0))
    await receiving
    elapsed = time.perf_counter() - started
    return updates * len(sockets) / elapsed, sorted(latencies)


def _pct(values: list[float], p: float) -> float:
    return values[min(int(len(values) * p), len(values) - 1)] * 1000


async def motia(subscribers: int, updates: int) -> tuple[float, float, float]:
    from motia.compiler import compile_project
    from motia.runner.app import Runtime
    from motia.runner.config import RunConfig

    root = Path(tempfile.mkdtemp())
    (root / "motia.yaml").write_text(YAML)
    app = compile_project(root / "motia.yaml").app
    async with Runtime(app, RunConfig(state="memory", port=0)) as rt:
        session, sockets = await _clients(f"{rt.url}/__motia/streams", subscribers,
                                          {"stream": "ticks", "group": "g"})
        hub = rt.streams
        send = lambda data: hub.set("ticks", "g", "i", data)  # noqa: E731
        rate, _ = await _run(send, sockets, updates, None)
        _, latencies = await _run(send, sockets, updates, rate / subscribers / 2)
        await session.close()
    return rate, _pct(latencies, 0.5), _pct(latencies, 0.99)


async def bare(subscribers: int, updates: int) -> tuple[float, float, float]:
    peers: set[web.WebSocketResponse] = set()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        peers.add(ws)
        async for _ in ws:
            pass
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    session, sockets = await _clients(f"http://127.0.0.1:{port}/ws", subscribers, None)

    async def send(data: dict) -> None:
        text = json.dumps({"op": "update", "data": data})
        for ws in list(peers):
            await ws.send_str(text)

    rate, _ = await _run(send, sockets, updates, None)
    _, latencies = await _run(send, sockets, updates, rate / subscribers / 2)
    await session.close()
    await runner.cleanup()
    return rate, _pct(latencies, 0.5), _pct(latencies, 0.99)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--updates", type=int, default=200)
    args = parser.parse_args()
    b = await bare(args.subscribers, args.updates)
    m = await motia(args.subscribers, args.updates)
    print(f"bare aiohttp broadcast: {b[0]:,.0f} messages/s delivered; at half rate p50 "
          f"{b[1]:.1f} ms, p99 {b[2]:.1f} ms")
    print(f"motia streams:          {m[0]:,.0f} messages/s delivered; at half rate p50 "
          f"{m[1]:.1f} ms, p99 {m[2]:.1f} ms")
    print(f"ratio: {m[0] / b[0]:.2f}x the bare broadcast's delivered messages/s "
          f"({args.subscribers} subscribers, {args.updates} updates)")


if __name__ == "__main__":
    asyncio.run(main())
