"""Delayed events across replicas: fired when due, none lost, through a restart of each.

Ten `batch` events each make a handler emit 50 (`ctx.emit({..., "delay"})`) at random
delays; the receiving handler records when each arrived. Meanwhile every replica is
restarted in turn (SIGKILL or SIGTERM, then started again), so the schedule is fired by
replicas that did not schedule it, and some of it by replicas that did not exist when it
was scheduled. Each event must arrive within 1 s of its due time, never before it, and
none may be lost; duplicates (at-least-once) are counted and printed. A second test kills
all three at once: what came due while none ran arrives as soon as one is back.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import aiohttp
import pytest
from conftest import require_service

from motia.runner.state.base import DELAYED_GROUP

from ._cluster import Cluster, Replica, open_store

pytestmark = pytest.mark.services

YAML = """
    version: 1
    app: {app}
    schemas:
      Batch:
        type: object
        required: [start, count, max, seed]
        properties: {start: {type: integer}, count: {type: integer}, max: {type: number},
                     seed: {type: integer}}
      Job:
        type: object
        required: [id, due]
        properties: {id: {type: string}, due: {type: number}}
    topics:
      batch: {schema: Batch}
      job.due: {schema: Job}
    steps:
      plan:
        type: event
        subscribes: [batch]
        emits: [job.due]
        handler: steps/plan.py
      run:
        type: event
        subscribes: [job.due]
        concurrency: 32
        handler: steps/run.py
"""

FILES = {
    "steps/plan.py": """
        import random
        import time

        async def handler(data, ctx):
            rnd = random.Random(data["seed"])
            for n in range(data["start"], data["start"] + data["count"]):
                delay = round(rnd.uniform(1.0, data["max"]), 3)
                await ctx.emit({"topic": "job.due", "id": f"j{n}", "delay": delay,
                                "data": {"id": f"j{n}", "due": time.time() + delay}})
    """,
    "steps/run.py": """
        import os
        import time

        async def handler(data, ctx):
            now = time.time()
            n = await ctx.state.incr("seen", data["id"], 1)
            await ctx.state.set("at", f"{data['id']}#{n}",
                                {"t": now, "due": data["due"], "replica": os.getppid()})
    """,
}


async def _emit(session: aiohttp.ClientSession, replica: Replica, data: dict[str, object]) -> None:
    async with session.post(replica.url + "/__motia/api/emit",
                            json={"topic": "batch", "data": data}) as res:
        assert res.status == 200, await res.text()


@pytest.mark.parametrize(("state", "batches", "longest"), [("redis", 10, 20.0),
                                                           ("postgres", 4, 12.0)])
async def test_delayed_events_fire_on_time_through_a_restart_of_every_replica(
    cluster: Cluster, state: str, batches: int, longest: float
) -> None:
    require_service(state)
    # Given three replicas on RabbitMQ and a shared store
    project = cluster.project(YAML, FILES)
    replicas = await cluster.start(project, 3, state=state)
    total = batches * 50
    # When handlers emit `total` events at random delays of 1 s to `longest`
    start = time.time()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(_emit(session, replicas[b % 3], {
            "start": b * 50, "count": 50, "max": longest, "seed": b}) for b in range(batches)))
    # And every replica is restarted in turn while they wait: killed, stopped, killed
    restarts = []
    await asyncio.sleep(1.0)
    for n, replica in enumerate(replicas):
        if n % 2 == 0:
            await replica.kill9()
        else:
            await replica.stop()
        restarts.append(time.time() - start)
        await replica.start()
    # Then every event arrives
    async with open_store(project.app, state) as store:
        deadline = start + longest + 30.0
        while len(seen := await store.get_group("seen")) < total and time.time() < deadline:
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)  # duplicates that are on their way
        seen = await store.get_group("seen")
        arrivals = await store.get_group("at")
        left = await store._items(DELAYED_GROUP)
    first: dict[str, float] = {}
    due: dict[str, float] = {}
    for key, record in arrivals.items():
        job = key.partition("#")[0]
        first[job] = min(first.get(job, record["t"]), record["t"])
        due[job] = record["due"]
    late = sorted(first[j] - due[j] for j in first)
    duplicates = sum(n - 1 for n in seen.values())
    by_replica = Counter(r["replica"] for r in arrivals.values())
    lost = total - len(seen)
    print(f"\ndelayed on rabbitmq+{state}: sent {total}, arrived {len(seen)}, lost {lost}, "
          f"duplicates {duplicates}; lateness p50 {late[len(late) // 2]:.3f} s, "
          f"p99 {late[int(len(late) * 0.99) - 1]:.3f} s, max {late[-1]:.3f} s, "
          f"min {late[0]:.3f} s; restarts at {[round(r, 1) for r in restarts]} s; "
          f"arrivals per replica pid {dict(by_replica)}")
    # None lost, none early, each within a second of due, and the schedule is empty
    assert lost == 0, sorted(set(f"j{n}" for n in range(total)) - set(seen))[:20]
    assert late[0] >= 0.0
    assert late[-1] < 1.0, [(j, round(first[j] - due[j], 3)) for j in first
                            if first[j] - due[j] >= 1.0]
    assert left == {}


async def test_delayed_events_survive_every_replica_killed_at_once(cluster: Cluster) -> None:
    require_service("redis")
    # Given three replicas and 150 events scheduled at random delays of 1 s to 15 s
    project = cluster.project(YAML, FILES)
    replicas = await cluster.start(project, 3, state="redis")
    total = 150
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(_emit(session, replicas[b], {
            "start": b * 50, "count": 50, "max": 15.0, "seed": 100 + b}) for b in range(3)))
    # When every replica is killed at once, and they come back a few seconds later
    await asyncio.sleep(0.5)
    await asyncio.gather(*(r.kill9() for r in replicas))
    down = time.time()
    await asyncio.sleep(2.0)
    for replica in replicas:
        replica.launch()
    first_up = None
    for ready in asyncio.as_completed([r.wait_ready() for r in replicas]):
        await ready
        first_up = first_up or time.time()
    assert first_up is not None
    # Then none is lost: what came due while none ran arrives right after one is back,
    # the rest within a second of due
    async with open_store(project.app, "redis") as store:
        deadline = time.time() + 40.0
        while len(await store.get_group("seen")) < total and time.time() < deadline:
            await asyncio.sleep(0.5)
        seen = await store.get_group("seen")
        arrivals = await store.get_group("at")
    first: dict[str, tuple[float, float]] = {}
    for key, record in arrivals.items():
        job = key.partition("#")[0]
        if job not in first or record["t"] < first[job][0]:
            first[job] = (record["t"], record["due"])
    while_down = [t - max(due, first_up) for t, due in first.values() if due < first_up]
    after = [t - due for t, due in first.values() if due >= first_up]
    print(f"\ndelayed, all replicas killed at once for {first_up - down:.1f} s: sent {total}, "
          f"arrived {len(seen)}, duplicates {sum(n - 1 for n in seen.values())}; due while "
          f"down {len(while_down)} (arrived at most {max(while_down, default=0):.3f} s after "
          f"the first replica was back), due after {len(after)} (lateness max "
          f"{max(after, default=0):.3f} s)")
    assert len(seen) == total
    assert while_down and after
    assert max(while_down) < 1.5  # the replica is ready before its workers all are
    assert min(after) >= 0.0 and max(after) < 1.0
