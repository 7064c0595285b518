"""No lost update: 1,000 concurrent appends and increments on one key, from Python and
Node.js workers of three `motia run` replicas (issue 11, item 6).

Before `ctx.state.update`, a handler could only get, modify and set, and three chat
messages handled at once left one. Here every order is handled by a Python and a
Node.js step, on whichever replica RabbitMQ hands it to, and each does one update of
the same key: append the message, count it. The shared store must end with exactly
1,000 messages and a count of 1,000, on Redis (the Lua port) and on PostgreSQL (row
locks).
"""

from __future__ import annotations

import time

import pytest
from conftest import require_service

from ._cluster import Cluster, eventually, open_store, queue_stats
from ._orders import place_orders

pytestmark = pytest.mark.services

ORDERS = 500  # each handled by both languages: 1,000 updates of one key

CHAT_YAML = """
    version: 1
    app: {app}
    defaults:
      timeout: 30s
    schemas:
      Order:
        type: object
        required: [id, amount]
        properties:
          id: {type: string}
          amount: {type: integer, minimum: 1}
    topics:
      order.placed: {schema: Order}
    flows:
      chat: {}
    steps:
      place-order:
        type: api
        method: POST
        path: /orders
        body: Order
        emits: [order.placed]
        flows: [chat]
        handler: steps/place_order.py
      note-py:
        type: event
        subscribes: [order.placed]
        flows: [chat]
        handler: steps/note.py
      note-js:
        type: event
        subscribes: [order.placed]
        flows: [chat]
        handler: steps/note.js
"""

CHAT_FILES = {
    "steps/place_order.py": """
        async def handler(req, ctx):
            await ctx.emit({"topic": "order.placed", "data": req.body})
            return {"status": 202, "body": {"id": req.body["id"]}}
    """,
    "steps/note.py": """
        async def handler(order, ctx):
            await ctx.state.update("chat", "room", [
                {"append": "messages", "value": "py:" + order["id"]},
                {"increment": "count"},
                {"increment": "by.py"},
            ])
    """,
    "steps/note.js": """
        exports.handler = async (order, ctx) => {
          await ctx.state.update('chat', 'room', [
            { append: 'messages', value: `js:${order.id}` },
            { increment: 'count' },
            { increment: 'by.js' },
          ]);
        };
    """,
}


@pytest.mark.parametrize("state", ["redis", "postgres"])
async def test_1000_concurrent_updates_from_both_languages_on_3_replicas_keep_all_1000(
    cluster: Cluster, state: str,
) -> None:
    require_service(state)
    # Given three replicas on RabbitMQ + the shared store, a Python and a Node.js step
    # each updating the one key for every order
    project = cluster.project(CHAT_YAML, CHAT_FILES)
    replicas = await cluster.start(project, 3, state=state)
    ids = [f"o{n:04d}" for n in range(ORDERS)]
    # When the orders come in, spread over the three gateways
    started = time.perf_counter()
    await place_orders(replicas, ids)
    async with open_store(project.app, state) as store:

        async def counted() -> bool:
            room = await store.get("chat", "room")
            return room is not None and room["count"] >= 2 * ORDERS

        await eventually(counted, timeout=120, what=f"{2 * ORDERS} counted messages")
        elapsed = time.perf_counter() - started

        async def drained() -> bool:
            stats = await queue_stats(project.app)
            return all(q["ready"] == q["unacked"] == 0 for name, q in stats.items()
                       if name.endswith((".note-py", ".note-js")))

        await eventually(drained, timeout=30, what="empty step queues")
        room = await store.get("chat", "room")
    expected = sorted([f"py:{i}" for i in ids] + [f"js:{i}" for i in ids])
    lost = len(set(expected) - set(room["messages"]))
    duplicates = len(room["messages"]) - len(set(room["messages"]))
    print(f"\n{2 * ORDERS} updates of one key from 3 replicas on {state} in {elapsed:.1f} s: "
          f"count {room['count']}, messages {len(room['messages'])}, lost {lost}, "
          f"duplicates {duplicates}, by language {room['by']}")
    # Then nothing was lost or doubled: exactly 1,000 messages, a count of 1,000
    assert (room["count"], len(room["messages"])) == (2 * ORDERS, 2 * ORDERS)
    assert sorted(room["messages"]) == expected
    assert room["by"] == {"py": ORDERS, "js": ORDERS}
