"""Fan-out of stream updates to 1,000 WebSocket subscribers on one replica, beside a bare
aiohttp WebSocket broadcast of the same messages in the same run.

Motia: a Runtime (memory store, in-process fan-out) whose hub gets `set` calls; the
clients are WebSockets subscribed to one group. Bare: an aiohttp app whose handler sends
each message to every connected socket. Both print delivered messages/s at full speed
(each update in its own turn of the event loop, as handler calls arrive; and in a burst,
all in one turn) and p50/p99 from the send (`set`) to receipt at half the first rate.

The 1,000 clients run in a child process (`--client`), so the server under test and the
clients that measure it do not share one event loop; send and receipt times are both
`time.monotonic()`, one clock for every process on the machine.

    python bench/streams.py [--subscribers 1000] [--updates 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

YAML = """
version: 1
app: benchstreams
streams:
  ticks: {schema: {type: object, required: [n, t]}}
steps:
  noop: {type: noop, streams: [ticks]}
"""
Send = Callable[[dict], Awaitable[None]]


# --- the client process -----------------------------------------------------------------

class _Reader(asyncio.Protocol):
    """One subscriber on a raw socket: RFC 6455 frames parsed by hand, each text frame's
    latency noted. aiohttp's client wakes a task per message, which made the clients,
    not the server, the bottleneck of this benchmark."""

    def __init__(self, latencies: list[float], on_round: Callable[[], None]) -> None:
        self.buffer = b""
        self.upgraded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.latencies, self.on_round = latencies, on_round
        self.skip, self.expected, self.last = 0, 0, 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buffer = self.buffer + data
        if not self.upgraded.done():
            head, sep, buffer = buffer.partition(b"\r\n\r\n")
            if not sep:
                self.buffer = head
                return
            self.upgraded.set_result(None)
        at = 0
        while len(buffer) - at >= 2:
            size, start = buffer[at + 1] & 0x7F, at + 2
            if size == 126:
                if len(buffer) - at < 4:
                    break
                size, start = int.from_bytes(buffer[at + 2:at + 4], "big"), at + 4
            if len(buffer) < start + size:
                break
            if buffer[at] == 0x81:
                self._frame(buffer[start:start + size], now)
            elif buffer[at] == 0x89:  # a ping: the server drops clients that never answer
                self._send(0x8A, buffer[start:start + size])
            at = start + size
        self.buffer = buffer[at:]

    def _frame(self, payload: bytes, now: float) -> None:
        if self.skip:  # the snapshot
            self.skip -= 1
            return
        self.latencies.append(now - json.loads(payload)["data"]["t"])
        self.last = now
        self.expected -= 1
        if self.expected == 0:
            self.on_round()

    def send_text(self, text: str) -> None:
        self._send(0x81, text.encode())

    def _send(self, first: int, payload: bytes) -> None:
        """A client frame, masked with zeros (RFC 6455 wants a mask, any mask)."""
        assert len(payload) < 126
        assert self.transport is not None
        self.transport.write(bytes([first, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)


async def clients(url: str, count: int, subscribe: str, updates: int, rounds: int) -> None:
    """Connect `count` sockets, then per round wait for `updates` messages on each and
    print the round's last receipt time and latency percentiles as one JSON line."""
    sub = json.loads(subscribe)
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    done = [0]
    finished: list[asyncio.Future[None]] = [loop.create_future()]

    def on_round() -> None:
        done[0] += 1
        if done[0] == count:
            finished[0].set_result(None)

    readers = []
    for _ in range(count):
        reader = _Reader(latencies, on_round)
        await loop.create_connection(lambda r=reader: r, parts.hostname, parts.port)
        assert reader.transport is not None
        reader.transport.write(
            (f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        await reader.upgraded
        if sub is not None:
            reader.skip = 1
            reader.send_text(json.dumps({"subscribe": sub}))
            while reader.skip:
                await asyncio.sleep(0.001)
        readers.append(reader)
    for _ in range(rounds):
        for reader in readers:
            reader.expected = updates
        done[0] = 0
        finished[0] = loop.create_future()
        _say({"ready": count})
        try:
            await asyncio.wait_for(asyncio.shield(finished[0]), float(os.environ.get("BENCH_STUCK", 120)))
        except TimeoutError:
            behind = sorted(r.expected for r in readers if r.expected)
            _say({"stuck": f"{len(behind)} sockets still wait for messages: {behind[:20]}"})
            return
        latencies.sort()
        _say({"last": max(r.last for r in readers), "p50": _pct(latencies, 0.5),
              "p99": _pct(latencies, 0.99), "received": len(latencies)})
        latencies.clear()
    for reader in readers:
        assert reader.transport is not None
        reader.transport.close()


def _say(value: dict) -> None:
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


def _pct(values: list[float], p: float) -> float:
    return values[min(int(len(values) * p), len(values) - 1)] * 1000


# --- the server process -----------------------------------------------------------------

class _Clients:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, url: str, count: int, subscribe: dict | None, updates: int) -> _Clients:
        process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--client", url, "--subscribers", str(count),
            "--subscribe", json.dumps(subscribe), "--updates", str(updates),
            stdout=asyncio.subprocess.PIPE)
        return cls(process)

    async def line(self) -> dict:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), 600)
        if not raw:
            raise RuntimeError(f"the client process ended (exit {await self.process.wait()})")
        found: dict = json.loads(raw)
        if "stuck" in found:
            raise RuntimeError(f"the clients got stuck: {found['stuck']}")
        return found

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
        await self.process.wait()


