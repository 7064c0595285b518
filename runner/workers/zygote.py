"""The fork server: `python -m motia.runner.workers.zygote`, one per worker pool.

Every Python step worker used to be a fresh interpreter (~21 MiB resident, ~12 MiB of it
private): 50 steps held ~600 MiB before any work. This process imports the worker
runtime once (interpreter, asyncio, json, the protocol, the context), freezes those
objects out of the garbage collector's reach (`gc.freeze`, so a collection in a child
does not write to, and so copy, every shared page), and forks each worker from itself.
A child shares those pages copy-on-write and imports only its own step's handler, so
isolation is what it was: one process per worker, its own memory, its own crash.

It speaks to the host over a SOCK_SEQPACKET socket (fd in $MOTIA_ZYGOTE_FD), one JSON
object per message (`_forkserver.py` is the host's side):

    host -> zygote  {"type": "spawn", "id", "config", "env", "cwd"} + 3 fds (SCM_RIGHTS):
                    the worker's socket, its stdout and its stderr
    zygote -> host  {"type": "ready", "pid"}   once, after the imports
                    {"type": "spawned", "id", "pid"} + the child's pidfd (when the kernel
                    has pidfd_open), or {"type": "spawned", "id", "error"}
                    {"type": "exited", "pid", "code"}  code as asyncio reports it:
                    the exit status, or -N for a signal

The host cannot wait for a grandchild, so the zygote reaps its children and reports each
exit; the pidfd lets the host signal a worker without the risk of a reused pid. When the
host closes the socket (or dies), the zygote exits; its workers notice the host is gone
on their own socket, as spawned workers do.
"""

from __future__ import annotations

import array
import gc
import importlib
import json
import os
import selectors
import signal
import socket
import sys
import traceback
from typing import Any, NoReturn

from setproctitle import getproctitle, setproctitle

from motia.runner._loop import loop_name
from motia.runner.workers import _protocol as p
from motia.runner.workers import python_worker

#: the environment variable naming the zygote's end of its control socket
CONTROL_FD_ENV = "MOTIA_ZYGOTE_FD"
#: the largest control message (a spawn carries the worker's environment)
MAX_MESSAGE = 1024 * 1024
#: file descriptors that come with a spawn request
SPAWN_FDS = 3


def send(control: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    """One message, with file descriptors attached when given."""
    data = json.dumps(message, separators=(",", ":")).encode()
    ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    control.sendmsg([data], ancillary)


def receive(control: socket.socket, max_fds: int,
            size: int = MAX_MESSAGE) -> tuple[dict[str, Any] | None, list[int]]:
    """One message and the descriptors that came with it; (None, []) at end of stream."""
    data, ancillary, _, _ = control.recvmsg(
        size, socket.CMSG_SPACE(max_fds * array.array("i").itemsize),
        getattr(socket, "MSG_CMSG_CLOEXEC", 0))
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            received = array.array("i")
            received.frombytes(payload[:len(payload) - len(payload) % received.itemsize])
            fds.extend(received)
    if not data:
        for fd in fds:
            os.close(fd)
        return None, []
    return json.loads(data), fds


class Zygote:
    """The fork loop: spawn requests in, children out, their exits reported."""

    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)
        self.selector = selectors.DefaultSelector()

    def serve(self) -> int:
        signal.set_wakeup_fd(self.wake_w.fileno())
        signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake the selector
        self.selector.register(self.control, selectors.EVENT_READ)
        self.selector.register(self.wake_r, selectors.EVENT_READ)
        gc.collect()
        gc.freeze()  # what is imported now stays shared: the collector never touches it
        send(self.control, {"type": "ready", "pid": os.getpid()})
        while True:
            for key, _ in self.selector.select():
                if key.fileobj is self.wake_r:
                    self._drain_wakeups()
                    self._reap()
                elif not self._request():
                    return 0

    def _request(self) -> bool:
        message, fds = receive(self.control, SPAWN_FDS)
        if message is None:
            return False  # the host closed the pool, or died
        try:
            if message.get("type") != "spawn" or len(fds) != SPAWN_FDS:
                raise ValueError(f"expected a spawn request with {SPAWN_FDS} fds, got "
                                 f"{message.get('type')!r} with {len(fds)}")
            self._spawn(message, fds)
        except Exception as exc:  # noqa: BLE001 - a bad request must not stop the server
            send(self.control, {"type": "spawned", "id": message.get("id"),
                                "error": f"{type(exc).__name__}: {exc}"})
        finally:
            for fd in fds:
                os.close(fd)
        return True

    def _spawn(self, message: dict[str, Any], fds: list[int]) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            self._child(message, fds)
        try:
            pidfd = [os.pidfd_open(pid)]
        except (AttributeError, OSError):  # an old kernel: the host signals by pid
            pidfd = []
        try:
            send(self.control, {"type": "spawned", "id": message["id"], "pid": pid}, pidfd)
        finally:
            for fd in pidfd:
                os.close(fd)

    def _child(self, message: dict[str, Any], fds: list[int]) -> NoReturn:
        code = 1
        try:
            sock, out, err = fds
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            self.selector.close()
            for owned in (self.control, self.wake_r, self.wake_w):
                owned.close()
            _become_worker(message, sock, out, err)
            code = python_worker.run([message["config"]])
        except BaseException:  # noqa: BLE001 - never return into the fork loop
            traceback.print_exc()
        finally:
            os._exit(code)

    def _drain_wakeups(self) -> None:
        try:
            while self.wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            send(self.control, {"type": "exited", "pid": pid,
                                "code": os.waitstatus_to_exitcode(status)})


def _become_worker(message: dict[str, Any], sock: int, out: int, err: int) -> None:
    """What `subprocess` does for a spawned worker: new session, stdio, cwd, environment."""
    os.setsid()  # Ctrl-C on the terminal is the host's, not the workers'
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.close(devnull)
    os.chdir(message["cwd"])
    os.environ.clear()
    os.environ.update(message["env"])
    os.environ[p.WORKER_FD_ENV] = str(sock)
    os.set_inheritable(sock, True)  # main() makes it private again, as for a spawned worker
    sys.argv = [python_worker.__file__, message["config"]]
    # `ps` shows what it shows for a spawned worker: the step is in the config JSON
    setproctitle(f"{sys.executable} -m {python_worker.__name__} {message['config']}")
    importlib.invalidate_caches()  # files written since the zygote started must be found


def main() -> int:
    if loop_name() == "uvloop":
        import uvloop  # noqa: F401 - imported once here, shared by every worker

    setproctitle(getproctitle())  # sets up the title's memory while environ is untouched
    control = socket.socket(fileno=int(os.environ.pop(CONTROL_FD_ENV)))
    os.set_inheritable(control.fileno(), False)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return Zygote(control).serve()


if __name__ == "__main__":
    sys.exit(main())
