"""How close to due delayed events fire: a burst due at one instant, and a steady stream.

    .venv/bin/python bench/delayed.py     # BENCH_EVENTS=2000, BENCH_REPLICAS=1

For each backend (memory bus + SQLite store, RabbitMQ + Redis, RabbitMQ + PostgreSQL),
BENCH_REPLICAS buses share the store (each runs the schedule's loop, as replicas do) and
one of them consumes with a recording consumer (no handler: this measures the schedule
and the bus, not a worker). Two loads:

  burst   BENCH_EVENTS events all due at the same instant, 2 s after they were scheduled
  steady  BENCH_EVENTS events due evenly over 10 s

Lateness is arrival at the consumer minus due time, and publish (the schedule's part)
minus due time; never negative (nothing fires early). A burst's arrival lateness is
mostly the bus delivering thousands of events at once to one consumer. Prints one line per figure and merges the rows into bench/README.md.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from motia.compiler.ir import App, Handler, Step, Topic
from motia.runner.bus import create_bus
from motia.runner.bus.base import Event, EventBus
from motia.runner.hooks import Hooks
from motia.runner.state import create_store
from motia.runner.state.base import DELAYED_GROUP, StateStore

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _readme import row, update_rows  # the one table every bench merges into  # noqa: E402

AMQP_URL = os.environ.get("MOTIA_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("MOTIA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("MOTIA_BENCH_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
EVENTS = int(os.environ.get("BENCH_EVENTS", "2000"))
REPLICAS = int(os.environ.get("BENCH_REPLICAS", "1"))
BACKENDS = [("memory", "sqlite"), ("rabbitmq", "redis"), ("rabbitmq", "postgres")]


def _app() -> App:
    step = Step(name="due", type="event", subscribes=("later",), concurrency=64,
                handler=Handler("steps/due.py"))
    return App(name=f"bd{uuid.uuid4().hex[:8]}", root="/tmp", topics=(Topic("later"),),
               steps=(step,))


class _Fired(Hooks):
    """When each delayed event was published (the schedule's own lateness)."""

    def __init__(self) -> None:
        self.late: list[float] = []

    def after_delay_fired(self, event: Event, late: float) -> None:
        self.late.append(late)


async def _run(events: str, state: str, load: str) -> tuple[list[float], list[float]]:
    app = _app()
    folder = tempfile.mkdtemp(prefix="motia-bench-delayed-")
    url = {"sqlite": str(Path(folder) / "state.db"), "redis": REDIS_URL,
           "postgres": POSTGRES_URL}[state]
    stores: list[StateStore] = []
    buses: list[EventBus] = []
    arrived: dict[str, float] = {}
    done = asyncio.Event()
    fired = _Fired()

    async def consume(event: Event) -> None:
        arrived.setdefault(event.event_id, time.time())
        if len(arrived) == EVENTS:
            done.set()

    for n in range(REPLICAS if events != "memory" else 1):
        store = create_store(state, namespace=app.name, url=url, root=Path(folder))
        await store.open()
        stores.append(store)
        bus = create_bus(events, app=app, store=store, url=AMQP_URL, hooks=fired)
        await bus.open()
        await bus.start({"due": consume} if n == 0 else {})
        buses.append(bus)
    try:
        now = time.time()
        due = {f"e{i}": (now + 2.0 if load == "burst" else now + 2.0 + 10.0 * i / EVENTS)
               for i in range(EVENTS)}
        batch = [Event(topic="later", data={}, trace_id="t", event_id=i, delayed_until=d)
                 for i, d in due.items()]
        for start in range(0, EVENTS, 200):
            await buses[start // 200 % len(buses)].publish(batch[start:start + 200])
        await asyncio.wait_for(done.wait(), 60.0)
        return sorted(fired.late), sorted(arrived[i] - due[i] for i in due)
    finally:
        for bus in buses:
            await bus.close(1.0)
        await stores[0]._clear(DELAYED_GROUP)
        for store in stores:
            await store.close()
        if events == "rabbitmq":
            await _delete_topology(app)


async def _delete_topology(app: App) -> None:
    import aio_pika

    from motia.runner.bus import _amqp
    from motia.runner.bus.rabbitmq import RabbitMQBus
    from motia.runner.state.memory import MemoryStore

    async with await aio_pika.connect(AMQP_URL) as connection:
        channel = await connection.channel()
        for name in RabbitMQBus(app, MemoryStore(app.name)).queue_names():
            await channel.queue_delete(name)
        await channel.exchange_delete(_amqp.exchange_name(app.name))


async def main() -> None:
    rows = []
    for events, state in BACKENDS:
        for load in ("burst", "steady"):
            try:
                published, late = await asyncio.wait_for(_run(events, state, load), 180.0)
            except TimeoutError:
                for task in asyncio.all_tasks():  # what hangs, to fix it
                    task.print_stack(limit=6)
                raise
            p50, p99 = statistics.median(late), late[int(len(late) * 0.99) - 1]
            pub50, pub99 = statistics.median(published), published[int(len(published) * .99) - 1]
            spread = "all due at once" if load == "burst" else f"{EVENTS / 10:,.0f}/s for 10 s"
            replicas = 1 if events == "memory" else REPLICAS
            print(f"delayed {events}+{state} {load} ({spread}, {replicas} replica(s)): "
                  f"{EVENTS} events, lateness p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
                  f"max {late[-1] * 1000:.0f} ms, min {late[0] * 1000:.0f} ms; published "
                  f"p50 {pub50 * 1000:.0f} ms, p99 {pub99 * 1000:.0f} ms, "
                  f"max {published[-1] * 1000:.0f} ms after due")
            rows.append(row("delayed", f"{events} bus + {state} store, {load}, "
                            f"{replicas} replica(s)", EVENTS / (10.0 if load == "steady" else
                                                                max(late[-1], 1e-3)),
                            p50 * 1000, p99 * 1000, spread,
                            f"lateness max {late[-1] * 1000:.0f} ms (published: p99 "
                            f"{pub99 * 1000:.0f} ms, max {published[-1] * 1000:.0f} ms)"))
    update_rows("delayed", rows)


if __name__ == "__main__":
    asyncio.run(main())
