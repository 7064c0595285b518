"""One worker process as the host sees it: its socket, its in-flight invocations, its end.

`WorkerProcess` speaks the protocol of PROTOCOL.md over its end of a socketpair, answers
the handler's calls (emit validation, state), turns stdout/stderr into log lines, and
when the process ends fails whatever was still in flight with a typed error. It knows
nothing of restarts or dispatch: its `Supervisor` (the owner) does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from motia.compiler.ir import Step
from motia.errors import (
    HandlerError,
    HandlerLoadError,
    HandlerTimeout,
    InvocationError,
    WorkerCrashed,
)
from motia.runner.logs import LogRecord
from motia.runner.workers import _protocol as p
from motia.runner.workers._calls import HandlerCalls
from motia.runner.workers._pipes import Pipes, describe
from motia.runner.workers.api import Emit, InvocationContext

if TYPE_CHECKING:
    from motia.runner.workers._forkserver import ForkServer
    from motia.runner.workers._supervisor import Supervisor

_log = logging.getLogger("motia.workers")

#: after the process exits, how long to wait for its pipes to close before giving up on them
PIPE_GRACE = 0.5


class _Invocation:
    """One invocation in flight (a plain class: a dataclass __init__ is slower per call)."""

    __slots__ = ("ctx", "deadline", "emits", "future")

    def __init__(
        self, ctx: InvocationContext, future: asyncio.Future[Any], deadline: float
    ) -> None:
        self.ctx = ctx
        self.future = future
        self.deadline = deadline  # loop.time() after which it has timed out
        self.emits: list[Emit] = []


class WorkerProcess(HandlerCalls, asyncio.BufferedProtocol):
    """The host's end of one worker: `start()`, then `run()` per invocation."""

    def __init__(self, owner: Supervisor) -> None:
        self.owner = owner
        self.loop = asyncio.get_running_loop()
        self.pid: int | None = None
        self.inflight = 0  # slots in use: running invocations plus timed-out ones not yet confirmed
        self.ready_at: float | None = None
        self.retiring = False
        self.rss = 0
        self.exited: asyncio.Future[str] = self.loop.create_future()
        self._ready: asyncio.Future[dict[str, Any]] = self.loop.create_future()
        self._pending: dict[int, _Invocation] = {}
        self._timer: asyncio.TimerHandle | None = None  # for the oldest pending deadline
        self._cancelling: dict[int, tuple[asyncio.TimerHandle, InvocationContext]] = {}
        self._next_id = 0
        self._frames = p.FrameBuffer()
        self._out: list[bytes] = []
        self._flush_pending = False
        self._scheduled = _ready_queue(self.loop)
        self._sock: asyncio.Transport | None = None
        self._proc: asyncio.SubprocessTransport | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stderr_tail: deque[str] = deque(maxlen=20)
        self._returncode: int | None = None
        self._sock_open = self._pipes_open = True
        self._reason: str | None = None  # why we killed it
        self._asked: str | None = None  # why we asked it to exit (SIGTERM, shutdown)
        self._error: type[InvocationError] = WorkerCrashed

    # --- start and stop ---------------------------------------------------------------------

    async def start(
        self, command: list[str], env: dict[str, str], cwd: str, timeout: float,
        forkserver: ForkServer | None = None,
    ) -> None:
        """Spawn the process (or, given a fork server, fork it from there: `command` is then
        the Python worker's, whose last argument is its config) and wait for `ready`;
        HandlerLoadError if it never gets there."""
        ours, theirs = socket.socketpair()
        try:
            await self.loop.create_unix_connection(lambda: self, sock=ours)
            self.send_topics()  # read by the worker before any invocation
            if forkserver is not None:
                await forkserver.spawn(Pipes(self), command[-1], env, cwd, theirs)
            else:
                await self.loop.subprocess_exec(
                    lambda: Pipes(self), *command, stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(theirs.fileno(),),
                    env={**env, p.WORKER_FD_ENV: str(theirs.fileno())}, cwd=cwd,
                    start_new_session=True)  # Ctrl-C on the terminal is the host's
        except BaseException as exc:
            self._never_started(ours)
            if isinstance(exc, OSError):
                raise HandlerLoadError(self.step.name, f"cannot start a worker ({command[0]}): "
                                       f"{exc}", type=type(exc).__name__) from None
            raise
        finally:
            theirs.close()
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), timeout)
        except TimeoutError:
            self.kill(f"was killed: the handler did not finish loading within {timeout:g} s")
            await asyncio.shield(self.exited)
            raise HandlerLoadError(self.step.name, f"{self._handler}: the handler did not finish "
                                   f"loading within {timeout:g} s (look for slow or blocking code "
                                   "that runs at import time)") from None
        except asyncio.CancelledError:
            self.kill("was stopped while starting")
            raise
        self.ready_at = time.monotonic()

    def send_topics(self) -> None:
        """Tell the worker the schemas of the topics its step emits (again after a reload
        that keeps it), so it can accept valid emits without asking."""
        self._send(p.frame({"type": p.TOPICS, "schemas": self.owner.validator.schemas_for(
            self.step)}))

    def _never_started(self, ours: socket.socket) -> None:
        if self._sock is not None:
            self._sock.close()
        else:
            ours.close()
        if self._proc is None:  # no process to wait for: this worker is over now
            self._returncode, self._sock_open, self._pipes_open = -1, False, False
            self._reason = self._reason or "could not be started"
            self._maybe_finalize()

    def kill(self, reason: str, error: type[InvocationError] = WorkerCrashed) -> None:
        """SIGKILL; in-flight invocations fail with `error` once the exit is seen."""
        if self._reason is None:
            self._reason, self._error = reason, error
        self._signal(signal.SIGKILL)

    def terminate(self) -> None:
        """SIGTERM: the worker finishes its in-flight invocations, then exits."""
        self._asked = self._asked or "was stopped"
        self._signal(signal.SIGTERM)

    def shutdown(self) -> None:
        """Ask an idle worker to exit (reload): a `shutdown` frame, SIGKILL if ignored."""
        self._asked = self._asked or "was retired"
        self._send(p.frame({"type": p.SHUTDOWN}))
        self.loop.call_later(5.0, self._signal, signal.SIGKILL)

    @property
    def step(self) -> Step:
        """The owner's current step: a reload that keeps the code may change its timeout."""
        return self.owner.step

    @property
    def alive(self) -> bool:
        return not self.exited.done() and self._returncode is None

    @property
    def available(self) -> bool:
        """Alive and not suspect: a worker that has not confirmed a cancel yet may be stuck
        and about to be killed, so new invocations wait for it (or its replacement)."""
        return not self._cancelling and not self.exited.done() and self._returncode is None

    def _signal(self, sig: int) -> None:
        proc = self._proc
        if proc is not None and self._returncode is None and proc.get_returncode() is None:
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                pass

    @property
    def _handler(self) -> str:
        return self.step.handler.path if self.step.handler else self.step.name

    # --- invocations ------------------------------------------------------------------------

    def run(self, payload: Any, ctx: InvocationContext) -> tuple[int, asyncio.Future[Any]]:
        """Send one invocation; the caller has already taken a slot (`inflight`)."""
        self._next_id += 1
        inv_id = self._next_id
        try:
            data = p.invoke_frame(inv_id, payload, ctx.trace_id, ctx.event_id, ctx.attempt,
                                  ctx.topic)
        except p.NOT_JSON as exc:
            self._release()
            raise TypeError(f"payload for step {self.step.name!r} is not JSON: {exc}") from None
        loop = self.loop
        inv = _Invocation(ctx, loop.create_future(), loop.time() + self.step.timeout)
        self._pending[inv_id] = inv
        timer = self._timer
        if timer is None or inv.deadline < timer.when():  # (a reload can shorten the timeout)
            if timer is not None:
                timer.cancel()
            self._timer = loop.call_at(inv.deadline, self._expire)
        self._send(data)
        return inv_id, inv.future

    def abandon(self, inv_id: int) -> None:
        """The caller stopped waiting (cancelled): cancel the invocation in the worker."""
        inv = self._pending.pop(inv_id, None)
        if inv is not None:
            self._cancel(inv_id, inv.ctx)

    def _expire(self) -> None:
        """One timer per worker, at the nearest deadline, instead of one per invocation
        (a timer per call was a tenth of the host's time per invocation)."""
        self._timer = None
        now = self.loop.time()
        overdue = [inv_id for inv_id, inv in self._pending.items() if inv.deadline <= now]
        for inv_id in overdue:
            self._timed_out(inv_id)
        if self._pending:
            nearest = min(inv.deadline for inv in self._pending.values())
            self._timer = self.loop.call_at(nearest, self._expire)

    def _timed_out(self, inv_id: int) -> None:
        inv = self._pending.pop(inv_id, None)
        if inv is None:
            return
        if not inv.future.done():
            inv.future.set_exception(HandlerTimeout(
                self.step.name,
                f"the handler ran past the step's timeout of {self.step.timeout:g} s"))
        self._cancel(inv_id, inv.ctx)

    def _cancel(self, inv_id: int, ctx: InvocationContext) -> None:
        grace = self.owner.pool.cancel_grace
        stuck = self.loop.call_later(grace, self.kill,
                                     f"was killed: an invocation was still running {grace:g} s "
                                     "after it was cancelled (a blocking handler past its timeout)")
        self._cancelling[inv_id] = (stuck, ctx)
        self._send(p.frame({"type": p.CANCEL, "id": inv_id}))

    def _finish(self, inv_id: int, value: Any, error: InvocationError | None) -> None:
        inv = self._pending.pop(inv_id, None)
        if inv is None:
            cancelling = self._cancelling.pop(inv_id, None)
            if cancelling is not None:  # a timed-out invocation ended in the worker: slot is free
                cancelling[0].cancel()
                self._release()
            return
        if not inv.future.done():
            if error is None:
                inv.future.set_result((value, inv.emits))
            else:
                inv.future.set_exception(error)
        self._release()

    def _release(self) -> None:
        self.inflight -= 1
        self.owner.slot_freed(self)

    # --- the socket -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._sock = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self._sock_open = False
        if self._returncode is None:  # closed its socket but still running: it will not be heard
            self.loop.call_later(PIPE_GRACE, self._signal, signal.SIGKILL)
        self._maybe_finalize()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._frames.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        try:
            messages = self._frames.updated(nbytes)
        except p.ProtocolError as exc:
            self.kill(f"was killed: it broke the protocol ({exc})")
            return
        for message in messages:
            try:
                self._dispatch(message)
            except Exception:  # noqa: BLE001 - e.g. a hook raised: log it, keep serving the worker
                _log.exception("step %s: handling %r from worker pid %s failed",
                               self.step.name, message.get("type"), self.pid)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == p.RESULT:
            emits = message.get("emits")
            inv = self._pending.get(message["id"]) if emits is not None else None
            rejected = self._accept_emits(inv, emits) if inv is not None else None
            self._finish(message["id"], message.get("value"), rejected)
        elif kind == p.ERROR:
            error = message.get("error") or {}
            self._finish(message["id"], None, HandlerError(
                self.step.name, error.get("message", ""), type=error.get("type", "Error"),
                traceback=error.get("traceback", "")))
        elif kind == p.CALL:
            self._on_call(message)
        elif kind == p.LOG:
            self._on_log(message)
        elif kind == p.CANCELLED:
            self._finish(message["id"], None, HandlerError(
                self.step.name, "the handler was cancelled", type="CancelledError"))
        elif kind == p.READY:
            if not self._ready.done():
                self._ready.set_result(message)
        elif kind == p.FATAL:
            error = message.get("error") or {}
            if not self._ready.done():
                self._ready.set_exception(HandlerLoadError(
                    self.step.name, error.get("message", "the handler failed to load"),
                    type=error.get("type", ""), traceback=error.get("traceback", "")))
            self._reason = "stopped: the handler failed to load"
        else:
            self.kill(f"was killed: it sent an unknown message type {kind!r}")

    def _send(self, data: bytes) -> None:
        """Write at once when nothing else is scheduled in this loop iteration (a lone call:
        no added latency, no extra iteration); otherwise join the frames of the iteration
        into one write at its end (many calls in flight: one syscall for all of them)."""
        if self._flush_pending:
            self._out.append(data)
            if len(self._out) >= p.BATCH:
                self._flush_now()
        elif self._scheduled:
            self._out.append(data)
            self._flush_pending = True
            self.loop.call_soon(self._flush)
        elif self._sock is not None and not self._sock.is_closing():
            self._sock.write(data)

    def _flush_now(self) -> None:
        """Write a full batch early, so the worker starts on it while we prepare the rest
        (host and worker then work in parallel instead of taking turns)."""
        if self._sock is not None and not self._sock.is_closing():
            self._sock.write(b"".join(self._out))
        self._out.clear()

    def _flush(self) -> None:
        self._flush_pending = False
        if self._out and self._sock is not None and not self._sock.is_closing():
            self._sock.write(b"".join(self._out) if len(self._out) > 1 else self._out[0])
        self._out.clear()

    # --- stdout / stderr and the exit ------------------------------------------------------------

    def output_line(self, fd: int, line: str) -> None:
        if fd == 2:
            self._stderr_tail.append(line)
        self.owner.logger.emit(LogRecord(level="info" if fd == 1 else "warn", msg=line,
                                         step=self.step.name))

    def attach(self, transport: asyncio.SubprocessTransport) -> None:
        self._proc = transport
        self.pid = transport.get_pid()
        no_wakeup_preemption(self.pid)

    def process_exited(self) -> None:
        code = self._proc.get_returncode() if self._proc is not None else None
        self._returncode = -1 if code is None else code
        if self._sock is not None and not self._sock.is_closing():
            # Read what is left in the socket (a result sent just before exiting), then close.
            self.loop.call_later(PIPE_GRACE, self._close_socket)
        self.loop.call_later(PIPE_GRACE, self.pipes_closed)
        self._maybe_finalize()

    def _close_socket(self) -> None:
        if self._sock is not None:
            self._sock.close()

    def pipes_closed(self) -> None:
        self._pipes_open = False
        self._maybe_finalize()

    def _maybe_finalize(self) -> None:
        if self._returncode is None or self._sock_open or self._pipes_open or self.exited.done():
            return
        reason = self._reason or describe(self._returncode)
        if self._reason is None and self._asked and self._returncode in (0, -signal.SIGTERM):
            reason = self._asked
        tail = "\n".join(self._stderr_tail)
        if self._timer is not None:
            self._timer.cancel()
        for inv in self._pending.values():
            if not inv.future.done():
                inv.future.set_exception(self._error(
                    self.step.name, f"worker pid {self.pid} {reason} while running this invocation",
                    traceback=tail))
        for stuck, _ in self._cancelling.values():
            stuck.cancel()
        self._pending.clear()
        self._cancelling.clear()
        self.inflight = 0
        if not self._ready.done():
            detail = f"; its last output:\n{tail}" if tail else ""
            self._ready.set_exception(HandlerLoadError(
                self.step.name, f"{self._handler}: the worker {reason} before it was ready{detail}",
                traceback=tail))
            self._ready.exception()  # nobody may be waiting any more (a cancelled start)
        for task in self._tasks:
            task.cancel()
        if self._proc is not None:
            self._proc.close()
        self.exited.set_result(reason)
        self.owner.worker_exited(self, reason)


def no_wakeup_preemption(pid: int) -> None:
    """Put a worker in Linux's SCHED_BATCH class: it shares the CPU as fairly as before
    (same nice level) but, when a frame wakes it, it does not preempt the process that is
    running, which is most often this host sending it work. The host's one event loop is
    the serial part of the runtime (HTTP, bus, dispatch for every step); preempted in
    the middle of an iteration, it stalls every request it holds until the worker yields.
    In bench/events.py that took the host's involuntary context switches from ~9,000 to
    ~200 per run, raised the event rate by about a quarter and removed the 40-150 ms p99
    spikes at half rate. Elsewhere (macOS) this does nothing."""
    setter = getattr(os, "sched_setscheduler", None)
    if setter is None or pid is None:
        return
    try:
        setter(pid, os.SCHED_BATCH, os.sched_param(0))
    except OSError:  # it already exited, or a sandbox forbids it: only a speed matter
        pass


def _ready_queue(loop: asyncio.AbstractEventLoop) -> Any:
    """The callbacks the loop will run before it next waits for I/O (asyncio's own loop
    keeps them in `_ready`); a loop without one gets a queue that always looks busy, which
    means "always batch"."""
    return getattr(loop, "_ready", (None,))
