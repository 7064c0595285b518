"""`SyncTestApp`: the test harness with blocking methods (what the `motia_app` fixture is).

The app runs on an event loop of its own, in a background thread, for as long as the
test: a plain `def test_...` calls `app.request(...)` and gets the response, without
pytest-asyncio or any `asyncio_mode`. Because the loop is not the test's, the same object
also works from inside an `async def` test (each call blocks only until the app answered).
"""

from __future__ import annotations

import asyncio
import builtins
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from motia._testing_options import caller_folder, check_options
from motia.compiler.ir import App
from motia.runner.logs import LogRecord
from motia.runner.state.base import DeadLetter, StateStore
from motia.runner.tracing import TraceStore

if TYPE_CHECKING:
    from motia.testing import Response, StepResult, TestApp

T = TypeVar("T")
START_TIMEOUT = 120.0  # compiling, binding, the first workers on a loaded CI box


class SyncState:
    """The app's state store with blocking methods: `app.state.get("group", "key")`.

    The same members as `ctx.state` (docs/state.md); each waits for the store's answer.
    """

    def __init__(self, harness: SyncTestApp) -> None:
        self._harness = harness

    def _store(self) -> StateStore:
        return self._harness._running().state

    def get(self, group: str, key: str) -> Any:
        return self._harness._call(self._store().get(group, key))

    def set(self, group: str, key: str, value: Any) -> Any:
        return self._harness._call(self._store().set(group, key, value))

    def delete(self, group: str, key: str) -> None:
        self._harness._call(self._store().delete(group, key))

    def get_group(self, group: str) -> dict[str, Any]:
        return self._harness._call(self._store().get_group(group))

    def clear(self, group: str) -> None:
        self._harness._call(self._store().clear(group))

    def incr(self, group: str, key: str, by: int | float = 1) -> int | float:
        return self._harness._call(self._store().incr(group, key, by))

    def update(self, group: str, key: str, ops: Sequence[dict[str, Any]]) -> Any:
        return self._harness._call(self._store().update(group, key, ops))

    def list(self, group: str, prefix: str | None = None, limit: int | None = None,
             cursor: str | None = None) -> dict[str, Any]:
        """One page of `group`: `{"items": [{"key", "value"}], "cursor"}` (docs/state.md)."""
        store = self._store()
        page = store.list(group, prefix, cursor=cursor) if limit is None else store.list(
            group, prefix, limit, cursor)
        return self._harness._call(page)

    def groups(self) -> builtins.list[str]:
        return self._harness._call(self._store().groups())


