"""Test your Motia app in-process, from your own pytest suite.

    from motia.testing import TestApp

    async def test_order_is_charged():
        async with TestApp("motia.yaml") as app:
            res = await app.request("POST", "/orders", json={...})
            assert res.status == 201
            await app.wait_for_topic("payment.charged")
            assert await app.state.get("payments", res.json["id"]) is not None

`TestApp` compiles the project, starts the real runtime (workers, bus, cron, gateway)
on a free loopback port with the in-memory event bus and state store by default, and
stops it on exit. Nothing is mocked: handlers run in their worker processes.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from motia.compiler.ir import App
from motia.runner.app import Runtime
from motia.runner.config import RunConfig
from motia.runner.hooks import Hooks
from motia.runner.logs import LogRecord
from motia.runner.state.base import DeadLetter, StateStore
from motia.runner.tracing import TraceStore

__all__ = ["Response", "TestApp"]

_MISSING: Any = object()


@dataclass(frozen=True)
class Response:
    """What `TestApp.request` got back; `json` is None when the body is not JSON."""

    status: int
    json: Any
    text: str
    headers: Mapping[str, str] = field(default_factory=dict)


class _Watcher(Hooks):
    """Follows every published event until each of its subscribers has finished with it."""

    def __init__(self) -> None:
        self.runtime: Runtime | None = None
        self.logs: list[LogRecord] = []
        self.by_topic: dict[str, list[str]] = {}
        self.pending: dict[str, set[str]] = {}  # event id -> subscribers still working
        #: subscribers done with an event before its publish returned (a broker can
        #: deliver, and a step finish, before the publisher has its confirm)
        self.early: dict[str, set[str]] = {}
        self.changed = asyncio.Event()

    def after_publish(self, events: list[Any]) -> None:
        assert self.runtime is not None
        app = self.runtime.app  # the current plan: `motia dev` may have swapped it
        for event in events:
            self.by_topic.setdefault(event.topic, []).append(event.event_id)
            steps = {s.name for s in app.subscribers(event.topic)}
            steps -= self.early.pop(event.event_id, set())
            self.pending.setdefault(event.event_id, set()).update(steps)
        self._wake()

    def after_invoke(self, step: str, ctx: Any, duration: float, error: Any) -> None:
        if error is None:
            self._finished(step, ctx.event_id)

    def after_dead_letter(self, letter: DeadLetter) -> None:
        self._finished(letter.step, letter.event_id)

    def after_skip(self, step: str, ctx: Any, reason: str) -> None:
        self._finished(step, ctx.event_id)

    def on_log(self, record: LogRecord) -> None:
        self.logs.append(record)

    def _finished(self, step: str, event_id: str) -> None:
        waiting = self.pending.get(event_id)
        if waiting is None:
            if self._consumes(step):  # an API request or a cron tick is nobody's wait
                self.early.setdefault(event_id, set()).add(step)
            return
        waiting.discard(step)
        self._wake()

    def _consumes(self, step: str) -> bool:
        assert self.runtime is not None
        return any(s.name == step and s.subscribes for s in self.runtime.app.steps)

    def _wake(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    def unfinished(self, topic: str) -> list[str]:
        return [f"{step}({eid[:8]})" for eid in self.by_topic.get(topic, ())
                for step in sorted(self.pending.get(eid, ()))]


class TestApp:
    """A running app for tests; `async with TestApp("motia.yaml") as app: ...`.

    Keyword arguments are RunConfig fields (`events`, `state`, `state_url`, `dev`,
    `max_body`, `grace`, ...); the environment is ignored so tests are hermetic.
    """

    __test__ = False  # not a pytest test class, despite its name

    def __init__(self, project: str | Path = "motia.yaml", *, events: str = "memory",
                 state: str = "memory", hooks: tuple[Hooks, ...] = (), **config: Any) -> None:
        self.source = _source(Path(project))
        flags = {"events": events, "state": state, "port": 0, "host": "127.0.0.1",
                 "log_format": "none", **config}
        self.config = RunConfig.resolve(flags, env={})
        self._watcher = _Watcher()
        self._extra_hooks = hooks
        self.runtime: Runtime | None = None
        self._session: aiohttp.ClientSession | None = None

    # --- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> TestApp:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        from motia.compiler import compile_project

        app = compile_project(self.source).app
        self.runtime = Runtime(app, self.config, hooks=(self._watcher, *self._extra_hooks))
        self._watcher.runtime = self.runtime
        await self.runtime.start()
        self._session = aiohttp.ClientSession(base_url=self.runtime.url)

    async def stop(self, grace: float | None = None) -> None:
        try:
            if self._session is not None:
                await self._session.close()
        finally:
            self._session = None
            if self.runtime is not None:
                await self.runtime.stop(grace)

    # --- talking to the app -------------------------------------------------------------

    @property
    def app(self) -> App:
        return self._rt.app

    @property
    def url(self) -> str:
        return self._rt.url

    async def request(self, method: str, path: str, *, json: Any = _MISSING,
                      data: str | bytes | None = None, headers: Mapping[str, str] | None = None,
                      params: Mapping[str, str] | None = None) -> Response:
        """Send one HTTP request to the app; the body is `json` (encoded) or raw `data`."""
        assert self._session is not None, "TestApp is not started"
        kwargs: dict[str, Any] = {"headers": dict(headers or {}), "params": params}
        if json is not _MISSING:
            kwargs["json"] = json
        elif data is not None:
            kwargs["data"] = data
        async with self._session.request(method, path, **kwargs) as res:
            text = await res.text()
            try:
                body = await res.json(content_type=None) if text else None
            except ValueError:
                body = None
            return Response(res.status, body, text, dict(res.headers))

    async def emit(self, topic: str, data: Any, *, trace_id: str | None = None,
                   delay: str | float | None = None) -> str:
        """Publish an event (validated against the topic's schema); returns its event id.
        `delay` (`"30s"`, or seconds) publishes it that much later, like `ctx.emit`'s."""
        seconds = None
        if delay is not None:
            from motia.runner.workers._protocol import emit_delay

            seconds = emit_delay(topic, delay, where="TestApp.emit")
        return (await self._rt.emit(topic, data, trace_id, delay=seconds)).event_id

    async def wait_for_topic(self, topic: str, timeout: float = 5.0, *, count: int = 1) -> None:
        """Wait until `count` events on `topic` were published and every subscriber of
        every event on it so far has finished (succeeded, or dead-lettered)."""
        deadline = time.monotonic() + timeout
        watcher = self._watcher
        while True:
            seen = watcher.by_topic.get(topic, [])
            if len(seen) >= count and not watcher.unfinished(topic):
                await _settle()
                return
            changed = watcher.changed
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                busy = watcher.unfinished(topic)
                detail = (f"still handling: {', '.join(busy)}" if busy else
                          f"{len(seen)} of {count} event(s) published")
                raise TimeoutError(f"topic {topic!r} not handled within {timeout:g}s ({detail})")
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                continue

    async def wait_until(self, predicate: Callable[[], Any | Awaitable[Any]],
                         timeout: float = 5.0, interval: float = 0.02) -> Any:
        """Poll `predicate` (sync or async) until it returns something truthy; return that."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition {getattr(predicate, '__name__', predicate)!r} "
                                   f"not met within {timeout:g}s")
            await asyncio.sleep(interval)

    # --- reading what happened ----------------------------------------------------------

    @property
    def state(self) -> StateStore:
        store = self._rt.store
        assert store is not None
        return store

    @property
    def logs(self) -> list[LogRecord]:
        """Every log record since start (handlers' ctx.logger, workers, the runtime)."""
        return self._watcher.logs

    @property
    def traces(self) -> TraceStore:
        return self._rt.traces

    async def dead_letters(self, step: str | None = None) -> list[DeadLetter]:
        return await self._rt.dead_letters(step)

    async def replay(self, letter_id: str) -> str:
        """Replay a dead letter; returns the event id sent to its step."""
        event = await self._rt.replay(letter_id)
        if event is None:
            raise KeyError(f"no dead letter {letter_id!r}")
        return event.event_id

    @property
    def _rt(self) -> Runtime:
        assert self.runtime is not None, "TestApp is not started: use `async with TestApp(...)`"
        return self.runtime


def _source(path: Path) -> Path:
    path = path.expanduser().resolve()
    return path / "motia.yaml" if path.is_dir() else path


async def _settle() -> None:
    """Let the consumer that just finished publish its emits before the test looks."""
    for _ in range(3):
        await asyncio.sleep(0)
