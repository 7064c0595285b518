"""What `motia compile` prints: the app in tables, each cron step's next fire times, the
files written and the verdict.

The tables are the answer to "did it understand my file the way I meant it?": the
trigger of every step, its flow-control rules in words, who subscribes to each topic, and
for cron steps the next three times they will really fire, in their time zone (a schedule is easy to misread).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from motia.compiler import Compiled
    from motia.compiler.ir import App, Step

#: how many fire times the summary shows per cron step
FIRES = 3


def print_summary(compiled: Compiled, written: Iterable[Path], out: TextIO, err: TextIO,
                  now: float | None = None) -> None:
    """Print the summary of a valid compile to `out`, its warnings to `err`.

    `now` (epoch seconds, default the current time) is when the fire times count from.
    """
    app = compiled.app
    out.write(f"{app.source}: app '{app.name}', {count(app.steps, 'step')}, "
              f"{count(app.topics, 'topic')}, {count(app.flows, 'flow')}\n\n")
    steps = [(s.name, str(s.type), _trigger(s), _handler(s)) for s in app.steps]
    table(out, ("STEP", "TYPE", "TRIGGER", "HANDLER"), steps)
    table(out, ("CRON", "NEXT FIRES"), cron_rows(app, time.time() if now is None else now))
    table(out, ("FLOW CONTROL", "RULES"), _flow_control_rows(app))
    table(out, ("TOPIC", "SCHEMA", "SUBSCRIBERS"), _topic_rows(app))
    table(out, ("FLOW", "STEPS"), _flow_rows(app))
    for warning in compiled.warnings:
        err.write(f"{warning}\n")
    for path in written:
        out.write(f"wrote {path}\n")
    warned = f", {count(compiled.warnings, 'warning')}" if compiled.warnings else ""
    out.write(f"ok: {app.source} is valid{warned}\n")


def cron_rows(app: App, now: float) -> list[tuple[str, str]]:
    """(step, its next fire times after `now`) per cron step, each time in the step's zone."""
    from motia.compiler.cron import next_fires

    rows = []
    for step in app.steps_of("cron"):
        if step.cron is None:
            continue
        fires = next_fires(step.cron, step.timezone, now, FIRES)
        rows.append((step.name, ", ".join(f.strftime("%Y-%m-%d %H:%M:%S %Z") for f in fires)))
    return rows


def _flow_control_rows(app: App) -> list[tuple[str, str]]:
    """(step, its `flow:` rules in words) per step that has any."""
    from motia.compiler.flowcontrol import describe

    return [(step.name, "; ".join(describe(step.flow_control)))
            for step in app.steps if step.flow_control is not None]


def _topic_rows(app: App) -> list[tuple[str, str, str]]:
    subscribers: dict[str, list[str]] = {}
    for step in app.steps:
        for topic in step.subscribes:
            subscribers.setdefault(topic, []).append(step.name)
    return [(t.name, t.schema_name or ("inline" if t.schema else "-"),
             ", ".join(subscribers.get(t.name, [])) or "-") for t in app.topics]


def _flow_rows(app: App) -> list[tuple[str, str]]:
    members: dict[str, list[str]] = {}
    for step in app.steps:
        for flow in step.flows:
            members.setdefault(flow, []).append(step.name)
    return [(f.name, ", ".join(members.get(f.name, [])) or "-") for f in app.flows]


def _trigger(step: Step) -> str:
    if step.type == "api":
        return f"{step.method} {step.path}"
    if step.type == "cron":
        return f"{step.cron}" + (f" ({step.timezone})" if step.timezone else "")
    return ", ".join(step.subscribes) or "-"


def _handler(step: Step) -> str:
    handler = step.handler
    if handler is None:
        return "-"
    return handler.path if handler.function == "handler" else f"{handler.path}:{handler.function}"


def count(items: Sequence[Any], noun: str) -> str:
    """`1 step`, `3 steps`."""
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def table(out: TextIO, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Left-aligned columns under `headers`, then a blank line; nothing for no rows."""
    if not rows:
        return
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)]
        out.write("  ".join(cells).rstrip() + "\n")
    out.write("\n")
