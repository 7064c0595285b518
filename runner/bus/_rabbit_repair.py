"""Keeping a RabbitMQ app's topology whole: declared again after a recovery, and a
deleted queue declared again and sent what it lost (mixed into RabbitMQBus).

Every declaration here goes straight to the publishing channel's aiormq channel, not
through aio-pika's robust objects, so declaring again and again does not pile up objects
for aio-pika to restore. `_confirmed` (the bus's publish-with-retry) and `_soon` (its
background task runner) are the bus's; `_resend` re-sends the window of recent publishes
(_recent.py) to a queue that was deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aio_pika.abc import AbstractChannel
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError

from motia.compiler.ir import App, Step
from motia.runner.bus import _amqp
from motia.runner.bus._recent import RecentPublishes

_log = logging.getLogger("motia.bus")


class QueueRepair:
    """Topology declarations and deleted-queue recovery of one RabbitMQ bus."""

    app: App
    _channel: AbstractChannel | None
    _retry_queues: dict[str, dict[str, Any]]
    _recent: RecentPublishes

    def event_steps(self) -> list[Step]:
        raise NotImplementedError

    def _soon(self, work: Coroutine[Any, Any, None]) -> None:
        raise NotImplementedError

    async def _confirmed(self, operation: Callable[[], Awaitable[object]]) -> None:
        raise NotImplementedError

    def _redeclare_soon(self) -> None:
        self._soon(self._redeclare_quietly())

    def _reopened(self, _: object) -> None:
        self._redeclare_soon()

    async def _watch_cancel(self, channel: AbstractChannel, step: Step) -> None:
        """Learn when the broker cancels this channel's consumer (its queue was deleted)."""
        underlay = await channel.get_underlay_channel()
        underlay.on_consumer_cancel_callbacks.add(
            lambda frame: self._soon(self._resend(step)))

    async def _resend(self, step: Step) -> None:
        """Send what this bus published to `step`'s topics in the last seconds to its
        queue again, once it is declared again (the deletion destroyed what it held)."""
        queue = _amqp.queue_name(self.app.name, step.name)
        await self._redeclare_quietly()  # first: what is published from now on gets there
        events = self._recent.take(queue, step.subscribes)
        if not events:
            return
        assert self._channel is not None
        default = self._channel.default_exchange
        for event in events:
            message = _amqp.encode(event)
            await self._confirmed(lambda m=message: default.publish(  # type: ignore[misc]
                m, routing_key=queue, mandatory=True))
        _log.warning("queue %s was deleted: sent the %d event(s) this replica published to it "
                     "in the last %g s again (duplicates possible, none lost)", queue,
                     len(events), self._recent.window)

    def _resend_to_subscribers(self, topic: str) -> None:
        for step in self.app.subscribers(topic):
            if step.subscribes:
                self._soon(self._resend(step))

    async def _redeclare_quietly(self) -> None:
        try:
            await self._declare_topology()
        except (AMQPError, ChannelInvalidStateError, OSError, RuntimeError) as exc:
            _log.debug("declaring the topology again failed (%s); the next publish retries",
                       _amqp.reason(exc))

    async def _declare_topology(self) -> None:
        """Declare the exchange, every step queue with its bindings and every retry queue
        declared so far, straight on the publishing channel (idempotent; not registered
        with aio-pika again, so re-declaring does not pile up objects to restore)."""
        assert self._channel is not None
        channel = await self._channel.get_underlay_channel()
        exchange = _amqp.exchange_name(self.app.name)
        await channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        for step in self.event_steps():
            queue = _amqp.queue_name(self.app.name, step.name)
            await channel.queue_declare(queue, durable=True)
            for topic in step.subscribes:
                await channel.queue_bind(queue, exchange, routing_key=topic)
        for name, arguments in list(self._retry_queues.items()):
            await channel.queue_declare(name, durable=True, arguments=arguments)
