"""Flow control end to end (concurrency, rate, debounce, order), on the memory bus + memory
store in one process and on RabbitMQ + Redis with two runtimes sharing them (two
replicas). Handlers append their start and end times to a file, so every assertion is on
what really ran, when."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from _runtime_projects import services, write_project

from motia.testing import TestApp

YAML = """
    version: 1
    app: {app}
    defaults: {retries: 3, backoff: {initial: 50ms, factor: 1, max: 50ms}, timeout: 10s,
               concurrency: 16}
    schemas:
      Job:
        type: object
        required: [key, n]
        properties: {key: {type: string}, n: {type: integer}}
    topics:
      job: {schema: Job}
    flows:
      jobs: {}
    steps:
      work:
        type: event
        subscribes: [job]
        flow: {flow}
        flows: [jobs]
        handler: steps/work.py
"""

# Records {key, n, start, end, attempt} per run; `fail` in the data fails that many attempts.
WORK = """
    import asyncio, json, os, time

    LOG = os.path.join(os.path.dirname(__file__), "..", "runs.jsonl")

    async def handler(data, ctx):
        start = time.time()
        await asyncio.sleep(data.get("sleep", 0.01))
        failing = ctx.attempt <= data.get("fail", 0)
        line = {"key": data["key"], "n": data["n"], "start": start, "end": time.time(),
                "attempt": ctx.attempt, "ok": not failing}
        with open(LOG, "a") as f:
            f.write(json.dumps(line) + "\\n")
        if failing:
            raise RuntimeError("flaky")
    """

Runs = list[dict[str, Any]]


class Cluster:
    """`replicas` runtimes of one project on one bus and store; `runs()` reads the log."""

    def __init__(self, root: Path, apps: list[TestApp]) -> None:
        self.root = root
        self.apps = apps

    @property
    def first(self) -> TestApp:
        return self.apps[0]

    def runs(self) -> Runs:
        path = self.root / "runs.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    async def wait_runs(self, done: Callable[[Runs], bool], timeout: float) -> Runs:
        return await self.first.wait_until(lambda: done(self.runs()) and self.runs(),
                                           timeout=timeout, interval=0.05)


Start = Callable[[str], Awaitable[Cluster]]


@pytest.fixture(params=["memory", "rabbitmq"])
async def start(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Start]:
    """Starts the project with a given `flow:` on the memory bus (one runtime), or on
    RabbitMQ + Redis (two runtimes, a unique app name; its queues deleted afterwards)."""
    kind: str = request.param
    options: dict[str, str] = {}
    replicas = 1
    if kind == "rabbitmq":
        services().require_service("rabbitmq")
        services().require_service("redis")
        options = {"amqp_url": services().AMQP_URL, "state": "redis",
                   "state_url": services().REDIS_URL}
        replicas = 2
    name = f"t{uuid.uuid4().hex[:10]}"
    async with AsyncExitStack() as stack:

        async def begin(flow: str) -> Cluster:
            yaml = YAML.replace("{app}", name).replace("{flow}", flow)
            source = write_project(tmp_path, yaml, {"steps/work.py": WORK})
            apps = [TestApp(source, events=kind, **options) for _ in range(replicas)]
            if kind == "rabbitmq":  # after every replica stopped (callbacks run last first)
                stack.push_async_callback(_delete_topology, apps[0])
            for app in apps:
                await stack.enter_async_context(app)
            return Cluster(tmp_path, apps)

        yield begin


async def _delete_topology(app: TestApp) -> None:
    import aio_pika

    from motia.runner.bus.rabbitmq import RabbitMQBus
    from motia.runner.state.memory import MemoryStore

    plan = app.runtime.app if app.runtime is not None else None
    assert plan is not None
    async with await aio_pika.connect(services().AMQP_URL) as connection:
        channel = await connection.channel()
        for queue in RabbitMQBus(plan, MemoryStore(plan.name)).queue_names():
            await channel.queue_delete(queue)
        await channel.exchange_delete(f"motia.{plan.name}")


async def _publish(cluster: Cluster, events: list[dict[str, Any]]) -> None:
    """Publish `events` in order, spread over the replicas' buses (one publisher each)."""
    apps = cluster.apps
    chunks: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for i, data in enumerate(events):
        chunks[i % len(apps)].append(data)

    async def send(app: TestApp, batch: list[dict[str, Any]]) -> None:
        for data in batch:
            await app.emit("job", data)

    await asyncio.gather(*(send(apps[i], batch) for i, batch in chunks.items()))


