"""`ctx.logger` in a Python worker: the stdlib's call shapes, and never an exception.

Handlers are written by people who know `logging`: `info("order %s", oid)`,
`info("paid", extra={"total": 12.5})`, `exception("charge failed")` in an `except`
block. Motia's own shape stays: `info("order placed", {"id": oid})`, a mapping as the
only argument, is the line's data. Fields keep their JSON types (the host writes them
as they come). A logging call that cannot be formatted still logs, best-effort: a log
line must never turn a request into a 500.

Runs inside the worker process: stdlib only.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from motia.runner.workers import _protocol as p

if TYPE_CHECKING:
    from motia.runner.workers._pycontext import Context


class Logger:
    """`ctx.logger`: structured lines tagged by the host with step, trace id and event id."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def debug(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._log("debug", msg, args, kwargs)

    def info(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._log("info", msg, args, kwargs)

    def warn(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._log("warn", msg, args, kwargs)

    warning = warn

    def error(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._log("error", msg, args, kwargs)

    def critical(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._log("critical", msg, args, kwargs)

    def exception(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        """`error` with the traceback of the exception being handled."""
        kwargs.setdefault("exc_info", True)
        self._log("error", msg, args, kwargs)

    def _log(self, level: str, msg: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            text, data = line(msg, args, kwargs)
        except Exception as exc:  # noqa: BLE001 - best-effort: never fail the caller
            text, data = f"{msg!r} (the log call failed: {exc!r})", {"args": repr(args)}
        ctx = self._ctx
        try:
            ctx._worker.send_log({"type": p.LOG, "id": ctx._id, "level": level, "msg": text,
                                  "data": data})
        except Exception:  # noqa: BLE001, S110 - a closed socket: nobody can read the line
            pass


def line(msg: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, Any]:
    """(text, data) of one call in either shape; see the module docstring."""
    data: Any = None
    if len(args) == 1 and isinstance(args[0], Mapping) and "%" not in str(msg):
        data, args = dict(args[0]), ()
    elif len(args) == 1 and not isinstance(args[0], Mapping) and not kwargs and (
            "%" not in str(msg)) and args[0] is not None:
        data, args = args[0], ()  # Motia's `info("x", value)`: the value as the data
    text = _format(msg, args)
    extra = kwargs.pop("extra", None)
    if extra:
        data = {**(data if isinstance(data, dict) else {} if data is None else {"data": data}),
                **dict(extra)}
    exc_info = kwargs.pop("exc_info", None)
    trace = _traceback(exc_info)
    if kwargs.pop("stack_info", False):
        trace = (trace or "") + "Stack (most recent call last):\n" + "".join(
            traceback.format_stack(sys._getframe(3)))
    for name in ("stacklevel",):
        kwargs.pop(name, None)
    if kwargs:
        unknown = ", ".join(sorted(kwargs))
        text += f" (unknown logging keyword(s) ignored: {unknown}; use extra={{...}})"
    if trace:
        data = {**(data if isinstance(data, dict) else {} if data is None else {"data": data}),
                "traceback": trace}
    return text, data


def _format(msg: Any, args: tuple[Any, ...]) -> str:
    text = str(msg)
    if not args:
        return text
    try:
        return text % (args[0] if len(args) == 1 and isinstance(args[0], Mapping) else args)
    except (TypeError, ValueError, KeyError):  # like logging: keep the message and the args
        return f"{text} {' '.join(map(repr, args))}"


def _traceback(exc_info: Any) -> str | None:
    if not exc_info:
        return None
    if isinstance(exc_info, BaseException):
        return "".join(traceback.format_exception(exc_info))
    if isinstance(exc_info, tuple) and len(exc_info) == 3 and exc_info[1] is not None:
        return "".join(traceback.format_exception(*exc_info))
    current = sys.exc_info()
    if current[1] is None:
        return None
    return "".join(traceback.format_exception(*current))
