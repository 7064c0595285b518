"""The runtime: one plan served by a store, a bus, a worker pool, consumers, cron and HTTP.

`Runtime` is an async context manager. It starts its parts in dependency order —
store, bus, worker pool, bus consumers, cron, gateway + admin API — and unwinds them in
reverse, each stage bounded by what is left of the grace period, every error collected
(one failing part never stops the others from closing). Which parts run depends on the
role (`--role gateway|workers|cron|all`): the gateway role publishes only, the workers
role consumes, the cron role schedules.

It is also the one place the other parts reach each other through: the gateway, the
delivery pipelines and the cron loop get it as their `Invoker` (`invoke`, `publish_emits`),
the admin API calls `emit` and `replay` here, so `motia dev` can swap the plan (`swap`)
under all of them at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import inspect
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from aiohttp import web

from motia.compiler.ir import App, Step
from motia.compiler.units import format_duration
from motia.errors import AdapterUnavailable, EmitError, MotiaError, ReplayRefused, UsageError
from motia.runner._fasthooks import FastHookSet
from motia.runner.admin import LogBuffer
from motia.runner.bus.base import Event, EventBus, new_id
from motia.runner.config import RunConfig
from motia.runner.delivery.flow.gauge import WaitingGauge
from motia.runner.delivery.flow.waiting import FlowWaiting
from motia.runner.delivery.leases import LeaseKeeper
from motia.runner.delivery.log import DeliveryLog
from motia.runner.delivery.pipeline import DeliveryServices
from motia.runner.hooks import Hooks
from motia.runner.logs import Logger
from motia.runner.metrics import Metrics
from motia.runner.state.base import DeadLetter, StateStore
from motia.runner.topics import TopicSchemas, summary
from motia.runner.tracing import TraceStore
from motia.runner.workers.api import Emit, InvocationContext, InvocationResult, new_span_id

Closer = Callable[[float], Awaitable[None]]


UNCHANGED: Any = object()
"""`Runtime.replay`'s default: replay the dead letter's data as it is."""


class EventRejected(EmitError):
    """Raised by `Runtime.emit` when the topic is unknown or the data breaks its schema."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class StopFailed(MotiaError):
    """Raised when one or more parts of the runtime failed to stop cleanly."""

    def __init__(self, errors: list[tuple[str, BaseException]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{name}: {type(e).__name__}: {e}" for name, e in errors))


class Runtime:
    """Serves `app` with `config`; use `async with Runtime(app, config) as rt:`."""

    def __init__(
        self,
        app: App,
        config: RunConfig | None = None,
        *,
        hooks: Iterable[Hooks] = (),
        stream: TextIO | None = None,
        logger: Logger | None = None,
    ) -> None:
        self.app = app
        self.config = config or RunConfig()
        self.traces = TraceStore()
        self.logs = LogBuffer()
        self.hooks = FastHookSet(self.traces, self.logs, *hooks)
        self.logger = logger or Logger(self.hooks, fmt=self.config.log_format, stream=stream)
        self.hooks.add(DeliveryLog(self.logger))
        self.metrics: Metrics | None = None
        if self.config.metrics:
            self.metrics = Metrics()
            self.hooks.add(self.metrics)
        #: events each flow-control rule holds back now (the Workbench and /api/flow)
        self.flow_waiting = FlowWaiting()
        #: publishes flow_waiting to the store; its `app_wide()` counts every replica's
        self.flow_gauge: WaitingGauge | None = None
        if any(step.flow_control for step in app.steps):  # else it would only cost time
            self.hooks.add(self.flow_waiting)
        self.store: StateStore | None = None
        self.bus: EventBus | None = None
        self.pool: Any = None
        self.gateway: Any = None
        self.scheduler: Any = None
        self.ticks: Any = None
        self.delivery: DeliveryServices | None = None
        self.streams: Any = None  # a StreamHub when the app declares streams
        self.port: int | None = None
        self.ops_port: int | None = None  # the ops server's (--metrics-port), once listening
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._closers: list[tuple[str, Closer]] = []
        self.topics = TopicSchemas.of(app)
        self.started = False
        self.stopping = False
        #: set by the first stop signal, before stopping begins: readiness is off at once
        self.draining = False

    # --- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Runtime:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start every part this role needs; on failure, stop what started and re-raise."""
        self._check_exposure()
        self._check_role()
        try:
            await self._start_parts()
        except BaseException:
            await self._unwind(0.0, raise_errors=False)
            raise
        self.started = True

    async def stop(self, grace: float | None = None) -> None:
        """Stop intake, drain in-flight work within `grace` (default config.grace), close."""
        if self.stopping:
            return
        self.stopping = self.draining = True
        try:
            await self._unwind(self.config.grace if grace is None else grace, raise_errors=True)
        finally:
            self.logger.flush()  # the last lines must not wait for a loop iteration that never comes

    async def _start_parts(self) -> None:
        from motia.runner._stdlog import bridge_stdlib_logging
        from motia.runner.bus import create_bus
        from motia.runner.state import create_store

        config = self.config
        self._push("logging bridge", _sync_closer(bridge_stdlib_logging(self.logger)))
        self._start_traces()
        if config.metrics_port is not None:
            await self._start_ops(config.metrics_port)
        self.store = create_store(config.state, namespace=self.app.name, url=config.state_url,
                                  root=Path(self.app.root))
        await self.store.open()
        self._push("state store", _ignore_grace(self.store.close))
        leases = LeaseKeeper(self.store)
        self._push("leases", _ignore_grace(leases.close))
        self.delivery = DeliveryServices(invoker=self, store=self.store, leases=leases,
                                         logger=self.logger, hooks=self.hooks)
        if any(step.flow_control for step in self.app.steps):
            self.flow_gauge = WaitingGauge(self.store, self.flow_waiting)
            self.flow_gauge.start()
            self._push("flow gauge", _ignore_grace(self.flow_gauge.close))
        if self.app.streams:
            await self._start_streams()
        self.bus = create_bus(config.events, app=self.app, store=self.store, hooks=self.hooks,
                              url=config.amqp_url)
        await self.bus.open()
        self._push("event bus", self._close_bus)
        if self.metrics is not None:
            self.metrics.watch_queues(self.bus.depths)
        await self._start_pool()
        await self._start_ticks()
        await self.bus.start(self._consumers() if config.consumes else {})
        self._push("bus consumers", self._close_bus)
        if config.schedules:
            await self._start_scheduler()
        if config.serves_http:
            await self._start_http()

    def _start_traces(self) -> None:
        """OpenTelemetry export when OTEL_* asks for it (runner/otel.py), closed last so
        the spans of the drain are flushed too."""
        from motia.runner.otel import trace_hooks

        spans = trace_hooks(lambda: self.app, self.config.role)
        if spans is None:
            return
        spans.set_bus(self.config.events)
        self.hooks.add(spans)

        async def close(grace: float) -> None:
            del grace  # the exporter's own timeout (OTEL_EXPORTER_OTLP_TIMEOUT) bounds it
            self.hooks.remove(spans)
            await asyncio.to_thread(spans.close)

        self._push("traces", close)

    async def _start_pool(self) -> None:
        from motia.runner.workers.pool import WorkerPool

        assert self.store is not None
        # --eager warms only the steps this role invokes: a gateway replica never runs an
        # event handler, so it should not hold that step's worker processes.
        eager = self.config.eager and [s.name for s in self.app.steps
                                       if s.type in self.config.step_types]
        self.pool = WorkerPool(self.app, self.store, self.logger, self.hooks, eager=eager,
                               streams=self.streams)
        await _maybe_await(self.pool.start())
        self._push("worker pool", self._close_pool)

    async def _start_ticks(self) -> None:
        from motia.runner.delivery.ticks import TickRunner

        assert self.delivery is not None
        self.ticks = TickRunner(self.delivery, self.hooks, lambda: self.app)
        self._push("cron ticks", self.ticks.close)

    async def _start_streams(self) -> None:
        from motia.runner.streams import create_fanout, fanout_kind
        from motia.runner.streams.hub import StreamHub
        from motia.runner.streams.items import StreamItems

        assert self.store is not None
        config = self.config
        fanout = create_fanout(fanout_kind(config.events, config.state), namespace=self.app.name,
                               amqp_url=config.amqp_url, state_url=config.state_url)
        self.streams = StreamHub(self.app, StreamItems(self.store), fanout)
        await self.streams.open()
        self._push("streams", _ignore_grace(self.streams.close))

    async def _start_scheduler(self) -> None:
        from motia.runner.scheduler import Scheduler

        assert self.store is not None
        self.scheduler = Scheduler(self.ticks, self.store, self.logger, self.hooks,
                                   lambda: self.app)
        self.scheduler.start()
        self._push("cron", self.scheduler.stop)

    async def _start_ops(self, port: int) -> None:
        """The ops server first and closed last: probes answer while starting and draining."""
        from motia.runner.ops import OpsServer

        server = OpsServer(self)
        self._push("ops server", server.close)
        self.ops_port = await server.start(self.config.host, port)

    async def _start_http(self) -> None:
        from motia.runner.delivery.answers import ApiAnswers
        from motia.runner.gateway import Gateway
        from motia.runner.ops import bound_port

        assert self.delivery is not None
        self.gateway = Gateway(self, self.app, self.config, self.logger,
                               answers=ApiAnswers(self.delivery.store, self.delivery.leases),
                               add_routes=self._add_routes, hooks=self.hooks)
        self._runner = web.AppRunner(self.gateway.application(), access_log=None,
                                     shutdown_timeout=self.config.grace)
        await self._runner.setup()
        self._push("gateway", self._close_http)
        self._site = web.TCPSite(self._runner, self.config.host, self.config.port)
        try:
            await self._site.start()
        except OSError as exc:
            raise AdapterUnavailable(
                f"cannot listen on {self.config.url}: {exc.strerror or exc}; "
                "pick another port with --port or MOTIA_PORT"
            ) from None
        self.port = bound_port(self._runner, self.config.port)

    def _add_routes(self, app: web.Application, guarded: Callable[[Any], Any],
                    open_: Callable[[Any], Any]) -> None:
        """The routes beside the steps': the admin API and Workbench (token-guarded), the
        probes (never guarded), the streams (the page guarded, the socket open)."""
        from motia.runner import admin
        from motia.runner.ops import add_ops_routes

        admin.add_admin_routes(app, self, guarded)
        add_ops_routes(app, self, open_)
        if self.app.streams:
            from motia.runner.streams.routes import add_stream_routes

            add_stream_routes(app, self, open_, guarded)

    def _check_exposure(self) -> None:
        config = self.config
        if config.serves_http and not config.loopback and not config.token:
            raise UsageError(
                f"--host {config.host} exposes the Workbench and admin API beyond this machine; "
                "set MOTIA_WORKBENCH_TOKEN to a secret to require it, or bind 127.0.0.1"
            )

    def _check_role(self) -> None:
        """A gateway or cron replica on the memory bus would publish into this process's
        memory, where no step consumes anything (the workers role runs elsewhere): its
        events would wait there until shutdown. Refused, with the fix."""
        config = self.config
        if config.role not in ("gateway", "cron") or config.events != "memory":
            return
        raise UsageError(
            f"--role {config.role} with the memory event bus: the events it publishes would "
            "wait in this process's memory, where no step consumes them; use --events "
            "rabbitmq (MOTIA_AMQP_URL) with a shared --state so the workers role receives "
            "them, or --role all to run every part in one process")

    # --- unwinding ------------------------------------------------------------------------

    def _push(self, name: str, closer: Closer) -> None:
        self._closers.append((name, closer))

    async def _unwind(self, grace: float, *, raise_errors: bool) -> None:
        deadline = time.monotonic() + grace
        errors: list[tuple[str, BaseException]] = []
        while self._closers:
            name, closer = self._closers.pop()
            try:
                await closer(max(deadline - time.monotonic(), 0.0))
            except Exception as exc:  # keep closing the rest; report all at the end
                errors.append((name, exc))
                self.logger.error(f"stopping the {name} failed: {type(exc).__name__}: {exc}")
        if errors and raise_errors:
            raise StopFailed(errors)

    async def _close_http(self, grace: float) -> None:
        if self._runner is None:
            return
        del grace  # the runner was built with the whole grace period; HTTP closes first
        runner, self._runner = self._runner, None
        await self.logs.close_streams()
        await runner.cleanup()

    async def _close_bus(self, grace: float) -> None:
        if self.bus is not None:
            await self.bus.close(grace)

    async def _close_pool(self, grace: float) -> None:
        if self.pool is not None:
            await _maybe_await(self.pool.close(grace))

    # --- what the parts call --------------------------------------------------------------

    @property
    def url(self) -> str:
        """Where the gateway listens (the real port, once started)."""
        return self.config.url_for(self.port if self.port is not None else self.config.port)

    @property
    def ops_url(self) -> str | None:
        """Where the ops server listens (--metrics-port), None without one."""
        return None if self.ops_port is None else self.config.url_for(self.ops_port)

    def invoke(
        self, step: Step, payload: Any, ctx: InvocationContext
    ) -> Coroutine[Any, Any, InvocationResult]:
        """Run `step`'s handler in its worker (hooks are called by the pool); await it.
        The pool's coroutine itself, not one more around it: this is on every request's
        and every event's path."""
        invocation: Coroutine[Any, Any, InvocationResult] = self.pool.invoke(
            step.name, payload, ctx)
        return invocation

    async def publish_emits(
        self, step: Step, ctx: InvocationContext, emits: Sequence[Emit]
    ) -> list[Event]:
        """Publish a successful invocation's emits with its trace id, `step` as source.

        Each emitted event's id is the one the handler set (`ctx.emit({..., "id"})`), else
        derived from the invocation's event id, the step and the emit's position, so a
        redelivered event that runs again re-emits the *same* ids and an `idempotent: true`
        step downstream recognises the duplicates."""
        topics = self.topics  # the pool checked each emit against these (same plan)
        events = [Event(topic=e.topic, data=e.data, trace_id=ctx.trace_id, source=step.name,
                        event_id=e.id or emitted_id(ctx.event_id, step.name, n),
                        validated_by=topics, span_id=new_span_id(), parent_span=ctx.span_id,
                        delayed_until=None if e.delay is None else time.time() + e.delay)
                  for n, e in enumerate(emits)]
        if events:
            assert self.bus is not None
            await self.bus.publish(events)
        return events

    async def emit(self, topic: str, data: Any, trace_id: str | None = None,
                   delay: float | None = None) -> Event:
        """Publish an event from outside any step (`motia emit`, the test harness), `delay`
        seconds from now when given (kept in the store until then)."""
        if topic not in self.topics:
            known = ", ".join(self.topics.names()) or "none"
            raise EventRejected(f"unknown topic {topic!r}; declared topics: {known}")
        errors = self.topics.violations(topic, data)
        if errors:
            raise EventRejected(
                f"data for topic {topic!r} does not match its schema: {len(errors)} violation(s)",
                errors,
            )
        event = Event(topic=topic, data=data, trace_id=trace_id or new_id(),
                      validated_by=self.topics, span_id=new_span_id(),
                      delayed_until=None if not delay else time.time() + delay)
        assert self.bus is not None
        await self.bus.publish([event])
        later = "" if not delay else f", delayed {format_duration(delay)}"
        self.logger.info(f"event emitted on {topic}{later}", trace_id=event.trace_id,
                         event_id=event.event_id)
        return event

    async def dead_letters(self, step: str | None = None) -> list[DeadLetter]:
        assert self.store is not None
        return await self.store.dead_letters(step)

    async def replay(self, letter_id: str, data: Any = UNCHANGED) -> Event | None:
        """Send one dead letter back to its step (a cron tick runs again here); None when
        there is no such letter. ReplayRefused, the letter kept, when it cannot be.

        `data`, when given, replaces the event's data (a fix made in the Workbench): it is
        checked against the topic's schema first, EventRejected (the letter kept) when it
        breaks it."""
        assert self.store is not None and self.bus is not None
        letter = await self.store.take_dead_letter(letter_id)
        if letter is None:
            return None
        try:
            step = self.app.step(letter.step)
            sent = self._edited(letter, step, data)
            event = self.ticks.replay(sent) if step.type == "cron" else (
                await self.bus.replay(sent))
        except KeyError:
            await self.store.add_dead_letter(letter)
            raise ReplayRefused(f"dead letter {letter_id}: step {letter.step!r} is no longer "
                                "in motia.yaml; it was kept") from None
        except BaseException:
            await self.store.add_dead_letter(letter)  # never lose it
            raise
        self.hooks.after_replay(letter, event)
        edited = " with edited data" if data is not UNCHANGED else ""
        self.logger.info(f"dead letter {letter_id} replayed to step {letter.step}{edited}",
                         step=letter.step, trace_id=event.trace_id, event_id=event.event_id)
        return event

    def _edited(self, letter: DeadLetter, step: Step, data: Any) -> DeadLetter:
        """`letter` with `data` as its event's data, once the topic's schema accepts it."""
        if data is UNCHANGED:
            return letter
        if step.type == "cron" or letter.raw is not None:
            what = "a cron tick" if step.type == "cron" else "an unreadable message"
            raise ReplayRefused(f"dead letter {letter.id} holds {what}: it has no event data "
                                "to edit; replay it as it is")
        errors = self.topics.violations(letter.topic, data)
        if errors:
            raise EventRejected(f"the edited data does not match the schema of topic "
                                f"{letter.topic!r}: {summary(errors)}", errors)
        return dataclasses.replace(letter, data=data)

    async def delete_dead_letter(self, letter_id: str) -> DeadLetter | None:
        """Drop a dead letter for good (its event is not run again); None when unknown."""
        assert self.store is not None
        letter = await self.store.take_dead_letter(letter_id)
        if letter is not None:
            self.logger.warn(f"dead letter {letter_id} of step {letter.step} deleted",
                             step=letter.step, trace_id=letter.trace_id,
                             event_id=letter.event_id)
        return letter

    async def run_cron(self, name: str, key: str) -> str | None:
        """Fire one tick of cron step `name` now, as the schedule would: through the same
        lease (so of several replicas asked with the same `key`, one fires) and the same
        pipeline. The tick's trace id, or None when another replica took that lease."""
        from motia.runner.scheduler import fire_now

        step = self.app.step(name)  # KeyError: the caller names the step
        assert self.store is not None
        return await fire_now(step, key, store=self.store, ticks=self.ticks, hooks=self.hooks,
                              logger=self.logger, scheduler=self.scheduler)

    async def replay_all(self, step: str | None = None) -> tuple[list[str], dict[str, str]]:
        """Replay every dead letter (of `step`): the ids replayed, and {id: why} of those
        that could not be and were kept (a message that still cannot be read)."""
        replayed, kept = [], {}
        for letter in await self.dead_letters(step):
            try:
                if await self.replay(letter.id) is not None:
                    replayed.append(letter.id)
            except ReplayRefused as exc:
                kept[letter.id] = str(exc)
        return replayed, kept

    # --- plan swap (motia dev) --------------------------------------------------------------

    async def swap(self, app: App) -> set[str]:
        """Serve `app` from now on; returns the steps that changed (see runner/_swap.py)."""
        from motia.runner._swap import swap_plan

        return await swap_plan(self, app)

    def _set_app(self, app: App) -> None:
        self.app = app
        self.topics = TopicSchemas.of(app)

    def _consumers(self) -> dict[str, Any]:
        from motia.runner.delivery.pipeline import event_consumers

        assert self.delivery is not None
        return event_consumers(lambda: self.app, self.delivery)


_EMITS = uuid.UUID("5b0c6f0e-3d1a-4c56-9a57-6d6f7469612e")
_EMITS_SHA1 = hashlib.sha1(_EMITS.bytes)


def emitted_id(event_id: str, step: str, n: int) -> str:
    """The id of the `n`-th event `step` emitted while handling `event_id` (stable).

    Exactly `uuid.uuid5(_EMITS, f"{event_id}/{step}/{n}").hex` (ids stay the same across
    versions, so idempotency marks written before an upgrade still match), computed from a
    pre-hashed namespace without building a UUID object: a third of the cost."""
    digest = _EMITS_SHA1.copy()
    digest.update(f"{event_id}/{step}/{n}".encode())
    raw = bytearray(digest.digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50  # version 5
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return raw.hex()


def _sync_closer(close: Callable[[], None]) -> Closer:
    async def closer(grace: float) -> None:
        del grace
        close()

    return closer


def _ignore_grace(close: Callable[[], Awaitable[None]]) -> Closer:
    async def closer(grace: float) -> None:
        del grace
        await close()

    return closer


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value
