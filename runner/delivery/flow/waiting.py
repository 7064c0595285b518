"""How many events wait on each flow-control rule now, per step (a hooks observer).

Every deferral a rule makes is reported through `Hooks.after_defer` with a reason that
starts `flow.<rule>:`; this observer keeps each waiting event until it is due back (plus
GRACE), so `counts()` is the number of events waiting per step and rule in this process
right now. A metrics observer can read `counts()` or subscribe to `after_defer` itself.

With several replicas each sees only the events it deferred (an event comes back to any
replica), so `snapshot()` gives the events themselves with when each was deferred: gauge.py
publishes it to the shared store, and the app-wide count merges every live replica's
snapshot (an event two replicas both still list counts once, on its latest rule).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from motia.runner.hooks import Hooks

if TYPE_CHECKING:
    from motia.runner.bus.base import Event

#: a deferred event still counts this long after it was due back (seconds)
GRACE = 2.0
RULES = ("order", "debounce", "concurrency", "rate")


def rule_of(reason: str) -> str | None:
    """The rule a deferral's reason names (`flow.rate: ...` -> "rate"), else None."""
    if not reason.startswith("flow."):
        return None
    rule = reason[5:].split(":", 1)[0]
    return rule if rule in RULES else None


class FlowWaiting(Hooks):
    """Counts the events each rule holds back now (module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._wall = wall
        #: step -> rule -> event id -> when it stops counting
        self._waiting: dict[str, dict[str, dict[str, float]]] = defaultdict(
            lambda: defaultdict(dict))
        #: event id -> when (wall clock) it was last deferred, to merge replicas' views
        self._since: dict[str, float] = {}

    def after_defer(self, step: str, event: Event, delay: float, reason: str) -> None:
        rule = rule_of(reason)
        if rule is None:
            return
        rules = self._waiting[step]
        for other in rules.values():  # an event waits on one rule at a time
            other.pop(event.event_id, None)
        rules[rule][event.event_id] = self._clock() + delay + GRACE
        self._since[event.event_id] = self._wall()

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
            self._since.pop(event_id, None)

    def counts(self) -> dict[str, dict[str, int]]:
        """step -> rule -> events waiting now (steps and rules with none left out)."""
        now = self._clock()
        out: dict[str, dict[str, int]] = {}
        for step, rules in self._waiting.items():
            for rule, waiting in rules.items():
                for event_id in [e for e, until in waiting.items() if until <= now]:
                    del waiting[event_id]
                    self._since.pop(event_id, None)
                if waiting:
                    out.setdefault(step, {})[rule] = len(waiting)
        return out

    def snapshot(self) -> dict[str, dict[str, list[Any]]]:
        """step -> event id -> [rule, when it was deferred (wall clock)], of the events
        waiting now: what gauge.py publishes for this replica."""
        self.counts()  # drops what is no longer due to count
        return {step: {event_id: [rule, self._since.get(event_id, 0.0)]
                       for rule, waiting in rules.items() for event_id in waiting}
                for step, rules in self._waiting.items() if any(rules.values())}


def merge(snapshots: Iterable[dict[str, dict[str, list[Any]]]]) -> dict[str, dict[str, int]]:
    """step -> rule -> events waiting, over several replicas' snapshots: each event counts
    once, on the rule of its latest deferral (it may have moved on from a replica's rule)."""
    latest: dict[str, dict[str, tuple[float, str]]] = defaultdict(dict)
    for snapshot in snapshots:
        for step, events in snapshot.items():
            mine = latest[step]
            for event_id, (rule, since) in events.items():
                if event_id not in mine or since > mine[event_id][0]:
                    mine[event_id] = (since, rule)
    out: dict[str, dict[str, int]] = {}
    for step, latest_of in latest.items():
        counts = out.setdefault(step, {})
        for _, rule in latest_of.values():
            counts[rule] = counts.get(rule, 0) + 1
    return out
