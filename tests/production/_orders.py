"""The order pipeline the replica tests deploy: API -> order.placed -> charge -> complete.

Each handler counts its runs per order id with `ctx.state.incr`, so the test can check in
the shared store that every order went through every step, and how many times.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import aiohttp

from ._cluster import Replica

ORDERS_YAML = """
    version: 1
    app: {app}
    defaults:
      timeout: 10s
      retries: 3
      backoff: {initial: 100ms, factor: 2, max: 1s}
    schemas:
      Order:
        type: object
        required: [id, amount]
        properties:
          id: {type: string}
          amount: {type: integer, minimum: 1}
    topics:
      order.placed: {schema: Order}
      order.charged: {schema: Order}
    flows:
      orders: {}
    steps:
      place-order:
        type: api
        method: POST
        path: /orders
        body: Order
        emits: [order.placed]
        flows: [orders]
        handler: steps/place_order.py
      charge:
        type: event
        subscribes: [order.placed]
        emits: [order.charged]
        flows: [orders]
        handler: steps/charge.py
      complete:
        type: event
        subscribes: [order.charged]
        flows: [orders]
        handler: steps/complete.js
"""

ORDERS_FILES = {
    "steps/place_order.py": """
        async def handler(req, ctx):
            await ctx.emit({"topic": "order.placed", "data": req.body})
            return {"status": 202, "body": {"id": req.body["id"]}}
    """,
    "steps/charge.py": """
        async def handler(order, ctx):
            await ctx.state.incr("charged", order["id"], 1)
            await ctx.emit({"topic": "order.charged", "data": order})
    """,
    # The last hop in Node.js: both languages share the same state and events.
    "steps/complete.js": """
        exports.handler = async (order, ctx) => {
          await ctx.state.incr('completed', order.id, 1);
        };
    """,
}


async def place_paced(gateways: Sequence[Replica], ids: Sequence[str], rate: float) -> list[str]:
    """POST one order per id at `rate` orders/s, round-robin over the gateways; the ids
    accepted (202: the gateway published with confirms before it answered)."""
    accepted: list[str] = []
    failures: list[Any] = []
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:

        async def place(n: int, order_id: str) -> None:
            url = gateways[n % len(gateways)].url + "/orders"
            async with session.post(url, json={"id": order_id, "amount": 100 + n}) as r:
                if r.status == 202:
                    accepted.append(order_id)
                else:
                    failures.append((order_id, r.status, await r.text()))

        sending = []
        for n, order_id in enumerate(ids):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)  # the pace of the load, not a wait for a result
            sending.append(asyncio.create_task(place(n, order_id)))
        await asyncio.gather(*sending)
    assert not failures, f"{len(failures)} orders refused, e.g. {failures[:3]}"
    return accepted


async def place_orders(gateways: Sequence[Replica], ids: Sequence[str],
                       parallel: int = 48) -> float:
    """POST one order per id, round-robin over the gateways; the seconds it took.

    Every request must be accepted (202): the gateway publishes with confirms before it
    answers, so an accepted order is on the broker."""
    limit = asyncio.Semaphore(parallel)
    failures: list[Any] = []
    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=parallel)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def place(n: int, order_id: str) -> None:
            url = gateways[n % len(gateways)].url + "/orders"
            async with limit, session.post(url, json={"id": order_id, "amount": 100 + n}) as r:
                if r.status != 202:
                    failures.append((order_id, r.status, await r.text()))

        await asyncio.gather(*(place(n, i) for n, i in enumerate(ids)))
    assert not failures, f"{len(failures)} orders refused, e.g. {failures[:3]}"
    return time.perf_counter() - started
