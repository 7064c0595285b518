"""The supervisor of one step's workers: start, dispatch, restart with backoff, retire.

Each step gets `workers` processes, started on first use (or eagerly). An invocation goes
to the least-loaded ready worker with a free slot (`concurrency` per process) and waits in
a FIFO queue when all slots are taken. A worker that exits is replaced; one that keeps
dying young is replaced with exponential backoff. A handler that cannot be loaded makes
every caller fail fast with HandlerLoadError until the next retry is due.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from motia.compiler.ir import Step
from motia.errors import HandlerLoadError, WorkerCrashed
from motia.runner.workers._launch import worker_command, worker_env
from motia.runner.workers._pipes import rss_of
from motia.runner.workers._process import WorkerProcess
from motia.runner.workers.api import Emit, InvocationContext

if TYPE_CHECKING:
    from motia.runner.workers.pool import WorkerPool


class Retired(Exception):
    """Raised to a queued invocation whose step was reloaded: it goes to the new workers."""


class Supervisor:
    """One step's worker processes and its queue of invocations waiting for a slot."""

    def __init__(self, pool: WorkerPool, step: Step) -> None:
        self.pool = pool
        self.step = step
        self.loop = asyncio.get_running_loop()
        self.ready: list[WorkerProcess] = []
        self.starting: set[WorkerProcess] = set()
        self.waiters: deque[asyncio.Future[WorkerProcess]] = deque()
        self.started = False
        self.retired = False
        self.restarts = 0
        self.last_exit: str | None = None
        self._streak = 0  # workers in a row that died young (or failed to load)
        self._restart: asyncio.TimerHandle | None = None
        self._load_error: HandlerLoadError | None = None
        self._load_retry_at = 0.0
        self._tasks: set[asyncio.Task[None]] = set()

    # shared with WorkerProcess
    @property
    def validator(self) -> Any:
        return self.pool.validator

    @property
    def store(self) -> Any:
        return self.pool.store

    @property
    def hooks(self) -> Any:
        return self.pool.hooks

    @property
    def logger(self) -> Any:
        return self.pool.logger

    # --- dispatch ---------------------------------------------------------------------------

    async def invoke(self, payload: Any, ctx: InvocationContext) -> tuple[Any, list[Emit]]:
        worker = None if self.waiters else self._take_slot()
        if worker is None:
            worker = await self._wait_for_slot()
        inv_id, future = worker.run(payload, ctx)
        try:
            result: tuple[Any, list[Emit]] = await future
            return result
        except asyncio.CancelledError:
            worker.abandon(inv_id)
            raise

    def _take_slot(self) -> WorkerProcess | None:
        best = None
        limit = self.step.concurrency
        for worker in self.ready:
            if worker.inflight < limit and worker.available and (
                    best is None or worker.inflight < best.inflight):
                best = worker
        if best is not None:
            best.inflight += 1
        return best

    async def _wait_for_slot(self) -> WorkerProcess:
        self._ensure_started()
        waiter: asyncio.Future[WorkerProcess] = self.loop.create_future()
        self.waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                worker = waiter.result()  # a slot was handed over just as we were cancelled
                worker.inflight -= 1
                self.slot_freed(worker)
            raise

    def slot_freed(self, worker: WorkerProcess) -> None:
        """Hand free slots of `worker` to queued invocations, oldest first."""
        if worker.retiring:
            if worker.inflight == 0 and worker.alive:
                worker.shutdown()
            return
        limit = self.step.concurrency
        waiters = self.waiters
        while waiters and worker.inflight < limit and worker.available:
            waiter = waiters.popleft()
            if not waiter.done():
                worker.inflight += 1
                waiter.set_result(worker)

    # --- starting and restarting ------------------------------------------------------------

    def _ensure_started(self) -> None:
        if self.retired:
            raise Retired()
        if self.pool.closing:
            raise WorkerCrashed(self.step.name, "the worker pool is closed")
        if self._load_error is not None:
            if time.monotonic() < self._load_retry_at:
                raise _copy(self._load_error)
            self._load_error = None
        if self._restart is None:
            self.started = True
            self._spawn()

    async def start(self) -> None:
        """Eager start: spawn every worker now; raise HandlerLoadError if the handler is broken."""
        self._ensure_started()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._load_error is not None:
            raise _copy(self._load_error)

    def _spawn(self) -> None:
        """Start workers until the step has `workers` of them (ready or starting)."""
        self._restart = None
        if self.retired or self.pool.closing:
            return
        for _ in range(self.step.workers - len(self.ready) - len(self.starting)):
            self._spawn_one()

    def _spawn_one(self) -> None:
        worker = WorkerProcess(self)
        self.starting.add(worker)
        self.pool.workers.add(worker)
        task = self.loop.create_task(self._start(worker))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start(self, worker: WorkerProcess) -> None:
        try:
            command = worker_command(self.pool.app, self.step, self.pool.node)
            python = self.step.handler is not None and self.step.handler.language == "python"
            await worker.start(command, worker_env(self.step), self.pool.app.root,
                               self.pool.startup_timeout,
                               self.pool.forkserver if python else None)
        except Exception as exc:  # noqa: BLE001 - whatever went wrong, callers must not hang
            error = exc if isinstance(exc, HandlerLoadError) else HandlerLoadError(
                self.step.name, f"cannot start a worker: {type(exc).__name__}: {exc}",
                type=type(exc).__name__)
            if not isinstance(exc, HandlerLoadError):
                worker.kill("was killed: its start failed")
            self.starting.discard(worker)
            self._load_failed(error)
            if not worker.exited.done() and worker.pid is None:
                self.pool.workers.discard(worker)
            return
        self.starting.discard(worker)
        if self.retired or self.pool.closing:
            worker.retiring = True
            worker.shutdown()
            return
        self._load_error = None
        self.ready.append(worker)
        self.hooks.after_worker_started(self.step.name, worker.pid)
        self.slot_freed(worker)

    def _load_failed(self, error: HandlerLoadError) -> None:
        self._streak += 1
        self._load_error = error
        self._load_retry_at = time.monotonic() + self._backoff()
        if self.starting or self.ready:
            return  # a sibling worker still starting will report the same; a ready one serves
        self.logger.error(f"handler failed to load: {error.message}", step=self.step.name)
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(_copy(error))

    def worker_exited(self, worker: WorkerProcess, reason: str) -> None:
        """Called once per worker when its process is gone and its invocations have failed."""
        self.pool.workers.discard(worker)
        if worker in self.ready:
            self.ready.remove(worker)
        if worker.pid is not None:
            self.last_exit = reason
            self.hooks.after_worker_exited(self.step.name, worker.pid, reason)
        if worker.ready_at is None or worker.retiring or self.retired or self.pool.closing:
            return
        self.restarts += 1
        lived = time.monotonic() - worker.ready_at
        self._streak = 0 if lived >= self.pool.stable_after else self._streak + 1
        delay = self._backoff()
        later = f" in {delay:.1f} s" if delay else ""
        self.logger.log("warn", f"worker pid {worker.pid} {reason}; starting a new one{later}",
                        step=self.step.name)
        if self._restart is None:
            self._restart = self.loop.call_later(delay, self._spawn)

    def _backoff(self) -> float:
        """No wait for the first failure in a row, then initial, doubling up to the maximum."""
        if self._streak <= 1:
            return 0.0
        delay = self.pool.backoff_initial * 2 ** (self._streak - 2)
        return float(min(delay, self.pool.backoff_max))

    # --- reload and close -----------------------------------------------------------------------

    def update(self, step: Step) -> None:
        """A reload that keeps the handler's code: the new step (timeout, emits...) applies
        from now on, and the workers hear the new topic schemas before any new invocation."""
        self.step = step
        for worker in [*self.ready, *self.starting]:
            if worker.alive:
                worker.send_topics()

    def retire(self) -> None:
        """Stop taking work; each worker exits once its in-flight invocations are done."""
        self.retired = True
        if self._restart is not None:
            self._restart.cancel()
            self._restart = None
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(Retired())
        for worker in [*self.ready, *self.starting]:
            worker.retiring = True
            if worker.inflight == 0 and worker.ready_at is not None:
                worker.shutdown()

    def stop_intake(self) -> None:
        """Pool closing: nothing new starts; queued invocations fail."""
        if self._restart is not None:
            self._restart.cancel()
            self._restart = None
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(WorkerCrashed(
                    self.step.name, "the worker pool closed before this invocation started"))

    async def cancel_starts(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def stats(self) -> dict[str, Any]:
        workers = [*self.ready, *self.starting]
        return {
            "language": self.step.handler.language if self.step.handler else None,
            "pids": [w.pid for w in self.ready if w.pid is not None],
            "starting": len(self.starting),
            "in_flight": sum(w.inflight for w in workers),
            "queued": sum(1 for w in self.waiters if not w.done()),
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "rss": {w.pid: rss_of(w.pid) for w in workers if w.pid is not None and w.alive},
            "load_error": self._load_error.message if self._load_error else None,
        }


def _copy(error: HandlerLoadError) -> HandlerLoadError:
    """A fresh exception per caller, so tracebacks of different callers do not pile up."""
    return HandlerLoadError(error.step, error.message, type=error.type, traceback=error.traceback)
