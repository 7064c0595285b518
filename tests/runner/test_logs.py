"""Log lines: their format, and when they reach the stream."""

from __future__ import annotations

import asyncio
import json
import threading

from motia.runner.logs import Logger, LogRecord


class Stream:
    """Keeps every write() call, to see how lines were grouped."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> None:
        self.writes.append(text)

    def flush(self) -> None:
        pass

    @property
    def lines(self) -> list[str]:
        return "".join(self.writes).splitlines()


def test_outside_an_event_loop_each_line_is_written_at_once() -> None:
    stream = Stream()
    logger = Logger(fmt="json", stream=stream)
    logger.info("first", {"n": 1}, step="s", trace_id="t1", event_id="e1")
    assert len(stream.writes) == 1
    line = json.loads(stream.writes[0])
    assert {k: line[k] for k in ("level", "msg", "data", "step", "trace_id", "event_id")} == {
        "level": "info", "msg": "first", "data": {"n": 1}, "step": "s", "trace_id": "t1",
        "event_id": "e1"}


async def test_on_the_loop_the_lines_of_one_iteration_go_out_in_one_write() -> None:
    # Given a logger on the running loop and a hook that sees every record
    stream, seen = Stream(), []
    logger = Logger(fmt="pretty", stream=stream)
    logger.hooks.on_log = seen.append  # type: ignore[method-assign]

    # When three lines are logged in one iteration
    for n in range(3):
        logger.info(f"line {n}", step="s")

    # Then the hooks have them at once, the stream at the end of the iteration, in one write
    assert [r.msg for r in seen] == ["line 0", "line 1", "line 2"] and stream.writes == []
    await asyncio.sleep(0)
    assert len(stream.writes) == 1
    assert [line.split("[s] ")[1] for line in stream.lines] == ["line 0", "line 1", "line 2"]


async def test_an_error_line_goes_out_at_once_after_the_lines_before_it() -> None:
    stream = Stream()
    logger = Logger(fmt="pretty", stream=stream)
    logger.info("before")
    logger.error("it broke")
    assert [line.split("[motia] ")[1] for line in stream.lines] == ["before", "it broke"]


async def test_a_line_from_another_thread_is_written_by_that_thread_at_once() -> None:
    stream = Stream()
    logger = Logger(fmt="pretty", stream=stream)
    thread = threading.Thread(target=logger.info, args=("from a thread",))
    thread.start()
    thread.join()
    assert stream.lines[0].endswith("[motia] from a thread")


async def test_flush_writes_what_is_waiting() -> None:
    stream = Stream()
    logger = Logger(fmt="pretty", stream=stream)
    logger.emit(LogRecord("warn", "last words", step="s"))
    logger.flush()
    assert stream.lines[0].split(" ", 1)[1] == "WARN  [s] last words"
