"""Prometheus metrics: a hooks subscriber that counts what one replica did, for `/metrics`.

Each `Runtime` owns one `Metrics` with its own `CollectorRegistry` (never the global
default one), so replicas started in one process (the tests) each expose only their own
series. Every series and its labels are listed in docs/operations.md.

Labels are bounded by construction: steps, topics and route *templates* come from the
plan (`/orders/{id}`, never `/orders/42`; requests no route matched are all
`route="unmatched"`), and free-text reasons (why a worker exited, why a delivery was put
back) are cut to their leading words, digits folded, with at most `MAX_REASONS` distinct
values per series before the rest count as "other". No id ever becomes a label.

The hot path (a request, an invocation) only adds to plain dictionaries: prometheus-client's
own Counter and Histogram take a lock on every `inc`, which cost a request more than all
the rest of this module. The counts are turned into metric families when scraped
(`collect`), on the same event loop that counts them, so a scrape sees a consistent view.
"""

from __future__ import annotations

import asyncio
import re
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.utils import floatToGoString

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
#: invocation durations: 1 ms to 1 min, where handlers live
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
           10.0, 30.0, 60.0)
_BOUNDS = [str(floatToGoString(b)) for b in BUCKETS] + ["+Inf"]  # type: ignore[no-untyped-call]
#: reasons a worker stops that the runtime asked for: not restarts
_ASKED = frozenset({"was stopped", "was retired"})
#: a client may send any token as a method: others count as "other"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_DIGITS = re.compile(r"\d+")
_CUT = re.compile(r"[:(\[{;,]")

Depths = Callable[[], Awaitable[dict[str, int]]]
#: (name without _total, help, label names) of every counter, in exposition order
COUNTERS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "invocations": ("motia_invocations", "Handler invocations started, per step.", ("step",)),
    "failures": ("motia_invocation_failures",
                 "Handler invocations that failed, per step and error class.", ("step", "error")),
    "responses": ("motia_http_responses", "HTTP responses of the steps' routes, per method, "
                  "route template and status.", ("method", "route", "status")),
    "published": ("motia_events_published", "Events published to the bus, per topic.",
                  ("topic",)),
    "retries": ("motia_retries", "Failed attempts scheduled for a retry, per step and error "
                "class.", ("step", "reason")),
    "dead_letters": ("motia_dead_letters", "Events and cron ticks written to the dead-letter "
                     "store, per step and error class.", ("step", "reason")),
    "restarts": ("motia_worker_restarts", "Worker processes that exited without being asked "
                 "to (and are replaced), per step and reason.", ("step", "reason")),
    "deferrals": ("motia_deferrals", "Deliveries put back to wait (a claim held elsewhere, a "
                  "store outage, flow control), per step and reason.", ("step", "reason")),
}


class _Histogram:
    """One step's duration buckets (not cumulative until scraped) and their sum."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0

    def cumulative(self) -> list[tuple[str, float]]:
        running, out = 0, []
        for bound, count in zip(_BOUNDS, self.counts, strict=True):
            running += count
            out.append((bound, float(running)))
        return out


class Metrics(Hooks):
    """The series of one replica; `render()` is the `/metrics` answer."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.counts: dict[str, dict[Any, float]] = {name: {} for name in COUNTERS}
        self.durations: dict[str, _Histogram] = {}
        self.depths: dict[str, int] = {}
        self._depths: Depths | None = None
        self._reasons: dict[str, _Reasons] = {}
        # the hot paths' dictionaries, bound once
        self._invocations = self.counts["invocations"]
        self._responses = self.counts["responses"]
        self._published = self.counts["published"]
        self.registry.register(self)  # a collector: prometheus-client calls `collect`

    def watch_queues(self, depths: Depths) -> None:
        """Count the queues with `depths` (the bus's) at every scrape."""
        self._depths = depths

    async def render(self) -> bytes:
        """The Prometheus text exposition of every series, queue depths counted now."""
        if self._depths is not None:
            try:
                self.depths.update(await asyncio.wait_for(self._depths(), DEPTH_TIMEOUT))
            except (TimeoutError, Exception):  # noqa: BLE001 -- a scrape answers regardless
                pass
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        """The metric families, built from the counts (prometheus-client's Collector)."""
        for key, (name, doc, labels) in COUNTERS.items():
            family = CounterMetricFamily(name, doc, labels=list(labels))
            for values, count in self.counts[key].items():
                family.add_metric(list(values) if isinstance(values, tuple) else [values], count)
            yield family
        histogram = HistogramMetricFamily(
            "motia_invocation_duration_seconds",
            "Time from invoking a handler to its result, per step.", labels=["step"])
        for step, hist in self.durations.items():
            histogram.add_metric([step], hist.cumulative(), hist.total)
        yield histogram
        gauge = GaugeMetricFamily("motia_queue_depth",
                                  "Events waiting in a step's queue when scraped.", labels=["step"])
        for step, depth in self.depths.items():
            gauge.add_metric([step], depth)
        yield gauge

    # --- hooks ----------------------------------------------------------------------------

    def before_invoke(self, step: str, ctx: InvocationContext, payload: Any) -> None:
        counts = self._invocations
        counts[step] = counts.get(step, 0) + 1

    def after_invoke(
        self, step: str, ctx: InvocationContext, duration: float, error: BaseException | None
    ) -> None:
        hist = self.durations.get(step)
        if hist is None:
            hist = self.durations[step] = _Histogram()
        hist.counts[bisect_left(BUCKETS, duration)] += 1
        hist.total += duration
        if error is not None:
            kind = getattr(error, "type", None) or type(error).__name__
            self._add("failures", (step, self._reason("failures", str(kind))))

    def after_request(self, method: str, route: str, status: int, start: float,
                      duration: float, trace_id: str, span_id: str,
                      parent_span: str | None) -> None:
        key = (method if method in _METHODS else "other", route or UNMATCHED, str(status))
        counts = self._responses
        counts[key] = counts.get(key, 0) + 1

    def after_publish(self, events: list[Event]) -> None:
        counts = self._published
        for event in events:
            counts[event.topic] = counts.get(event.topic, 0) + 1

    def after_retry_scheduled(self, step: str, event: Event, delay: float, error: str,
                              error_type: str) -> None:
        self._add("retries", (step, self._reason("retries", error_type)))

    def after_dead_letter(self, letter: DeadLetter) -> None:
        kind = str(letter.error.get("type") or "unknown")
        self._add("dead_letters", (letter.step, self._reason("dead_letters", kind)))

    def after_worker_exited(self, step: str, pid: int, reason: str) -> None:
        if reason not in _ASKED:
            self._add("restarts", (step, self._reason("restarts", reason)))

    def after_defer(self, step: str, event: Event, delay: float, reason: str) -> None:
        self._add("deferrals", (step, self._reason("deferrals", reason)))

    # --- internals ------------------------------------------------------------------------

    def _add(self, series: str, key: tuple[str, ...]) -> None:
        counts = self.counts[series]
        counts[key] = counts.get(key, 0) + 1

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
