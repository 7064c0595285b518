"""Whether OpenTelemetry traces are on, read from the standard `OTEL_*` variables.

Traces are exported (OTLP over HTTP, runner/_otel_spans.py) only when an endpoint is
configured: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`, or
`OTEL_TRACES_EXPORTER=console` to print them. `OTEL_SDK_DISABLED=true` and
`OTEL_TRACES_EXPORTER=none` turn them off whatever else is set. The SDK itself reads the
rest (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`,
`OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`...).

This module imports nothing of the SDK: with traces off, a replica never loads it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from motia.errors import UsageError

if TYPE_CHECKING:
    from motia.compiler.ir import App
    from motia.runner._otel_spans import OtelSpans

ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
EXPORTERS = ("otlp", "console", "none")


def exporter(env: Mapping[str, str] | None = None) -> str | None:
    """"otlp" or "console" when traces are on, None when they are off."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    chosen = env.get("OTEL_TRACES_EXPORTER", "").strip().lower() or "otlp"
    if chosen not in EXPORTERS:
        raise UsageError(f"OTEL_TRACES_EXPORTER={chosen!r}: expected one of "
                         f"{', '.join(EXPORTERS)} (OTLP is sent over HTTP/protobuf)")
    if chosen == "none":
        return None
    if chosen == "otlp" and not any(env.get(name, "").strip() for name in ENDPOINTS):
        return None
    if chosen == "otlp":
        _check_protocol(env)
    return chosen


def _check_protocol(env: Mapping[str, str]) -> None:
    for name in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        protocol = env.get(name, "").strip()
        if protocol and protocol != "http/protobuf":
            raise UsageError(f"{name}={protocol!r}: Motia exports OTLP over HTTP only; set "
                             "it to http/protobuf (or unset it) and point the endpoint at the "
                             "collector's OTLP/HTTP port (4318)")
        if protocol:
            return


def trace_hooks(plan: Callable[[], App], role: str,
                env: Mapping[str, str] | None = None) -> OtelSpans | None:
    """The hooks subscriber exporting spans, None (and no SDK import) when traces are off."""
    kind = exporter(env)
    if kind is None:
        return None
    from motia.runner._otel_spans import OtelSpans

    return OtelSpans(plan, role, console=kind == "console")
