"""Flow control's cost and accuracy on RabbitMQ + Redis, one command, one run.

    .venv/bin/python bench/flow.py     # BENCH_EVENTS=3000 per round, BENCH_ROUNDS=5

Throughput: one event step (a trivial Python handler in its worker) with and without
`flow: {concurrency: {limit: 1000, key: key}, rate: {limit: 100000, per: 1s, key: key}}`
(limits set high enough never to bind, 50 keys), each on its own app (own queues, own
Redis namespace) in the same run; after a warm-up of 500 events each, BENCH_EVENTS events are published at
once and the handled events per second counted from the first publish to the last
invocation. The variants alternate for BENCH_ROUNDS rounds (A/B, A/B, ...); the median
counts. Target:
with limits >= 0.8x without.

Rate accuracy: `rate: {limit: 20, per: 1s}` (one key) with a backlog of 700 events;
starts counted over 30 whole windows; target: within 5% of 20 per second.
Prints one line per figure and merges the rows into bench/README.md.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _readme import row, update_rows  # noqa: E402

from motia.compiler.ir import App, Concurrency, FlowControl, Handler, Rate, Step, Topic  # noqa: E402
from motia.runner.app import Runtime  # noqa: E402
from motia.runner.bus.base import Event  # noqa: E402
from motia.runner.config import RunConfig  # noqa: E402
from motia.runner.hooks import Hooks  # noqa: E402

AMQP_URL = os.environ.get("MOTIA_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("MOTIA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
EVENTS = int(os.environ.get("BENCH_EVENTS", "3000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
KEYS = 50
RATE, WINDOWS, BACKLOG = 20, 30, 700
NON_BINDING = FlowControl(concurrency=Concurrency(1000, "key"), rate=Rate(100_000, 1.0, "key"))
HANDLER = "async def handler(data, ctx):\n    return None\n"


class Starts(Hooks):
    """Wall-clock start of every invocation."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def before_invoke(self, step: str, ctx: Any, payload: Any) -> None:
        self.times.append(time.time())


def app_of(root: Path, flow: FlowControl | None) -> App:
    (root / "steps").mkdir(parents=True, exist_ok=True)
    (root / "steps" / "work.py").write_text(HANDLER)
    schema = {"type": "object", "required": ["key"], "properties": {"key": {"type": "string"}}}
    return App(name=f"bench-flow-{uuid.uuid4().hex[:8]}", root=str(root),
               topics=(Topic("job", schema),),
               steps=(Step(name="work", type="event", subscribes=("job",), concurrency=64,
                           handler=Handler("steps/work.py"), flow_control=flow),))


async def started(flow: FlowControl | None, root: Path) -> tuple[Runtime, Starts]:
    starts = Starts()
    config = RunConfig(events="rabbitmq", amqp_url=AMQP_URL, state="redis", state_url=REDIS_URL,
                       port=0, log_format="none", eager=True)
    runtime = Runtime(app_of(root, flow), config, hooks=(starts,))
    await runtime.start()
    return runtime, starts


async def publish(runtime: Runtime, count: int, keys: int) -> float:
    assert runtime.bus is not None
    t0 = time.time()
    for n in range(0, count, 500):
        await runtime.bus.publish([Event(topic="job", data={"key": f"k{i % keys}"},
                                         trace_id=f"t{i}") for i in range(n, min(n + 500, count))])
    return t0


