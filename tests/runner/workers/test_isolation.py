"""A crashing, leaking or hanging step never disturbs another step, and comes back itself."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from motia.errors import HandlerTimeout, InvocationError, WorkerCrashed, WorkerOutOfMemory

from .conftest import MakePool, Recorder, app, ctx, step, write

MB = 1024 * 1024
HANDLERS = {
    "steps/good.py": "async def handler(data, ctx):\n    return data\n",
    "steps/bad.py": """
        import asyncio, os, time
        LEAK = []
        async def handler(data, ctx):
            if data == "crash":
                os._exit(1)
            if data == "leak":
                LEAK.append(b"x" * (100 * 1024 * 1024))
                await asyncio.sleep(10)
            if data == "sleep":
                await asyncio.sleep(10)
            return os.getpid()
        """,
    "steps/blocking.py": """
        import os, time
        def handler(data, ctx):
            if data == "block":
                time.sleep(30)
            return os.getpid()
        """,
    "steps/bad.js": """
        const LEAK = [];
        exports.handler = async (data) => {
          if (data === 'crash') process.exit(1);
          if (data === 'leak') { LEAK.push(Buffer.alloc(200 * 1024 * 1024, 1)); await new Promise((r) => setTimeout(r, 10000)); }
          if (data === 'block') { const end = Date.now() + 30000; while (Date.now() < end) {} }
          return process.pid;
        };
        """,
}
# (handler, payload, step options, the error each bad call gets, the worker's exit reason)
BAD = {
    "python crash": ("steps/bad.py", "crash", {}, WorkerCrashed,
                     r"bad: worker pid \d+ exited with code 1 while running this invocation",
                     "exited with code 1"),
    "python leak": ("steps/bad.py", "leak", {"memory": 64 * MB}, WorkerOutOfMemory,
                    (r"bad: worker pid \d+ was replaced: its memory use \(RSS \d+MB\) went over the "
                    r"step's limit \(memory: 64MB\) while running this invocation"),
                    "was replaced: its memory use"),
    "python async timeout": ("steps/bad.py", "sleep", {"timeout": 0.3}, HandlerTimeout,
                             r"bad: the handler ran past the step's timeout of 0.3 s", None),
    "python blocking timeout": ("steps/blocking.py", "block", {"timeout": 0.3}, HandlerTimeout,
                                r"bad: the handler ran past the step's timeout of 0.3 s",
                                "was killed: an invocation was still running 0.5 s after it was cancelled"),
    "node crash": ("steps/bad.js", "crash", {}, WorkerCrashed,
                   r"bad: worker pid \d+ exited with code 1 while running this invocation",
                   "exited with code 1"),
    "node leak": ("steps/bad.js", "leak", {"memory": 128 * MB}, WorkerOutOfMemory,
                  (r"bad: worker pid \d+ was replaced: its memory use \(RSS \d+MB\) went over the "
                  r"step's limit \(memory: 128MB\) while running this invocation"),
                  "was replaced: its memory use"),
    "node busy loop": ("steps/bad.js", "block", {"timeout": 0.3}, HandlerTimeout,
                       r"bad: the handler ran past the step's timeout of 0.3 s",
                       "was killed: an invocation was still running 0.5 s after it was cancelled"),
}
BAD_CALLS = 3
GOOD_CALLS = 1000


@pytest.mark.parametrize("case", list(BAD))
async def test_a_failing_step_does_not_disturb_another(
    tmp_path: Path, make_pool: MakePool, recorder: Recorder, case: str,
    request: pytest.FixtureRequest,
) -> None:
    handler, payload, options, error, message, exit_reason = BAD[case]
    if handler.endswith(".js"):
        request.getfixturevalue("node")
    # Given a healthy step and a bad one, both running
    write(tmp_path, HANDLERS)
    pool = make_pool(app(tmp_path, step("good", "steps/good.py", concurrency=64),
                         step("bad", handler, **options)))
    pool.cancel_grace = 0.5  # how long a stuck worker gets after its timeout; 1 s by default
    bad_pid = (await pool.invoke("bad", "fine", ctx())).value
    await pool.invoke("good", 0, ctx())
    good_pids = pool.stats()["good"]["pids"]

    # When the bad step fails on every call while the good one serves 1,000 invocations
    failures: list[BaseException] = []
    good_errors: list[BaseException] = []
    served = 0
    bad_done = asyncio.Event()

    async def bad_calls() -> None:
        for i in range(BAD_CALLS):
            try:
                await pool.invoke("bad", payload, ctx(f"bad-{i}"))
            except InvocationError as exc:
                failures.append(exc)
        bad_done.set()

    async def good_calls() -> None:
        nonlocal served
        while served < GOOD_CALLS or not bad_done.is_set():
            batch = await asyncio.gather(*(pool.invoke("good", n, ctx(n)) for n in range(20)),
                                         return_exceptions=True)
            good_errors.extend(r for r in batch if isinstance(r, BaseException))
            served += sum(1 for r in batch if not isinstance(r, BaseException))
            if served >= GOOD_CALLS:
                await asyncio.sleep(0.01)  # keep serving while the bad step fails, at a gentler pace

    await asyncio.gather(bad_calls(), good_calls())

    # Then the good step never noticed: no error, same worker
    assert good_errors == []
    assert served >= GOOD_CALLS
    assert pool.stats()["good"]["pids"] == good_pids
    # And the bad step's caller got the typed error every time
    assert len(failures) == BAD_CALLS
    for failure in failures:
        assert type(failure) is error, repr(failure)
        assert re.fullmatch(message, str(failure)), str(failure)
    # And its worker comes back (a new one, unless a cancelled task left it healthy)
    back = (await pool.invoke("bad", "fine", ctx())).value
    if exit_reason is None:
        assert back == bad_pid
    else:
        assert back != bad_pid
        reasons = [r for s, _, r in recorder.named("after_worker_exited") if s == "bad"]
        assert len(reasons) == BAD_CALLS and all(exit_reason in r for r in reasons), reasons


async def test_a_crash_loop_backs_off(tmp_path: Path, make_pool: MakePool, recorder: Recorder) -> None:
    # Given a step whose worker dies on every call
    write(tmp_path, HANDLERS)
    pool = make_pool(app(tmp_path, step("bad", "steps/bad.py")))

    # When it crashes five times in a row
    for i in range(5):
        with pytest.raises(WorkerCrashed):
            await pool.invoke("bad", "crash", ctx(i))

    # Then the first restart was immediate, and each later one waited twice as long
    restarts = [m for m in recorder.messages("bad") if "starting a new one" in m]
    assert [m.partition("starting a new one")[2] for m in restarts] == [
        "", " in 0.1 s", " in 0.2 s", " in 0.4 s", " in 0.8 s"]
    assert pool.stats()["bad"]["restarts"] == 5
    assert pool.stats()["bad"]["last_exit"] == "exited with code 1"


async def test_a_crash_fails_every_invocation_in_flight_on_that_worker(
    tmp_path: Path, make_pool: MakePool
) -> None:
    # Given five slow invocations in flight on one worker
    write(tmp_path, HANDLERS)
    pool = make_pool(app(tmp_path, step("bad", "steps/bad.py")))
    await pool.invoke("bad", "fine", ctx())
    slow = [asyncio.ensure_future(pool.invoke("bad", "sleep", ctx(i))) for i in range(5)]
    await asyncio.sleep(0.1)

    # When another invocation crashes the process
    with pytest.raises(WorkerCrashed):
        await pool.invoke("bad", "crash", ctx())

    # Then all five fail with WorkerCrashed too
    results = await asyncio.gather(*slow, return_exceptions=True)
    assert [type(r) for r in results] == [WorkerCrashed] * 5