async def _warm_up(cluster: Cluster) -> None:
    """Run one event of another key on each replica and forget it: a handler start is then
    timed from a running worker, not from the worker process starting up."""
    for i, app in enumerate(cluster.apps):
        await app.emit("job", {"key": f"warm{i}", "n": -1})
    await cluster.wait_runs(lambda r: len(r) >= len(cluster.apps), timeout=15)
    (cluster.root / "runs.jsonl").unlink()


def _most_at_once(runs: Runs) -> dict[str, int]:
    """key -> the most runs of that key that overlapped in time."""
    edges: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for run in runs:
        edges[run["key"]] += [(run["start"], 1), (run["end"], -1)]
    most = {}
    for key, points in edges.items():
        running = peak = 0
        for _, step in sorted(points, key=lambda p: (p[0], p[1])):  # an end before a start
            running += step
            peak = max(peak, running)
        most[key] = peak
    return most


# --- concurrency ---------------------------------------------------------------------------


async def test_concurrency_never_exceeds_the_limit_per_key_and_nothing_is_dropped(
    start: Start,
) -> None:
    # Given at most 2 running at once per key, and 20 keys x 50 events published at once
    cluster = await start("{concurrency: {limit: 2, key: key}}")
    events = [{"key": f"k{k}", "n": n, "sleep": 0.02} for n in range(50) for k in range(20)]
    await _publish(cluster, events)
    # Then all 1,000 ran, each once
    runs = await cluster.wait_runs(lambda r: len(r) >= 1000, timeout=60)
    assert Counter((r["key"], r["n"]) for r in runs) == Counter(
        (e["key"], e["n"]) for e in events)
    # And never more than 2 of one key at any instant, while the keys ran side by side
    assert set(_most_at_once(runs).values()) <= {1, 2}
    assert max(_most_at_once([dict(r, key="all") for r in runs]).values()) > 2


async def test_a_retry_needs_a_slot_like_any_other_delivery(start: Start) -> None:
    # Given one slot per key, and a first event that fails twice before it succeeds
    cluster = await start("{concurrency: {limit: 1, key: key}}")
    await _publish(cluster, [{"key": "a", "n": 0, "fail": 2, "sleep": 0.05}]
                   + [{"key": "a", "n": n, "sleep": 0.05} for n in range(1, 6)])
    runs = await cluster.wait_runs(lambda r: sum(x["ok"] for x in r) >= 6, timeout=30)
    # Then no attempt, first or retry, overlapped another of its key
    assert _most_at_once(runs) == {"a": 1}
    assert len(runs) == 8


# --- rate ----------------------------------------------------------------------------------


async def test_rate_starts_at_most_limit_per_window_per_key(start: Start) -> None:
    # Given 10 starts per second per key, and 2 keys x 30 events published at once
    cluster = await start("{rate: {limit: 10, per: 1s, key: key}}")
    await _warm_up(cluster)
    events = [{"key": f"k{k}", "n": n} for n in range(30) for k in range(2)]
    await _publish(cluster, events)
    runs = await cluster.wait_runs(lambda r: len(r) >= 60, timeout=30)
    # Then every event ran, and no 1 s window (aligned to the clock) saw more than 10
    # starts of one key
    assert sorted((r["key"], r["n"]) for r in runs) == sorted((e["key"], e["n"]) for e in events)
    per_window = Counter((r["key"], int(r["start"])) for r in runs)
    assert max(per_window.values()) <= 10
    # And the limit was the bottleneck, not something slower: 30 a key span at least three
    # windows (the first may be nearly over when they come), about 3 s
    first, last = min(r["start"] for r in runs), max(r["start"] for r in runs)
    assert len({int(r["start"]) for r in runs}) >= 3
    assert 1.0 <= last - first <= 5.0


