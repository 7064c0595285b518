"""`WorkerPool`: every step's handlers in long-lived worker processes, one call to run them.

The gateway, the bus consumers and the cron loop all call `await pool.invoke(step,
payload, ctx)`. Behind it each step has its own supervised processes (Python or Node.js,
see PROTOCOL.md), so a handler that crashes, hangs or leaks only ever takes down its own
step's workers, and every failure reaches the caller as a typed error:

- HandlerError      the handler raised (its type, message and traceback are kept)
- HandlerTimeout    it ran past the step's `timeout` (the worker is told to cancel; a
                    worker that does not confirm within a second is killed and replaced)
- WorkerCrashed     the process exited or was killed while running the invocation
- WorkerOutOfMemory the process went over the step's `memory` (RSS) and was replaced
- HandlerLoadError  the handler file cannot be loaded (names the file and the fix)

Emits are validated here against the plan and returned in the result; the caller
publishes them, and only when the invocation succeeded (SPEC section 4).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Collection, Iterable
from typing import Any

from motia.compiler.ir import App
from motia.errors import HandlerLoadError, WorkerOutOfMemory
from motia.runner.hooks import Hooks
from motia.runner.logs import Logger
from motia.runner.state.base import StateStore
from motia.runner.workers._emits import EmitValidator
from motia.runner.workers._forkserver import ForkServer, python_start_mode
from motia.runner.workers._pipes import rss_of
from motia.runner.workers._process import WorkerProcess
from motia.runner.workers._supervisor import Retired, Supervisor
from motia.runner.workers.api import InvocationContext, InvocationResult, StreamCalls


class WorkerPool:
    """Supervised worker processes for every step of one app."""

    #: seconds between memory (RSS) checks of every worker
    memory_interval = 0.25
    #: restart backoff for workers that keep dying young: 0, then initial doubling to max
    backoff_initial = 0.1
    backoff_max = 5.0
    #: a worker that lived this long resets the backoff
    stable_after = 10.0
    #: after a timeout, how long a worker has to confirm the cancel before it is killed
    cancel_grace = 1.0
    #: a handler that takes longer than this to import is reported as a load error
    startup_timeout = 30.0

    def __init__(
        self, app: App, store: StateStore, logger: Logger, hooks: Hooks | None = None, *,
        eager: bool | Collection[str] = False, node: str | None = None,
        streams: StreamCalls | None = None,
    ) -> None:
        self.app = app
        self.store = store
        self.logger = logger
        self.hooks = hooks or Hooks()
        #: True: every running step's workers start with the pool (and on reload); a
        #: collection: only those steps' (a replica's role runs only some step types)
        self.eager = eager
        self.node = node
        #: answers ctx.streams.* (runner/streams/hub.py); None when the app has no streams
        self.streams = streams
        self.validator = EmitValidator(app)
        #: Python workers fork from here (zygote.py); None: each is a fresh interpreter
        self.forkserver = ForkServer() if python_start_mode() == "fork" else None
        self.closing = False
        #: every worker process not yet gone, across current and retired supervisors
        self.workers: set[WorkerProcess] = set()
        self._steps: dict[str, Supervisor] = {}
        self._retired: list[Supervisor] = []
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the memory watch; with `eager`, spawn every running step's workers now.

        Raises HandlerLoadError for the first step whose handler cannot be loaded."""
        self._ensure_watcher()
        await self._start_steps(self._eager_steps(self.app))

    async def invoke(self, step: str, payload: Any, ctx: InvocationContext) -> InvocationResult:
        """Run `step`'s handler once; raises an InvocationError subclass on any failure."""
        hooks = self.hooks
        hooks.before_invoke(step, ctx, payload)
        started = time.perf_counter()
        try:
            while True:
                supervisor = self._steps.get(step) or self._supervisor(step)
                try:
                    value, emits = await supervisor.invoke(payload, ctx)
                    break
                except Retired:
                    continue  # the step was reloaded while we queued: go to its new workers
        except BaseException as exc:
            hooks.after_invoke(step, ctx, time.perf_counter() - started, exc)
            raise
        duration = time.perf_counter() - started
        hooks.after_invoke(step, ctx, duration, None)
        return InvocationResult(value, emits, duration)

    async def reload(self, app: App, changed: Iterable[str] | None = None) -> None:
        """Switch to a new plan. Workers of `changed` steps (None: all) are replaced:
        in-flight invocations finish on the old workers, new ones go to new workers."""
        names = None if changed is None else _with_helpers(app, set(changed))
        self.app = app
        self.validator = EmitValidator(app)
        for name, supervisor in list(self._steps.items()):
            step = _find(app, name)
            if step is None or not step.runs or names is None or name in names:
                del self._steps[name]
                supervisor.retire()
                self._retired.append(supervisor)
            else:
                supervisor.update(step)  # same code; new timeout, emits, ...
        self._retired = [s for s in self._retired if s.ready or s.starting]
        await self._start_steps(self._eager_steps(app))

    def _eager_steps(self, app: App) -> list[str]:
        """The running steps whose workers start before their first invocation."""
        if self.eager is False:
            return []
        wanted = None if self.eager is True else set(self.eager)
        return [s.name for s in app.steps if s.runs and (wanted is None or s.name in wanted)]

    async def close(self, grace: float = 10.0) -> None:
        """Stop every worker: SIGTERM (they finish in-flight work), SIGKILL after `grace` s."""
        self.closing = True
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        supervisors = [*self._steps.values(), *self._retired]
        for supervisor in supervisors:
            supervisor.stop_intake()
        await asyncio.gather(*(s.cancel_starts() for s in supervisors))
        workers = list(self.workers)
        for worker in workers:
            worker.terminate()
        exits = [w.exited for w in workers]
        if exits:
            _, late = await asyncio.wait(exits, timeout=grace)
            for worker in workers:
                if not worker.exited.done():
                    worker.kill(f"was killed: it did not stop within the {grace:g} s grace period")
            if late:
                await asyncio.wait(late, timeout=5.0)
        if self.forkserver is not None:
            await self.forkserver.close()

    def stats(self) -> dict[str, Any]:
        """Per step: pids, in-flight and queued invocations, restarts, last exit reason, RSS."""
        return {name: supervisor.stats() for name, supervisor in self._steps.items()}

    # --- internals ------------------------------------------------------------------------------

    def _supervisor(self, name: str) -> Supervisor:
        step = _find(self.app, name)
        if step is None:
            known = ", ".join(s.name for s in self.app.steps if s.runs)
            raise KeyError(f"no step named {name!r} in the plan (steps that run: {known})")
        if not step.runs:
            raise HandlerLoadError(name, f"step {name!r} is a {step.type} step without a handler; "
                                         "it is drawn in diagrams but never run")
        self._ensure_watcher()
        supervisor = self._steps[name] = Supervisor(self, step)
        return supervisor

    async def _start_steps(self, names: Iterable[str]) -> None:
        supervisors = [self._steps.get(n) or self._supervisor(n) for n in names]
        results = await asyncio.gather(*(s.start() for s in supervisors), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    def _ensure_watcher(self) -> None:
        if self._watcher is None and not self.closing:
            self._watcher = asyncio.get_running_loop().create_task(self._watch_memory())

    async def _watch_memory(self) -> None:
        """Replace any worker whose resident memory is over its step's `memory` limit."""
        while True:
            await asyncio.sleep(self.memory_interval)
            for worker in list(self.workers):
                if worker.pid is None or not worker.alive:
                    continue
                worker.rss = rss_of(worker.pid)
                limit = worker.step.memory
                if limit and worker.rss > limit:
                    worker.kill(f"was replaced: its memory use (RSS {_mb(worker.rss)}) went over "
                                f"the step's limit (memory: {_mb(limit)})", WorkerOutOfMemory)


def _find(app: App, name: str) -> Any:
    for step in app.steps:
        if step.name == name:
            return step
    auth = app.streams_auth  # runs in its own workers like a step, under a reserved name
    if auth is not None and auth.name == name:
        return auth
    return next((m for m in app.middlewares if m.name == name), None)  # the same


def _with_helpers(app: App, names: set[str]) -> set[str]:
    """`names` plus the middleware and `streams_auth` workers of the same languages: they
    are not steps (`motia dev` names only steps), and a file they import may have changed."""
    languages = {s.handler.language for s in app.steps if s.name in names and s.handler}
    helpers = [*app.middlewares, *([app.streams_auth] if app.streams_auth else [])]
    return names | {h.name for h in helpers if h.handler and h.handler.language in languages}


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.0f}MB"
