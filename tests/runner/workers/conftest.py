"""Fixtures for the worker tests: small handler projects in tmp_path, plans built from IR
dataclasses directly (no YAML compiler), and pools that are always closed."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from motia.compiler.ir import App, Handler, Step, Topic
from motia.runner.hooks import Hooks
from motia.runner.logs import Logger, LogRecord
from motia.runner.state.memory import MemoryStore
from motia.runner.workers.api import InvocationContext
from motia.runner.workers.pool import WorkerPool


class Recorder(Hooks):
    """Keeps every hook call and log record, for assertions."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.logs: list[LogRecord] = []

    def after_emit(self, *args: Any) -> None:
        self.calls.append(("after_emit", *args))

    def after_state_op(self, *args: Any) -> None:
        self.calls.append(("after_state_op", *args))

    def before_invoke(self, *args: Any) -> None:
        self.calls.append(("before_invoke", *args))

    def after_invoke(self, *args: Any) -> None:
        self.calls.append(("after_invoke", *args))

    def after_worker_started(self, *args: Any) -> None:
        self.calls.append(("after_worker_started", *args))

    def after_worker_exited(self, *args: Any) -> None:
        self.calls.append(("after_worker_exited", *args))

    def on_log(self, record: LogRecord) -> None:
        self.logs.append(record)

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [c[1:] for c in self.calls if c[0] == name]

    def messages(self, step: str | None = None) -> list[str]:
        return [r.msg for r in self.logs if step is None or r.step == step]


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))


def step(name: str, handler: str, type_: str = "event", **kw: Any) -> Step:
    """A Step whose language follows the handler's extension (file[:function])."""
    path, _, function = handler.partition(":")
    language = "python" if path.endswith(".py") else "node"
    return Step(name, type_, Handler(path, function or "handler", language), **kw)  # type: ignore[arg-type]


def app(root: Path, *steps: Step, topics: tuple[Topic, ...] = ()) -> App:
    return App(name="test", root=str(root), steps=steps, topics=topics)


def ctx(n: int | str = 1, **kw: Any) -> InvocationContext:
    return InvocationContext(trace_id=f"trace-{n}", event_id=f"event-{n}", **kw)


MakePool = Callable[..., WorkerPool]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def make_pool(recorder: Recorder) -> AsyncIterator[MakePool]:
    pools: list[WorkerPool] = []

    def make(plan: App, store: MemoryStore | None = None, **kw: Any) -> WorkerPool:
        logger = Logger(recorder, fmt="none")
        pool = WorkerPool(plan, store or MemoryStore(), logger, recorder, **kw)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        await pool.close(grace=2.0)
