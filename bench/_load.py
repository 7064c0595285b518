"""HTTP load generator for the runtime benchmarks, run as its own process.

    python bench/_load.py URL --concurrency 64 --duration 5 [--rate R] [--method POST --json '{}']

Closed loop (default): `concurrency` keep-alive connections each send the next request
as soon as the previous one answered; this finds the maximum rate. Open loop
(`--rate R`): requests start at a fixed R per second whatever the latency (bounded by
`concurrency` in flight), which is how latency at a given load is measured. Each request
carries a fresh `x-trace-id` so the server side can match its own timestamps to ours.

Two clients (`--client`). `raw` (the default) speaks plain HTTP/1.1 over asyncio
protocols: a prebuilt request but for the trace id, responses framed by Content-Length
(every runtime response has one; a response without it counts as an error). It costs
~25-35 us of CPU per request. `aiohttp` is aiohttp's ClientSession, the "aiohttp client
load loop" issue 4 names, at ~270 us per request. The generator shares the machine with
the server, so the cheaper it is, the less it caps what it measures: with the aiohttp
client, bare aiohttp tops out at the client's speed. Any status >= 400 is an error.

Prints one JSON object: {"requests", "errors", "seconds", "rps", "p50_ms", "p99_ms",
"cpu_us" (this process, per request), "sent": {trace_id: wall-clock send time}} (sent
only with --record).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import aiohttp


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


class BadResponse(Exception):
    """The server answered something this generator does not frame (it is counted as an error)."""


class Connection(asyncio.Protocol):
    """One keep-alive connection: a request, then its whole response, then the next."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("the server closed the connection"))

    def request(self, data: bytes) -> asyncio.Future[int]:
        """Send one request; the future gets the response's status code."""
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            self._fail(BadResponse("a response without Content-Length"))
            return
        stop = head.find(b"\r\n", at + 2)
        length = int(head[at + 17: stop if stop > 0 else len(head)])
        if len(self.buffer) < end + 4 + length:
            return  # the rest of the body is on its way
        status = int(head[9:12])
        del self.buffer[: end + 4 + length]
        waiter, self.waiter = self.waiter, None
        if not waiter.done():
            waiter.set_result(status)

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.close()


class Load:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        url = urlsplit(args.url)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        body = json.dumps(json.loads(args.json)).encode() if args.json else b""
        head = (f"{args.method} {path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
                f"Content-Length: {len(body)}\r\n")
        if args.json:
            head += "Content-Type: application/json\r\n"
        self.head, self.body = head.encode(), body
        self.latencies: list[float] = []
        self.errors = 0
        self.sent: dict[str, float] = {}
        self.measuring = False
        self.idle: deque[Connection] = deque()
        self.opened = 0
        self._prefix = os.urandom(6).hex()
        self._count = 0

    async def connect(self) -> Connection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(Connection, self.host, self.port)
        self.opened += 1
        return conn

    async def one(self, conn: Connection) -> bool:
        """One request on `conn`; False when the connection cannot be used again."""
        self._count += 1
        trace = f"{self._prefix}{self._count:x}"
        data = b"%sx-trace-id: %s\r\n\r\n%s" % (self.head, trace.encode(), self.body)
        started = time.perf_counter()
        wall = time.time()
        try:
            status = await conn.request(data)
            ok = status < 400
        except (ConnectionError, BadResponse, OSError):
            ok = False
        self.record(ok, trace, started, wall)
        return not conn.lost

    def record(self, ok: bool, trace: str, started: float, wall: float) -> None:
        """Count one answered request (the warm-up is not counted)."""
        if self.measuring:
            if ok:
                self.latencies.append(time.perf_counter() - started)
                if self.args.record:
                    self.sent[trace] = wall
            else:
                self.errors += 1

    async def closed_loop(self, until: float) -> None:
        conn = await self.connect()
        while time.perf_counter() < until:
            if not await self.one(conn):
                conn = await self.connect()
        if conn.transport is not None:
            conn.transport.close()

    async def open_loop(self, until: float) -> None:
        interval = 1.0 / self.args.rate
        slots = asyncio.Semaphore(self.args.concurrency)
        tasks: set[asyncio.Task[None]] = set()
        next_at = time.perf_counter()
        while next_at < until:
            delay = next_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            task = asyncio.create_task(self.pooled())
            task.add_done_callback(lambda _t: slots.release())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            next_at += interval
        await asyncio.gather(*tasks)

    async def pooled(self) -> None:
        conn = self.idle.pop() if self.idle else await self.connect()
        if await self.one(conn):
            self.idle.append(conn)

    async def run(self) -> dict[str, Any]:
        args = self.args
        self.measuring = False
        await self._phase(args.warmup)
        self.measuring = True
        cpu = time.process_time()
        started = time.perf_counter()
        await self._phase(args.duration)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        for conn in self.idle:
            if conn.transport is not None:
                conn.transport.close()
        return {
            "requests": len(self.latencies), "errors": self.errors, "seconds": seconds,
            "rps": len(self.latencies) / seconds,
            "p50_ms": percentile(self.latencies, 0.50) * 1000,
            "p99_ms": percentile(self.latencies, 0.99) * 1000,
            "cpu_us": cpu / max(len(self.latencies) + self.errors, 1) * 1e6,
            **({"sent": self.sent} if args.record else {}),
        }

    async def _phase(self, seconds: float) -> None:
        if seconds <= 0:
            return
        until = time.perf_counter() + seconds
        if self.args.rate:
            await self.open_loop(until)
        else:
            await asyncio.gather(*(self.closed_loop(until) for _ in range(self.args.concurrency)))


class AiohttpLoad(Load):
    """The same loops over aiohttp's client: one session, `concurrency` pooled connections."""

    async def run(self) -> dict[str, Any]:
        connector = aiohttp.TCPConnector(limit=self.args.concurrency)
        async with aiohttp.ClientSession(connector=connector) as self.session:
            return await super().run()

    async def one(self, conn: Any = None) -> bool:
        self._count += 1
        trace = f"{self._prefix}{self._count:x}"
        headers = {"x-trace-id": trace}
        if self.body:
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        wall = time.time()
        try:
            async with self.session.request(self.args.method, self.args.url,
                                            data=self.body or None, headers=headers) as res:
                await res.read()
                ok = res.status < 400
        except aiohttp.ClientError:
            ok = False
        self.record(ok, trace, started, wall)
        return True

    async def closed_loop(self, until: float) -> None:
        while time.perf_counter() < until:
            await self.one()

    async def pooled(self) -> None:
        await self.one()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--json", default=None, help="request body (JSON)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rate", type=float, default=0.0, help="open loop: requests/s")
    parser.add_argument("--record", action="store_true", help="print send times by trace id")
    parser.add_argument("--client", choices=("raw", "aiohttp"), default="raw")
    args = parser.parse_args()
    result = asyncio.run((AiohttpLoad if args.client == "aiohttp" else Load)(args).run())
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