async def until(check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


async def throughput(runtime: Runtime, starts: Starts) -> tuple[float, float]:
    """Handled events per second, and this process's CPU time per event (us)."""
    starts.times.clear()
    cpu = time.process_time()
    t0 = await publish(runtime, EVENTS, KEYS)
    await until(lambda: len(starts.times) >= EVENTS, 120)
    cpu = time.process_time() - cpu
    return len(starts.times) / (max(starts.times) - t0), cpu / EVENTS * 1e6


async def cleanup(runtime: Runtime) -> None:
    import aio_pika
    import redis.asyncio as aioredis

    from motia.runner.bus.rabbitmq import RabbitMQBus
    from motia.runner.state.memory import MemoryStore

    app = runtime.app
    await runtime.stop(1.0)
    async with await aio_pika.connect(AMQP_URL) as connection:
        channel = await connection.channel()
        for name in RabbitMQBus(app, MemoryStore(app.name)).queue_names():
            await channel.queue_delete(name)
        await channel.exchange_delete(f"motia.{app.name}")
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(match=f"motia:{{{app.name}}}:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def rate_accuracy(root: Path) -> tuple[float, int]:
    runtime, starts = await started(FlowControl(rate=Rate(RATE, 1.0)), root)
    try:
        await publish(runtime, BACKLOG, 1)
        first = math.ceil(time.time()) + 1  # a whole window after the backlog is there
        await until(lambda: time.time() >= first + WINDOWS + 0.5, WINDOWS + 10)
        counted = [t for t in starts.times if first <= t < first + WINDOWS]
        return len(counted) / WINDOWS, max(
            sum(1 for t in counted if int(t) == w) for w in range(first, first + WINDOWS))
    finally:
        await cleanup(runtime)


async def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="motia-bench-flow-"))
    try:
        plain, plain_starts = await started(None, root / "plain")
        limited, limited_starts = await started(NON_BINDING, root / "limited")
        try:
            results: dict[str, list[float]] = {"plain": [], "limited": []}
            cpus: dict[str, list[float]] = {"plain": [], "limited": []}
            for runtime, starts in ((plain, plain_starts), (limited, limited_starts)):
                await publish(runtime, 500, KEYS)  # warm up: connections, workers, queues
                await until(lambda s=starts: len(s.times) >= 500, 60)  # type: ignore[misc]
            for n in range(ROUNDS):
                for name, runtime, starts in (("plain", plain, plain_starts),
                                              ("limited", limited, limited_starts)):
                    rate, cpu = await throughput(runtime, starts)
                    results[name].append(rate)
                    cpus[name].append(cpu)
                    print(f"round {n + 1} {name:<8} {rate:8,.0f} events/s  host CPU "
                          f"{cpu:5.0f} us/event", flush=True)
        finally:
            await cleanup(plain)
            await cleanup(limited)
        base, mine = statistics.median(results["plain"]), statistics.median(results["limited"])
        ratio = mine / base
        cpu_base, cpu_mine = statistics.median(cpus["plain"]), statistics.median(cpus["limited"])
        print(f"flow without flow:                        {base:8,.0f} events/s (median)  "
              f"host CPU {cpu_base:.0f} us/event")
        print(f"flow concurrency+rate limits, non-binding {mine:8,.0f} events/s (median)  "
              f"host CPU {cpu_mine:.0f} us/event; {ratio:.2f}x without "
              f"({cpu_base / cpu_mine:.2f}x by CPU); target >= 0.8x: "
              f"{'met' if ratio >= 0.8 else 'NOT met'}")
        per_s, most = await rate_accuracy(root / "rate")
        error = abs(per_s - RATE) / RATE
        print(f"flow rate {RATE}/s over {WINDOWS} s: {per_s:.2f} starts/s ({error:.1%} off), at "
              f"most {most} in one window; target within 5%: {'met' if error <= 0.05 else 'NOT met'}")
        update_rows("flow", [line.replace("| 0.0 | 0.0 |", "| - | - |") for line in [
            row("flow", "RabbitMQ + Redis, 1 event step, no flow:", base, 0, 0,
                f"{EVENTS} at once", "1.00x"),
            row("flow", "same, concurrency + rate limits that do not bind", mine, 0, 0,
                f"{EVENTS} at once, {KEYS} keys", f"{ratio:.2f}x without "
                f"({cpu_base / cpu_mine:.2f}x by host CPU per event)"),
            row("flow", f"rate {RATE}/s, one key, backlog", per_s, 0, 0, f"{WINDOWS} s",
                f"{error:.1%} off the rate, at most {most} per window"),
        ]])  # no latency is measured here
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
