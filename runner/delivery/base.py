"""What one delivery is, what a middleware may decide about it, and what the pipeline runs on.

A middleware is `async def __call__(delivery, call_next)`: it may call `call_next` (and
act before and after it), or end the delivery early by raising one of the outcomes
below. Any other exception is a failed attempt. What each ending means (a retry with
backoff, a dead letter, a wait) is decided in one place, `policy.DeliveryPolicy`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from motia.compiler.ir import Step
from motia.runner.workers.api import Emit, InvocationContext, InvocationResult

if TYPE_CHECKING:
    from motia.runner.bus.base import Event


@dataclass(slots=True)
class Delivery:
    """One attempt to hand one event (or one cron tick) to one step."""

    step: Step
    event: Event
    ctx: InvocationContext
    #: set by the invoke stage: the handler's value and the emits it made
    result: InvocationResult | None = None


Next = Callable[[Delivery], Awaitable[None]]


class Middleware(Protocol):
    """One delivery rule; see the module docstring."""

    def __call__(self, delivery: Delivery, call_next: Next) -> Awaitable[None]: ...


class Invoker(Protocol):
    """What delivery needs of the runtime: run a handler in its worker, publish its emits."""

    def invoke(
        self, step: Step, payload: Any, ctx: InvocationContext
    ) -> Awaitable[InvocationResult]: ...

    def publish_emits(
        self, step: Step, ctx: InvocationContext, emits: Sequence[Emit]
    ) -> Awaitable[list[Event]]: ...


# --- outcomes a middleware raises to end a delivery early ------------------------------


class Outcome(Exception):
    """Raised by a middleware to end a delivery other than by a failed attempt."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Skip(Outcome):
    """Raised when the delivery needs no handler run (a duplicate); it counts as handled."""


class Defer(Outcome):
    """Raised to put the delivery back to wait `delay` seconds, not counted as an attempt
    and holding no worker slot meanwhile (a busy claim, a store outage, flow control)."""

    def __init__(self, delay: float, reason: str) -> None:
        super().__init__(reason)
        self.delay = delay


class Reject(Outcome):
    """Raised when the delivery can never succeed (its data breaks the topic's schema): it
    becomes a dead letter at once, with `error`, and never costs an attempt."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(str(error.get("message", "")))
        self.error = error
