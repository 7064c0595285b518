"""Test your Motia app in-process, from your own pytest suite.

Installing motia installs a pytest plugin with a `motia_app` fixture: the app of the
nearest motia.yaml above the test file, running for the test, with blocking methods,
so a test needs no asyncio configuration. This is the `motia init` project's test:

    def test_a_greeting_is_written(motia_app):
        res = motia_app.request("POST", "/greetings", json={"name": "Ada"})
        assert res.status == 202
        motia_app.wait_for_topic("greeting.sent")
        assert motia_app.state.get("greetings", res.json["id"])["text"] == "Hello, Ada!"

`TestApp` is the same app for `async` tests (`async with TestApp() as app:`, awaiting
each call), `SyncTestApp` the fixture's class for use without the fixture. Both compile
the project, start the real runtime (workers, bus, cron, gateway) on a free loopback port
with the in-memory event bus and state store by default, and stop it at the end. Nothing
is mocked: handlers run in their worker processes. `call_step(step, data)` runs one step
with a given input, `trigger_cron(step)` fires a cron step now; both return what the
step answered and emitted. docs/testing.md documents every member.
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

from motia._testing_options import (
    RUN_OPTIONS,
    apply_overrides,
    caller_folder,
    check_options,
    find_project,
    plan_overrides,
)
from motia.compiler.ir import App, Step
from motia.errors import InvocationError
from motia.runner.app import Runtime
from motia.runner.bus.base import Event
from motia.runner.config import RunConfig
from motia.runner.hooks import Hooks
from motia.runner.logs import LogRecord
from motia.runner.state.base import DeadLetter, StateStore
from motia.runner.tracing import TraceStore

__all__ = ["Emitted", "Response", "StepFailed", "StepResult", "SyncTestApp", "TestApp"]

_MISSING: Any = object()


@dataclass(frozen=True)
class Response:
    """What `TestApp.request` got back; `json` is None when the body is not JSON."""

    status: int
    json: Any
    text: str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Emitted:
    """An event a step emitted: compare `(topic, data)`; the event id is kept beside."""

    topic: str
    data: Any
    event_id: str = field(default="", compare=False)


@dataclass(frozen=True)
class StepResult:
    """What one `call_step` / `trigger_cron` run gave: the handler's return value, the
    events it emitted (published, in order) and, for an API step, the HTTP response."""

    value: Any
    emits: list[Emitted]
    trace_id: str
    #: the HTTP status, body and headers of an API step's response; None otherwise
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def body(self) -> Any:
        """The response body of an API step (its JSON, else its text): `value`."""
        return self.value


class StepFailed(AssertionError):
    """The step's handler raised (or timed out, or its tick was dead-lettered); the
    message holds the handler's own error and traceback."""

    def __init__(self, step: str, message: str, traceback: str = "") -> None:
        super().__init__(f"step {step!r} failed: {message}" + (f"\n{traceback}" if traceback
                                                                else ""))
        self.step = step
        self.error = message
        self.traceback = traceback


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
        #: events published, by trace id: what a `call_step` run emitted
        self.by_trace: dict[str, list[Event]] = {}
        self.letters: dict[str, DeadLetter] = {}  # event id -> its dead letter

    def after_publish(self, events: list[Any]) -> None:
        assert self.runtime is not None
        app = self.runtime.app  # the current plan: `motia dev` may have swapped it
        for event in events:
            self.by_topic.setdefault(event.topic, []).append(event.event_id)
            self.by_trace.setdefault(event.trace_id, []).append(event)
            steps = {s.name for s in app.subscribers(event.topic)}
            steps -= self.early.pop(event.event_id, set())
            self.pending.setdefault(event.event_id, set()).update(steps)
        self._wake()

    def after_invoke(self, step: str, ctx: Any, duration: float, error: Any) -> None:
        if error is None:
            self._finished(step, ctx.event_id)

    def after_dead_letter(self, letter: DeadLetter) -> None:
        self.letters[letter.event_id] = letter
        self._finished(letter.step, letter.event_id)

    def emitted(self, step: str, trace_id: str) -> list[Emitted]:
        return [Emitted(e.topic, e.data, e.event_id) for e in self.by_trace.get(trace_id, ())
                if e.source == step]

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
    """A running app for `async` tests: `async with TestApp() as app: ...`.

    `project` is motia.yaml or its folder; a relative path is read from the folder of
    the file creating the TestApp (the test file), and without one the nearest
    motia.yaml there or above is used. Options: `events`, `state`, `state_url`,
    `amqp_url`, `max_body`, `grace`, `eager`, `dev`, `log_format` (as `motia run`),
    `retries` and `timeout` (override every step's: `retries=0, timeout="2s"`), `hooks`.
    The environment is ignored so tests are hermetic.
    """

    __test__ = False  # not a pytest test class, despite its name

    def __init__(self, project: str | Path | None = None, *, events: str = "memory",
                 state: str = "memory", hooks: tuple[Hooks, ...] = (),
                 retries: int | None = None, timeout: str | float | None = None,
                 relative_to: str | Path | None = None, **config: Any) -> None:
        check_options(config)
        base = Path(relative_to).resolve() if relative_to is not None else caller_folder()
        self.source = find_project(project, base)
        self.overrides = plan_overrides(retries, timeout)
        flags = {"events": events, "state": state, "port": 0, "host": "127.0.0.1",
                 "log_format": "none", "check_responses": True,
                 **{k: v for k, v in config.items() if k in RUN_OPTIONS}}
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

        app = apply_overrides(compile_project(self.source).app, self.overrides)
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

    async def call_step(self, step: str, data: Any = None, *, topic: str | None = None,
                        timeout: float = 30.0) -> StepResult:
        """Run `step` once with `data` and return what it answered and emitted.

        An API step gets `data` as its request, `{"body"? (JSON) or "data"? (bytes, sent
        as they are: a signed webhook), "query"?, "params"?, "headers"?}`, sent over HTTP
        through the gateway, so validation and routing are the real ones; its result has
        the response's `status`, `body` and `headers`.
        An event step gets `data` as the event (checked against the topic's schema;
        `topic=` picks one when it subscribes to several); a cron step gets no data.
        A handler that raises is a StepFailed. Emits are published, so subscribers run.
        """
        target = self._step(step)
        if target.type == "api":
            return await self._call_api(target, data or {}, timeout)
        return await asyncio.wait_for(self._call_direct(target, data, topic), timeout)

    async def trigger_cron(self, step: str, *, timeout: float = 30.0) -> StepResult:
        """Fire the cron step `step` now, as its schedule would: one tick through the
        delivery pipeline (its retries, then a dead letter). Returns once the tick is
        done; a tick that ends as a dead letter raises StepFailed."""
        from motia.runner.delivery.ticks import tick_event
        from motia.runner.scheduler import tick_id

        target = self._step(step)
        if target.type != "cron":
            raise ValueError(f"step {step!r} is an {target.type} step, not a cron step; "
                             "use call_step() to run it")
        runtime = self._rt
        scheduled, trace_id = time.time(), _new_id()
        event = tick_event(trace_id, tick_id(step, scheduled), scheduled)
        runtime.hooks.after_cron_fired(step, scheduled, trace_id)
        await asyncio.wait_for(runtime.ticks.run(step, event), timeout)
        letter = self._watcher.letters.get(event.event_id)
        if letter is not None:
            raise StepFailed(step, letter.error.get("message", "failed"),
                             letter.error.get("traceback") or "")
        return StepResult(None, self._watcher.emitted(step, trace_id), trace_id)

    async def _call_api(self, step: Step, request: Mapping[str, Any],
                        timeout: float) -> StepResult:
        unknown = set(request) - {"body", "data", "query", "params", "headers"}
        if unknown:
            raise TypeError(f"call_step({step.name!r}): unknown request keys "
                            f"{', '.join(sorted(unknown))}; an API request has body (sent "
                            "as JSON) or data (bytes sent as they are), query, params and "
                            "headers")
        if "body" in request and "data" in request:
            raise TypeError(f"call_step({step.name!r}): pass body (JSON) or data (raw "
                            "bytes), not both")
        params = dict(request.get("params") or {})
        path = _fill_path(step, params)
        trace_id = _new_id()
        headers = {**dict(request.get("headers") or {}), "x-trace-id": trace_id}
        kwargs: dict[str, Any] = {"headers": headers, "params": request.get("query")}
        if "body" in request:
            kwargs["json"] = request["body"]
        elif "data" in request:
            kwargs["data"] = request["data"]
        assert step.method is not None
        res = await asyncio.wait_for(self.request(step.method, path, **kwargs), timeout)
        value = res.json if res.json is not None or not res.text else res.text
        return StepResult(value, self._watcher.emitted(step.name, trace_id), trace_id,
                          res.status, res.headers)

    async def _call_direct(self, step: Step, data: Any, topic: str | None) -> StepResult:
        from motia.runner.workers.api import InvocationContext

        runtime = self._rt
        if step.type == "event":
            topic = self._topic_for(step, topic)
            errors = runtime.topics.violations(topic, data)
            if errors:
                raise ValueError(f"call_step({step.name!r}): the data does not match the "
                                 f"schema of topic {topic!r}: {errors}")
        elif data is not None:
            raise TypeError(f"call_step({step.name!r}): a {step.type} step takes no data")
        trace_id = _new_id()
        ctx = InvocationContext(trace_id=trace_id, event_id=_new_id(), topic=topic)
        try:
            result = await runtime.invoke(step, data, ctx)
        except InvocationError as exc:
            raise StepFailed(step.name, f"{exc.type}: {exc.message}", exc.traceback) from None
        events = await runtime.publish_emits(step, ctx, result.emits) if result.emits else []
        return StepResult(result.value, [Emitted(e.topic, e.data, e.event_id) for e in events],
                          trace_id)

    def _step(self, name: str) -> Step:
        try:
            return self.app.step(name)
        except KeyError:
            import difflib

            names = [s.name for s in self.app.steps if s.runs]
            close = difflib.get_close_matches(name, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise KeyError(f"no step {name!r}{hint}; steps that run: "
                           f"{', '.join(names)}") from None

    @staticmethod
    def _topic_for(step: Step, topic: str | None) -> str:
        if topic is None:
            if len(step.subscribes) == 1:
                return step.subscribes[0]
            raise TypeError(f"step {step.name!r} subscribes to {', '.join(step.subscribes)}; "
                            "pass topic= to say which event it gets")
        if topic not in step.subscribes:
            raise ValueError(f"step {step.name!r} does not subscribe to {topic!r}; it "
                             f"subscribes to {', '.join(step.subscribes)}")
        return topic

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


def _new_id() -> str:
    from motia.runner.bus.base import new_id

    return new_id()


def _fill_path(step: Step, params: dict[str, Any]) -> str:
    from urllib.parse import quote

    assert step.path is not None
    missing = [p for p in step.path_params if p not in params]
    if missing:
        raise TypeError(f"call_step({step.name!r}): its path {step.path} needs params "
                        f"{', '.join(missing)}; pass data={{'params': {{...}}}}")
    path = step.path
    for name in step.path_params:
        path = path.replace(f"{{{name}}}", quote(str(params[name]), safe=""))
    return path


async def _settle() -> None:
    """Let the consumer that just finished publish its emits before the test looks."""
    for _ in range(3):
        await asyncio.sleep(0)


from motia._testing_sync import SyncTestApp  # noqa: E402 -- it wraps the TestApp above
