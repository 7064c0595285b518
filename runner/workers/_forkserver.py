"""The host's side of the fork server (zygote.py): start it, ask it for workers, hear exits.

`ForkServer.spawn` gives back a `ForkedProcess`, which drives the same
asyncio.SubprocessProtocol a spawned worker's `Pipes` is (connection_made, pipe data,
process_exited, connection_lost, in asyncio's order), so `WorkerProcess` cannot tell a
forked worker from a spawned one: same signals, exit codes, stdout/stderr lines.

`MOTIA_PYTHON_WORKERS=spawn` selects the old path (a fresh interpreter per worker);
`fork` (the default where the OS has fork) the fork server.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
from typing import Any

from motia.errors import UsageError
from motia.runner.workers import zygote as z

_log = logging.getLogger("motia.workers")

ZYGOTE_MODULE = "motia.runner.workers.zygote"
#: selects how Python workers start: `fork` (from the fork server) or `spawn`
MODE_ENV = "MOTIA_PYTHON_WORKERS"
MODES = ("fork", "spawn")


def python_start_mode() -> str:
    """`fork` or `spawn`, from $MOTIA_PYTHON_WORKERS; UsageError naming the fix if bad."""
    wanted = os.environ.get(MODE_ENV, "").strip().lower()
    if not wanted:
        return "fork" if hasattr(os, "fork") and sys.platform.startswith("linux") else "spawn"
    if wanted not in MODES:
        raise UsageError(f"{MODE_ENV}={wanted!r} is not a way to start workers: use "
                         f"{' or '.join(MODES)}")
    return wanted


class ForkServer:
    """One zygote process, started on first use; restarted on the next use if it dies."""

    #: how long the zygote may take to import the runtime (not the step's startup timeout:
    #: a slow handler import is the handler's fault, a loaded machine is nobody's)
    start_timeout = 60.0

    def __init__(self) -> None:
        self._control: socket.socket | None = None
        self._transport: asyncio.SubprocessTransport | None = None
        self._starting: asyncio.Future[None] | None = None
        self._spawning: dict[int, tuple[asyncio.Future[ForkedProcess], list[int], Any]] = {}
        self._procs: dict[int, ForkedProcess] = {}
        self._ready: asyncio.Future[None] | None = None
        self._next_id = 0
        self.pid: int | None = None

    async def spawn(self, protocol: asyncio.SubprocessProtocol, config: str,
                    env: dict[str, str], cwd: str, sock: socket.socket) -> ForkedProcess:
        """Fork a worker that serves `sock`; OSError when the fork server cannot."""
        await self._ensure_started(env, cwd)
        assert self._control is not None
        loop = asyncio.get_running_loop()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self._next_id += 1
        request = self._next_id
        future: asyncio.Future[ForkedProcess] = loop.create_future()
        self._spawning[request] = (future, [out_r, err_r], protocol)
        try:
            z.send(self._control, {"type": "spawn", "id": request, "config": config,
                                   "env": env, "cwd": cwd}, [sock.fileno(), out_w, err_w])
        except OSError:
            self._spawning.pop(request, None)
            os.close(out_r)
            os.close(err_r)
            raise
        finally:
            os.close(out_w)
            os.close(err_w)
        try:
            proc = await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled() and future.exception() is None:
                os.close(out_r)  # forked just as we were cancelled: nobody will read it
                os.close(err_r)
                future.result().close()
            raise
        proc.connect(out_r, err_r)
        return proc

    async def close(self) -> None:
        """Stop the zygote (its workers have exited, or will see their host is gone)."""
        control, self._control = self._control, None
        if control is not None:
            asyncio.get_running_loop().remove_reader(control.fileno())
            control.close()
        if self._transport is not None:
            proc = self._transport
            self._transport = None
            try:
                await asyncio.wait_for(_exited(proc), 5.0)
            except TimeoutError:
                proc.kill()
            proc.close()

    # --- the zygote ------------------------------------------------------------------------

    async def _ensure_started(self, env: dict[str, str], cwd: str) -> None:
        if self._control is not None and self._starting is None:
            return
        if self._starting is None:
            self._starting = asyncio.get_running_loop().create_future()
            task = asyncio.ensure_future(self._start(env, cwd))
            task.add_done_callback(self._started)
        await asyncio.shield(self._starting)

    def _started(self, task: asyncio.Task[None]) -> None:
        starting, self._starting = self._starting, None
        assert starting is not None
        if task.cancelled():
            starting.set_exception(OSError("the fork server's start was cancelled"))
        elif task.exception() is not None:
            starting.set_exception(task.exception())  # type: ignore[arg-type]
        else:
            starting.set_result(None)
        if starting.exception() is not None:
            starting.exception()  # retrieved: every waiter gets it raised anyway

    async def _start(self, env: dict[str, str], cwd: str) -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ready: asyncio.Future[None] = loop.create_future()
        self._ready = ready
        try:
            transport, _ = await loop.subprocess_exec(
                lambda: _ZygoteExit(self), sys.executable, "-m", ZYGOTE_MODULE,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=None,
                pass_fds=(theirs.fileno(),), env={**env, z.CONTROL_FD_ENV: str(theirs.fileno())},
                cwd=cwd, start_new_session=True)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._transport = transport
        self.pid = transport.get_pid()
        ours.setblocking(False)
        self._control = ours
        loop.add_reader(ours.fileno(), self._readable, ours)
        try:
            await asyncio.wait_for(asyncio.shield(ready), self.start_timeout)
        except TimeoutError:
            self._lost(f"did not start within {self.start_timeout:g} s")
            raise OSError(f"the fork server did not start within {self.start_timeout:g} s "
                          "(is the machine overloaded?)") from None
        except BaseException:
            self._lost("was stopped while starting")
            raise

    def _readable(self, control: socket.socket) -> None:
        while True:
            try:
                message, fds = z.receive(control, 1, 4096)  # replies are small
            except BlockingIOError:
                return
            except OSError as exc:
                self._lost(f"broke its socket ({exc})")
                return
            if message is None:
                self._lost("exited")
                return
            self._dispatch(message, fds)

    def _dispatch(self, message: dict[str, Any], fds: list[int]) -> None:
        kind = message.get("type")
        if kind == "exited":
            proc = self._procs.pop(message["pid"], None)
            if proc is not None:
                proc.exited(message["code"])
        elif kind == "spawned":
            future, reads, protocol = self._spawning.pop(message["id"])
            if "error" in message:
                for fd in reads:
                    os.close(fd)
                future.set_exception(OSError(f"the fork server could not fork: "
                                             f"{message['error']}"))
                return
            proc = self._procs[message["pid"]] = ForkedProcess(
                message["pid"], fds[0] if fds else None, protocol)
            if future.cancelled():
                proc.send_signal(signal.SIGKILL)
                for fd in reads:
                    os.close(fd)
            else:
                future.set_result(proc)
        elif kind == "ready":
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(None)

    def _lost(self, how: str) -> None:
        """The zygote is gone: its workers can no longer be waited for, so they are
        killed (reported as killed by SIGKILL) and replaced by their supervisors."""
        control, self._control = self._control, None
        if control is not None:
            asyncio.get_running_loop().remove_reader(control.fileno())
            control.close()
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(OSError(f"the fork server {how}"))
            self._ready.exception()  # its waiter may be gone (a cancelled start)
        for future, reads, _ in self._spawning.values():
            for fd in reads:
                os.close(fd)
            if not future.done():
                future.set_exception(OSError(f"the fork server {how}"))
        self._spawning.clear()
        procs, self._procs = self._procs, {}
        if procs:
            _log.warning("the fork server (pid %s) %s; killing its %d workers", self.pid, how,
                         len(procs))
        for proc in procs.values():
            proc.send_signal(signal.SIGKILL)
            proc.exited(-signal.SIGKILL)


class _ZygoteExit(asyncio.SubprocessProtocol):
    def __init__(self, server: ForkServer) -> None:
        self.server = server
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def process_exited(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def _exited(transport: asyncio.SubprocessTransport) -> None:
    protocol = transport.get_protocol()
    assert isinstance(protocol, _ZygoteExit)
    await protocol.done


class ForkedProcess:
    """A forked worker as an asyncio subprocess transport: the few methods WorkerProcess
    uses, and the protocol callbacks in asyncio's order (connection_made first;
    connection_lost once the process has exited and both pipes are closed)."""

    def __init__(self, pid: int, pidfd: int | None,
                 protocol: asyncio.SubprocessProtocol) -> None:
        self.pid = pid
        self._pidfd = pidfd
        self._protocol = protocol
        self._returncode: int | None = None
        self._connected = False  # connection_made was called: the protocol hears the rest
        self._connecting = True  # its pipes are not all attached yet
        self._pipes: dict[int, _Pipe] = {}
        self._open: set[int] = set()
        self._closed = False

    def connect(self, out: int, err: int) -> None:
        """Start reading stdout and stderr (the read ends are ours to close from now on)."""
        self._protocol.connection_made(self)  # type: ignore[arg-type]
        self._connected = True
        for fd, read_end in ((1, out), (2, err)):
            self._pipes[fd] = _Pipe(self, fd, read_end)
            self._open.add(fd)
        self._connecting = False
        if self._returncode is not None:
            asyncio.get_running_loop().call_soon(self._report_exit)

    # the subprocess-transport methods WorkerProcess calls
    def get_pid(self) -> int:
        return self.pid

    def get_returncode(self) -> int | None:
        return self._returncode

    def send_signal(self, sig: int) -> None:
        if self._returncode is not None:
            raise ProcessLookupError(self.pid)
        if self._pidfd is not None:
            signal.pidfd_send_signal(self._pidfd, sig)
        else:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for pipe in list(self._pipes.values()):
            pipe.close()
        if self._returncode is None:
            try:
                self.kill()
            except ProcessLookupError:
                pass
        self._close_pidfd()

    def is_closing(self) -> bool:
        return self._closed

    # --- events ----------------------------------------------------------------------------

    def exited(self, code: int) -> None:
        if self._returncode is not None:
            return
        self._returncode = code
        self._close_pidfd()
        if self._connected:
            self._report_exit()

    def _report_exit(self) -> None:
        self._protocol.process_exited()
        self._maybe_lost()

    def pipe_data(self, fd: int, data: bytes) -> None:
        self._protocol.pipe_data_received(fd, data)

    def pipe_lost(self, fd: int, exc: Exception | None) -> None:
        self._open.discard(fd)
        self._protocol.pipe_connection_lost(fd, exc)
        self._maybe_lost()

    def _maybe_lost(self) -> None:
        if (self._returncode is not None and not self._open and self._connected
                and not self._connecting):
            self._connected = False
            asyncio.get_running_loop().call_soon(self._protocol.connection_lost, None)

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None


class _Pipe:
    """One of a forked worker's stdout/stderr pipes, read with the loop's add_reader: the
    descriptor stays ours (no transport owns it), so it is closed exactly once, here."""

    def __init__(self, proc: ForkedProcess, fd: int, read_end: int) -> None:
        self.proc = proc
        self.fd = fd
        self.read_end: int | None = read_end
        self.loop = asyncio.get_running_loop()
        os.set_blocking(read_end, False)
        self.loop.add_reader(read_end, self._readable)

    def _readable(self) -> None:
        if self.read_end is None:
            return
        try:
            data = os.read(self.read_end, 65536)
        except BlockingIOError:
            return
        except OSError as exc:
            self.close(exc)
            return
        if data:
            self.proc.pipe_data(self.fd, data)
        else:
            self.close(None)

    def close(self, exc: Exception | None = None) -> None:
        if self.read_end is None:
            return
        self.loop.remove_reader(self.read_end)
        os.close(self.read_end)
        self.read_end = None
        self.proc.pipe_lost(self.fd, exc)
