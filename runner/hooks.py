"""Runtime hooks: named `before_*`/`after_*` callbacks that do nothing by default.

Tracing, metrics, the Workbench feed and the test harness subclass `Hooks` and
override what they need; `HookSet` fans each call out to all of them. Hooks must be
cheap and must not raise (an error in one is logged and swallowed by HookSet): they sit
on the hot path of every invocation.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from motia.runner.bus.base import Event
    from motia.runner.logs import LogRecord
    from motia.runner.state.base import DeadLetter
    from motia.runner.workers.api import InvocationContext

_log = logging.getLogger("motia.hooks")


class Hooks:
    """Base class: every hook is a no-op."""

    def before_invoke(self, step: str, ctx: InvocationContext, payload: Any) -> None: ...

    def after_invoke(
        self, step: str, ctx: InvocationContext, duration: float, error: BaseException | None
    ) -> None: ...

    def after_emit(self, step: str, ctx: InvocationContext, topic: str, data: Any) -> None:
        """ctx.emit accepted `topic`/`data` (the event is published only if the handler succeeds)."""

    def after_publish(self, events: list[Event]) -> None: ...

    def after_state_op(self, step: str, ctx: InvocationContext, op: str, args: list[Any]) -> None: ...

    def after_retry_scheduled(self, step: str, event: Event, delay: float, error: str,
                              error_type: str) -> None:
        """A failed attempt will be retried in `delay` s; `error` is its message and
        `error_type` its class (`ValueError`, `TimeoutError`...), a bounded label."""

    def after_skip(self, step: str, ctx: InvocationContext, reason: str) -> None:
        """A delivery ran no handler on purpose (an idempotent step's duplicate event id)."""

    def after_defer(self, step: str, event: Event, delay: float, reason: str) -> None:
        """A delivery was put back to wait `delay` s, not as a failed attempt (a claim held
        by another copy, a store outage, flow control)."""

    def after_dead_letter(self, letter: DeadLetter) -> None: ...

    def after_request(self, method: str, route: str, status: int, start: float,
                      duration: float, trace_id: str, span_id: str,
                      parent_span: str | None) -> None:
        """The gateway answered one request to a step's route: `route` is the path
        *template* (`/orders/{id}`, "" when no route matched), `start` the wall-clock time
        it arrived, `span_id` the request's span and `parent_span` the caller's, from its
        `traceparent` (None without one)."""

    def after_deliver(self, step: str, event: Event, span_id: str, start: float,
                      duration: float, outcome: str) -> None:
        """One delivery of `event` to `step` ended: `outcome` is "ok", or the class of what
        ended it ("Defer", "Skip", "Reject", "HandlerError"...). `span_id` is the
        delivery's span, the parent of the invocation it ran."""

    def after_replay(self, letter: DeadLetter, event: Event) -> None:
        """A dead letter was sent back to its step as `event` (a new first attempt)."""

    def after_delay_fired(self, event: Event, late: float) -> None:
        """A delayed event (`ctx.emit({..., "delay"})`) was published, `late` s after due."""

    def after_worker_started(self, step: str, pid: int) -> None: ...

    def after_worker_exited(self, step: str, pid: int, reason: str) -> None: ...

    def after_cron_fired(self, step: str, scheduled: float, trace_id: str) -> None: ...

    def on_log(self, record: LogRecord) -> None: ...


class HookSet(Hooks):
    """Calls every registered `Hooks` in order; an exception in one never reaches the caller."""

    def __init__(self, *hooks: Hooks) -> None:
        self._hooks: list[Hooks] = list(hooks)

    def add(self, hooks: Hooks) -> None:
        self._hooks.append(hooks)

    def remove(self, hooks: Hooks) -> None:
        if hooks in self._hooks:
            self._hooks.remove(hooks)

    def _call(self, name: str, *args: Any) -> None:
        for hooks in self._hooks:
            try:
                getattr(hooks, name)(*args)
            except Exception:  # a broken observer must not break delivery
                _log.exception("hook %s of %r failed", name, hooks)

    def before_invoke(self, *a: Any) -> None:
        self._call("before_invoke", *a)

    def after_invoke(self, *a: Any) -> None:
        self._call("after_invoke", *a)

    def after_emit(self, *a: Any) -> None:
        self._call("after_emit", *a)

    def after_publish(self, *a: Any) -> None:
        self._call("after_publish", *a)

    def after_state_op(self, *a: Any) -> None:
        self._call("after_state_op", *a)

    def after_retry_scheduled(self, *a: Any) -> None:
        self._call("after_retry_scheduled", *a)

    def after_dead_letter(self, *a: Any) -> None:
        self._call("after_dead_letter", *a)

    def after_replay(self, *a: Any) -> None:
        self._call("after_replay", *a)

    def after_skip(self, *a: Any) -> None:
        self._call("after_skip", *a)

    def after_defer(self, *a: Any) -> None:
        self._call("after_defer", *a)

    def after_request(self, *a: Any) -> None:
        self._call("after_request", *a)

    def after_deliver(self, *a: Any) -> None:
        self._call("after_deliver", *a)

    def after_delay_fired(self, *a: Any) -> None:
        self._call("after_delay_fired", *a)

    def after_worker_started(self, *a: Any) -> None:
        self._call("after_worker_started", *a)

    def after_worker_exited(self, *a: Any) -> None:
        self._call("after_worker_exited", *a)

    def after_cron_fired(self, *a: Any) -> None:
        self._call("after_cron_fired", *a)

    def on_log(self, *a: Any) -> None:
        self._call("on_log", *a)
