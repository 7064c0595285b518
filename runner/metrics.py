"""Prometheus metrics: a hooks subscriber that counts what one replica did, for `/metrics`.

Each `Runtime` owns one `Metrics` with its own `CollectorRegistry` (never the global
default one), so replicas started in one process (the tests) each expose only their own
series. Every series and its labels are listed in docs/operations.md.

Labels are bounded by construction: steps, topics and route *templates* come from the
plan (`/orders/{id}`, never `/orders/42`; requests no route matched are all
`route="unmatched"`),
and free-text reasons (why a worker exited, why a delivery was put back) are cut to
their leading words, digits folded, with at most `MAX_REASONS` distinct values per
series before the rest count as "other". No id ever becomes a label.

The hot path (a request, an invocation) costs a dictionary lookup and one `inc` or
`observe` per series: the labelled children are cached here, because prometheus-client's
`labels()` takes a lock and builds a tuple on every call.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from motia.runner.hooks import Hooks

if TYPE_CHECKING:
    from motia.runner.bus.base import Event
    from motia.runner.state.base import DeadLetter
    from motia.runner.workers.api import InvocationContext

CONTENT_TYPE = CONTENT_TYPE_LATEST
#: the `route` label of every request no step's route matched (a route starts with "/")
UNMATCHED = "unmatched"
#: distinct values a free-text `reason` label may take per series; then "other"
MAX_REASONS = 20
#: seconds a scrape waits for the broker to count the queues before answering without
DEPTH_TIMEOUT = 2.0
#: invocation and request durations: 1 ms to 1 min, where handlers live
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
           10.0, 30.0, 60.0)
#: reasons a worker stops that the runtime asked for: not restarts
_ASKED = frozenset({"was stopped", "was retired"})
#: a client may send any token as a method: others count as "other"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_DIGITS = re.compile(r"\d+")
_CUT = re.compile(r"[:(\[{;,]")

Depths = Callable[[], Awaitable[dict[str, int]]]


class Metrics(Hooks):
    """The series of one replica; `render()` is the `/metrics` answer."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self.invocations = Counter("motia_invocations", "Handler invocations started, per step.",
                                   ["step"], registry=r)
        self.failures = Counter("motia_invocation_failures",
                                "Handler invocations that failed, per step and error class.",
                                ["step", "error"], registry=r)
        self.duration = Histogram("motia_invocation_duration_seconds",
                                  "Time from invoking a handler to its result, per step.",
                                  ["step"], buckets=BUCKETS, registry=r)
        self.responses = Counter("motia_http_responses",
                                 "HTTP responses of the steps' routes, per method, route "
                                 "template and status.", ["method", "route", "status"],
                                 registry=r)
        self.published = Counter("motia_events_published",
                                 "Events published to the bus, per topic.", ["topic"], registry=r)
        self.retries = Counter("motia_retries", "Failed attempts scheduled for a retry, per "
                               "step and error class.", ["step", "reason"], registry=r)
        self.dead_letters = Counter("motia_dead_letters", "Events and cron ticks written to the "
                                    "dead-letter store, per step and error class.",
                                    ["step", "reason"], registry=r)
        self.restarts = Counter("motia_worker_restarts", "Worker processes that exited without "
                                "being asked to (and are replaced), per step and reason.",
                                ["step", "reason"], registry=r)
        self.deferrals = Counter("motia_deferrals", "Deliveries put back to wait (a claim held "
                                 "elsewhere, a store outage, flow control), per step and reason.",
                                 ["step", "reason"], registry=r)
        self.depth = Gauge("motia_queue_depth", "Events waiting in a step's queue when scraped.",
                           ["step"], registry=r)
        self._depths: Depths | None = None
        self._started: dict[str, Any] = {}
        self._timed: dict[str, Any] = {}
        self._answered: dict[tuple[str, str, int], Any] = {}
        self._reasons: dict[str, _Reasons] = {}

    def watch_queues(self, depths: Depths) -> None:
        """Count the queues with `depths` (the bus's) at every scrape."""
        self._depths = depths

    async def render(self) -> bytes:
        """The Prometheus text exposition of every series, queue depths counted now."""
        if self._depths is not None:
            try:
                counts = await asyncio.wait_for(self._depths(), DEPTH_TIMEOUT)
            except (TimeoutError, Exception):  # noqa: BLE001 -- a scrape answers regardless
                counts = {}
            for step, count in counts.items():
                self.depth.labels(step).set(count)
        return generate_latest(self.registry)

    # --- hooks ----------------------------------------------------------------------------

    def before_invoke(self, step: str, ctx: InvocationContext, payload: Any) -> None:
        child = self._started.get(step)
        if child is None:
            child = self._started[step] = self.invocations.labels(step)
        child.inc()

    def after_invoke(
        self, step: str, ctx: InvocationContext, duration: float, error: BaseException | None
    ) -> None:
        child = self._timed.get(step)
        if child is None:
            child = self._timed[step] = self.duration.labels(step)
        child.observe(duration)
        if error is not None:
            kind = getattr(error, "type", None) or type(error).__name__
            self.failures.labels(step, self._reason("failures", str(kind))).inc()

    def after_request(self, method: str, route: str, status: int, start: float,
                      duration: float, trace_id: str, span_id: str,
                      parent_span: str | None) -> None:
        key = (method, route, status)
        child = self._answered.get(key)
        if child is None:
            if method not in _METHODS:  # not cached either: the cache must stay bounded
                method, key = "other", ("other", route, status)
            child = self._answered[key] = self.responses.labels(method, route or UNMATCHED,
                                                                str(status))
        child.inc()

    def after_publish(self, events: list[Event]) -> None:
        for event in events:
            self.published.labels(event.topic).inc()

    def after_retry_scheduled(self, step: str, event: Event, delay: float, error: str,
                              error_type: str) -> None:
        self.retries.labels(step, self._reason("retries", error_type)).inc()

    def after_dead_letter(self, letter: DeadLetter) -> None:
        kind = str(letter.error.get("type") or "unknown")
        self.dead_letters.labels(letter.step, self._reason("dead_letters", kind)).inc()

    def after_worker_exited(self, step: str, pid: int, reason: str) -> None:
        if reason not in _ASKED:
            self.restarts.labels(step, self._reason("restarts", reason)).inc()

    def after_defer(self, step: str, event: Event, delay: float, reason: str) -> None:
        self.deferrals.labels(step, self._reason("deferrals", reason)).inc()

    # --- internals ------------------------------------------------------------------------

    def _reason(self, series: str, text: str) -> str:
        reasons = self._reasons.get(series)
        if reasons is None:
            reasons = self._reasons[series] = _Reasons()
        return reasons.label(text)


class _Reasons:
    """The bounded set of `reason` values one series has used."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def label(self, text: str) -> str:
        value = reason_label(text)
        if value in self.seen:
            return value
        if len(self.seen) >= MAX_REASONS:
            return "other"
        self.seen.add(value)
        return value


def reason_label(text: str) -> str:
    """A free-text reason as a label: its words before any detail (`:`, `(`...), digits
    as N, at most 60 characters. "exited with code 3 (killed: OOM)" -> "exited with code N"."""
    head = _CUT.split(text, 1)[0].strip()
    return _DIGITS.sub("N", head)[:60] or "unknown"
