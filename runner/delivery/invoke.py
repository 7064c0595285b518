"""The last two stages: run the handler in its worker, then publish what it emitted.

`Invoke` is the pipeline's terminal: the worker pool runs the handler and enforces the
step's timeout (a timed-out invocation raises HandlerTimeout like any failed attempt).
`PublishEmits` wraps it and publishes the emits only once the handler succeeded, so a
failed attempt publishes nothing (SPEC section 4), and the middlewares outside it (the
completion mark) run only once the events are safely on the bus.
"""

from __future__ import annotations

from motia.runner.delivery.base import Delivery, Invoker, Next


class Invoke:
    """Run the step's handler with the event's data (a cron tick's is None)."""

    __slots__ = ("invoker",)

    def __init__(self, invoker: Invoker) -> None:
        self.invoker = invoker

    async def __call__(self, delivery: Delivery) -> None:
        delivery.result = await self.invoker.invoke(delivery.step, delivery.event.data,
                                                    delivery.ctx)


class PublishEmits:
    """Publish a successful invocation's emits (none for a failed one)."""

    __slots__ = ("invoker",)

    def __init__(self, invoker: Invoker) -> None:
        self.invoker = invoker

    async def __call__(self, delivery: Delivery, call_next: Next) -> None:
        await call_next(delivery)
        result = delivery.result
        if result is not None and result.emits:
            await self.invoker.publish_emits(delivery.step, delivery.ctx, result.emits)