# --- debounce ------------------------------------------------------------------------------


async def test_debounce_runs_a_burst_once_with_its_last_event(start: Start) -> None:
    # Given a 1 s debounce per key, and a burst of 30 events for each of 3 keys from one
    # publisher (two publishers at once would not agree on which event is the last)
    cluster = await start("{debounce: {wait: 1s, key: key}}")
    for data in [{"key": f"k{k}", "n": n} for n in range(30) for k in range(3)]:
        await cluster.first.emit("job", data)
    # Then while they wait, the rule says how many do
    assert await cluster.first.wait_until(lambda: _waiting(cluster) > 0)
    # And each key ran once, with its burst's last event
    runs = await cluster.wait_runs(lambda r: len(r) >= 3, timeout=15)
    assert sorted((r["key"], r["n"]) for r in runs) == [("k0", 29), ("k1", 29), ("k2", 29)]
    # And once nothing is due any more, none waits
    await cluster.first.wait_until(lambda: _waiting(cluster) == 0, timeout=5)
    assert sorted((r["key"], r["n"]) for r in cluster.runs()) == [
        ("k0", 29), ("k1", 29), ("k2", 29)]


def _waiting(cluster: Cluster, rule: str = "debounce") -> int:
    return sum(app.runtime.flow_waiting.counts().get("work", {}).get(rule, 0)
               for app in cluster.apps if app.runtime is not None)


# --- order ---------------------------------------------------------------------------------


async def test_order_runs_each_key_in_publish_order_one_at_a_time_through_retries(
    start: Start,
) -> None:
    # Given order per key, 5 keys x 12 events from one publisher, and event 3 of each key
    # failing twice before it succeeds
    cluster = await start("{order: {key: key}}")
    events = [{"key": f"k{k}", "n": n, "fail": 2 if n == 3 else 0}
              for n in range(12) for k in range(5)]
    for data in events:
        await cluster.first.emit("job", data)
    runs = await cluster.wait_runs(lambda r: sum(x["ok"] for x in r) >= 60, timeout=60)
    # Then each key's successful runs are in publish order, one at a time, and event 3's
    # two failures came before event 4 ran
    for key in (f"k{k}" for k in range(5)):
        mine = sorted((r for r in runs if r["key"] == key), key=lambda r: r["start"])
        assert [r["n"] for r in mine if r["ok"]] == list(range(12))
        assert [(r["n"], r["attempt"]) for r in mine[3:6]] == [(3, 1), (3, 2), (3, 3)]
    assert set(_most_at_once(runs).values()) == {1}


async def test_an_event_that_fails_its_last_attempt_frees_its_key(start: Start) -> None:
    # Given order per key and an event that fails every attempt
    cluster = await start("{order: {key: key}}")
    for n, fail in enumerate([0, 99, 0]):
        await cluster.first.emit("job", {"key": "a", "n": n, "fail": fail})
    runs = await cluster.wait_runs(lambda r: any(x["n"] == 2 for x in r), timeout=30)
    # Then it became a dead letter after its 4 attempts, and the next event ran after it
    assert [(r["n"], r["ok"]) for r in sorted(runs, key=lambda r: r["start"])] == [
        (0, True), (1, False), (1, False), (1, False), (1, False), (2, True)]
    [letter] = await cluster.first.dead_letters("work")
    assert (letter.data["n"], letter.attempts) == (1, 4)
