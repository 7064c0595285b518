"""How many events wait on each flow-control rule now, per step (a hooks observer).

Every deferral a rule makes is reported through `Hooks.after_defer` with a reason that
starts `flow.<rule>:`; this observer keeps each waiting event until it is due back (plus
GRACE), so `counts()` is the number of events waiting per step and rule in this process
right now. The Workbench step panel and GET /__motia/api/flow show it; a metrics
observer can read `counts()` or subscribe to `after_defer` itself. With several replicas
each counts the events it deferred (an event comes back to any replica).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from motia.runner.hooks import Hooks

if TYPE_CHECKING:
    from motia.runner.bus.base import Event

#: a deferred event still counts this long after it was due back (seconds)
GRACE = 1.0
RULES = ("order", "debounce", "concurrency", "rate")


def rule_of(reason: str) -> str | None:
    """The rule a deferral's reason names (`flow.rate: ...` -> "rate"), else None."""
    if not reason.startswith("flow."):
        return None
    rule = reason[5:].split(":", 1)[0]
    return rule if rule in RULES else None


class FlowWaiting(Hooks):
    """Counts the events each rule holds back now (module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        #: step -> rule -> event id -> when it stops counting
        self._waiting: dict[str, dict[str, dict[str, float]]] = defaultdict(
            lambda: defaultdict(dict))

    def after_defer(self, step: str, event: Event, delay: float, reason: str) -> None:
        rule = rule_of(reason)
        if rule is None:
            return
        rules = self._waiting[step]
        for other in rules.values():  # an event waits on one rule at a time
            other.pop(event.event_id, None)
        rules[rule][event.event_id] = self._clock() + delay + GRACE

    def after_invoke(self, step: str, ctx: Any, duration: float,
                     error: BaseException | None) -> None:
        self._done(step, ctx)

    def after_skip(self, step: str, ctx: Any, reason: str) -> None:
        self._done(step, ctx)

    def _done(self, step: str, ctx: Any) -> None:
        """The event ran or was skipped: it waits no more."""
        event_id = getattr(ctx, "event_id", None)
        rules = self._waiting.get(step)
        if rules and event_id:
            for waiting in rules.values():
                waiting.pop(event_id, None)

    def counts(self) -> dict[str, dict[str, int]]:
        """step -> rule -> events waiting now (steps and rules with none left out)."""
        now = self._clock()
        out: dict[str, dict[str, int]] = {}
        for step, rules in self._waiting.items():
            for rule, waiting in rules.items():
                for event_id in [e for e, until in waiting.items() if until <= now]:
                    del waiting[event_id]
                if waiting:
                    out.setdefault(step, {})[rule] = len(waiting)
        return out
