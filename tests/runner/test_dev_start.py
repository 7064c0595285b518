"""`motia dev` with a broken motia.yaml at start: the errors are printed and the server
waits for the fix, then starts (a real subprocess, as a user runs it)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from _runtime_projects import write_project

GOOD = """
    version: 1
    app: devstart
    flows:
      f: {}
    steps:
      hello:
        type: api
        method: GET
        path: /hello
        flows: [f]
        handler: steps/hello.py
"""
FILES = {"steps/hello.py": """
    async def handler(req, ctx):
        return {"status": 200, "body": {"greeting": "hello"}}
"""}


class Lines:
    """A stream's lines, read on a thread so the test can wait for one with a deadline."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self.stream = stream
        self.thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        """After the process exited: the pump reached the end; close the pipe."""
        self.thread.join(timeout=10)
        self.stream.close()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))

    def until(self, wanted: str, timeout: float = 30.0) -> list[str]:
        """Every line up to (and including) the first that starts with `wanted`."""
        deadline = time.monotonic() + timeout
        start = len(self.seen)
        while True:
            try:
                line = self._queue.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise AssertionError(f"no line {wanted!r}; got {self.seen}") from None
            self.seen.append(line)
            if line.startswith(wanted):
                return self.seen[start:]


@pytest.fixture
def broken_dev(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path, Lines, Lines]]:
    source = write_project(tmp_path, GOOD.replace("path: /hello", "path: hello"), FILES)
    env = {**os.environ, "MOTIA_LOG_FORMAT": "pretty"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "motia", "dev", str(tmp_path), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    out, err = Lines(proc.stdout), Lines(proc.stderr)
    try:
        yield proc, source, out, err
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        out.close()
        err.close()


def test_a_broken_motia_yaml_at_start_is_printed_and_waited_for(
        broken_dev: tuple[subprocess.Popen[str], Path, Lines, Lines]) -> None:
    proc, source, out, err = broken_dev
    # Given motia dev started on a motia.yaml with an error
    assert err.until(f"{source}:") == [
        "motia.yaml has errors; waiting for a fix (Ctrl+C to stop)",
        f"{source}:9:11: path 'hello' must start with '/'",
    ]
    assert err.until("  hint:") == ["  hint: write `/hello`"]
    assert proc.poll() is None  # still running, not exited
    # When the file is fixed
    source.write_text(source.read_text().replace("path: hello", "path: /hello"))
    # Then it compiles again and starts serving
    assert err.until("motia.yaml: a file changed") == [
        "motia.yaml: a file changed; compiling again"]
    banner = out.until("Listening on ")
    url = banner[-1].removeprefix("Listening on ")
    assert banner[0] == ("motia: app 'devstart' (1 steps) - events: memory, state: sqlite, "
                         "role: all, dev mode")
    with urllib.request.urlopen(f"{url}/hello", timeout=10) as res:
        assert res.read() == b'{"greeting":"hello"}'
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0


def test_ctrl_c_while_waiting_for_a_fix_exits_130(
        broken_dev: tuple[subprocess.Popen[str], Path, Lines, Lines]) -> None:
    proc, source, _, err = broken_dev
    err.until("motia.yaml has errors; waiting for a fix")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
