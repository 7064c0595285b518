"""Nothing lost at the edges, on real replicas: a deleted step queue, messages that are not
Motia events, a Redis outage, a replica killed while it holds a run claim.

Three `motia run` replicas on RabbitMQ + Redis serve API -> charge (Python) -> complete
(Node.js); both event steps are `idempotent: true`. Each handler run appends a line to a
file of the project (not to the store, which one test takes down), so the test counts
every run, per order, whatever happened to the store. Each case prints one line:
sent (orders accepted with 202), completed, lost, duplicates (extra runs of a step's
side effect), dead letters.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import aio_pika
import aiohttp
import pytest
from conftest import AMQP_URL, require_service

from motia.runner.delivery.leases import LEASE_TTL

from ._cluster import Cluster, Project, eventually, open_store, queue_stats
from ._orders import ORDERS_YAML, place_paced

pytestmark = pytest.mark.services

# The orders pipeline of the other replica tests, with both event steps idempotent
EDGES_YAML = ORDERS_YAML
for _handler in ("steps/charge.py", "steps/complete.js"):
    EDGES_YAML = EDGES_YAML.replace(f"        flows: [orders]\n        handler: {_handler}",
                                    f"        idempotent: true\n        flows: [orders]\n"
                                    f"        handler: {_handler}")

EDGES_FILES = {
    "steps/place_order.py": """
        async def handler(req, ctx):
            await ctx.emit({"topic": "order.placed", "data": req.body})
            return {"status": 202, "body": {"id": req.body["id"]}}
    """,
    # 200 ms a charge, so that some are always running when a fault strikes
    "steps/charge.py": """
        import asyncio
        import os
        import pathlib
        import time

        RUNS = pathlib.Path(__file__).resolve().parent.parent / "runs"

        async def handler(order, ctx):
            await asyncio.sleep(0.2)
            with open(RUNS / "charge.log", "a") as log:
                log.write(f"{order['id']} {os.getpid()} {time.time()}\\n")
            await ctx.emit({"topic": "order.charged", "data": order})
    """,
    "steps/complete.js": """
        const fs = require('fs');
        const path = require('path');
        const RUNS = path.join(__dirname, '..', 'runs');

        exports.handler = async (order, ctx) => {
          fs.appendFileSync(path.join(RUNS, 'complete.log'), `${order.id} ${process.pid}\\n`);
        };
    """,
}


def edges_project(cluster: Cluster, yaml: str = EDGES_YAML,
                  files: dict[str, str] | None = None) -> Project:
    project = cluster.project(yaml, files or EDGES_FILES)
    (project.root / "runs").mkdir()
    return project


def runs(project: Project, step: str) -> Counter[str]:
    """How many times `step`'s handler ran per order id."""
    path = project.root / "runs" / f"{step}.log"
    lines = path.read_text().split("\n") if path.exists() else []
    return Counter(line.split()[0] for line in lines if line.strip())


@dataclass
class Counts:
    sent: int
    completed: int
    lost: int
    duplicates: int
    dead_letters: int

    def line(self, case: str) -> str:
        return (f"{case}: sent {self.sent}, completed {self.completed}, lost {self.lost}, "
                f"duplicates {self.duplicates}, dead letters {self.dead_letters}")


async def settle(project: Project, sent: list[str], letters: int = 0,
                 quiet: float = 60.0) -> Counts:
    """Wait until every sent order completed, or until none completed for `quiet` s (a
    loaded machine is slow, not stuck: progress, not a fixed deadline), then count."""
    loop = asyncio.get_running_loop()
    done, last = -1, loop.time()
    while True:
        complete = set(runs(project, "complete"))
        if set(sent) <= complete:
            break
        if len(complete) > done:
            done, last = len(complete), loop.time()
        elif loop.time() - last > quiet:
            break  # counted as lost below, with the rest
        await asyncio.sleep(0.5)
    charge, complete = runs(project, "charge"), runs(project, "complete")
    extra = sum(n - 1 for n in charge.values()) + sum(n - 1 for n in complete.values())
    return Counts(len(sent), len(set(sent) & set(complete)), len(set(sent) - set(complete)),
                  extra, letters)


async def delete_queue(name: str, vhost_url: str = AMQP_URL) -> None:
    """Delete one of the test app's own queues, as an operator (or a policy) would."""
    async with await aio_pika.connect(vhost_url) as connection:
        await (await connection.channel()).queue_delete(name)


# --- a deleted step queue -------------------------------------------------------------------


