"""Flow control across three real `motia run` replicas on RabbitMQ, with replicas killed.

- order: every key's events run in publish order, one at a time, while a replica is
  killed with SIGKILL and the broker connections are closed; none is lost, and the
  duplicates at-least-once delivery allows are counted and printed;
- concurrency: the slot of a replica killed mid-run frees within seconds (its lease
  runs out), not after the step's timeout; on Redis and on PostgreSQL.
Handlers append their runs to a file the test reads (one line per finished run).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from motia.runner.bus.base import Event
from motia.runner.bus.rabbitmq import RabbitMQBus
from motia.runner.delivery.leases import LEASE_TTL

from ._cluster import STATE_URLS, Cluster, Project, close_all_connections, eventually

pytestmark = pytest.mark.services

YAML = """
    version: 1
    app: {app}
    defaults: {timeout: 60s, retries: 5, backoff: {initial: 100ms, factor: 2, max: 1s}}
    schemas:
      Job:
        type: object
        required: [key, n]
        properties: {key: {type: string}, n: {type: integer}, sleep: {type: number}}
    topics:
      job: {schema: Job}
    flows:
      jobs: {}
    steps:
      work:
        type: event
        subscribes: [job]
        flow: FLOW
        flows: [jobs]
        handler: steps/work.py
"""

FILES = {
    "steps/work.py": """
        import asyncio, json, os, time

        LOG = os.path.join(os.path.dirname(__file__), "..", "runs.jsonl")

        async def handler(data, ctx):
            start = time.time()
            with open(LOG + ".started", "a") as f:
                f.write(json.dumps({"n": data["n"], "pid": os.getpid(), "start": start}) + "\\n")
            await asyncio.sleep(data.get("sleep", 0.02))
            line = {"key": data["key"], "n": data["n"], "start": start, "end": time.time(),
                    "pid": os.getpid()}
            with open(LOG, "a") as f:
                f.write(json.dumps(line) + "\\n")
    """,
}


def _project(cluster: Cluster, flow: str) -> Project:
    return cluster.project(YAML.replace("FLOW", flow), FILES)


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


async def _publish(project: Project, events: list[dict[str, Any]], amqp_url: str,
                   state: str = "redis") -> None:
    """Publish as `motia emit` does (numbered per key in the shared store), in order."""
    from motia.runner.state import create_store

    store = create_store(state, namespace=project.app, url=STATE_URLS[state])
    await store.open()
    bus = RabbitMQBus(project.plan(), store, url=amqp_url)
    await bus.open()
    try:
        for n in range(0, len(events), 50):
            await bus.publish([Event(topic="job", data=data, trace_id=f"t{n}")
                               for data in events[n:n + 50]])
    finally:
        await bus.close(grace=1.0)
        await store.close()


@pytest.mark.timeout(150)
async def test_order_holds_per_key_through_a_killed_replica_and_closed_connections(
    cluster: Cluster,
) -> None:
    # Given three replicas and 8 keys x 25 events that must run in order per key
    project = _project(cluster, "{order: {key: key}}")
    amqp_url = await cluster.vhost()
    r0, r1, r2 = await cluster.start(project, 3, amqp_url=amqp_url)
    keys = [f"k{k}" for k in range(8)]
    events = [{"key": key, "n": n, "sleep": 0.05} for n in range(25) for key in keys]
    await _publish(project, events, amqp_url)
    log = project.root / "runs.jsonl"
    # When a replica is killed with SIGKILL mid-run and every broker connection is closed
    await eventually(lambda: len(_lines(log)) >= 30, timeout=30, what="30 runs")
    workers = set(r2.workers())

    def running_on_r2() -> bool:  # a run started there and not finished: it holds a lock
        done = {(r["n"], r["pid"]) for r in _lines(log)}
        return any(s["pid"] in workers and (s["n"], s["pid"]) not in done
                   for s in _lines(project.root / "runs.jsonl.started"))

    await eventually(running_on_r2, timeout=30, every=0.005, what="a run on r2")
    await r2.kill9()
    await close_all_connections(amqp_url)
    started = time.monotonic()
    await eventually(lambda: {(r["key"], r["n"]) for r in _lines(log)} >= {
        (e["key"], e["n"]) for e in events}, timeout=100, every=0.5, what="every event run")
    elapsed = time.monotonic() - started
    runs = _lines(log)
    # Then every event ran, and each key's runs are in publish order, one at a time
    for key in keys:
        mine = sorted((r for r in runs if r["key"] == key), key=lambda r: r["start"])
        ns = [r["n"] for r in mine]
        assert ns == sorted(ns), f"key {key} ran out of order: {ns}"
        assert sorted(set(ns)) == list(range(25))
        for before, after in zip(mine, mine[1:], strict=False):
            assert before["end"] <= after["start"], f"two runs of {key} overlapped"
    duplicates = sum(n - 1 for n in Counter((r["key"], r["n"]) for r in runs).values())
    print(f"\norder: {len(events)} events sent, {len({(r['key'], r['n']) for r in runs})} "
          f"completed, 0 lost, {duplicates} duplicate run(s); the rest took {elapsed:.1f} s "
          "after the kill and the connection close")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("state", ["redis", "postgres"])
async def test_a_killed_replicas_concurrency_slot_frees_within_seconds(
    cluster: Cluster, state: str,
) -> None:
    # Given one slot for the whole step, three replicas, and a long event holding it
    project = _project(cluster, "{concurrency: {limit: 1}}")
    amqp_url = await cluster.vhost()
    replicas = await cluster.start(project, 3, amqp_url=amqp_url, state=state)
    await _publish(project, [{"key": "a", "n": 0, "sleep": 45}], amqp_url, state)
    started = project.root / "runs.jsonl.started"
    [holder] = await eventually(lambda: _lines(started), timeout=30, what="the long run")
    # When the replica running it is killed with SIGKILL (its worker with it) and a short
    # event comes
    [owner] = [r for r in replicas if holder["pid"] in r.workers()]
    await owner.kill9()
    killed = time.monotonic()
    await _publish(project, [{"key": "a", "n": 1}], amqp_url, state)
    # Then a run starts on another replica within seconds (lease TTL + redelivery), long
    # before the 60 s step timeout
    await eventually(lambda: len(_lines(started)) >= 2, timeout=30, what="the next run")
    waited = time.monotonic() - killed
    print(f"\nconcurrency ({state}): the slot of the killed replica was free again after "
          f"{waited:.1f} s (lease TTL {LEASE_TTL:g} s)")
    assert waited < LEASE_TTL + 6
