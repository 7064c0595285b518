"""Keeping a RabbitMQ app's topology whole: declared again after a recovery, and a
deleted queue declared again and sent what it lost (mixed into RabbitMQBus).

Every declaration here goes straight to the publishing channel's aiormq channel, not
through aio-pika's robust objects, so declaring again and again does not pile up objects
for aio-pika to restore. `_confirmed` (the bus's publish-with-retry) and `_soon` (its
background task runner) are the bus's; `_resend` re-sends the window of recent publishes
(_recent.py) to a queue that was deleted.

When the broker cancels a consumer (its queue was deleted), `_repair` does the whole job
and says so in one line: declares the topology again until the broker takes it, re-sends
the window taken when the signal arrived, and waits until the consumer is attached again
(aio-pika restores it silently; if it has not within seconds it is asked again, then the
channel is reopened). A deleted queue never leaves a step without a consumer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aio_pika.abc import AbstractChannel
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError

from motia.compiler.ir import App, Step
from motia.runner.bus import _amqp
from motia.runner.bus._recent import RecentPublishes
from motia.runner.bus.base import Event

_log = logging.getLogger("motia.bus")

#: seconds a cancelled consumer may stay away before aio-pika's recovery is asked again,
#: and before its channel is reopened (a loaded replica restores it in well under these)
REATTACH_NUDGE = 5.0
REATTACH_REOPEN = 20.0


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
        self._soon(self._redeclare_in_background())

    async def _redeclare_in_background(self) -> None:
        await self._redeclare_quietly()

    def _reopened(self, _: object) -> None:
        self._redeclare_soon()

    async def _watch_cancel(self, channel: AbstractChannel, step: Step) -> None:
        """Learn when the broker cancels this channel's consumer (its queue was deleted)."""
        underlay = await channel.get_underlay_channel()
        underlay.on_consumer_cancel_callbacks.add(
            lambda frame: self._queue_deleted(channel, step, str(frame.consumer_tag)))

    def _queue_deleted(self, channel: AbstractChannel, step: Step, tag: str) -> None:
        """The broker cancelled `step`'s consumer `tag` on `channel`: its queue is gone.

        The window of recent publishes is taken now, when the signal arrives, not once the
        repair got its turn on a busy loop (a late repair must not let them age out)."""
        queue = _amqp.queue_name(self.app.name, step.name)
        self._soon(self._repair(channel, step, tag, self._recent.take(queue, step.subscribes),
                                time.monotonic()))

    async def _repair(self, channel: AbstractChannel, step: Step, tag: str,
                      events: list[Event], signalled: float) -> None:
        """Declare `step`'s queue and bindings again (until the broker takes them), send it
        `events` and what was published meanwhile again, and see that this channel
        consumes it again; one line says so."""
        loop = asyncio.get_running_loop()
        gone = loop.time()
        queue = _amqp.queue_name(self.app.name, step.name)
        pause = 0.1
        while not await self._redeclare_quietly():
            if self._stopping():
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)
        if events:  # this signal owns the re-send (one deletion, one re-send)
            events += self._recent.since(signalled, step.subscribes)
        await self._send_again(queue, events)
        if not await self._reattached(channel, queue, tag):
            return  # closing: the consumer is not wanted any more
        _log.warning("queue %s was deleted: declared again with its bindings, consuming it "
                     "again after %.1f s; sent the %d event(s) this replica published to it "
                     "in the last %g s again (duplicates possible, none lost)", queue,
                     loop.time() - gone, len(events), self._recent.window)

    async def _reattached(self, channel: AbstractChannel, queue: str, tag: str) -> bool:
        """Wait until consumer `tag` consumes on `channel` again; False if the bus closes.

        aio-pika's consumer recovery restores it (same tag) by itself, silently; when it has
        not after `REATTACH_NUDGE` s it is asked again, and after `REATTACH_REOPEN` s the
        channel is closed, which aio-pika answers by reopening it with its queue, bindings
        and consumer (the messages it held come back: duplicates, none lost)."""
        loop = asyncio.get_running_loop()
        since = nudged = loop.time()
        while not self._stopping():
            underlay = None
            try:
                underlay = await asyncio.wait_for(channel.get_underlay_channel(), 5.0)
            except (AMQPError, ChannelInvalidStateError, OSError, RuntimeError,
                    TimeoutError) as exc:
                _log.debug("queue %s: its channel is not ready yet (%s)", queue,
                           _amqp.reason(exc))
            if underlay is not None and tag in getattr(underlay, "consumers", ()):
                return True
            waited = loop.time() - since
            if underlay is not None and waited >= REATTACH_REOPEN:
                _log.warning("queue %s: its consumer is still not back %.0f s after the queue "
                             "was deleted; reopening its channel", queue, waited)
                try:
                    await underlay.close()
                except (AMQPError, OSError, RuntimeError) as exc:
                    _log.debug("closing the channel of %s failed (%s)", queue,
                               _amqp.reason(exc))
                since = nudged = loop.time()
            elif loop.time() - nudged >= REATTACH_NUDGE:
                _request_recovery(channel)
                nudged = loop.time()
            await asyncio.sleep(0.2)
        return False

    async def _send_again(self, queue: str, events: list[Event]) -> None:
        assert self._channel is not None
        default = self._channel.default_exchange
        for event in events:
            message = _amqp.encode(event)
            await self._confirmed(lambda m=message: default.publish(  # type: ignore[misc]
                m, routing_key=queue, mandatory=True))

    async def _resend(self, step: Step, events: list[Event], signalled: float) -> None:
        """Send `events` (what this bus published to `step`'s topics in the last seconds)
        and those published since, to its queue again once it is declared again."""
        queue = _amqp.queue_name(self.app.name, step.name)
        await self._redeclare_quietly()  # first: what is published from now on gets there
        if not events:
            return
        events += self._recent.since(signalled, step.subscribes)
        await self._send_again(queue, events)
        _log.warning("queue %s was deleted: sent the %d event(s) this replica published to it "
                     "in the last %g s again (duplicates possible, none lost)", queue,
                     len(events), self._recent.window)

    def _resend_to_subscribers(self, topic: str) -> None:
        for step in self.app.subscribers(topic):
            if step.subscribes:
                queue = _amqp.queue_name(self.app.name, step.name)
                self._soon(self._resend(step, self._recent.take(queue, step.subscribes),
                                        time.monotonic()))

    def _stopping(self) -> bool:
        raise NotImplementedError

    async def _redeclare_quietly(self) -> bool:
        """Declare the topology again; False (logged at debug) if the broker refused."""
        try:
            await self._declare_topology()
        except (AMQPError, ChannelInvalidStateError, OSError, RuntimeError) as exc:
            _log.debug("declaring the topology again failed (%s); the next publish retries",
                       _amqp.reason(exc))
            return False
        return True

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


def _request_recovery(channel: AbstractChannel) -> None:
    """Ask aio-pika's robust connection to restore missing consumers again (its recovery
    runs on a signal; this is the one it gives itself when the broker cancels one)."""
    request = getattr(getattr(channel, "_connection", None), "_request_recovery", None)
    if callable(request):
        request()