@pytest.mark.timeout(240)
async def test_deleting_a_step_queue_mid_run_loses_no_order(cluster: Cluster) -> None:
    require_service("node")
    # Given three replicas taking 60 orders/s
    project = edges_project(cluster)
    replicas = await cluster.start(project, 3)
    ids = [f"d{n:04d}" for n in range(600)]
    sending = asyncio.create_task(place_paced(replicas, ids, rate=60))
    # When the charge step's queue is deleted 3 s into the run
    await eventually(lambda: len(runs(project, "complete")) >= 150, 60, every=0.05,
                     what="the run to be under way")
    await delete_queue(f"motia.{project.app}.charge")
    deleted = time.time()
    sent = await sending
    # Then every accepted order completed, and the idempotent steps ran none twice
    async with open_store(project.app) as store:
        counts = await settle(project, sent)
        counts.dead_letters = len(await store.dead_letters())
    print("\n" + counts.line("deleted queue") + f"; longest time no charge ran after the deletion: "
          f"{charge_pause(project, deleted):.1f} s")
    # What a failure needs to tell apart: a queue nobody consumes again (ready > 0,
    # consumers 0) from one still draining (consumers > 0), and what each replica did
    charge = await queue_stats(project.app)
    said = "\n".join(line for r in replicas for line in r.output().splitlines()
                     if "WARN" in line or "ERROR" in line or "---" in line)
    assert (counts.sent, counts.completed, counts.lost, counts.dead_letters) == (600, 600, 0, 0), (
        f"charge ran {len(runs(project, 'charge'))} orders; queues {charge}; replicas said:\n"
        f"{said[-6000:]}")


def charge_pause(project: Project, at: float) -> float:
    """The longest time no charge ran from `at` on (how long the step had no consumer)."""
    path = project.root / "runs" / "charge.log"
    times = sorted(float(line.split()[2]) for line in path.read_text().splitlines()
                   if line.strip())
    later = [at] + [t for t in times if t > at]
    return max((b - a for a, b in zip(later, later[1:], strict=False)), default=0.0)


# --- messages that are not Motia events ----------------------------------------------------

MALFORMED = [
    (b"<order id='1'/>", {}, "the body is not JSON"),
    (b'{"id": "o-1", "amount": 5}', {}, "the message has no 'trace_id' and no 'event_id' header"),
    (bytes(range(256)) * 20480, {"trace_id": "t", "event_id": "big"}, "the body is not JSON"),
    (b'{"id": "o-2", "amount": 5}', {"trace_id": "t", "event_id": "e", "attempt": "abc"},
     "header 'attempt' is not a number: 'abc'"),
]


def motia(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "motia", *args], capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.mark.timeout(240)
async def test_unreadable_messages_are_dead_letters_and_orders_flow_on(cluster: Cluster) -> None:
    require_service("node")
    # Given three replicas taking orders
    project = edges_project(cluster)
    replicas = await cluster.start(project, 3)
    ids = [f"m{n:04d}" for n in range(300)]
    sending = asyncio.create_task(place_paced(replicas, ids, rate=60))
    # When another program puts four messages that are not events on the charge queue
    async with await aio_pika.connect(AMQP_URL) as connection:
        channel = await connection.channel()
        for body, headers, _ in MALFORMED:
            await channel.default_exchange.publish(aio_pika.Message(body, headers=headers),
                                                   routing_key=f"motia.{project.app}.charge")
    sent = await sending

    def listed() -> list[dict[str, Any]]:
        out = motia("dlq", "ls", "--json", "--url", replicas[0].url)
        assert out.returncode == 0, out.stderr
        return [d for d in json.loads(out.stdout) if d.get("raw")]

    letters = await eventually(lambda: len(listed()) == 4 and listed(), 60, every=0.5,
                               what="four unreadable dead letters")
    counts = await settle(project, sent, letters=len(letters))
    print("\n" + counts.line("malformed messages"))
    # Then the orders all completed, and each bad message is a dead letter with its raw
    # body, its headers and why
    assert (counts.sent, counts.completed, counts.lost, counts.duplicates) == (300, 300, 0, 0)
    reasons = sorted(d["error"]["message"] for d in letters)
    assert [any(r.startswith(why) for r in reasons) for _, _, why in MALFORMED] == [True] * 4
    assert {d["raw"]["size"] for d in letters} == {len(body) for body, _, _ in MALFORMED}
    assert [d["step"] for d in letters] == ["charge"] * 4
    # And replaying one that still cannot be read says so and keeps it
    headerless = next(d for d in letters if d["raw"]["headers"] == {})
    replay = motia("dlq", "replay", headerless["id"], "--url", replicas[1].url)
    assert replay.returncode == 1 and "still cannot be read" in replay.stderr, replay.stderr
    assert "Traceback" not in replay.stderr
    assert len(listed()) == 4


