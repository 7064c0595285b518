"""One fixture, every bus: `make_bus(app)` yields an opened bus of each backend in turn.

RabbitMQ buses run against the real broker (tests skip without one, or fail under
MOTIA_REQUIRE_SERVICES=1); each test's app has a unique name and its exchange and queues
are deleted afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from conftest import AMQP_URL, require_service

from motia.compiler.ir import App
from motia.runner.bus import create_bus
from motia.runner.bus.base import EventBus
from motia.runner.bus.rabbitmq import RabbitMQBus
from motia.runner.state.memory import MemoryStore

MakeBus = Callable[[App], Awaitable[EventBus]]

BUSES = ["memory", "rabbitmq"]


@pytest.fixture
async def buses() -> AsyncIterator[list[RabbitMQBus]]:
    """RabbitMQ buses a RabbitMQ-only test opens itself: closed afterwards, and the
    topology of the first one's app deleted."""
    require_service("rabbitmq")
    made: list[RabbitMQBus] = []
    yield made
    for bus in made:
        await bus.close(grace=1.0)
    for bus in made[:1]:
        await delete_topology(bus)


@pytest.fixture(params=BUSES)
async def make_bus(request: pytest.FixtureRequest) -> AsyncIterator[MakeBus]:
    kind: str = request.param
    if kind == "rabbitmq":
        require_service("rabbitmq")
    opened: list[EventBus] = []

    async def make(app: App) -> EventBus:
        bus = create_bus(kind, app=app, store=MemoryStore(app.name), url=AMQP_URL)
        opened.append(bus)
        await bus.open()
        return bus

    yield make
    for bus in opened:
        await bus.close(grace=1.0)
        if kind == "rabbitmq":
            await delete_topology(bus)


async def delete_topology(bus: EventBus) -> None:
    """Remove the exchange and every queue a test app may have declared."""
    import aio_pika

    from motia.runner.bus import _amqp
    from motia.runner.bus.rabbitmq import RabbitMQBus

    assert isinstance(bus, RabbitMQBus)
    async with await aio_pika.connect(AMQP_URL) as connection:
        channel = await connection.channel()
        for name in bus.queue_names():
            await channel.queue_delete(name)
        await channel.exchange_delete(_amqp.exchange_name(bus.app.name))
