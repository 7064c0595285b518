"""Streams across three `motia run` replicas on RabbitMQ + Redis: updates made on A and B
reach every subscriber on C, each item's in order, none missed; a client resumes on
another replica with Last-Event-ID and misses nothing."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import pytest
from _stream_chat import chat_project

from motia.streams import StreamClient, sse

from ._cluster import AMQP_URL, Cluster, eventually

pytestmark = pytest.mark.services

SUBSCRIBERS = 50
ITEMS = 10  # per writing replica
UPDATES = 50  # per item: 2 replicas x 10 items x 50 = 1,000


async def _write(session: aiohttp.ClientSession, url: str, prefix: str) -> None:
    async def one_item(item: str) -> None:
        for n in range(UPDATES):
            async with session.post(f"{url}/rooms/g/messages/{item}",
                                    json={"text": item, "n": n}) as res:
                assert res.status == 200, await res.text()

    await asyncio.gather(*(one_item(f"{prefix}{i}") for i in range(ITEMS)))


async def test_updates_on_two_replicas_reach_fifty_subscribers_on_a_third(
        cluster: Cluster) -> None:
    yaml, files = chat_project("{app}")
    project = cluster.project(yaml, files)
    a, b, c = await cluster.start(project, 3, state="redis")
    try:
        clients = [StreamClient(c.url) for _ in range(SUBSCRIBERS)]
        for client in clients:
            await client.connect()
        subs = [await client.subscribe("messages", "g") for client in clients]
        # When A and B each make 500 updates (10 items x 50, each item in sequence)
        async with aiohttp.ClientSession() as session:
            await asyncio.gather(_write(session, a.url, "a"), _write(session, b.url, "b"))
        total = 2 * ITEMS * UPDATES
        await eventually(lambda: all(s.pending() >= total for s in subs), timeout=60,
                         what=f"{total} changes at each of {SUBSCRIBERS} subscribers")
        # Then every subscriber got every update of every item, in order, once
        expected = {f"{p}{i}": list(range(UPDATES)) for p in "ab" for i in range(ITEMS)}
        for sub in subs:
            frames = [await sub.next(1) for _ in range(total)]
            seen: dict[str, list[int]] = {}
            for frame in frames:
                seen.setdefault(frame["id"], []).append(frame["data"]["n"])
            assert seen == expected
            assert [f["version"] for f in frames] == sorted(f["version"] for f in frames)
            assert sub.pending() == 0
        # And a client that read half on A resumes on B with Last-Event-ID, missing nothing
        events = sse(b.url, "messages", "g", last_event_id=total // 2)
        first = await events.__anext__()
        rest = [await events.__anext__() for _ in range(total // 2)]
        await events.aclose()
        assert first[1]["op"] == "resume"
        assert [event_id for event_id, _ in rest] == list(range(total // 2 + 1, total + 1))
    finally:
        for client in clients:
            await client.close()
        await _delete_exchange(project.app)


async def _delete_exchange(app: str) -> None:
    import aio_pika

    from motia.runner.streams.rabbitmq import exchange_name

    with contextlib.suppress(Exception):
        async with await aio_pika.connect(AMQP_URL) as connection:
            channel = await connection.channel()
            await channel.exchange_delete(exchange_name(app))
