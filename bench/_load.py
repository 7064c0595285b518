"""HTTP load generator for the runtime benchmarks, run as its own process.

    python bench/_load.py URL --concurrency 64 --duration 5 [--rate R] [--method POST --json '{}']

Closed loop (default): `concurrency` clients each send the next request as soon as the
previous one answered; this finds the maximum rate. Open loop (`--rate R`): requests
start at a fixed R per second whatever the latency (bounded by `concurrency` in flight),
which is how latency at a given load is measured. Each request carries a fresh
`x-trace-id` so the server side can match its own timestamps to ours.

Prints one JSON object: {"requests", "errors", "seconds", "rps", "p50_ms", "p99_ms",
"sent": {trace_id: wall-clock send time}} (sent only with --record).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from typing import Any

import aiohttp


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


class Load:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.latencies: list[float] = []
        self.errors = 0
        self.sent: dict[str, float] = {}
        self.body = json.dumps(json.loads(args.json)).encode() if args.json else None
        self.measuring = False

    async def one(self, session: aiohttp.ClientSession) -> None:
        trace = uuid.uuid4().hex
        headers = {"x-trace-id": trace}
        if self.body is not None:
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        wall = time.time()
        try:
            async with session.request(self.args.method, self.args.url, data=self.body,
                                       headers=headers) as res:
                await res.read()
                ok = res.status < 400
        except aiohttp.ClientError:
            ok = False
        if not self.measuring:
            return
        if ok:
            self.latencies.append(time.perf_counter() - started)
            if self.args.record:
                self.sent[trace] = wall
        else:
            self.errors += 1

    async def closed_loop(self, session: aiohttp.ClientSession, until: float) -> None:
        while time.perf_counter() < until:
            await self.one(session)

    async def open_loop(self, session: aiohttp.ClientSession, until: float) -> None:
        interval = 1.0 / self.args.rate
        slots = asyncio.Semaphore(self.args.concurrency)
        tasks: set[asyncio.Task[None]] = set()
        next_at = time.perf_counter()
        while next_at < until:
            delay = next_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            task = asyncio.create_task(self.one(session))
            task.add_done_callback(lambda _t: slots.release())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            next_at += interval
        await asyncio.gather(*tasks)

    async def run(self) -> dict[str, Any]:
        args = self.args
        connector = aiohttp.TCPConnector(limit=args.concurrency, force_close=False)
        async with aiohttp.ClientSession(connector=connector) as session:
            self.measuring = False
            await self._phase(session, args.warmup)
            self.measuring = True
            started = time.perf_counter()
            await self._phase(session, args.duration)
            seconds = time.perf_counter() - started
        return {
            "requests": len(self.latencies), "errors": self.errors, "seconds": seconds,
            "rps": len(self.latencies) / seconds,
            "p50_ms": percentile(self.latencies, 0.50) * 1000,
            "p99_ms": percentile(self.latencies, 0.99) * 1000,
            **({"sent": self.sent} if args.record else {}),
        }

    async def _phase(self, session: aiohttp.ClientSession, seconds: float) -> None:
        if seconds <= 0:
            return
        until = time.perf_counter() + seconds
        if self.args.rate:
            await self.open_loop(session, until)
        else:
            await asyncio.gather(*(self.closed_loop(session, until)
                                   for _ in range(self.args.concurrency)))


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
    result = asyncio.run(Load(parser.parse_args()).run())
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
