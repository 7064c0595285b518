"""Flow control across three real `motia run` replicas on RabbitMQ, with replicas killed.

- order: every key's events run in publish order, one at a time, while a replica is
  killed with SIGKILL and the broker connections are closed; none is lost, and the
  duplicates at-least-once delivery allows are counted and printed;
- concurrency: the slot of a replica killed mid-run frees within seconds (its lease
  runs out), not after the step's timeout; and the waiting count GET /__motia/api/flow
  gives is the app's, on every replica: exact while events wait on several, 0 once they
  ran, a killed replica's share gone from the store within seconds; on Redis and on
  PostgreSQL.
Handlers append their runs to a file the test reads (one line per finished run).
"""

from __future__ import annotations

import json
import socket
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from motia.runner.bus.base import Event
from motia.runner.bus.rabbitmq import RabbitMQBus
from motia.runner.delivery.flow.gauge import GAUGE_TTL
from motia.runner.delivery.leases import LEASE_TTL

from ._cluster import (
    STATE_URLS,
    Cluster,
    Project,
    Replica,
    close_all_connections,
    eventually,
    open_store,
)

pytestmark = pytest.mark.services

YAML = """
    version: 1
    app: {app}
    defaults: {timeout: 60s, retries: 5, backoff: {initial: 100ms, factor: 2, max: 1s}}
    schemas:
      Job:
        type: object
        required: [key, n]
        properties: {key: {type: string}, n: {type: integer}, sleep: {type: number},
                     gate: {type: boolean}}
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
        GATE = os.path.join(os.path.dirname(__file__), "..", "release")

        async def handler(data, ctx):
            start = time.time()
            with open(LOG + ".started", "a") as f:
                f.write(json.dumps({"n": data["n"], "pid": os.getpid(), "start": start}) + "\\n")
            while data.get("gate") and not os.path.exists(GATE):  # held until the test says
                await asyncio.sleep(0.02)
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


async def _flow_waiting(replica: Replica) -> int:
    """What `GET /__motia/api/flow` on `replica` says waits on the step's concurrency rule."""
    async with aiohttp.ClientSession() as session, \
            session.get(replica.url + "/__motia/api/flow") as response:
        assert response.status == 200, await response.text()
        [rule] = (await response.json())["steps"]["work"]
    assert rule["rule"] == "concurrency"
    return int(rule["waiting"])


async def _entries(project: Project, state: str) -> dict[str, set[str]]:
    """replica id -> the events its entry in the shared store lists as waiting."""
    async with open_store(project.app, state) as store:
        return {replica: set(entry.get("work", {}))
                for replica, entry in (await store.gauges()).items()}


async def _six(replica: Replica) -> bool:
    return await _flow_waiting(replica) == 6


def _share(entries: dict[str, set[str]], replica: Replica) -> set[str] | None:
    """`replica`'s entry among `entries` (named `<host>-<pid>-<random>`), None if it has none."""
    prefix = f"{socket.gethostname()}-{replica.pid}-"
    return next((mine for name, mine in entries.items() if name.startswith(prefix)), None)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("state", ["redis", "postgres"])
async def test_a_killed_replicas_concurrency_slot_frees_within_seconds_and_waits_are_counted(
    cluster: Cluster, state: str,
) -> None:
    """One cluster for two things that need the same setup (events waiting on one held
    slot), since starting and stopping three replicas is most of a test's time."""
    # Given one slot for the whole step, three replicas, an event holding it (held in its
    # handler until the test ends, far past the 60 s step timeout) and 6 events waiting
    project = _project(cluster, "{concurrency: {limit: 1}}")
    amqp_url = await cluster.vhost()
    replicas = await cluster.start(project, 3, amqp_url=amqp_url, state=state)
    await _publish(project, [{"key": "a", "n": 0, "gate": True}], amqp_url, state)
    started = project.root / "runs.jsonl.started"
    [holder] = await eventually(lambda: _lines(started), timeout=30, what="the held run")
    await _publish(project, [{"key": "a", "n": n} for n in range(1, 7)], amqp_url, state)
    [owner] = [r for r in replicas if holder["pid"] in r.workers()]
    others = [r for r in replicas if r is not owner]

    # Then several replicas deferred some of them, and each replica counts all 6 (the
    # app's count, not its own share)
    async def deferred_on_several() -> bool:
        entries = await _entries(project, state)
        return sum(bool(mine) for mine in entries.values()) >= 2 and any(
            _share(entries, r) for r in others)

    await eventually(deferred_on_several, timeout=20, what="events deferred on 2 replicas")

    for replica in replicas:  # (a gauge: an event on its way back may briefly not count)
        await eventually(lambda r=replica: _six(r), timeout=10, what=f"6 waiting on {replica.name}")

    # When a replica not holding the slot, with events waiting in its share, is killed
    entries = await _entries(project, state)
    bystander, survivor = sorted(others, key=lambda r: not _share(entries, r))
    await bystander.kill9()
    killed = time.monotonic()
    # Then its entry is gone from the store within seconds, and the others, which get every
    # waiting event now, still count 6
    async def share_gone() -> bool:
        return _share(await _entries(project, state), bystander) is None

    await eventually(share_gone, timeout=15, every=0.1, what="the killed replica's entry gone")
    vanished = time.monotonic() - killed
    assert vanished < GAUGE_TTL + 3
    for replica in (owner, survivor):
        await eventually(lambda r=replica: _six(r), timeout=10, what=f"6 waiting on {replica.name}")

    # When the replica running the held event is killed with SIGKILL (its worker with it)
    await owner.kill9()
    killed = time.monotonic()
    # Then a run starts on the last replica within seconds (lease TTL + redelivery), long
    # before the 60 s step timeout
    await eventually(lambda: len(_lines(started)) >= 2, timeout=30, what="the next run")
    waited = time.monotonic() - killed

    # When the gate opens, every event runs (the held one again, on the survivor), and then
    # none waits
    (project.root / "release").write_text("")
    await eventually(lambda: {r["n"] for r in _lines(project.root / "runs.jsonl")}
                     == set(range(7)), timeout=30, what="all 7 events run")

    async def none_waiting() -> bool:
        return await _flow_waiting(survivor) == 0 and not await _entries(project, state)

    await eventually(none_waiting, timeout=10, what="nothing waiting")
    print(f"\nconcurrency ({state}): the slot of the killed replica was free again after "
          f"{waited:.1f} s (lease TTL {LEASE_TTL:g} s); 6 waiting counted on each of 3 "
          f"replicas, a killed replica's share gone after {vanished:.1f} s (TTL {GAUGE_TTL:g} s)")
    assert waited < LEASE_TTL + 6