# --- a Redis outage -------------------------------------------------------------------------


@pytest.mark.timeout(300)
async def test_a_redis_outage_repeats_and_loses_nothing(cluster: Cluster, own_redis: Any) -> None:
    require_service("node")
    # Given three replicas on a Redis of the test's own, taking 30 orders/s
    project = edges_project(cluster)
    replicas = await cluster.start(project, 3, state_url=own_redis.url)
    ids = [f"r{n:04d}" for n in range(600)]
    sending = asyncio.create_task(place_paced(replicas, ids, rate=30))
    # When Redis goes down 3 s into the run and comes back 15 s later
    await eventually(lambda: len(runs(project, "complete")) >= 60, 60, every=0.05,
                     what="the run to be under way")
    own_redis.stop()
    down = time.perf_counter()
    await asyncio.sleep(15)  # the outage itself: the scenario, not a wait for anything
    own_redis.start()
    print(f"\nRedis was down {time.perf_counter() - down:.1f} s")
    sent = await sending
    # Then every order completed, no idempotent step ran an order twice, none was
    # dead-lettered
    counts = await settle(project, sent)
    store_url = own_redis.url
    from motia.runner.state import create_store

    store = create_store("redis", namespace=project.app, url=store_url)
    await store.open()
    try:
        counts.dead_letters = len(await store.dead_letters())
    finally:
        await store.close()
    marks = sum(r.output().count("writing its completion mark failed") for r in replicas)
    print(counts.line("Redis outage") + f"; completion marks retried alone: {marks}")
    assert counts == Counts(600, 600, 0, 0, 0)
    assert marks > 0  # the outage did strike between a handler's end and its mark


# --- a replica killed while it holds a run claim --------------------------------------------

SLOW_YAML = """
    version: 1
    app: {app}
    defaults: {timeout: 30s, retries: 3}
    topics:
      job.started: {}
    flows:
      jobs: {}
    steps:
      slow:
        type: event
        subscribes: [job.started]
        idempotent: true
        flows: [jobs]
        handler: steps/slow.py
"""

SLOW_FILES = {
    "steps/slow.py": """
        import asyncio
        import os
        import pathlib
        import time

        LOG = pathlib.Path(__file__).resolve().parent.parent / "runs" / "slow.log"

        async def handler(job, ctx):
            with open(LOG, "a") as log:
                log.write(f"start {os.getpid()} {time.time()}\\n")
            await asyncio.sleep(4)
            with open(LOG, "a") as log:
                log.write(f"end {os.getpid()} {time.time()}\\n")
    """,
}


def slow_log(project: Project) -> list[tuple[str, int, float]]:
    path = project.root / "runs" / "slow.log"
    rows = [line.split() for line in path.read_text().splitlines()] if path.exists() else []
    return [(what, int(pid), float(at)) for what, pid, at in rows]


@pytest.mark.timeout(180)
async def test_a_killed_replicas_claim_frees_within_seconds(cluster: Cluster) -> None:
    # Given three replicas and an idempotent step whose handler takes 4 s
    project = edges_project(cluster, SLOW_YAML, SLOW_FILES)
    replicas = await cluster.start(project, 3)
    async with aiohttp.ClientSession() as session, session.post(
            replicas[0].url + "/__motia/api/emit",
            json={"topic": "job.started", "data": {"n": 1}}) as response:
        assert response.status in (200, 201, 202), await response.text()
    [(_, pid, _)] = await eventually(lambda: slow_log(project), 30, every=0.05,
                                     what="the handler to start")
    holder = next(r for r in replicas if pid in r.workers())
    # When the replica running it (and holding its run claim) is killed with SIGKILL
    await holder.kill9()
    killed = time.time()
    # Then another replica runs the redelivered event within seconds (the claim's short
    # lease, not the step's 30 s timeout), and runs it to the end once
    started = await eventually(lambda: [r for r in slow_log(project)[1:] if r[0] == "start"],
                               30, every=0.05, what="the redelivered run")
    ended = await eventually(lambda: [r for r in slow_log(project) if r[0] == "end"], 30,
                             every=0.1, what="the redelivered run to end")
    waited = started[0][2] - killed
    print(f"\nkilled replica's claim: the redelivered event started {waited:.1f} s after "
          f"the kill (lease {LEASE_TTL:g} s, step timeout 30 s)")
    assert waited < 12, waited
    assert [r[1] for r in ended] == [started[0][1]] and len(started) == 1
    assert started[0][1] != pid
