"""Python `logging` records (ours and the client libraries') as motia log lines.

With no handler configured, Python's last-resort handler prints every WARNING record as
a bare line on stderr, tracebacks included: an unreachable broker printed aiormq's
"error when creating transport" before our own one-paragraph error, and a dropped
connection printed aiormq's internals. While a runtime runs, this bridge sends each
record to its `Logger` instead: one line, never a traceback (the exception's type and
message are kept). Records of `motia.*` and `asyncio` (which reports real bugs such as
an exception in a callback) keep their level; the client libraries' chatter becomes
debug, because the bus and the stores report what users need in their own words.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from motia.runner.logs import Logger

_KEEP_LEVEL = ("motia", "asyncio")


class _Bridge(logging.Handler):
    def __init__(self, logger: Logger, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.logger = logger
        self.loop = loop
        self.thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level, msg = _translate(record)
        except Exception:  # noqa: BLE001 -- a bad format string must not break the caller
            return
        data = None if record.name.startswith("motia") else {"logger": record.name}
        if threading.get_ident() == self.thread:
            self.logger.log(level, msg, data)
        elif not self.loop.is_closed():  # the hooks behind the Logger are not thread-safe
            self.loop.call_soon_threadsafe(self.logger.log, level, msg, data)


def _translate(record: logging.LogRecord) -> tuple[str, str]:
    msg = " ".join(record.getMessage().split("\n"))  # asyncio's messages span lines
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        msg = f"{msg}: {type(exc).__name__}: {exc}" if str(exc) else f"{msg}: {type(exc).__name__}"
    if not record.name.startswith(_KEEP_LEVEL):
        return "debug", msg
    if record.levelno >= logging.ERROR:
        return "error", msg
    return ("warn" if record.levelno >= logging.WARNING else
            "info" if record.levelno >= logging.INFO else "debug"), msg


def bridge_stdlib_logging(logger: Logger) -> Callable[[], None]:
    """Route `logging` records to `logger` until the returned function is called."""
    handler = _Bridge(logger, asyncio.get_running_loop())
    root, ours = logging.getLogger(), logging.getLogger("motia")
    root.addHandler(handler)
    level = ours.level
    if level == logging.NOTSET:  # let our info records through; the Logger filters by level
        ours.setLevel(logging.DEBUG)

    def remove() -> None:
        root.removeHandler(handler)
        ours.setLevel(level)

    return remove
