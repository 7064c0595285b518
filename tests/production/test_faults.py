"""Nothing is lost when workers, replicas and broker connections die under load.

5,000 events go through `start -> charge (Node.js) -> finish (Python, idempotent: true)`
on three replicas while the test kills workers with SIGKILL, kills a whole replica and
starts it again, and force-closes the replicas' broker connections. Every event must reach
the end. At-least-once delivery means some hops run twice: the test counts and prints
those duplicates. `finish` is `idempotent: true`, so an event it completed is never run
again: each of its duplicate side effects must come from a run whose process was killed
mid-invocation (the only case no runtime can tell apart from "never ran").
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
from conftest import require_service

from motia.runner.bus.base import Event
from motia.runner.bus.rabbitmq import RabbitMQBus
from motia.runner.state.memory import MemoryStore

from ._cluster import (
    Cluster,
    Project,
    Replica,
    close_all_connections,
    eventually,
    open_store,
)

pytestmark = pytest.mark.services

EVENTS = 5000

FAULTS_YAML = """
    version: 1
    app: {app}
    defaults:
      timeout: 10s
      retries: 8
      backoff: {initial: 100ms, factor: 2, max: 1s}
    schemas:
      Job:
        type: object
        required: [id]
        properties: {id: {type: string}}
    topics:
      job.started: {schema: Job}
      job.charged: {schema: Job}
    flows:
      jobs: {}
    steps:
      charge:
        type: event
        subscribes: [job.started]
        emits: [job.charged]
        flows: [jobs]
        handler: steps/charge.js
      finish:
        type: event
        subscribes: [job.charged]
        idempotent: true
        flows: [jobs]
        handler: steps/finish.py
"""

FAULTS_FILES = {
    "steps/charge.js": """
        exports.handler = async (job, ctx) => {
          await ctx.state.incr('charge_runs', job.id, 1);
          await ctx.emit({ topic: 'job.charged', data: job });
        };
    """,
    # The side effect is the counter; the second write says which process made it, so a
    # duplicate can be traced to a killed process (or to none: an idempotency failure).
    "steps/finish.py": """
        import os

        async def handler(job, ctx):
            n = await ctx.state.incr("effects", job["id"], 1)
            await ctx.state.set("effect_runs", f"{job['id']}#{n}", {"pid": os.getpid()})
    """,
}


async def publish_jobs(project: Project, ids: list[str], amqp_url: str) -> None:
    """Put the jobs on the broker as `motia emit` would, in batches, with confirms."""
    bus = RabbitMQBus(project.plan(), MemoryStore(project.app), url=amqp_url)
    await bus.open()
    try:
        for n in range(0, len(ids), 500):
            await bus.publish([Event(topic="job.started", data={"id": i}, trace_id=i)
                               for i in ids[n:n + 500]])
    finally:
        await bus.close(grace=1.0)


async def inflict_faults(replicas: list[Replica], amqp_url: str, log: list[str]) -> None:
    """The fault schedule, spread over the first ~12 s of the run."""
    r0, r1, r2 = replicas
    t0 = time.perf_counter()

    def note(text: str) -> None:
        log.append(f"{time.perf_counter() - t0:.1f}s {text}")

    async def kill_worker(replica: Replica, step: str) -> None:
        pid = await replica.kill_worker(step)
        note(f"kill -9 {step} worker {pid} of {replica.name}")

    await kill_worker(r0, "charge")
    await asyncio.sleep(1.0)
    await kill_worker(r1, "finish")
    await asyncio.sleep(1.0)
    await r2.kill9()
    note(f"kill -9 replica {r2.name}")
    await asyncio.sleep(1.0)
    await kill_worker(r1, "charge")
    await r2.start()
    note(f"replica {r2.name} started again")
    await close_all_connections(amqp_url)
    note("rabbitmqctl close_all_connections")
    await asyncio.sleep(1.5)
    await kill_worker(r0, "finish")
    await asyncio.sleep(1.0)
    await kill_worker(r2, "charge")
    await asyncio.sleep(1.0)
    await kill_worker(r1, "charge")
    await close_all_connections(amqp_url)
    note("rabbitmqctl close_all_connections")


def unexplained_duplicates(effects: dict[str, int], runs: dict[str, dict[str, int]],
                           killed: set[int]) -> dict[str, list[int | None]]:
    """Orders whose side effect ran more than once on processes that were never killed."""
    bad = {}
    for order, count in effects.items():
        pids = [runs.get(f"{order}#{n}", {}).get("pid") for n in range(1, count + 1)]
        survivors = [p for p in pids if p is not None and p not in killed]
        if count > 1 and len(survivors) > 1:
            bad[order] = pids
    return bad


@pytest.mark.timeout(180)  # ~60 s on 2 idle cores; room for a loaded machine
async def test_nothing_is_lost_when_workers_replicas_and_connections_die(
    cluster: Cluster,
) -> None:
    require_service("rabbitmq")
    require_service("redis")
    require_service("node")
    # Given 5,000 events on the broker and three replicas working through them
    project = cluster.project(FAULTS_YAML, FAULTS_FILES)
    amqp_url = await cluster.vhost()
    ids = [f"j{n:05d}" for n in range(EVENTS)]
    await publish_jobs(project, ids, amqp_url)
    replicas = await cluster.start(project, 3, amqp_url=amqp_url)
    started = time.perf_counter()
    # When workers, a replica and the broker connections are killed meanwhile
    log: list[str] = []
    progress: list[str] = []
    async with open_store(project.app) as store:

        async def finished() -> bool:
            done = len(await store.get_group("effects"))
            progress.append(f"{time.perf_counter() - started:.0f}s:{done}")
            return done == EVENTS

        await inflict_faults(replicas, amqp_url, log)
        await eventually(finished, timeout=120, every=2.0, what=f"{EVENTS} finished jobs")
        elapsed = time.perf_counter() - started
        charge_runs = await store.get_group("charge_runs")
        effects = await store.get_group("effects")
        runs = await store.get_group("effect_runs")
        letters = await store.dead_letters()
    killed = set().union(*(r.killed_pids for r in replicas))
    charge_dups = sum(n - 1 for n in charge_runs.values())
    effect_dups = sum(n - 1 for n in effects.values())
    print(f"\nfaults: {'; '.join(log)}")
    print(f"{EVENTS} events finished {elapsed:.1f} s after the replicas started "
          f"({2 * EVENTS / elapsed:.0f} invocations/s); finished over time: {' '.join(progress)}")
    print(f"duplicates: charge ran {charge_dups} extra time(s) "
          f"({Counter(charge_runs.values())}); finish (idempotent) had {effect_dups} duplicate "
          f"side effect(s), all from runs in killed processes")
    # Then every event reached the end, none was dead-lettered
    assert sorted(effects) == ids and sorted(charge_runs) == ids
    assert letters == []
    # And the idempotent step never repeated an event it completed
    assert unexplained_duplicates(effects, runs, killed) == {}