async def _round(send: Send, clients: _Clients, subscribers: int, updates: int,
                 rate: float | None, burst: bool = False) -> tuple[float, float, float]:
    """(delivered messages/s, p50 ms, p99 ms) of `updates` sends: at `rate` per second,
    or as fast as they go, each in its own turn of the event loop (as handler calls
    arrive, one message from a worker each) or, with `burst`, all in one turn."""
    await clients.line()  # ready
    started = time.monotonic()
    for n in range(updates):
        await send({"n": n, "t": time.monotonic()})
        if rate:
            await asyncio.sleep(max(started + (n + 1) / rate - time.monotonic(), 0))
        elif not burst:
            await asyncio.sleep(0)
    result = await clients.line()
    assert result["received"] == updates * subscribers, result
    return updates * subscribers / (result["last"] - started), result["p50"], result["p99"]


Result = tuple[float, float, float, float]


async def _measure(send: Send, url: str, subscribe: dict | None, subscribers: int,
                   updates: int) -> Result:
    """(burst messages/s, sustained messages/s, p50 ms and p99 ms at half the sustained)."""
    clients = await _Clients.start(url, subscribers, subscribe, updates)
    try:
        burst, _, _ = await _round(send, clients, subscribers, updates, None, burst=True)
        rate, _, _ = await _round(send, clients, subscribers, updates, None)
        _, p50, p99 = await _round(send, clients, subscribers, updates, rate / subscribers / 2)
    finally:
        await clients.stop()
    return burst, rate, p50, p99


async def motia(subscribers: int, updates: int) -> Result:
    from motia.compiler import compile_project
    from motia.runner.app import Runtime
    from motia.runner.config import RunConfig

    root = Path(tempfile.mkdtemp())
    (root / "motia.yaml").write_text(YAML)
    app = compile_project(root / "motia.yaml").app
    async with Runtime(app, RunConfig(state="memory", port=0)) as rt:
        hub = rt.streams

        async def send(data: dict) -> None:
            await hub.set("ticks", "g", "i", data)

        return await _measure(send, f"{rt.url}/__motia/streams",
                              {"stream": "ticks", "group": "g"}, subscribers, updates)


async def bare(subscribers: int, updates: int) -> Result:
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

    async def send(data: dict) -> None:
        text = json.dumps({"op": "update", "data": data})
        for ws in list(peers):
            await ws.send_str(text)

    try:
        return await _measure(send, f"http://127.0.0.1:{port}/ws", None, subscribers, updates)
    finally:
        await runner.cleanup()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--client", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--subscribe", default="null", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        return await clients(args.client, args.subscribers, args.subscribe, args.updates, 3)
    b = await bare(args.subscribers, args.updates)
    m = await motia(args.subscribers, args.updates)
    for name, r in (("bare aiohttp broadcast:", b), ("motia streams:         ", m)):
        print(f"{name} {r[1]:,.0f} messages/s delivered (burst {r[0]:,.0f}); at half rate "
              f"p50 {r[2]:.1f} ms, p99 {r[3]:.1f} ms")
    print(f"ratio: {m[1] / b[1]:.2f}x the bare broadcast's delivered messages/s, burst "
          f"{m[0] / b[0]:.2f}x ({args.subscribers} subscribers, {args.updates} updates; "
          "clients in a child process)")


if __name__ == "__main__":
    asyncio.run(main())
