"""The Python step worker: `python -m motia.runner.workers.python_worker CONFIG_JSON`.

One process per worker of one step. It imports only that step's handler module, then
serves invocations from the host over the socket whose descriptor is in
$MOTIA_WORKER_FD (see PROTOCOL.md). `async def` handlers run as tasks on this loop,
plain `def` handlers in a thread pool; the host never sends more than `concurrency`
at once. stdout and stderr are left to the handler: the host turns them into log lines.

Imports stay light on purpose (no aiohttp, no jsonschema). `ctx.emit` checks the data
with the compiled fast check of the topic's schema (`_validation_fast`, which the host
sends in a `topics` frame) and keeps what it calls valid, to be returned with the result:
no round trip. Anything it is not sure of is checked by the host (jsonschema), which
also re-checks every emit that comes back with a result.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import json
import os
import signal
import socket
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

from motia._response import Response
from motia.errors import AdapterUnavailable, EmitError, MotiaError, StateError, StreamError
from motia.runner._loop import run as run_loop
from motia.runner._validation_fast import Check, compile_check
from motia.runner.workers import _protocol as p
from motia.runner.workers._pyawait import forgotten
from motia.runner.workers._pycontext import Context, Next, Request
from motia.runner.workers._pyload import LoadFailure, load_handler

_REPLY_ERRORS: dict[str, type[Exception]] = {
    "EmitError": EmitError, "StateError": StateError, "AdapterUnavailable": AdapterUnavailable,
    "StreamError": StreamError,
    "TypeError": TypeError, "ValueError": ValueError,
}


class Worker(asyncio.BufferedProtocol):
    """The worker's side of the protocol: invocations in, results and calls out."""

    def __init__(self, config: dict[str, Any], fn: Callable[..., Any]) -> None:
        self.kind: str = config["type"]
        self.step: str = config.get("step", "?")
        #: a middleware gets `next` as its third argument (a call back to the host)
        self.is_middleware: bool = bool(config.get("middleware"))
        self.concurrency: int = int(config.get("concurrency", 32))
        self.fn = fn
        self.is_async = _is_async(fn)
        self.loop = asyncio.get_running_loop()
        self.loop_thread = threading.get_ident()
        self._frames = p.FrameBuffer()
        self._transport: asyncio.Transport | None = None
        self._out: list[bytes] = []
        self._flush_pending = False
        # asyncio's queue of callbacks still to run before the loop next polls: empty means
        # this frame is the last of the iteration (another loop: always batch)
        self._scheduled = getattr(self.loop, "_ready", (None,))
        self._running: dict[int, asyncio.Future[Any]] = {}  # tasks, or thread futures
        self._cancelling: set[int] = set()
        self._calls: dict[int, Any] = {}  # cid -> asyncio.Future | concurrent.futures.Future
        self._next_cid = 0
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._draining = False
        self.done: asyncio.Future[int] = self.loop.create_future()
        #: topic -> the fast check of its schema; None (or absent): ask the host
        self._checks: dict[str, Check | None] = {}
        #: invocation id -> its emits so far, as [topic, data as JSON text or None if rejected]
        self._emits: dict[int, list[list[Any]]] = {}
        self._accepted: asyncio.Future[None] = self.loop.create_future()
        self._accepted.set_result(None)  # what an async handler awaits for an accepted emit

    # --- transport ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        # The host closed our socket or died: nobody is left to read results.
        self._stop(p.EXIT_OK)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._frames.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        try:
            for message in self._frames.updated(nbytes):
                kind = message["type"]
                if kind == p.INVOKE:
                    self._invoke(message)
                elif kind == p.REPLY:
                    self._reply(message)
                elif kind == p.CANCEL:
                    self._cancel(message["id"])
                elif kind == p.SHUTDOWN:
                    self.drain()
                elif kind == p.TOPICS:
                    self._set_topics(message["schemas"])
                else:
                    raise p.ProtocolError(f"unknown message type {kind!r}")
        except Exception:  # noqa: BLE001 - a broken stream or a bug here: the host restarts us
            traceback.print_exc()
            self._stop(p.EXIT_PROTOCOL)

    def send(self, message: dict[str, Any]) -> None:
        self._queue(p.frame(message))

    def warn(self, inv_id: int, text: str) -> None:
        """A warning about how the handler uses `ctx` (a forgotten await), for its log."""
        self.send_log({"type": p.LOG, "id": inv_id, "level": "warn",
                       "msg": f"step {self.step!r}: {text}", "data": None})

    def send_log(self, message: dict[str, Any]) -> None:
        data = p.frame_lenient(message)
        if threading.get_ident() == self.loop_thread:
            self._queue(data)
        else:
            self.loop.call_soon_threadsafe(self._queue, data)

    def _queue(self, data: bytes) -> None:
        """Write at once when nothing else is scheduled in this loop iteration (no added
        latency, no extra iteration); otherwise join the frames of the iteration into one
        write at its end (one syscall for many results)."""
        if self._flush_pending:
            self._out.append(data)
            if len(self._out) >= p.BATCH:  # let the host start on these while we go on
                self._write_out()
        elif self._scheduled:
            self._out.append(data)
            self._flush_pending = True
            self.loop.call_soon(self._flush)
        elif self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _write_out(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(b"".join(self._out))
        self._out.clear()

    def _flush(self) -> None:
        self._flush_pending = False
        if self._out and self._transport is not None and not self._transport.is_closing():
            self._transport.write(b"".join(self._out) if len(self._out) > 1 else self._out[0])
        self._out.clear()

    # --- invocations ------------------------------------------------------------------------

    def _invoke(self, message: dict[str, Any]) -> None:
        inv_id: int = message["id"]
        emits: list[list[Any]] = []
        self._emits[inv_id] = emits
        ctx = Context(self, inv_id, message.get("ctx") or {}, emits)
        payload = message.get("payload")
        if self.is_middleware:
            args: tuple[Any, ...] = (Request(payload or {}), ctx, Next(ctx))
        elif self.kind == "api":
            args = (Request(payload or {}), ctx)
        elif self.kind == "cron":
            args = (ctx,)
        else:
            args = (payload, ctx)
        if self.is_async:
            task = self.loop.create_task(self._run(inv_id, args))
            if not task.done():  # an eager task (Python 3.12+) may already have finished
                self._running[inv_id] = task
        else:
            future = self.loop.run_in_executor(self._pool(), self.fn, *args)
            self._running[inv_id] = future
            future.add_done_callback(functools.partial(self._thread_done, inv_id))

    async def _run(self, inv_id: int, args: tuple[Any, ...]) -> None:
        """One async invocation; the result goes out from the task's last step (no extra
        loop iteration for a done-callback)."""
        try:
            value = await self.fn(*args)
        except asyncio.CancelledError:
            self._end(inv_id, p.CANCELLED, None)
        except Exception as exc:  # noqa: BLE001 - the handler's error goes to the caller
            self._end(inv_id, p.ERROR, exc)
        else:
            self._end(inv_id, p.RESULT, value)

    def _thread_done(self, inv_id: int, future: asyncio.Future[Any]) -> None:
        exc = future.exception()
        if exc is not None:
            self._end(inv_id, p.ERROR, exc)
            return
        value = future.result()
        if inspect.isawaitable(value):  # a plain def returned a coroutine: run it here
            task = self.loop.create_task(self._run_awaitable(inv_id, value))
            if not task.done():
                self._running[inv_id] = task
            return
        self._end(inv_id, p.RESULT, value)

    async def _run_awaitable(self, inv_id: int, awaitable: Any) -> None:
        try:
            value = await awaitable
        except asyncio.CancelledError:
            self._end(inv_id, p.CANCELLED, None)
        except Exception as exc:  # noqa: BLE001 - the handler's error goes to the caller
            self._end(inv_id, p.ERROR, exc)
        else:
            self._end(inv_id, p.RESULT, value)

    def _end(self, inv_id: int, outcome: str, value: Any) -> None:
        """Send the one terminal message of an invocation: result, error or cancelled."""
        self._running.pop(inv_id, None)
        emits = self._emits.pop(inv_id, None)
        if inv_id in self._cancelling or outcome == p.CANCELLED:
            self._cancelling.discard(inv_id)
            self.send({"type": p.CANCELLED, "id": inv_id})
        elif outcome == p.ERROR:
            self._send_error(inv_id, value)
        else:
            self._send_result(inv_id, value, emits)
        if self._draining and not self._running:
            self._stop(p.EXIT_OK)

    def _send_result(self, inv_id: int, value: Any, emits: list[list[Any]] | None) -> None:
        if isinstance(value, Response):
            value = value.to_dict()
        try:
            self._queue(p.result_frame(inv_id, value, emits))
        except p.NOT_JSON as exc:
            self._send_not_json(inv_id, value, exc)

    def _send_not_json(self, inv_id: int, value: Any, exc: Exception) -> None:
        """The error for a result that is not JSON, saying so when it holds an awaitable."""
        found = _find_awaitable(value)
        if found is not None:
            error = {"type": "ForgottenAwait", "message": f"the handler returned {found}"}
        else:
            error = {"type": "TypeError",
                     "message": f"the handler returned a value that is not JSON: {exc}"}
        self.send({"type": p.ERROR, "id": inv_id, "error": {**error, "traceback": ""}})

    def _send_error(self, inv_id: int, exc: BaseException) -> None:
        self.send({"type": p.ERROR, "id": inv_id, "error": {
            "type": type(exc).__name__, "message": str(exc),
            "traceback": "".join(traceback.format_exception(exc))}})

    def _cancel(self, inv_id: int) -> None:
        future = self._running.get(inv_id)
        if future is None:
            return  # it already finished: its result or error is on the way
        self._cancelling.add(inv_id)
        if isinstance(future, asyncio.Task):
            future.cancel()
            # a task cancelled before its first step never enters _run's except clause
            future.add_done_callback(lambda _: self._end(inv_id, p.CANCELLED, None)
                                     if inv_id in self._running else None)
        # A thread cannot be interrupted: "cancelled" goes out when it returns, and a
        # worker that stays stuck is killed by the host.

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                self.concurrency, thread_name_prefix="motia-handler")
        return self._executor

    # --- ctx.emit ---------------------------------------------------------------------------

    def _set_topics(self, schemas: dict[str, Any]) -> None:
        self._checks = {topic: (_any if schema is None else compile_check(schema))
                        for topic, schema in schemas.items()}

    def emit(self, ctx: Context, topic: str, data: Any, event_id: Any = None,
             delay: Any = None) -> Any:
        """Keep the emit with its invocation when the fast check is sure it is valid
        (an async handler gets a finished future, a thread None); otherwise ask the host,
        which raises EmitError with every violation. Kept in call order either way.
        `event_id` (`ctx.emit({..., "id"})`) becomes the emitted event's id; `delay`
        (a duration or seconds) travels in seconds, checked here so a typo raises now."""
        try:
            text = p.encode(data)
        except p.NOT_JSON as exc:
            raise EmitError(f"ctx.emit({topic!r}): the data is not JSON: {exc}") from None
        entry: list[Any] = [topic, text]
        if event_id is not None:
            problem = p.bad_event_id(topic, event_id)
            if problem is not None:
                raise EmitError(problem)
            entry.append(event_id)
        if delay is not None:
            try:
                seconds = p.emit_delay(topic, delay)
            except ValueError as exc:
                raise EmitError(str(exc)) from None
            if len(entry) == 2:
                entry.append(None)
            entry.append(seconds)
        ctx._emits.append(entry)
        check = self._checks.get(topic)
        on_loop = threading.get_ident() == self.loop_thread
        if check is not None and check(p.decode(text)):  # judged as the host will see it
            return self._accepted if on_loop else None
        args = [{"topic": topic, "data": data, "id": event_id, "delay": delay}]
        if on_loop:
            future = self.call(ctx._id, p.OP_EMIT, args)
            future.add_done_callback(lambda f: _reject_if_failed(entry, f))
            return future
        try:
            return self.call_from_thread(ctx._id, p.OP_EMIT, args)
        except BaseException:
            entry[1] = None
            raise

    # --- calls to the host (ctx.state.*, emits the fast check is not sure of) ---------------

    def call(self, inv_id: int, op: str, args: list[Any]) -> asyncio.Future[Any]:
        future = self.loop.create_future()
        self._register(inv_id, op, args, future)
        return future

    def call_from_thread(self, inv_id: int, op: str, args: list[Any]) -> Any:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.loop.call_soon_threadsafe(self._register_safely, inv_id, op, args, future)
        return future.result()

    def _register_safely(self, inv_id: int, op: str, args: list[Any], future: Any) -> None:
        try:
            self._register(inv_id, op, args, future)
        except Exception as exc:  # noqa: BLE001 - raised in the handler's thread instead
            future.set_exception(exc)

    def _register(self, inv_id: int, op: str, args: list[Any], future: Any) -> None:
        self._next_cid += 1
        cid = self._next_cid
        try:
            self.send({"type": p.CALL, "id": inv_id, "cid": cid, "op": op, "args": args})
        except p.NOT_JSON as exc:
            error = (EmitError if op == p.OP_EMIT
                     else StreamError if op.startswith("streams.") else StateError)
            raise error(f"ctx.{op}: the value is not JSON: {exc}") from None
        self._calls[cid] = future

    def _reply(self, message: dict[str, Any]) -> None:
        future = self._calls.pop(message["cid"], None)
        if future is None or future.done():
            return  # the caller was cancelled meanwhile
        if message.get("ok"):
            future.set_result(message.get("value"))
        else:
            error = message.get("error") or {}
            cls = _REPLY_ERRORS.get(error.get("type", ""), MotiaError)
            future.set_exception(cls(error.get("message", "the host rejected the call")))

    # --- lifecycle --------------------------------------------------------------------------

    def drain(self) -> None:
        """Finish what is running, then exit (SIGTERM or a `shutdown` message)."""
        self._draining = True
        if not self._running:
            self._stop(p.EXIT_OK)

    def _stop(self, code: int) -> None:
        if self.done.done():
            return
        self._flush()
        for future in self._calls.values():
            if not future.done():
                future.set_exception(MotiaError("the worker is shutting down"))
        if self._transport is not None:
            self._transport.close()
        self.done.set_result(code)


