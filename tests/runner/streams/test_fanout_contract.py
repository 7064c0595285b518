"""One contract, every fan-out (memory, RabbitMQ, Redis, PostgreSQL): what a subscriber on
one replica gets for changes made on any replica.

Each test runs once per fan-out against the real service (skipped without it, a failure
under MOTIA_REQUIRE_SERVICES=1); see _fanouts.py for the store each one runs beside.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from motia.runner.streams import _log
from motia.runner.streams.postgres import INLINE

from ._fanouts import KINDS, SERVICES, Replicas, root_conftest, until

_ROOT = root_conftest()
REDIS_URL, POSTGRES_URL = _ROOT.REDIS_URL, _ROOT.POSTGRES_URL
URLS = {"rabbitmq": _ROOT.AMQP_URL, "redis": REDIS_URL, "postgres": POSTGRES_URL}


@pytest.fixture(params=KINDS)
async def replicas(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Replicas]:
    for service in SERVICES[request.param]:
        _ROOT.require_service(service)
    cluster = Replicas(request.param, tmp_path, URLS)
    try:
        yield await cluster.start()
    finally:
        await cluster.close()


async def test_changes_on_two_replicas_reach_a_subscriber_in_order_per_item(
        replicas: Replicas) -> None:
    # Given a subscriber of a group on replica B
    room = await replicas.subscribe(replicas.b, "g")
    # When A and B each update their own 5 items 20 times, all at once
    async def writes(hub, prefix: str, item: int) -> None:
        for n in range(20):
            await hub.set("things", "g", f"{prefix}{item}", {"n": n})

    await asyncio.gather(*(writes(hub, p, i) for hub, p in ((replicas.a, "a"), (replicas.b, "b"))
                           for i in range(5)))
    await until(lambda: len(room.changes()) >= 200, "200 changes at the subscriber")
    # Then it got every change once, each item's in the order made, versions ascending
    changes = room.changes()
    seen: dict[str, list[int]] = {}
    for change in changes:
        seen.setdefault(change["id"], []).append(change["data"]["n"])
    assert seen == {f"{p}{i}": list(range(20)) for p in "ab" for i in range(5)}
    assert [c["version"] for c in changes] == list(range(1, 201))
    assert [c["op"] for c in changes].count("create") == 10


async def test_snapshot_first_then_every_change_delete_and_event(replicas: Replicas) -> None:
    # Given two items written on A before anyone subscribes
    await replicas.a.set("things", "g", "x", {"n": 1})
    await replicas.a.set("things", "g", "y", {"n": 2})
    await until(lambda: replicas.b._logs.get(("things", "g")) is not None
                or replicas.kind == "memory", "B to hear of the group")
    # When B's subscriber joins, then A updates, deletes and sends an event
    room = await replicas.subscribe(replicas.b, "g")
    one = await replicas.subscribe(replicas.b, "g", "y")
    await replicas.a.set("things", "g", "x", {"n": 3})
    await replicas.a.delete("things", "g", "y")
    await replicas.a.send("things", "g", {"type": "typing", "data": {"by": "ada"}})
    await replicas.a.delete("things", "g", "nothing-here")  # no item: no change
    await until(lambda: len(room.frames) >= 4, "the snapshot and three changes")
    # Then the snapshot came first, then each change exactly as clients see it
    assert room.frames == [
        {"stream": "things", "group": "g", "id": None, "op": "snapshot", "version": 2,
         "items": [{"id": "x", "data": {"n": 1}, "version": 1},
                   {"id": "y", "data": {"n": 2}, "version": 2}]},
        {"stream": "things", "group": "g", "id": "x", "op": "update", "data": {"n": 3},
         "version": 3},
        {"stream": "things", "group": "g", "id": "y", "op": "delete", "version": 4},
        {"stream": "things", "group": "g", "op": "event",
         "data": {"type": "typing", "data": {"by": "ada"}}, "version": 5},
    ]
    # And the one-item subscriber got that item alone
    assert [(f["op"], f.get("id")) for f in one.frames] == [("snapshot", "y"), ("delete", "y")]


async def test_an_item_too_big_for_one_notification_still_arrives(replicas: Replicas) -> None:
    room = await replicas.subscribe(replicas.b, "big")
    text = "é" * INLINE  # twice INLINE bytes: past PostgreSQL's 8000-byte NOTIFY limit
    await replicas.a.set("things", "big", "x", {"n": 1, "text": text})
    await replicas.a.set("things", "big", "x", {"n": 2})
    await until(lambda: len(room.changes()) >= 2, "the big change and the next")
    assert [(c["version"], c["data"]["n"]) for c in room.changes()] == [(1, 1), (2, 2)]
    assert room.changes()[0]["data"]["text"] == text


async def test_a_replica_resuming_from_its_ring_misses_nothing(replicas: Replicas) -> None:
    # Given B heard 10 changes of a group made on A
    first = await replicas.subscribe(replicas.b, "r")
    for n in range(10):
        await replicas.a.set("things", "r", "x", {"n": n})
    await until(lambda: len(first.changes()) == 10, "10 changes on B")
    # When a client that saw version 4 resumes on B
    resumed = await replicas.subscribe(replicas.b, "r", since=4)
    # Then it gets the resume marker and versions 5..10, no snapshot
    assert [(f["op"], f["version"]) for f in resumed.frames] == [
        ("resume", 4), *(("update", v) for v in range(5, 11))]


async def test_after_the_connection_drops_changes_flow_again_in_order(
        replicas: Replicas, monkeypatch: pytest.MonkeyPatch) -> None:
    if replicas.kind == "memory":
        pytest.skip("the in-process fan-out has no connection to lose")
    monkeypatch.setattr(_log, "GAP_WAIT", 0.5)
    room = await replicas.subscribe(replicas.b, "d")
    await replicas.a.set("things", "d", "x", {"n": 0})
    await until(lambda: len(room.changes()) == 1, "the first change")
    # When the service drops every fan-out connection of the app
    assert await _drop_connections(replicas) >= 1
    # Then, once the fan-out is back (changes made meanwhile may be lost), the next 20
    # changes arrive, each once and in order
    n = 0
    while not room.changes() or room.changes()[-1]["data"]["n"] == 0:
        n += 1
        await _set_when_reachable(replicas, n)
        await asyncio.sleep(0.1)
        assert n < 300, "the fan-out did not come back in 30 s"
    mark = len(room.changes())
    for m in range(n + 1, n + 21):
        await replicas.a.set("things", "d", "x", {"n": m})
    await until(lambda: len(room.changes()) >= mark + 20, "20 changes after the drop")
    after = [c["data"]["n"] for c in room.changes()[mark:]]
    assert after == list(range(n + 1, n + 21))
    versions = [c["version"] for c in room.changes()]
    assert versions == sorted(set(versions))


async def _set_when_reachable(replicas: Replicas, n: int) -> None:
    try:
        await replicas.a.set("things", "d", "x", {"n": n})
    except Exception:  # the publishing connection is being replaced too
        pass


async def _drop_connections(replicas: Replicas) -> int:
    """Close every fan-out connection of the app from the server's side; how many."""
    if replicas.kind == "redis":
        import redis.asyncio as aioredis

        admin = aioredis.Redis.from_url(REDIS_URL)
        name = f"motia:{replicas.app_name}:streams"
        ids = [c["id"] for c in await admin.client_list() if c.get("name") == name]
        for client_id in ids:
            await admin.client_kill_filter(_id=client_id)
        await admin.aclose()
        return len(ids)
    if replicas.kind == "postgres":
        import asyncpg

        admin = await asyncpg.connect(POSTGRES_URL)
        killed = await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            f"motia:{replicas.app_name}:streams"[:63])
        await admin.close()
        return len(killed)
    return await asyncio.to_thread(_close_rabbit_connections, replicas.app_name)


def _close_rabbit_connections(app: str) -> int:
    listed = subprocess.run(["rabbitmqctl", "-q", "list_connections", "pid",
                             "client_properties"], capture_output=True, text=True, timeout=60)
    ours = f'{{"connection_name","motia.{app}.streams:'
    pids = [line.split("\t")[0] for line in listed.stdout.splitlines() if ours in line]
    for pid in pids:
        subprocess.run(["rabbitmqctl", "-q", "close_connection", pid, "test: dropped"],
                       capture_output=True, timeout=60, check=True)
    return len(pids)
