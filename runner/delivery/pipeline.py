"""A step's delivery rules composed once into one callable, shared by every bus and by cron.

    [order] -> validate -> idempotency claim -> [debounce -> concurrency -> rate] -> invoke,
    then publish its emits (mark done once both succeeded, in the claim)

`middlewares_for(app, step, services)` is the ordered list for one step, with only the rules
that apply to it (a step without schemas pays no validation, one without idempotency no
claim). `Pipeline` nests them around the terminal (`Invoke`) once, so a delivery costs
one coroutine per rule and no list walk. `StepConsumer` is what a bus calls per event:
it rebuilds its step's pipeline when `motia dev` swaps the plan.

Extension point: a new rule is a middleware class and one line in `middlewares_for`
(flow control's rules are in delivery/flow/; `order` comes first so that a rejected or
skipped event still moves its key on); it may `raise Defer(delay, reason)` to put an event back without an attempt or a worker
slot (the bus's `_send_to(step, event, delay)` does the waiting), `raise Skip(reason)`,
and take per-key locks or slots in the shared store through `services.leases`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from motia.compiler.ir import App, Step
from motia.runner.bus.base import Consumer, Event
from motia.runner.delivery.base import Delivery, Invoker, Middleware, Next
from motia.runner.delivery.flow.concurrency import Concurrency
from motia.runner.delivery.flow.debounce import Debounce
from motia.runner.delivery.flow.order import Order
from motia.runner.delivery.flow.rate import Rate
from motia.runner.delivery.idempotency import Idempotency
from motia.runner.delivery.invoke import Invoke
from motia.runner.delivery.leases import LeaseKeeper
from motia.runner.delivery.validate import ValidateData
from motia.runner.hooks import Hooks
from motia.runner.logs import Logger
from motia.runner.state.base import StateStore
from motia.runner.topics import TopicSchemas
from motia.runner.workers.api import InvocationContext, new_span_id


@dataclass(frozen=True)
class DeliveryServices:
    """What the middlewares of a plan are built from (each takes only what it uses)."""

    invoker: Invoker
    store: StateStore
    leases: LeaseKeeper
    logger: Logger
    #: told of every delivery's end (`after_deliver`): metrics and traces observe it
    hooks: Hooks = field(default_factory=Hooks)


def middlewares_for(app: App, step: Step, services: DeliveryServices) -> list[Middleware]:
    """The ordered rules of one event or cron step of `app` (see the module docstring)."""
    chain: list[Middleware] = []
    control = step.flow_control if step.type == "event" else None
    if control is not None and control.order is not None:
        chain.append(Order(step, control.order, services.store, services.leases))
    if step.type == "event":
        chain.append(ValidateData(step, TopicSchemas.of(app)))
    if step.idempotency is not None:
        chain.append(Idempotency(step, services.store, services.leases, services.logger))
    if control is not None:
        if control.debounce is not None:
            chain.append(Debounce(step, control.debounce, services.store))
        if control.concurrency is not None:
            chain.append(Concurrency(step, control.concurrency, services.leases))
        if control.rate is not None:
            chain.append(Rate(step, control.rate, services.store))
    return chain


class Pipeline:
    """`middlewares` nested around `terminal`, the first outermost; call it per delivery."""

    __slots__ = ("_call", "middlewares")

    def __init__(self, middlewares: Sequence[Middleware], terminal: Next) -> None:
        self.middlewares = tuple(middlewares)
        call: Next = terminal
        for middleware in reversed(self.middlewares):
            call = functools.partial(middleware, call_next=call)
        self._call = call

    def __call__(self, delivery: Delivery) -> Awaitable[None]:
        return self._call(delivery)


def pipeline_for(app: App, step: Step, services: DeliveryServices) -> Pipeline:
    return Pipeline(middlewares_for(app, step, services), Invoke(services.invoker))


class StepConsumer:
    """The bus's consumer of one step: its pipeline for the plan being served now."""

    __slots__ = ("_app", "_pipeline", "_plan", "_services", "_step", "name")

    def __init__(self, name: str, plan: Callable[[], App], services: DeliveryServices) -> None:
        self.name = name
        self._plan = plan
        self._services = services
        self._app: App | None = None
        self._step: Step | None = None
        self._pipeline: Pipeline | None = None

    async def __call__(self, event: Event) -> None:
        app = self._plan()
        if app is not self._app:  # first delivery, or `motia dev` swapped the plan
            self._step = app.step(self.name)
            self._pipeline = pipeline_for(app, self._step, self._services)
            self._app = app
        assert self._step is not None and self._pipeline is not None
        span_id = new_span_id()  # the delivery's span: the invocation's parent
        ctx = InvocationContext(trace_id=event.trace_id, event_id=event.event_id,
                                attempt=event.attempt, topic=event.topic, parent_span=span_id)
        start, started = time.time(), time.perf_counter()
        outcome = "ok"
        try:
            await self._pipeline(Delivery(self._step, event, ctx))
        except BaseException as exc:
            outcome = _outcome(exc)
            raise
        finally:
            self._services.hooks.after_deliver(self.name, event, span_id, start,
                                               time.perf_counter() - started, outcome)


def _outcome(exc: BaseException) -> str:
    """How a delivery that raised ended, as a bounded label: the outcome's or error's class."""
    return getattr(exc, "type", None) or type(exc).__name__


def event_consumers(plan: Callable[[], App], services: DeliveryServices) -> dict[str, Consumer]:
    """One consumer per event step of the plan that runs."""
    return {step.name: StepConsumer(step.name, plan, services)
            for step in plan().steps_of("event") if step.runs and step.subscribes}
