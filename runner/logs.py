"""Structured log lines: every line carries step, trace id and event id.

Handlers' `ctx.logger` calls, worker stderr/stdout and the runtime's own messages all
become `LogRecord`s and go through one `Logger`, which writes them (pretty on a
terminal, JSON lines with `--log-format json`) and hands them to the hooks (Workbench
live logs, traces, the test harness).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from motia.runner.hooks import Hooks

LEVELS = ("debug", "info", "warn", "error", "critical")
_COLOURS = {"debug": "\x1b[2m", "info": "\x1b[36m", "warn": "\x1b[33m", "error": "\x1b[31m",
            "critical": "\x1b[1;31m"}


@dataclass(slots=True)
class LogRecord:
    """One line; hooks share the same record, so treat it as read-only. (Not a frozen
    dataclass: one is built per request for the access log, and frozen ones cost 3x.)"""

    level: str
    msg: str
    data: Any = None
    step: str | None = None
    trace_id: str | None = None
    event_id: str | None = None
    time: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "msg": self.msg, "data": self.data, "step": self.step,
                "trace_id": self.trace_id, "event_id": self.event_id, "time": self.time}


class Logger:
    """Writes records to a stream and to the hooks. `fmt` is "pretty", "json" or "none"."""

    def __init__(
        self, hooks: Hooks | None = None, *, fmt: str = "pretty", stream: TextIO | None = None,
        level: str = "info",
    ) -> None:
        self.hooks = hooks or Hooks()
        self.fmt = fmt
        self.stream = stream or sys.stderr
        self.min_level = LEVELS.index(level)
        self._colour = fmt == "pretty" and getattr(self.stream, "isatty", lambda: False)()
        self._stamp: tuple[int, str] = (-1, "")
        self._pending: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None  # whose iterations batch lines

    def emit(self, record: LogRecord) -> None:
        self.hooks.on_log(record)
        if self.fmt == "none" or LEVELS.index(_level(record.level)) < self.min_level:
            return
        line = self._json(record) if self.fmt == "json" else self._pretty(record)
        self._write(line + "\n", urgent=record.level in ("error", "critical"))

    def _write(self, text: str, urgent: bool) -> None:
        """On the event loop, lines are joined into one write at the end of the loop
        iteration (an access line per request was a write and a flush, a syscall, per
        request); errors, and lines from other threads or outside a loop, go at once."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or urgent or (self._loop is not None and loop is not self._loop):
            self.flush()
            self._put(text)
            return
        self._loop = loop
        self._pending.append(text)
        if len(self._pending) == 1:
            loop.call_soon(self.flush)
        elif len(self._pending) >= _BATCH_LINES:
            self.flush()

    def flush(self) -> None:
        """Write the lines still waiting for the end of the loop iteration."""
        if self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            self._put(text)

    def _put(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # closed stream during shutdown: the hooks still saw it
            pass

    def log(self, level: str, msg: str, data: Any = None, *, step: str | None = None,
            trace_id: str | None = None, event_id: str | None = None) -> None:
        self.emit(LogRecord(level=_level(level), msg=msg, data=data, step=step,
                            trace_id=trace_id, event_id=event_id))

    def debug(self, msg: str, data: Any = None, **ids: str | None) -> None:
        self.log("debug", msg, data, **ids)

    def info(self, msg: str, data: Any = None, **ids: str | None) -> None:
        self.log("info", msg, data, **ids)

    def warn(self, msg: str, data: Any = None, **ids: str | None) -> None:
        self.log("warn", msg, data, **ids)

    def error(self, msg: str, data: Any = None, **ids: str | None) -> None:
        self.log("error", msg, data, **ids)

    @staticmethod
    def _json(record: LogRecord) -> str:
        return _dumps_compact(record.to_dict())

    def _pretty(self, record: LogRecord) -> str:
        second = int(record.time)
        if second != self._stamp[0]:  # one strftime per second, not per line
            self._stamp = (second, time.strftime("%H:%M:%S", time.localtime(second)))
        stamp = self._stamp[1]
        level = record.level.upper().ljust(5)
        if self._colour:
            level = f"{_COLOURS.get(record.level, '')}{level}\x1b[0m"
        where = f"[{record.step}]" if record.step else "[motia]"
        ids = f" trace={record.trace_id[:8]}" if record.trace_id else ""
        ids += f" event={record.event_id[:8]}" if record.event_id else ""
        data = f" {_dumps(record.data)}" if record.data not in (None, {}) else ""
        return f"{stamp} {level} {where} {record.msg}{data}{ids}"


#: lines joined into one write at most (a burst still reaches the terminal in pieces)
_BATCH_LINES = 256
# encoders built once: json.dumps builds one per call when given options
_dumps = json.JSONEncoder(default=str).encode
_dumps_compact = json.JSONEncoder(default=str, separators=(",", ":")).encode


def _level(level: str) -> str:
    level = level.lower()
    if level == "warning":
        return "warn"
    return level if level in LEVELS else "info"
