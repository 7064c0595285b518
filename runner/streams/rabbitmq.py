"""Stream fan-out through RabbitMQ: the app's fanout exchange, one private queue per replica.

`motia.<app>.__streams` is a fanout exchange (no step name can start with `_`, so it
never clashes with a step queue). Each replica binds its own exclusive, auto-deleted,
server-named queue to it, so every replica gets every change and the broker forgets the
queue when the replica goes. Messages are transient and unconfirmed: a change is a push
to clients, its item is already in the store (see base.py for what is promised).
The connection is aio-pika's robust one: after a broker restart it reconnects and
declares the queue again.
"""

from __future__ import annotations

import asyncio
import os

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from aiormq.exceptions import AMQPError

from motia.errors import AdapterUnavailable
from motia.runner._redact import redact
from motia.runner.streams.base import FanOut

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/"
CONNECT_TIMEOUT = 5.0


def exchange_name(app: str) -> str:
    return f"motia.{app}.__streams"


class RabbitFanOut(FanOut):
    kind = "rabbitmq"

    def __init__(self, namespace: str, url: str | None = None) -> None:
        super().__init__(namespace)
        self.url = url or DEFAULT_URL
        self._connection: AbstractRobustConnection | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None

    async def _open(self) -> None:
        try:
            self._connection = await asyncio.wait_for(aio_pika.connect_robust(
                self.url, timeout=CONNECT_TIMEOUT, client_properties={
                    "connection_name": f"motia.{self.namespace}.streams:{os.getpid()}"}),
                CONNECT_TIMEOUT + 1)
        except (OSError, AMQPError, TimeoutError) as exc:
            raise AdapterUnavailable(
                f"RabbitMQ (for streams) is not reachable at {redact(self.url)} "
                f"({exc or type(exc).__name__}): start RabbitMQ or set MOTIA_AMQP_URL") from None
        channel = await self._connection.channel(publisher_confirms=False)
        self._exchange = await channel.declare_exchange(
            exchange_name(self.namespace), aio_pika.ExchangeType.FANOUT, durable=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(self._exchange)
        await queue.consume(self._on_message, no_ack=True)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self._deliver(message.body.decode())

    async def publish(self, text: str) -> None:
        assert self._exchange is not None, "open() first"
        await self._exchange.publish(
            aio_pika.Message(text.encode(), content_type="application/json"), routing_key="")

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        self._receive = None
        if connection is not None:
            await connection.close()
