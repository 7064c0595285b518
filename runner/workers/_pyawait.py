"""A forgotten `await` is loud: what `ctx.state.*`, `ctx.emit` and `ctx.streams.*` return
to an `async def` handler.

`if ctx.state.get("orders", oid) is None:` without `await` compares a Future with None:
never true, no error, and the handler goes on with a wrong answer. So each call returns
a `Pending`: awaiting it is awaiting the call, and when one is dropped without being
awaited (garbage collected, which CPython does as soon as the statement ends) or used
as a truth value, the worker logs a warning naming the step and the handler's file:line.
The gateway's encoder says "did you forget await?" when one reaches a response.

Runs inside the worker process: stdlib only.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Generator
from typing import Any

#: where a warning goes: (invocation id, message); set by the worker
Warn = Callable[[int, str], None]


class Pending:
    """An awaitable call result; warns when it is never awaited (see the module docstring)."""

    __slots__ = ("_detail", "_future", "_inv", "_op", "_site", "_warn", "awaited")

    def __init__(self, future: asyncio.Future[Any], op: str, detail: Any, inv_id: int,
                 warn: Warn) -> None:
        # only cheap references here (every ctx call makes one); text is made on a warning
        self._future = future
        self._op = op
        self._detail = detail
        self._inv = inv_id
        self._warn = warn
        self._site = _caller()
        self.awaited = False

    def __await__(self) -> Generator[Any, None, Any]:
        self.awaited = True
        return self._future.__await__()

    def __bool__(self) -> bool:
        if not self.awaited:
            self.awaited = True  # one warning is enough
            self._warn(self._inv, f"{self} was used as a truth value without being awaited: "
                                  "it is always true (did you forget await?)")
        return True

    def __getattr__(self, name: str) -> Any:  # add_done_callback, result, ...: the future's
        self.awaited = True
        return getattr(self._future, name)

    def __del__(self) -> None:
        if self.awaited:
            return
        future = self._future
        if future.done() and not future.cancelled() and future.exception() is not None:
            outcome = f" and its error was lost: {future.exception()}"
        else:
            outcome = ""
        try:
            self._warn(self._inv, f"{self} was never awaited{outcome} (did you forget await?)")
        except Exception:  # noqa: BLE001, S110 - during shutdown nobody can read it anyway
            pass

    def __repr__(self) -> str:
        what = f"{self._op}({self._detail!r})" if self._detail is not None else f"{self._op}()"
        file, line = self._site
        return f"{what} at {_relative(file)}:{line}"


def _caller() -> tuple[str, int]:
    """(file, line) of the handler code that made the call: the first frame outside Motia."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_OURS):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return "?", 0
    return frame.f_code.co_filename, frame.f_lineno


_OURS = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_OURS = os.path.join(_OURS, "")


def _relative(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def forgotten(value: Any) -> str | None:
    """The "did you forget await?" message when `value` is an awaitable, else None."""
    if isinstance(value, Pending):
        value.awaited = True  # reported here: no second warning when it is collected
        return f"{value} is an awaitable that was never awaited: did you forget await?"
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future) or hasattr(
            value, "__await__"):
        close = getattr(value, "close", None)
        if asyncio.iscoroutine(value) and close is not None:
            close()  # no second "coroutine was never awaited" RuntimeWarning
        return (f"{type(value).__name__} {getattr(value, '__qualname__', '')} is an awaitable "
                "that was never awaited: did you forget await?").replace("  ", " ")
    return None
