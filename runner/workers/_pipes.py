"""A worker process's stdout and stderr (line by line), its exit, and how we describe it."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import TYPE_CHECKING

from motia.runner.workers import _protocol as p

if TYPE_CHECKING:
    from motia.runner.workers._process import WorkerProcess

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
#: a line longer than this without a newline is logged in pieces
MAX_LINE = 65536


class Pipes(asyncio.SubprocessProtocol):
    """The worker's stdout and stderr, line by line, plus its exit."""

    def __init__(self, worker: WorkerProcess) -> None:
        self.worker = worker
        self.partial: dict[int, bytes] = {1: b"", 2: b""}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.worker.attach(transport)  # type: ignore[arg-type]

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        lines = (self.partial[fd] + data).split(b"\n")
        self.partial[fd] = lines.pop()
        if len(self.partial[fd]) > MAX_LINE:  # a runaway line without a newline
            lines.append(self.partial[fd])
            self.partial[fd] = b""
        for line in lines:
            self.worker.output_line(fd, line.decode(errors="replace").rstrip("\r"))

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if self.partial.get(fd):
            self.worker.output_line(fd, self.partial[fd].decode(errors="replace"))
            self.partial[fd] = b""

    def process_exited(self) -> None:
        self.worker.process_exited()

    def connection_lost(self, exc: Exception | None) -> None:
        self.worker.pipes_closed()


def rss_of(pid: int) -> int:
    """Resident memory of a process in bytes (Linux /proc); 0 when it cannot be read."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def describe(returncode: int) -> str:
    """How a worker ended, from its exit status, for messages and `last_exit`."""
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    if returncode == p.EXIT_PROTOCOL:
        return "exited: it could not read the protocol (see its stderr)"
    return "exited" if returncode == 0 else f"exited with code {returncode}"