class SyncTestApp:
    """A running app with blocking methods; `with SyncTestApp() as app: ...`.

    Takes what TestApp takes (the project, relative to the calling file, and the
    options). The fixture `motia_app` is one of these, started on first use; calling it,
    `motia_app(retries=0, timeout="2s")`, sets options first (restarting it if it runs).
    """

    __test__ = False

    def __init__(self, project: str | Path | None = None, *,
                 relative_to: str | Path | None = None, **options: Any) -> None:
        check_options({"project": project, **options}, "SyncTestApp")
        self.project = project
        self.relative_to = Path(relative_to) if relative_to is not None else caller_folder()
        self.options = options
        self._app: TestApp | None = None  # once started
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------

    def __enter__(self) -> SyncTestApp:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __call__(self, project: str | Path | None = None, **options: Any) -> SyncTestApp:
        """Set the project and/or options (merged over the current ones) and return the
        app; a running app is restarted with them."""
        check_options({"project": project, **options}, "motia_app")
        running = self._app is not None
        if running:
            self.stop()
        if project is not None:
            self.project = project
        self.options = {**self.options, **options}
        if running:
            self.start()
        return self

    @property
    def started(self) -> bool:
        return self._app is not None

    def start(self) -> None:
        """Compile the project and start the app (done by the first call that needs it)."""
        from motia.testing import TestApp

        if self._app is not None:
            return
        app = TestApp(self.project, relative_to=self.relative_to, **self.options)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=_serve, args=(loop,), name="motia-test-app",
                                  daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            asyncio.run_coroutine_threadsafe(app.start(), loop).result(START_TIMEOUT)
        except BaseException:
            self._app = app  # stop what started
            self.stop()
            raise
        self._app = app

    def stop(self) -> None:
        """Stop the app and its loop; the next call that needs it starts it again."""
        app, loop, thread = self._app, self._loop, self._thread
        self._app = self._loop = self._thread = None
        if loop is None:
            return
        try:
            if app is not None:
                asyncio.run_coroutine_threadsafe(app.stop(), loop).result(START_TIMEOUT)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            if thread is not None:
                thread.join(START_TIMEOUT)
            loop.close()

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        self.start()
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()
            raise

    def _running(self) -> TestApp:
        self.start()
        assert self._app is not None
        return self._app

    # --- talking to the app -------------------------------------------------------------

    @property
    def app(self) -> App:
        """The compiled plan being served (with the retries/timeout overrides)."""
        app: App = self._running().app
        return app

    @property
    def url(self) -> str:
        """http://127.0.0.1:PORT of the app, for any HTTP client."""
        return self._running().url

    def request(self, method: str, path: str, **kwargs: Any) -> Response:
        """Send one HTTP request; returns a Response (`status`, `json`, `text`, `headers`).
        Keywords: `json`, `data`, `headers`, `params` (as TestApp.request)."""
        return self._call(self._running().request(method, path, **kwargs))

    def emit(self, topic: str, data: Any, *, trace_id: str | None = None,
             delay: str | float | None = None) -> str:
        """Publish an event (validated against its topic's schema); returns its event id.
        `delay` (`"30s"`, or seconds) publishes it that much later."""
        return self._call(self._running().emit(topic, data, trace_id=trace_id, delay=delay))

    def call_step(self, step: str, data: Any = None, *, topic: str | None = None,
                  timeout: float = 30.0) -> StepResult:
        """Run one step with `data`; returns a StepResult (see TestApp.call_step)."""
        return self._call(self._running().call_step(step, data, topic=topic, timeout=timeout))

    def trigger_cron(self, step: str, *, timeout: float = 30.0) -> StepResult:
        """Fire a cron step now; returns a StepResult (see TestApp.trigger_cron)."""
        return self._call(self._running().trigger_cron(step, timeout=timeout))

    def wait_for_topic(self, topic: str, timeout: float = 5.0, *, count: int = 1) -> None:
        """Block until `count` events on `topic` were published and handled by every
        subscriber (succeeded or dead-lettered); TimeoutError says what is missing."""
        self._call(self._running().wait_for_topic(topic, timeout, count=count))

    def wait_until(self, predicate: Callable[[], Any], timeout: float = 5.0,
                   interval: float = 0.02) -> Any:
        """Call `predicate` until it returns something truthy (e.g. `lambda:
        app.state.get("g", "k")`); return that, or raise TimeoutError."""
        self._running()
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition {getattr(predicate, '__name__', predicate)!r} "
                                   f"not met within {timeout:g}s")
            time.sleep(interval)

    # --- reading what happened ----------------------------------------------------------

    @property
    def state(self) -> SyncState:
        """The state store with blocking methods (`get`, `set`, `get_group`, `list`, ...)."""
        self._running()
        return SyncState(self)

    @property
    def logs(self) -> list[LogRecord]:
        """Every log record since start (handlers' ctx.logger, workers, the runtime)."""
        return self._running().logs

    @property
    def traces(self) -> TraceStore:
        return self._running().traces

    def dead_letters(self, step: str | None = None) -> list[DeadLetter]:
        return self._call(self._running().dead_letters(step))

    def replay(self, letter_id: str) -> str:
        """Replay a dead letter; returns the event id sent to its step."""
        return self._call(self._running().replay(letter_id))


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    loop.run_forever()
