"""`--role gateway|workers|cron` as separate processes, and the RabbitMQ topology they use.

The gateway publishes only, the workers consume only, the cron role only schedules; each
runs only its own steps' worker processes. On the broker: a durable topic exchange
`motia.<app>`, a durable queue `motia.<app>.<step>` per event step bound to its topics,
persistent messages carrying the envelope in headers, publisher confirms on the
publishing channel, and a prefetch of workers x concurrency per consuming step.
"""

from __future__ import annotations

import aio_pika
import aiohttp
import pytest
from conftest import require_service

from ._cluster import Cluster, Replica, eventually, listing, open_store
from ._orders import ORDERS_FILES, ORDERS_YAML, place_orders

pytestmark = pytest.mark.services

ROLES_YAML = ORDERS_YAML.replace("""      charge:
        type: event
""", """      charge:
        type: event
        workers: 2
        concurrency: 4
""") + """
      clock:
        type: cron
        cron: "* * * * * *"
        handler: steps/clock.py
"""

ROLES_FILES = {
    **ORDERS_FILES,
    "steps/clock.py": """
        async def handler(ctx):
            await ctx.state.incr("ticks", ctx.event_id, 1)
    """,
}


def steps_running(replica: Replica) -> list[str]:
    """The steps whose worker processes this replica runs, one entry per process."""
    from ._cluster import child_pids

    names = []
    for args in child_pids(replica.pid).values():
        if '"step":"' in args:  # not the fork server the Python workers are forked from
            names.append(args.split('"step":"', 1)[1].split('"', 1)[0])
    return sorted(names)


async def refuses_http(replica: Replica) -> bool:
    try:
        async with aiohttp.ClientSession() as session, session.get(replica.url):
            return False
    except aiohttp.ClientConnectionError:
        return True


async def test_gateway_workers_and_cron_roles_work_together(cluster: Cluster) -> None:
    require_service("rabbitmq")
    require_service("redis")
    require_service("node")
    project = cluster.project(ROLES_YAML, ROLES_FILES)
    amqp_url = await cluster.vhost()
    vhost = amqp_url.rsplit("/", 1)[1]
    app = project.app
    # Given only a gateway (workers start on first use, so each role starts only its own;
    # --eager would start every step's workers in every role)
    [gateway] = await cluster.start(project, roles=("gateway",), amqp_url=amqp_url, eager=False)
    # When orders come in
    ids = [f"o{n}" for n in range(20)]
    await place_orders([gateway], ids)
    # Then they wait on the broker as persistent messages in a durable step queue
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(f"motia.{app}.charge", passive=True)
        assert queue.declaration_result.message_count == len(ids)
        message = await queue.get(timeout=5)
        assert message is not None
        await message.reject(requeue=True)
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        headers = message.headers
        assert {"event_id", "trace_id", "attempt", "topic"} <= set(headers)
        assert (headers["topic"], headers["attempt"]) == ("order.placed", 1)
    exchanges = await listing("exchanges", "name", "type", "durable", vhost=vhost)
    assert {"name": f"motia.{app}", "type": "topic", "durable": "true"} in exchanges
    queues = await listing("queues", "name", "durable", vhost=vhost)
    assert {"name": f"motia.{app}.charge", "durable": "true"} in queues
    assert {"name": f"motia.{app}.complete", "durable": "true"} in queues
    bindings = await listing("bindings", "source_name", "destination_name", "routing_key",
                             vhost=vhost)
    assert {"source_name": f"motia.{app}", "destination_name": f"motia.{app}.charge",
            "routing_key": "order.placed"} in bindings
    assert {"source_name": f"motia.{app}", "destination_name": f"motia.{app}.complete",
            "routing_key": "order.charged"} in bindings
    channels = [c for c in await listing("channels", "vhost", "confirm", "consumer_count")
                if c["vhost"] == vhost]
    assert {"vhost": vhost, "confirm": "true", "consumer_count": "0"} in channels
    assert steps_running(gateway) == ["place-order"]
    # When the workers and the cron roles join
    workers, cron = await cluster.start(project, roles=("workers", "cron"), amqp_url=amqp_url,
                                        eager=False)
    # Then every order completes once and the cron step ticks
    async with open_store(app) as store:

        async def all_completed() -> bool:
            return len(await store.get_group("completed")) == len(ids)

        await eventually(all_completed, 60, what="every order completed")
        assert set((await store.get_group("completed")).values()) == {1}
        await eventually(lambda: store.get_group("ticks"), 10, what="a cron tick")
    # And each role runs only its own steps' workers; only the gateway serves HTTP
    assert steps_running(workers) == ["charge", "charge", "complete"]
    assert steps_running(cron) == ["clock"]
    assert await refuses_http(workers) and await refuses_http(cron)
    # And each consuming step has a prefetch of workers x concurrency (2 x 4, 1 x 32)
    consumers = await listing("consumers", "queue_name", "prefetch_count", "ack_required",
                              vhost=vhost)
    assert sorted(consumers, key=lambda c: c["queue_name"]) == [
        {"queue_name": f"motia.{app}.charge", "prefetch_count": "8", "ack_required": "true"},
        {"queue_name": f"motia.{app}.complete", "prefetch_count": "32", "ack_required": "true"},
    ]
    # And SIGTERM stops each of them cleanly
    assert [await r.stop() for r in (gateway, workers, cron)] == [0, 0, 0]
