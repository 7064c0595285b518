"""The pipeline's terminal: run the handler in its worker, then publish what it emitted.

The worker pool runs the handler and enforces the step's timeout (a timed-out invocation
raises HandlerTimeout like any failed attempt). The emits are published only once the
handler succeeded, so a failed attempt publishes nothing (SPEC section 4), and the
middlewares around the terminal (the completion mark) act only once the events are
safely on the bus. One terminal instead of two stages: a coroutine less per delivery.
"""

from __future__ import annotations

from motia.runner.delivery.base import Delivery, Invoker


class Invoke:
    """Run the step's handler with the event's data (a cron tick's is None), then publish
    the emits of a successful run."""

    __slots__ = ("invoker",)

    def __init__(self, invoker: Invoker) -> None:
        self.invoker = invoker

    async def __call__(self, delivery: Delivery) -> None:
        invoker = self.invoker
        result = delivery.result = await invoker.invoke(delivery.step, delivery.event.data,
                                                        delivery.ctx)
        if result.emits:
            await invoker.publish_emits(delivery.step, delivery.ctx, result.emits)