def _find_awaitable(value: Any, depth: int = 0) -> str | None:
    """The "did you forget await?" message for the first awaitable in a result, or None."""
    found = forgotten(value)
    if found is not None or depth > 4:
        return found
    if isinstance(value, dict):
        items: Any = value.values()
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        return None
    for item in items:
        found = _find_awaitable(item, depth + 1)
        if found is not None:
            return found
    return None


def _any(value: Any) -> bool:
    """The check of a topic without a schema: any JSON data."""
    return True


def _reject_if_failed(entry: list[Any], future: asyncio.Future[Any]) -> None:
    """The host rejected an emit (or the handler stopped waiting): it is not returned."""
    if future.cancelled() or future.exception() is not None:
        entry[1] = None


def _is_async(fn: Callable[..., Any]) -> bool:
    """`async def`, or an object whose `__call__` is one."""
    if inspect.isfunction(fn) or inspect.ismethod(fn):
        return inspect.iscoroutinefunction(fn)
    return inspect.iscoroutinefunction(type(fn).__call__)


async def _serve(config: dict[str, Any], fn: Callable[..., Any], sock: socket.socket) -> int:
    loop = asyncio.get_running_loop()
    eager = getattr(asyncio, "eager_task_factory", None)
    if eager is not None:  # Python 3.12+: a handler that never suspends costs no loop iteration
        loop.set_task_factory(eager)
    worker = Worker(config, fn)
    await loop.create_unix_connection(lambda: worker, sock=sock)
    loop.add_signal_handler(signal.SIGTERM, worker.drain)
    worker.send({"type": p.READY, "pid": os.getpid(), "language": "python",
                 "protocol": p.PROTOCOL_VERSION, "runtime": sys.version.split()[0]})
    return await worker.done


