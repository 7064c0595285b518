"""The log lines of what delivery decides on its own: retries, deferrals, dead letters.

A hooks subscriber (it observes, it never decides), so every bus and the cron loop get
the same lines, each with its step, trace id and event id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from motia.runner.hooks import Hooks
from motia.runner.logs import Logger
from motia.runner.state.base import DeadLetter

if TYPE_CHECKING:
    from motia.runner.bus.base import Event


class DeliveryLog(Hooks):
    """Writes one line per retry, deferral and dead letter to `logger`."""

    def __init__(self, logger: Logger) -> None:
        self.logger = logger

    def after_retry_scheduled(self, step: str, event: Event, delay: float, error: str,
                              error_type: str) -> None:
        what = "attempt" if event.topic else "cron tick attempt"
        self.logger.warn(f"{what} {event.attempt - 1} failed ({error}); retry in {delay:g}s",
                         step=step, trace_id=event.trace_id, event_id=event.event_id)

    def after_defer(self, step: str, event: Event, delay: float, reason: str) -> None:
        self.logger.debug(f"event put back for {delay:g}s: {reason}", step=step,
                          trace_id=event.trace_id, event_id=event.event_id)

    def after_dead_letter(self, letter: DeadLetter) -> None:
        error = letter.error
        what = f"event on {letter.topic}" if letter.topic else "cron tick"
        if letter.raw is not None:
            what = f"unreadable message on {letter.topic or 'the step queue'}"
        tries = f"after {letter.attempts} attempt(s)" if letter.attempts else "without an attempt"
        self.logger.error(
            f"{what} dead-lettered {tries}: {error.get('type')}: {error.get('message')}; "
            f"replay with `motia dlq replay {letter.id}`",
            {"dead_letter": letter.id}, step=letter.step, trace_id=letter.trace_id or None,
            event_id=letter.event_id or None)
