"""Every error Motia raises on purpose, in one small hierarchy.

Errors are raised without a location; the boundary that knows the place (the compiler
stage walking motia.yaml, the gateway, the CLI) adds it. Only the CLI prints them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class MotiaError(Exception):
    """Raised when anything Motia does on purpose fails; the root of this hierarchy."""

    #: exit status the CLI uses when this error ends a command
    exit_code = 1


class UsageError(MotiaError):
    """Raised when a CLI argument or option is wrong."""

    exit_code = 2


# --- compile time ---------------------------------------------------------------------


class CompileError(MotiaError, ValueError):
    """Raised by a compiler rule; the stage that found it adds file, line and column."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class Diagnostic:
    """One located problem (or warning) in a project file."""

    file: str
    line: int
    col: int
    message: str
    hint: str = ""
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.col}: {self.message}"
        if self.severity == "warning":
            text = f"{self.file}:{self.line}:{self.col}: warning: {self.message}"
        return f"{text}\n  hint: {self.hint}" if self.hint else text


class ProjectInvalid(MotiaError):
    """Raised when a project has one or more errors; carries every diagnostic found."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(str(d) for d in diagnostics))


# --- run time: handlers and workers ------------------------------------------------------


class InvocationError(MotiaError):
    """Raised when one invocation of a step's handler did not produce a result."""

    #: HTTP status an API step answers with when this error ends its invocation
    http_status = 500

    def __init__(self, step: str, message: str, *, type: str = "", traceback: str = "") -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.message = message
        self.type = type or self.__class__.__name__
        self.traceback = traceback

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "message": self.message, "step": self.step}


class HandlerError(InvocationError):
    """Raised when the user's handler raised; `type` is the handler's exception class."""


class HandlerTimeout(InvocationError, TimeoutError):
    """Raised when a handler ran past its step's `timeout`."""

    http_status = 504


class WorkerCrashed(InvocationError):
    """Raised when the worker process running the invocation exited or was killed."""

    http_status = 502


class WorkerOutOfMemory(WorkerCrashed):
    """Raised when the worker went over its step's `memory` limit and was replaced."""


class HandlerLoadError(InvocationError):
    """Raised when a step's handler file cannot be loaded (syntax error, missing function)."""

    http_status = 502


class EmitError(MotiaError, ValueError):
    """Raised by ctx.emit when the topic is not in the step's `emits` or the data breaks its schema."""


class StateError(MotiaError, ValueError):
    """Raised by a state operation on bad input (e.g. `incr` of a value that is not a number)."""


class ReplayRefused(MotiaError):
    """Raised when a dead letter cannot be replayed (its step is gone, its message still
    cannot be read); the letter is kept."""


class TickRunning(MotiaError):
    """Raised when a cron step is asked to run now while its previous tick still runs."""


class AdapterUnavailable(MotiaError, ConnectionError):
    """Raised when a configured service (RabbitMQ, Redis, PostgreSQL) cannot be reached."""


class StreamError(MotiaError, ValueError):
    """Raised by ctx.streams.* when the stream is not one the step declares, an argument is
    malformed, or the item breaks the stream's schema."""