def main(argv: list[str]) -> int:
    config = json.loads(argv[0])
    fd = int(os.environ.get(p.WORKER_FD_ENV, "3"))
    os.set_inheritable(fd, False)  # subprocesses of the handler must not hold our socket
    sock = socket.socket(fileno=fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the host's to handle
    try:
        fn = load_handler(config["root"], config["handler"], config.get("function", "handler"))
    except LoadFailure as failure:
        error = {"type": failure.kind, "message": failure.message, "traceback": failure.trace}
        sock.sendall(p.frame({"type": p.FATAL, "error": error}))
        sock.close()
        return p.EXIT_LOAD_FAILED
    return run_loop(_serve(config, fn, sock))


def run(argv: list[str]) -> int:
    """main(), with a handler's sys.exit() turned into the exit code and stdio flushed;
    the caller ends the process with os._exit (handler threads still stuck at this point
    must not keep it alive). Shared with the fork server's children (zygote.py)."""
    try:
        code = main(argv)
    except SystemExit as exit_:  # a handler called sys.exit(): the host sees the exit code
        code = exit_.code if isinstance(exit_.code, int) else 1
    sys.stdout.flush()
    sys.stderr.flush()
    return code


if __name__ == "__main__":
    os._exit(run(sys.argv[1:]))
