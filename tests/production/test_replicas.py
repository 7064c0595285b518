"""Several `motia run` replicas on RabbitMQ + Redis share the work and do it once each.

Real processes, real broker, real store: the replicas are `python -m motia run` started
by the test, and what they did is read back from the shared store.
"""

from __future__ import annotations

import time

import pytest
from conftest import require_service

from ._cluster import Cluster, eventually, open_store
from ._orders import ORDERS_FILES, ORDERS_YAML, place_orders

pytestmark = pytest.mark.services

#: orders per store: the full 2,000 on Redis; PostgreSQL proves the same with fewer
ORDERS = {"redis": 2000, "postgres": 500}


@pytest.mark.parametrize("state", ["redis", "postgres"])
async def test_three_replicas_complete_every_order_exactly_once(
    cluster: Cluster, state: str,
) -> None:
    require_service("rabbitmq")
    require_service(state)
    require_service("node")
    # Given three replicas of an API -> event -> event pipeline on RabbitMQ + the store
    project = cluster.project(ORDERS_YAML, ORDERS_FILES)
    replicas = await cluster.start(project, 3, state=state)
    count = ORDERS[state]
    ids = [f"o{n:05d}" for n in range(count)]
    # When the orders come in, spread over the three gateways
    started = time.perf_counter()
    posted = await place_orders(replicas, ids)
    async with open_store(project.app, state) as store:

        async def all_completed() -> bool:
            return len(await store.get_group("completed")) == count

        await eventually(all_completed, timeout=90, what=f"{count} completed orders")
        elapsed = time.perf_counter() - started
        charged = await store.get_group("charged")
        completed = await store.get_group("completed")
    print(f"\n{count} orders through 3 replicas on {state}: accepted in {posted:.1f} s, "
          f"completed in {elapsed:.1f} s ({count / elapsed:.0f} orders/s, "
          f"{3 * count / elapsed:.0f} invocations/s)")
    # Then every order was charged once and completed once: no loss, no duplicate
    assert sorted(charged) == ids and sorted(completed) == ids
    assert {k: v for k, v in charged.items() if v != 1} == {}
    assert {k: v for k, v in completed.items() if v != 1} == {}
