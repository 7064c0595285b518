"""Streams: items and events pushed to clients in real time, on every replica (SPEC 11).

`hub.StreamHub` answers the handlers' `ctx.streams.*` calls and feeds the subscribers;
`items` keeps the items in the state store; the fan-out (`base.FanOut`, one module per
backend) carries each change to every replica; `websocket` and `sse` are the two client
transports, `auth` decides who may subscribe, `routes` mounts it all on the gateway.

`create_fanout` picks the fan-out from the services already in play, importing only the
backend it picks: a RabbitMQ fanout exchange when events are on RabbitMQ, else Redis
pub/sub or PostgreSQL LISTEN/NOTIFY when the state is there, else in-process (the
embedded defaults serve one process). `MOTIA_STREAMS_FANOUT` overrides the choice.
"""

from __future__ import annotations

import os

from motia.errors import UsageError
from motia.runner.streams.base import FanOut

KINDS = ("memory", "rabbitmq", "redis", "postgres")
ENV = "MOTIA_STREAMS_FANOUT"


def fanout_kind(events: str, state: str, override: str | None = None) -> str:
    """The fan-out for an app whose events are on `events` and state on `state`."""
    chosen = override if override is not None else os.environ.get(ENV) or None
    if chosen is not None:
        if chosen not in KINDS:
            raise UsageError(f"{ENV}={chosen!r}: expected one of {', '.join(KINDS)}")
        return chosen
    if events == "rabbitmq":
        return "rabbitmq"
    return state if state in ("redis", "postgres") else "memory"


def create_fanout(kind: str, *, namespace: str, amqp_url: str | None = None,
                  state_url: str | None = None) -> FanOut:
    """A fan-out of `kind` for the app `namespace`, not yet opened."""
    if kind == "rabbitmq":
        from motia.runner.streams.rabbitmq import RabbitFanOut

        return RabbitFanOut(namespace, amqp_url)
    if kind == "redis":
        from motia.runner.streams.redis import RedisFanOut

        return RedisFanOut(namespace, state_url)
    if kind == "postgres":
        from motia.runner.streams.postgres import PostgresFanOut

        return PostgresFanOut(namespace, state_url)
    from motia.runner.streams.memory import MemoryFanOut

    return MemoryFanOut(namespace)
