"""RabbitMQ 2-hop chain: raw aio-pika vs Motia's RabbitMQ bus vs Celery, one broker, one run.

    .venv/bin/python bench/broker.py     # BENCH_EVENTS=2000 per round, BENCH_ROUNDS=3

Each variant runs the same chain on the same local broker, configured alike: persistent
messages, publisher confirms, manual acks after the work, prefetch 32 per hop.

  (a) raw aio-pika: publish (confirmed) -> consume -> re-publish (confirmed) -> ack -> consume
  (b) Motia: two event steps on RabbitMQBus whose consumers just re-publish / record
  (b2) Motia runtime: the same two steps as Python handlers in worker processes
  (c) Celery: two tasks (acks_late, confirm_publish), a threads-pool worker subprocess

Throughput: BENCH_EVENTS chains pushed as fast as the variant takes them (256 publishes
in flight), chains completed per second; BENCH_ROUNDS rounds interleave the variants and
the median counts. Latency: the same chain paced at half the slowest variant's
throughput, end-to-end (first publish -> second hop done) p50/p99.
Prints one line per figure and merges the rows into bench/README.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import redis.asyncio as aioredis

from motia.compiler.ir import App, Handler, Step, Topic
from motia.runner.bus import _amqp
from motia.runner.bus.base import Event
from motia.runner.bus.rabbitmq import RabbitMQBus
from motia.runner.hooks import Hooks
from motia.runner.state.memory import MemoryStore

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _readme import row, update_rows  # the one table every bench merges into  # noqa: E402

AMQP_URL = os.environ.get("MOTIA_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("MOTIA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
EVENTS = int(os.environ.get("BENCH_EVENTS", "2000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
WINDOW = 256
PREFETCH = 32
PERSISTENT = aio_pika.DeliveryMode.PERSISTENT
LOG = Path(os.environ.get("TMPDIR", "/tmp")) / "motia-bench-celery-worker.log"


@dataclass
class Chain:
    """One variant: how to publish a chain's first event and how many chains completed."""

    name: str
    latencies: list[float] = field(default_factory=list)

    async def setup(self) -> None: ...

    async def publish(self, t0: float) -> None:
        raise NotImplementedError

    async def completed(self) -> list[float]:
        return self.latencies

    async def reset(self) -> None:
        self.latencies.clear()

    async def teardown(self) -> None:
        """Stop consuming; queues stay for the next phase."""

    async def cleanup(self) -> None:
        """Delete what the variant declared on the broker (after its last phase)."""


async def delete_topology(queues: list[str], exchanges: list[str]) -> None:
    async with await aio_pika.connect(AMQP_URL) as conn:
        channel = await conn.channel()
        for name in queues:
            await channel.queue_delete(name)
        for name in exchanges:
            await channel.exchange_delete(name)


# --- (a) raw aio-pika --------------------------------------------------------------------


