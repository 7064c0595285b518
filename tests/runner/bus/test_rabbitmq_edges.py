"""The RabbitMQ bus at its edges: a deleted queue, messages that are not Motia events.

Real broker; each test's app has a unique name and its own queues are the only ones it
deletes (the broker is shared with other users).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re

import aio_pika
import pytest
from conftest import AMQP_URL

from motia.compiler.ir import App, Topic
from motia.errors import ReplayRefused
from motia.runner.bus import _amqp
from motia.runner.bus.rabbitmq import RabbitMQBus
from motia.runner.delivery.policy import RAW_BODY_LIMIT
from motia.runner.state.memory import MemoryStore

from ._apps import Recorder, event, event_step, eventually, make_app

pytestmark = pytest.mark.services


async def _open(buses: list[RabbitMQBus], app: App, store: MemoryStore | None = None,
                **options: float) -> RabbitMQBus:
    bus = RabbitMQBus(app, store or MemoryStore(app.name), url=AMQP_URL, **options)
    buses.append(bus)
    await bus.open()
    return bus


async def _bindings(app: App) -> set[tuple[str, str]]:
    """(queue, routing key) of the app's exchange, as the broker lists them."""
    proc = await asyncio.create_subprocess_exec(
        "rabbitmqctl", "-q", "list_bindings", "source_name", "destination_name", "routing_key",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    rows = [line.split("\t") for line in out.decode().splitlines()]
    return {(row[1], row[2]) for row in rows if row[0] == _amqp.exchange_name(app.name)}


# --- a deleted queue --------------------------------------------------------------------------


@pytest.mark.parametrize("steps", [("a",), ("a", "b")], ids=["one subscriber", "two"])
async def test_a_deleted_step_queue_loses_nothing_published_around_it(
    buses: list[RabbitMQBus], steps: tuple[str, ...],
) -> None:
    # Given three replicas consuming step a's queue (and b's, on the same topic: no
    # publish comes back then) while events are being published
    app = make_app(*(event_step(name, "orders", concurrency=8) for name in steps))
    rec = Recorder(hold=0.005)
    replicas = [await _open(buses, app) for _ in range(3)]
    for bus in replicas:
        await bus.start(rec.consumers(*steps))
    queue = _amqp.queue_name(app.name, "a")
    sent: list[str] = []

    async def publish(n: int) -> None:
        for i in range(n):
            ev = event("orders", {"i": len(sent)})
            await replicas[i % 3].publish([ev])
            sent.append(ev.event_id)
            await asyncio.sleep(0.01)

    # When the queue is deleted mid-run (by another client) and publishing goes on
    producer = asyncio.create_task(publish(300))
    await eventually(lambda: len(rec.finished) >= 50)
    async with await aio_pika.connect(AMQP_URL) as connection:
        await (await connection.channel()).queue_delete(queue)
    await producer
    # Then every event published was handled by step a (and b), and a's queue is back
    # with its binding
    def handled(step: str) -> set[str]:
        return {e.event_id for s, e in rec.finished if s == step}

    await eventually(lambda: all(set(sent) <= handled(s) for s in steps), timeout=30)
    runs = sum(1 for s, _ in rec.finished if s == "a")
    print(f"\ndeleted queue ({len(steps)} subscriber(s)): sent {len(sent)}, handled "
          f"{len(handled('a') & set(sent))}, lost {len(set(sent) - handled('a'))}, "
          f"duplicates {runs - len(handled('a'))}")
    assert (queue, "orders") in await _bindings(app)


async def test_a_deleted_queue_gets_its_consumer_back_when_aio_pikas_recovery_does_not(
    buses: list[RabbitMQBus], monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a consuming bus whose client library never restores a cancelled consumer by
    # itself (as aio-pika's silent recovery can fail on a loaded machine), with short
    # repair delays
    from aio_pika.robust_channel import RobustChannel

    from motia.runner.bus import _rabbit_repair

    async def never(self: RobustChannel, channel: object) -> bool:
        return False

    monkeypatch.setattr(RobustChannel, "_restore_missing_consumers", never)
    monkeypatch.setattr(_rabbit_repair, "REATTACH_NUDGE", 0.3)
    monkeypatch.setattr(_rabbit_repair, "REATTACH_REOPEN", 1.0)
    app = make_app(event_step("a", "orders"))
    rec = Recorder()
    bus = await _open(buses, app)
    await bus.start(rec.consumers("a"))
    await bus.publish([event("orders", {"i": "before"})])
    await eventually(lambda: len(rec.finished) == 1)
    # When its queue is deleted and events are published after it
    queue = _amqp.queue_name(app.name, "a")
    async with await aio_pika.connect(AMQP_URL) as connection:
        await (await connection.channel()).queue_delete(queue)
    after = [event("orders", {"i": n}) for n in range(20)]
    for ev in after:
        await bus.publish([ev])
    # Then the bus reopened the consumer's channel itself and every event was handled,
    # and it said what it did
    await eventually(lambda: {e.event_id for e in after} <= {e.event_id for _, e in rec.finished},
                     timeout=30)
    def said() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "motia.bus"]

    repaired = f"queue {queue} was deleted: declared again with its bindings, consuming it again"
    await eventually(lambda: any(m.startswith(repaired) for m in said()), timeout=10)
    assert any("its consumer is still not back" in m and "reopening its channel" in m
               for m in said()), said()


async def test_a_publish_no_queue_takes_is_sent_again_once_the_queue_is_back(
    buses: list[RabbitMQBus],
) -> None:
    # Given a publishing-only bus (no consumer would restore a deleted queue)
    app = make_app(event_step("a", "orders"))
    publisher = await _open(buses, app)
    queue = _amqp.queue_name(app.name, "a")
    async with await aio_pika.connect(AMQP_URL) as connection:
        channel = await connection.channel()
        await channel.queue_delete(queue)
        # When an event is published to a topic whose only queue is gone
        await publisher.publish([event("orders", {"id": "kept"})])
        # Then the returned message was not dropped: the queue was declared again, bound,
        # and holds the event
        declared = await channel.declare_queue(queue, passive=True)
        message = await declared.get(timeout=5)
        assert message is not None and json.loads(message.body) == {"id": "kept"}
        await message.ack()
    assert (queue, "orders") in await _bindings(app)


async def test_a_topic_nobody_subscribes_to_is_not_a_failed_publish(
    buses: list[RabbitMQBus],
) -> None:
    # Given a topic declared in the plan that no step subscribes to
    app = make_app(event_step("a", "orders"))
    app = App(name=app.name, root=app.root, topics=(*app.topics, Topic("audit")),
              steps=app.steps)
    bus = await _open(buses, app, publish_wait=1.0)
    # When an event is published on it, Then it is accepted (nobody is owed it)
    await bus.publish([event("audit")])


# --- messages that are not Motia events -------------------------------------------------------


BIG = os.urandom(5 * 1024 * 1024)
MALFORMED = {
    "not json": (b"<order id=1/>", {}),
    "no headers": (b'{"id": "o-1"}', {}),
    "five megabytes": (BIG, {"trace_id": "t", "event_id": "e"}),
    "attempt abc": (b'{"id": "o-2"}', {"trace_id": "t2", "event_id": "e2", "attempt": "abc"}),
}
REASONS = {
    "not json": "the body is not JSON (Expecting value: line 1 column 1 (char 0)); Motia "
                "events are JSON documents",
    "no headers": "the message has no 'trace_id' and no 'event_id' header: it was not "
                  "published by Motia (publish with `motia emit` or the admin API)",
    "attempt abc": "header 'attempt' is not a number: 'abc'",
}


async def test_unreadable_messages_become_dead_letters_with_their_raw_body(
    buses: list[RabbitMQBus],
) -> None:
    # Given a consuming step, and an outside client putting four bad messages on its queue
    app = make_app(event_step("a", "orders"))
    rec = Recorder()
    store = MemoryStore(app.name)
    bus = await _open(buses, app, store)
    await bus.start(rec.consumers("a"))
    queue = _amqp.queue_name(app.name, "a")
    async with await aio_pika.connect(AMQP_URL) as connection:
        channel = await connection.channel()
        for name, (body, headers) in MALFORMED.items():
            await channel.default_exchange.publish(
                aio_pika.Message(body, headers=headers, message_id=name), routing_key=queue)
    # When they are delivered
    await eventually(lambda: len(store._groups_data.get("__motia.dlq", {})) == 4)
    # Then none reached the consumer, none is left on the queue, and each is a dead letter
    # with its raw body, headers and the reason
    letters = {d.raw["message_id"]: d for d in await store.dead_letters() if d.raw}
    assert sorted(letters) == sorted(MALFORMED) and rec.received == []
    for name, letter in letters.items():
        body, headers = MALFORMED[name]
        assert (letter.step, letter.attempts, letter.error["type"]) == ("a", 0, "UnreadableMessage")
        assert letter.raw is not None and letter.raw["headers"] == headers
        assert letter.raw["queue"] == queue and letter.raw["size"] == len(body)
        if name in REASONS:
            assert letter.error["message"] == REASONS[name]
            assert (letter.raw["body"], letter.raw["encoding"]) == (body.decode(), "utf-8")
    big = letters["five megabytes"].raw
    assert big is not None and (big["encoding"], big["truncated"]) == ("base64", True)
    assert base64.b64decode(big["body"]) == BIG[:RAW_BODY_LIMIT]
    async with await aio_pika.connect(AMQP_URL) as connection:
        declared = await (await connection.channel()).declare_queue(queue, passive=True)
        assert declared.declaration_result.message_count == 0
    # And replaying one that still cannot be read says why, and keeps it
    for name, why in (("no headers", REASONS["no headers"]),
                      ("five megabytes", "kept only the first bytes of its 5242880-byte message")):
        letter = letters[name]
        with pytest.raises(ReplayRefused, match=rf"^dead letter {letter.id} (still cannot be "
                                                rf"read: )?{re.escape(why)}.*it was kept$"):
            await bus.replay(letter)
