"""The RabbitMQ event bus: what `motia run --events rabbitmq` deploys, shared by replicas.

Topology (declared idempotently at open, and again after every reconnect, channel
recovery, or a publish the broker returned):

- a durable topic exchange `motia.<app>`; a publish routes by topic name;
- a durable queue `motia.<app>.<step>` per event step, bound to each topic it subscribes;
- retry queues `motia.<app>.<step>.retry.<ms>`, one per distinct delay (backoff, or a
  deferral), whose message TTL is the delay and whose dead-letter route is the step queue.

A deleted queue loses nothing published after it: every publish to a topic some step
subscribes to is `mandatory`, so a message no queue takes comes back (a failed publish:
the topology is declared again and the message re-sent, within `publish_wait`, or the
publish raises); each consuming channel holds its queue's bindings, so the consumer
RabbitMQ cancels when its queue goes is restored with queue *and* bindings. What the
queue held is destroyed by the broker; each bus sends what it published in the last
seconds to the re-declared queue again (duplicates, not losses: see _recent.py).

Delivery: persistent messages, publisher confirms (a publish returns once the broker has
it), one channel per consuming step with prefetch = workers x concurrency, and a manual
ack only after `_deliver` returned. A failed attempt is acked once its retry sits in a
retry queue, so no unacked message waits out a backoff (the broker's consumer_timeout
would kill a consumer that did). Dead letters live in the state store like every bus.

Outages: the connection is robust (reconnects, restores topology and consumers by
itself); a publish during an outage waits up to `publish_wait` seconds for the broker,
then raises AdapterUnavailable, so an event is never dropped silently. Unacked messages
of a lost connection are redelivered by the broker (at-least-once: duplicates possible).

A message on a step queue that is not a Motia event (not JSON, no Motia headers, a bad
`attempt`) becomes a dead letter holding its raw body, headers and the reason, then is
acked: `motia dlq ls` shows it, and replaying it reads it again.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError, PublishError

from motia.compiler.ir import App, Step
from motia.errors import AdapterUnavailable, ReplayRefused
from motia.runner._redact import redact
from motia.runner.bus import _amqp
from motia.runner.bus._rabbit_repair import QueueRepair
from motia.runner.bus._recent import RecentPublishes
from motia.runner.bus.base import BusClosed, Event, EventBus
from motia.runner.delivery.flow._wait import rungs_for
from motia.runner.delivery.idempotency import CLAIM_RECHECK, STORE_RECHECK
from motia.runner.delivery.policy import raw_body, raw_record
from motia.runner.hooks import Hooks
from motia.runner.state.base import DeadLetter, StateStore

_log = logging.getLogger("motia.bus")

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/"
CONNECT_TIMEOUT = 5.0
PUBLISH_WAIT = 30.0


class RabbitMQBus(QueueRepair, EventBus):
    """Events through a RabbitMQ broker; see the module docstring for the topology."""

    kind = "rabbitmq"

    def __init__(
        self,
        app: App,
        store: StateStore,
        hooks: Hooks | None = None,
        url: str = DEFAULT_URL,
        *,
        publish_wait: float = PUBLISH_WAIT,
        reconnect_interval: float = 1.0,
    ) -> None:
        super().__init__(app, store, hooks)
        self.url = url
        self.publish_wait = publish_wait
        self.reconnect_interval = reconnect_interval
        self.connection_name = f"motia.{app.name}:{os.getpid()}"
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None  # publishing, with confirms
        self._exchange: AbstractExchange | None = None
        self._consuming: list[tuple[AbstractChannel, AbstractQueue, str]] = []
        self._retry_queues: dict[str, dict[str, Any]] = {}  # declared: name -> arguments
        self._routed = {t.name for t in app.topics if app.subscribers(t.name)}
        self._recent = RecentPublishes()
        self._inflight: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._closed = False
        self._lost_because = ""  # why the connection last dropped, for the readiness probe

    # --- names -------------------------------------------------------------------------

    def event_steps(self) -> list[Step]:
        return [s for s in self.app.steps if s.runs and s.subscribes]

    def queue_names(self) -> list[str]:
        """Every queue this app can declare: step queues and all their retry queues (the
        backoff delays, and the deferrals a claim, a store outage or flow control makes)."""
        names = []
        for step in self.event_steps():
            names.append(_amqp.queue_name(self.app.name, step.name))
            delays = {*_amqp.retry_delays(step), STORE_RECHECK, *rungs_for([step])}
            if step.idempotent:
                delays.add(CLAIM_RECHECK)
            names += [_amqp.retry_queue_name(self.app.name, step.name, d) for d in sorted(delays)]
        return names

    # --- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        try:
            self._connection = await asyncio.wait_for(
                aio_pika.connect_robust(
                    self.url, timeout=CONNECT_TIMEOUT, reconnect_interval=self.reconnect_interval,
                    client_properties={"connection_name": self.connection_name},
                ),
                CONNECT_TIMEOUT + 1,
            )
        except (OSError, AMQPError, TimeoutError) as exc:
            raise AdapterUnavailable(
                f"RabbitMQ is not reachable at {redact(self.url)} ({_amqp.reason(exc)}): "
                "start RabbitMQ (e.g. `rabbitmq-server -detached`) or set MOTIA_AMQP_URL "
                "to a broker's URL"
            ) from None
        self._connection.close_callbacks.add(self._lost)
        self._connection.reconnect_callbacks.add(self._restored)
        self._channel = await self._connection.channel(publisher_confirms=True,
                                                       on_return_raises=True)
        self._channel.reopen_callbacks.add(self._reopened)
        self._exchange = await self._channel.declare_exchange(
            _amqp.exchange_name(self.app.name), aio_pika.ExchangeType.TOPIC, durable=True)
        await self._declare_topology()

    async def ping(self) -> None:
        connection = self._connection
        if self._closed or connection is None:
            raise AdapterUnavailable(f"the rabbitmq event bus of app {self.app.name!r} is "
                                     + ("closed" if self._closed else "not open"))
        if connection.is_closed or not connection.connected.is_set():
            raise AdapterUnavailable(
                f"RabbitMQ at {redact(self.url)} is not connected "
                f"({self._lost_because or 'connecting'}); reconnecting by itself every "
                f"{self.reconnect_interval:g} s: check the broker is up")

    async def depths(self) -> dict[str, int]:
        """Ready messages in each step queue, from passive declares on a channel of their
        own (a missing queue closes the channel it is asked on, never the publisher's)."""
        connection = self._connection
        if self._closed or connection is None or connection.is_closed:
            return {}
        counts: dict[str, int] = {}
        try:
            channel = await connection.channel(publisher_confirms=False)
        except (AMQPError, OSError, RuntimeError):
            return counts
        try:
            for step in self.event_steps():
                queue = await channel.declare_queue(
                    _amqp.queue_name(self.app.name, step.name), passive=True)
                counts[step.name] = int(queue.declaration_result.message_count or 0)
        except (AMQPError, OSError, RuntimeError):
            pass  # what was counted before the failure is still true
        finally:
            await _quietly(channel.close())
        return counts

    async def _close(self, grace: float) -> None:
        if self._closing or self._closed:
            return
        self._closing = True
        try:
            for _, queue, tag in self._consuming:
                await _quietly(queue.cancel(tag))
            if self._inflight:
                _, late = await asyncio.wait(set(self._inflight), timeout=max(grace, 0.0))
                for task in late:  # their messages go back to the broker, unacked
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
            for channel, _, _ in self._consuming:
                await _quietly(channel.close())
            if self._connection is not None:
                await _quietly(self._connection.close())
        finally:
            self._closed = True

    # --- primitives ----------------------------------------------------------------------

    async def _publish(self, events: list[Event]) -> None:
        exchange = self._ready_exchange()
        routed = self._routed
        # remembered from the moment they are sent: one whose confirm arrives just after
        # its queue was deleted must be in the window that is sent again
        self._recent.record(events)

        async def one(event: Event) -> None:
            message = _amqp.encode(event)
            # mandatory where a step subscribes: a message no queue takes comes back
            mandatory = event.topic in routed
            await self._confirmed(lambda: exchange.publish(
                message, routing_key=event.topic, mandatory=mandatory))

        if len(events) == 1:  # the common case: no gather, no extra tasks
            await one(events[0])
        else:
            await asyncio.gather(*(one(e) for e in events))

    async def _send_to(self, step: Step, event: Event, delay: float) -> None:
        self._ready_exchange()
        assert self._channel is not None
        target = _amqp.queue_name(self.app.name, step.name)
        if delay > 0:
            target = await self._retry_queue(step, delay)
        default = self._channel.default_exchange
        message = _amqp.encode(event)
        await self._confirmed(lambda: default.publish(message, routing_key=target,
                                                      mandatory=True))

    async def _consume(self, step: Step, prefetch: int) -> None:
        assert self._connection is not None
        channel = await self._connection.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=max(prefetch, 1))
        queue = await channel.declare_queue(
            _amqp.queue_name(self.app.name, step.name), durable=True)
        # The bindings live on this channel's queue too: when the queue is deleted the
        # broker cancels this consumer, and aio-pika's consumer recovery declares the
        # queue again with the bindings it knows (without them it would stay unbound).
        exchange = await channel.declare_exchange(
            _amqp.exchange_name(self.app.name), aio_pika.ExchangeType.TOPIC, durable=True)
        for topic in step.subscribes:
            await queue.bind(exchange, routing_key=topic)
        tag = await queue.consume(self._receiver(step), no_ack=False)
        self._consuming.append((channel, queue, tag))
        await self._watch_cancel(channel, step)
        channel.reopen_callbacks.add(lambda reopened: self._soon(
            self._watch_cancel(reopened, step)))

    # --- delivery ------------------------------------------------------------------------

    def _receiver(self, step: Step) -> Callable[[AbstractIncomingMessage], Awaitable[None]]:
        async def receive(message: AbstractIncomingMessage) -> None:
            # aiormq cancels a channel's consumer tasks when the connection drops. The
            # delivery runs in a task of its own so that a running handler finishes (and an
            # idempotent step records it) instead of being abandoned mid-way while the
            # broker hands the same message to another replica; only its ack is lost.
            task = asyncio.get_running_loop().create_task(self._handle(step, message))
            self._inflight.add(task)
            task.add_done_callback(_settled)
            task.add_done_callback(self._inflight.discard)
            await asyncio.shield(task)

        return receive

    async def _handle(self, step: Step, message: AbstractIncomingMessage) -> None:
        try:
            event = _amqp.decode(message)
        except ValueError as exc:
            await self._unreadable(step, message, str(exc))
            return
        try:
            await self._deliver(step, event)
        except Exception:  # noqa: BLE001 -- the broker keeps the message; it comes back
            _log.exception("step %s: could not record the failure of event %s; requeued",
                           step.name, event.event_id)
            await asyncio.sleep(min(step.backoff.delay(event.attempt), 5.0))
            await _quietly(message.nack(requeue=True))
            return
        # If the channel died meanwhile the broker redelivers: at-least-once.
        await _quietly(message.ack())

    async def _unreadable(self, step: Step, message: AbstractIncomingMessage, reason: str) -> None:
        """Keep a message that is not a Motia event as a dead letter, then ack it."""
        raw = raw_record(message.body, message.headers or {}, routing_key=message.routing_key,
                         message_id=message.message_id, queue=_amqp.queue_name(
                             self.app.name, step.name))
        try:
            await self.policy.unreadable(step, raw, reason)
        except Exception:  # noqa: BLE001 -- the broker keeps the message; it comes back
            _log.exception("step %s: could not keep unreadable message %s as a dead letter; "
                           "requeued", step.name, message.message_id)
            await asyncio.sleep(1.0)
            await _quietly(message.nack(requeue=True))
            return
        await _quietly(message.ack())

    def _reread(self, letter: DeadLetter) -> Event:
        """The event a kept unreadable message holds, now; ReplayRefused if still none."""
        raw = letter.raw or {}
        if raw.get("truncated"):
            raise ReplayRefused(f"dead letter {letter.id} kept only the first bytes of its "
                                f"{raw.get('size')}-byte message; it cannot be replayed, it "
                                "was kept")
        try:
            event = _amqp.decode_parts(raw_body(raw), raw.get("headers") or {},
                                       str(raw.get("routing_key") or ""))
        except ValueError as exc:
            raise ReplayRefused(f"dead letter {letter.id} still cannot be read: {exc}; it "
                                "was kept") from None
        return Event(topic=event.topic, data=event.data, trace_id=event.trace_id,
                     event_id=event.event_id, source=event.source, time=event.time)

    # --- connection events (one line each; aiormq's own records are debug chatter) ------

    def _lost(self, _: object, exc: BaseException | None = None) -> None:
        self._lost_because = _amqp.reason(exc) if exc is not None else "closed"
        if not (self._closing or self._closed):
            _log.warning("RabbitMQ connection to %s lost (%s); reconnecting (events being "
                         "handled are redelivered by the broker)", redact(self.url),
                         self._lost_because)

    def _restored(self, _: object) -> None:
        _log.warning("RabbitMQ connection to %s restored; consuming again",
                     redact(self.url))
        self._redeclare_soon()

    def _stopping(self) -> bool:
        return self._closing or self._closed

    def _soon(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in the background (close() waits for it like a delivery)."""
        if self._stopping():
            work.close()
            return
        task = asyncio.get_running_loop().create_task(work)
        self._inflight.add(task)
        task.add_done_callback(_settled)
        task.add_done_callback(self._inflight.discard)

    # --- helpers -------------------------------------------------------------------------

    def _ready_exchange(self) -> AbstractExchange:
        if self._closed or self._exchange is None:
            state = "closed" if self._closed else "not open: call open() before publishing"
            raise BusClosed(f"the rabbitmq event bus of app {self.app.name!r} is {state}"
                            + (": events can be published only between open() and close()"
                               if self._closed else ""))
        return self._exchange

    async def _retry_queue(self, step: Step, delay: float) -> str:
        name = _amqp.retry_queue_name(self.app.name, step.name, delay)
        if name not in self._retry_queues:
            assert self._channel is not None
            arguments = _amqp.retry_queue_arguments(self.app.name, step.name, delay)
            await self._confirmed(lambda: self._channel.declare_queue(  # type: ignore[union-attr]
                name, durable=True, arguments=arguments))
            self._retry_queues[name] = arguments
        return name

    async def _confirmed(self, operation: Callable[[], Awaitable[object]]) -> None:
        """Run a broker operation, retrying through an outage for up to `publish_wait` s.

        A message the broker returned (no queue took it: one was deleted) is a failed
        publish too: the topology is declared again and the message sent again."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.publish_wait
        while True:
            try:
                async with asyncio.timeout(max(deadline - loop.time(), 0.001)):
                    await operation()
                return
            except PublishError as exc:
                if loop.time() >= deadline:
                    raise AdapterUnavailable(
                        f"RabbitMQ at {redact(self.url)} kept returning an event as unroutable "
                        f"for {self.publish_wait:g} s ({_amqp.reason(exc)}): check that nothing "
                        "deletes the app's queues") from None
                _log.warning("RabbitMQ returned an event no queue took (%s): a queue of app %s "
                             "was deleted; declaring the queues again and re-publishing",
                             _amqp.reason(exc), self.app.name)
                await self._redeclare_quietly()
                self._resend_to_subscribers(_returned_key(exc))
                await asyncio.sleep(0.05)
            except (AMQPError, ChannelInvalidStateError, OSError, TimeoutError) as exc:
                if loop.time() >= deadline:
                    raise AdapterUnavailable(
                        f"RabbitMQ at {redact(self.url)} did not take an event within "
                        f"{self.publish_wait:g} s ({_amqp.reason(exc)}): check the broker is up"
                    ) from None
                await asyncio.sleep(0.1)


def _returned_key(exc: PublishError) -> str:
    """The routing key of a message the broker returned (aiormq keeps it in args[1])."""
    return str(exc.args[1]) if len(exc.args) > 1 else ""


def _settled(task: asyncio.Task[None]) -> None:
    """Retrieve a delivery's outcome so one whose consumer was cancelled logs no warning."""
    if not task.cancelled() and task.exception() is not None:
        _log.error("delivery failed unexpectedly", exc_info=task.exception())


async def _quietly(operation: Awaitable[object]) -> None:
    """Await a best-effort broker call (ack, cancel, close) whose failure changes nothing."""
    try:
        await operation
    except (AMQPError, OSError, RuntimeError, asyncio.InvalidStateError) as exc:
        _log.debug("ignored broker error: %s", _amqp.reason(exc))