class RawChain(Chain):
    run = uuid.uuid4().hex[:8]
    names = (f"bench.raw.{run}", f"bench.raw.{run}.hop1", f"bench.raw.{run}.hop2")

    async def setup(self) -> None:
        self.conn = await aio_pika.connect(AMQP_URL)
        self.pub = await self.conn.channel(publisher_confirms=True)
        self.exchange = await self.pub.declare_exchange(
            self.names[0], aio_pika.ExchangeType.TOPIC, durable=True)
        for name, handler, topic in ((self.names[1], self.hop1, "start"),
                                     (self.names[2], self.hop2, "mid")):
            await (await self.pub.declare_queue(name, durable=True)).bind(self.exchange, topic)
            channel = await self.conn.channel(publisher_confirms=False)
            await channel.set_qos(prefetch_count=PREFETCH)
            queue = await channel.declare_queue(name, durable=True)
            await queue.consume(handler)

    async def publish(self, t0: float) -> None:
        body = json.dumps({"t0": t0}).encode()
        await self.exchange.publish(aio_pika.Message(body, delivery_mode=PERSISTENT), "start")

    async def hop1(self, msg: aio_pika.abc.AbstractIncomingMessage) -> None:
        await self.exchange.publish(aio_pika.Message(msg.body, delivery_mode=PERSISTENT), "mid")
        await msg.ack()

    async def hop2(self, msg: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.latencies.append(time.time() - json.loads(msg.body)["t0"])
        await msg.ack()

    async def teardown(self) -> None:
        await self.conn.close()

    async def cleanup(self) -> None:
        await delete_topology(list(self.names[1:]), [self.names[0]])


# --- (b) Motia RabbitMQBus ------------------------------------------------------------------


def bench_app(root: Path = HERE) -> App:
    def step(name: str, topic: str, emits: tuple[str, ...]) -> Step:
        return Step(name=name, type="event", handler=Handler(f"steps/{name}.py"),
                    subscribes=(topic,), emits=emits, workers=1, concurrency=PREFETCH)

    return App(name=f"bench{uuid.uuid4().hex[:8]}", root=str(root),
               topics=(Topic("start"), Topic("mid")),
               steps=(step("hop1", "start", ("mid",)), step("hop2", "mid", ())))


class MotiaChain(Chain):
    app = bench_app()

    async def setup(self) -> None:
        app = self.app
        self.bus = RabbitMQBus(app, MemoryStore(app.name), url=AMQP_URL)
        await self.bus.open()
        await self.bus.start({"hop1": self.hop1, "hop2": self.hop2})

    async def publish(self, t0: float) -> None:
        await self.bus.publish([Event("start", {"t0": t0}, trace_id=uuid.uuid4().hex)])

    async def hop1(self, event: Event) -> None:
        await self.bus.publish([Event("mid", event.data, trace_id=event.trace_id,
                                      source="hop1")])

    async def hop2(self, event: Event) -> None:
        self.latencies.append(time.time() - event.data["t0"])

    async def teardown(self) -> None:
        await self.bus.close()

    async def cleanup(self) -> None:
        names = RabbitMQBus(self.app, MemoryStore(self.app.name)).queue_names()
        await delete_topology(names, [_amqp.exchange_name(self.app.name)])


HANDLERS = {
    "hop1.py": "async def handler(data, ctx):\n"
               "    await ctx.emit({'topic': 'mid', 'data': data})\n",
    "hop2.py": "async def handler(data, ctx):\n    return None\n",
}


class WorkerChain(Chain, Hooks):
    """The whole runtime on RabbitMQ: bus consumers invoking Python worker processes."""

    async def setup(self) -> None:
        from motia.runner.app import Runtime
        from motia.runner.config import RunConfig

        self.root = Path(tempfile.mkdtemp(prefix="motia-bench-broker-"))
        (self.root / "steps").mkdir()
        for name, text in HANDLERS.items():
            (self.root / "steps" / name).write_text(text)
        self.app = bench_app(self.root)
        self.started: dict[str, float] = {}
        config = RunConfig(events="rabbitmq", amqp_url=AMQP_URL, state="memory",
                           role="workers", log_format="none", eager=True, port=0)
        self.runtime = Runtime(self.app, config, hooks=(self,))
        await self.runtime.start()

    async def publish(self, t0: float) -> None:
        trace = uuid.uuid4().hex
        self.started[trace] = t0
        assert self.runtime.bus is not None
        await self.runtime.bus.publish([Event("start", {"t0": t0}, trace_id=trace)])

    def after_invoke(self, step: str, ctx: Any, duration: float, error: Any) -> None:
        if step == "hop2" and error is None:
            self.latencies.append(time.time() - self.started.pop(ctx.trace_id))

    async def teardown(self) -> None:
        await self.runtime.stop(grace=5)
        shutil.rmtree(self.root, ignore_errors=True)

    async def cleanup(self) -> None:
        names = RabbitMQBus(self.app, MemoryStore(self.app.name)).queue_names()
        await delete_topology(names, [_amqp.exchange_name(self.app.name)])


# --- (c) Celery ---------------------------------------------------------------------------


class CeleryChain(Chain):
    async def setup(self) -> None:
        import _celery_chain as chain  # the worker subprocess imports the same module

        self.chain = chain
        self.key = f"bench:celery:{uuid.uuid4().hex[:8]}"
        self.redis = aioredis.Redis.from_url(REDIS_URL)
        self.threads = ThreadPoolExecutor(8)
        # Blocking calls are fine here: once per run, before anything is measured.
        self.log = open(LOG, "ab")  # noqa: SIM115, ASYNC230 -- closed in teardown
        self.worker = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-m", "celery", "-A", "_celery_chain", "worker", "-P", "threads",
             "-c", "8", "-Q", f"{chain.HOP1},{chain.HOP2}", "--without-gossip",
             "--without-mingle", "--without-heartbeat", "-l", "WARNING"],
            cwd=HERE, env={**os.environ, "PYTHONPATH": str(HERE)},
            stdout=self.log, stderr=subprocess.STDOUT)

    async def publish(self, t0: float) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.threads, lambda: self.chain.hop1.apply_async(
            (t0, self.key), queue=self.chain.HOP1))

    async def completed(self) -> list[float]:
        return [float(x) for x in await self.redis.lrange(self.key, 0, -1)]

    async def reset(self) -> None:
        await self.redis.delete(self.key)

    async def teardown(self) -> None:
        self.worker.terminate()
        try:
            self.worker.wait(20)
        except subprocess.TimeoutExpired:
            self.worker.kill()
            self.worker.wait()
        self.log.close()
        await self.reset()
        await self.redis.aclose()
        self.threads.shutdown()

    async def cleanup(self) -> None:
        # The publishing process keeps its declarations cached, so queues are deleted
        # only once, at the very end (deleting them between phases would drop messages).
        hops = [self.chain.HOP1, self.chain.HOP2]
        await delete_topology(hops, hops)


