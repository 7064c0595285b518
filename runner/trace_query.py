"""Which traces the Traces list shows: GET /__motia/api/traces's query parameters.

`flow`, `step` and `status` narrow the list to traces that went through that flow or step
or ended that way; `since`/`until` (epoch seconds) bound when they started; `q` finds a
trace by (a prefix of) its id or by the id of an event in it. A fast cron step can fill
the list with its ticks, so `cron=auto` (the Workbench's default) hides cron-tick traces
when they are more than half of what matched, and says how many it hid; `cron=hide`
always hides them, `cron=show` never does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from motia.compiler.ir import App
from motia.runner.tracing import Trace

CRON_MODES = ("auto", "hide", "show")
STATUSES = ("ok", "done", "error", "running")


class QueryError(ValueError):
    """Raised when a query parameter has a value the list cannot filter on."""


@dataclass(frozen=True)
class TraceQuery:
    flow: str | None = None
    step: str | None = None
    status: str | None = None
    since: float | None = None
    until: float | None = None
    q: str | None = None
    cron: str = "show"
    limit: int = 50

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> TraceQuery:
        """The query of `params`; QueryError naming the parameter and what it accepts."""
        cron = params.get("cron") or "show"
        if cron not in CRON_MODES:
            raise QueryError(f"cron={cron!r}: expected one of {', '.join(CRON_MODES)}")
        status = params.get("status") or None
        if status is not None and status not in STATUSES:
            raise QueryError(f"status={status!r}: expected one of {', '.join(STATUSES)}")
        return cls(flow=params.get("flow") or None, step=params.get("step") or None,
                   status=status, since=_seconds(params, "since"),
                   until=_seconds(params, "until"), q=(params.get("q") or "").strip() or None,
                   cron=cron, limit=_limit(params.get("limit")))


def select(traces: Iterable[Trace], query: TraceQuery, app: App) -> dict[str, Any]:
    """`{traces, matched, cron_ticks, cron_hidden}`: the summaries to show (newest first,
    at most `limit`), how many traces matched, how many of those were cron ticks and how
    many of them this answer leaves out."""
    in_flow = {s.name for s in app.steps if query.flow in s.flows} if query.flow else None
    matched = [t for t in traces if _matches(t, query, in_flow)]
    ticks = sum(t.cron is not None for t in matched)
    hide = query.cron == "hide" or (query.cron == "auto" and ticks * 2 > len(matched))
    shown = [t for t in matched if not (hide and t.cron is not None)]
    return {"traces": [t.summary() for t in shown[: query.limit]], "matched": len(matched),
            "cron_ticks": ticks, "cron_hidden": ticks if hide else 0}


def _matches(trace: Trace, query: TraceQuery, in_flow: set[str] | None) -> bool:
    steps = {span.step for span in trace.spans} | ({trace.cron} if trace.cron else set())
    return ((in_flow is None or bool(steps & in_flow))
            and (query.step is None or query.step in steps)
            and (query.status is None or trace.status == query.status)
            and (query.since is None or trace.started >= query.since)
            and (query.until is None or trace.started <= query.until)
            and (query.q is None or _found(trace, query.q)))


def _found(trace: Trace, text: str) -> bool:
    """`text` is (the start of) the trace id or the id of an event in the trace."""
    if trace.trace_id.startswith(text):
        return True
    for span in trace.spans:
        if span.event_id.startswith(text) or any(e["event_id"].startswith(text)
                                                 for e in span.emits):
            return True
    return False


def _seconds(params: Mapping[str, str], name: str) -> float | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise QueryError(f"{name}={raw!r}: expected epoch seconds, e.g. {name}=1700000000"
                         ) from None


def _limit(raw: str | None) -> int:
    try:
        return max(int(raw), 0) if raw else 50
    except ValueError:
        raise QueryError(f"limit={raw!r}: expected a whole number") from None
