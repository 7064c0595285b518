"""Event bus backends behind one interface (`base.EventBus`); `create_bus` picks one by name.

Backends needing a client library (RabbitMQ: aio-pika) are imported only when chosen, so
the embedded default starts without them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from motia.compiler.ir import EVENT_ADAPTERS
from motia.errors import UsageError

if TYPE_CHECKING:
    from motia.compiler.ir import App
    from motia.runner.bus.base import EventBus
    from motia.runner.hooks import Hooks
    from motia.runner.state.base import StateStore

BUS_KINDS = EVENT_ADAPTERS


def create_bus(
    kind: str,
    *,
    app: App,
    store: StateStore,
    hooks: Hooks | None = None,
    url: str | None = None,
) -> EventBus:
    """A bus of `kind` for `app`, not yet opened.

    `url` is the broker URL (RabbitMQ only); when None, $MOTIA_AMQP_URL or the local default.
    """
    if kind == "memory":
        from motia.runner.bus.memory import MemoryBus

        return MemoryBus(app, store, hooks)
    if kind == "rabbitmq":
        from motia.runner.bus.rabbitmq import DEFAULT_URL, RabbitMQBus

        return RabbitMQBus(app, store, hooks, url=url or os.environ.get("MOTIA_AMQP_URL") or DEFAULT_URL)
    raise UsageError(
        f"unknown event bus {kind!r}: expected one of {', '.join(BUS_KINDS)} "
        "(--events or adapters.events in motia.yaml)"
    )
