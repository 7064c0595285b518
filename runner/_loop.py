"""Which event loop the runtime runs on: uvloop when it is installed, else asyncio's own.

The host's one event loop is the serial part of the runtime (HTTP, the bus, dispatch to
every step's workers), and uvloop runs the same asyncio code with its transports,
selector and callback queue in C. `MOTIA_LOOP=asyncio` keeps the standard loop even
when uvloop is installed (to compare, or to rule it out); `MOTIA_LOOP=uvloop` insists
on it. Workers follow the host's choice (the variable is in their environment).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from motia.errors import UsageError

T = TypeVar("T")

LOOP_ENV = "MOTIA_LOOP"
LOOPS = ("uvloop", "asyncio")


def loop_name() -> str:
    """`uvloop` or `asyncio`, from $MOTIA_LOOP (unset: uvloop if installed); UsageError
    naming the fix when the value is unknown or uvloop is asked for but missing."""
    wanted = os.environ.get(LOOP_ENV, "").strip().lower()
    if wanted and wanted not in LOOPS:
        raise UsageError(f"{LOOP_ENV}={wanted!r} is not an event loop: use uvloop or asyncio")
    installed = importlib.util.find_spec("uvloop") is not None
    if wanted == "uvloop" and not installed:
        raise UsageError(f"{LOOP_ENV}=uvloop but uvloop is not installed: pip install uvloop "
                         f"(or `pip install 'motia[fast]'`), or unset {LOOP_ENV}")
    return wanted or ("uvloop" if installed else "asyncio")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes a new loop of `loop_name()` (for tests and embedders)."""
    if loop_name() == "uvloop":
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
        return factory  # typed here: without uvloop installed mypy sees Any
    return asyncio.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on the chosen loop."""
    if loop_name() == "uvloop":
        import uvloop

        result: T = uvloop.run(main)
        return result
    return asyncio.run(main)
