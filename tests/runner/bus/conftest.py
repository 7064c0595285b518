"""One fixture, every bus: `make_bus(app)` yields an opened bus of each backend in turn."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from motia.compiler.ir import App
from motia.runner.bus import create_bus
from motia.runner.bus.base import EventBus
from motia.runner.state.memory import MemoryStore

MakeBus = Callable[[App], Awaitable[EventBus]]

BUSES = ["memory"]


@pytest.fixture(params=BUSES)
async def make_bus(request: pytest.FixtureRequest) -> AsyncIterator[MakeBus]:
    kind: str = request.param
    opened: list[EventBus] = []

    async def make(app: App) -> EventBus:
        bus = create_bus(kind, app=app, store=MemoryStore(app.name))
        await bus.open()
        opened.append(bus)
        return bus

    yield make
    for bus in opened:
        await bus.close(grace=1.0)
