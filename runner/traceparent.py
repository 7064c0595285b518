"""W3C Trace Context `traceparent`: the one place its text is read and written.

`00-<trace-id>-<parent-id>-<flags>`: 32 and 16 lowercase hex digits. The gateway accepts
it on requests and returns it on responses, the RabbitMQ bus carries it in each message's
headers, and OpenTelemetry (runner/otel.py) exports spans with the same ids, so a trace
id in a log line, in the Workbench and in a tracing backend is one id.
"""

from __future__ import annotations

import re

HEADER = "traceparent"
_PARSE = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


def parse(value: str | None) -> tuple[str, str] | None:
    """(trace id, parent span id) of a `traceparent` value; None when it is not one (an
    all-zero id is invalid by the spec)."""
    if not value:
        return None
    found = _PARSE.match(value.strip().lower())
    if found is None or found.group(1) == _ZERO_TRACE or found.group(2) == _ZERO_SPAN:
        return None
    return found.group(1), found.group(2)


def format(trace_id: str, span_id: str | None) -> str | None:
    """The `traceparent` naming span `span_id` of trace `trace_id` (sampled); None when
    the trace id is not a W3C one (an `x-trace-id` a client chose) or there is no span."""
    if span_id is None or len(trace_id) != 32 or not _HEX32.match(trace_id):
        return None
    return f"00-{trace_id}-{span_id}-01"


def is_w3c_trace_id(trace_id: str) -> bool:
    return len(trace_id) == 32 and _HEX32.match(trace_id) is not None