# --- measuring ----------------------------------------------------------------------------


async def until_done(chain: Chain, n: int, timeout: float = 300.0) -> list[float]:
    deadline = time.monotonic() + timeout
    while len(done := await chain.completed()) < n:
        if time.monotonic() > deadline:
            raise SystemExit(f"{chain.name}: only {len(done)} of {n} chains completed "
                             f"within {timeout:g} s (Celery worker log: {LOG})")
        await asyncio.sleep(0.005)
    return done


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by `pid` and its live descendants (Celery's worker, the
    runtime's Python workers): on a shared machine this is the fairer efficiency figure."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        children = " ".join(p.read_text() for p in Path(f"/proc/{pid}/task").glob("*/children"))
    except OSError:  # exited meanwhile
        return 0.0
    return total + sum(tree_cpu(int(c)) for c in children.split())


def broker_pids() -> list[int]:
    """The RabbitMQ server's Erlang VM (when it runs on this machine and /proc shows it)."""
    pids = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "beam.smp":
                pids.append(int(comm.parent.name))
        except OSError:
            continue
    return pids


BROKER = broker_pids()


def broker_cpu() -> float:
    return sum(tree_cpu(pid) for pid in BROKER)


async def flood(chain: Chain, n: int) -> tuple[float, float, float]:
    """Chains per second with up to WINDOW publishes in flight; client and broker CPU ms
    per chain."""
    await chain.reset()
    cpu, broker = tree_cpu(os.getpid()), broker_cpu()
    slots = asyncio.Semaphore(WINDOW)

    async def one() -> None:
        try:
            await chain.publish(time.time())
        finally:
            slots.release()

    start = time.perf_counter()
    tasks = []
    for _ in range(n):
        await slots.acquire()
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    await until_done(chain, n)
    elapsed = time.perf_counter() - start
    return (n / elapsed, 1000 * (tree_cpu(os.getpid()) - cpu) / n,
            1000 * (broker_cpu() - broker) / n)


async def paced(chain: Chain, rate: float, n: int) -> tuple[float, float]:
    """End-to-end p50/p99 (ms) with chains started at a steady `rate` per second."""
    await chain.reset()
    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks = []
    for i in range(n):
        await asyncio.sleep(max(start + i / rate - loop.time(), 0))
        tasks.append(asyncio.create_task(chain.publish(time.time())))
    await asyncio.gather(*tasks)
    latencies = sorted(await until_done(chain, n))
    return (1000 * latencies[len(latencies) // 2],
            1000 * latencies[min(int(len(latencies) * 0.99), len(latencies) - 1)])


@dataclass
class Figure:
    label: str
    rate: float  # median over the rounds
    rounds: list[float]
    cpu: float  # CPU ms per chain, every client process involved (median over the rounds)
    broker: float  # the broker's CPU ms per chain
    p50: float = 0.0
    p99: float = 0.0


async def run(chains: list[Chain]) -> tuple[list[Figure], float]:
    try:
        for chain in chains:
            await chain.setup()
            await flood(chain, 100)  # warm-up (and waits for Celery's worker to be up)
        return await measure(chains)
    finally:
        for chain in chains:
            await chain.teardown()
            await chain.cleanup()


async def measure(chains: list[Chain]) -> tuple[list[Figure], float]:
    """Rounds interleave the variants, so a noisy neighbour hurts them all alike."""
    rates: dict[str, list[float]] = {c.name: [] for c in chains}
    cpus: dict[str, list[float]] = {c.name: [] for c in chains}
    brokers: dict[str, list[float]] = {c.name: [] for c in chains}
    for _ in range(ROUNDS):
        for chain in chains:
            rate, cpu, broker = await flood(chain, EVENTS)
            rates[chain.name].append(rate)
            cpus[chain.name].append(cpu)
            brokers[chain.name].append(broker)
    figures = [Figure(c.name, statistics.median(rates[c.name]), rates[c.name],
                      statistics.median(cpus[c.name]), statistics.median(brokers[c.name]))
               for c in chains]
    pace = min(f.rate for f in figures) / 2
    count = int(min(max(pace * 4, 200), 2000))
    for chain, figure in zip(chains, figures, strict=True):
        figure.p50, figure.p99 = await paced(chain, pace, count)
    return figures, pace


def report(figures: list[Figure], pace: float) -> list[str]:
    by = {f.label.split()[0]: f for f in figures}
    raw, motia, celery = by["(a)"], by["(b)"], by["(c)"]
    lines = [
        f"{f.label}: {f.rate:,.0f} events/s (median of {', '.join(f'{r:,.0f}' for r in f.rounds)});"
        f" CPU ms/event {f.cpu:.2f} client + {f.broker:.2f} broker; end-to-end p50 {f.p50:.1f} ms, p99 {f.p99:.1f} ms"
        f" at {pace:,.0f} events/s"
        for f in figures
    ]
    lines.append(f"ratio Motia/raw aio-pika: {motia.rate / raw.rate:.2f} (target >= 0.60)")
    lines.append(f"ratio Motia/Celery: {motia.rate / celery.rate:.2f} (target >= 1.50)")
    lines.append(f"CPU per event, Motia/raw aio-pika: {motia.cpu / raw.cpu:.2f}; "
                 f"Celery/Motia: {celery.cpu / motia.cpu:.2f}")
    if "(b2)" in by:
        b2 = by["(b2)"]
        lines.append(f"ratio Motia with Python workers/raw aio-pika: {b2.rate / raw.rate:.2f}; "
                     f"/Celery: {b2.rate / celery.rate:.2f}")
    return lines


def readme_rows(figures: list[Figure], pace: float) -> list[str]:
    raw = next(f for f in figures if f.label.startswith("(a)")).rate
    celery = next(f for f in figures if f.label.startswith("(c)")).rate
    return [row("broker", f.label, f.rate, f.p50, f.p99, f"{pace:,.0f} events/s",
                f"{f.rate / raw:.2f}x raw, {f.rate / celery:.2f}x Celery; CPU ms/event "
                f"{f.cpu:.2f} client + {f.broker:.2f} broker")
            for f in figures]


async def main() -> None:
    chains: list[Chain] = [
        RawChain("(a) raw aio-pika 2-hop"),
        MotiaChain("(b) Motia RabbitMQBus, 2 event steps"),
        WorkerChain("(b2) Motia runtime, 2 Python worker steps"),
        CeleryChain("(c) Celery, 2 tasks (threads worker)"),
    ]
    figures, pace = await run(chains)
    for line in report(figures, pace):
        print(line, flush=True)
    if "--no-readme" not in sys.argv:
        update_rows("broker", readme_rows(figures, pace))


if __name__ == "__main__":
    asyncio.run(main())
