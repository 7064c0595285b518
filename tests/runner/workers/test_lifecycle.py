"""Start, reload, stats and close: the pool's processes come and go when they should."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from motia.errors import HandlerTimeout, WorkerCrashed

from .conftest import MakePool, Recorder, app, ctx, step, write

HANDLERS = {
    "steps/py.py": """
        import asyncio, os
        async def handler(data, ctx):
            await asyncio.sleep(data or 0)
            return {"pid": os.getpid(), "version": 1}
        """,
    "steps/js.js": """
        exports.handler = async (data) => {
          await new Promise((r) => setTimeout(r, (data || 0) * 1000));
          return {pid: process.pid};
        };
        """,
}


def children() -> set[int]:
    """Live (non-zombie) descendants of this test process: workers forked by the fork
    server are its children, not ours."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parents[int(entry)] = int(fields[1])
    found, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


async def test_close_leaves_no_child_processes(
    tmp_path: Path, make_pool: MakePool, recorder: Recorder, node: str
) -> None:
    # Given a pool running two Python workers and a Node.js worker, eagerly started
    write(tmp_path, HANDLERS)
    before = children()
    pool = make_pool(app(tmp_path, step("py", "steps/py.py", workers=2), step("js", "steps/js.js")),
                     eager=True, node=node)
    await pool.start()
    pids = set(pool.stats()["py"]["pids"]) | set(pool.stats()["js"]["pids"])
    assert len(pids) == 3 and pids <= children()
    assert sorted(s for s, _ in recorder.named("after_worker_started")) == ["js", "py", "py"]

    # When it closes
    await pool.close(grace=2.0)

    # Then every worker is gone and reaped
    assert children() - before == set()
    assert [r for _, _, r in recorder.named("after_worker_exited")] == ["was stopped"] * 3


async def test_close_lets_in_flight_invocations_finish(tmp_path: Path, make_pool: MakePool, node: str) -> None:
    # Given slow invocations in flight in both languages
    write(tmp_path, HANDLERS)
    pool = make_pool(app(tmp_path, step("py", "steps/py.py"), step("js", "steps/js.js")), node=node)
    await asyncio.gather(pool.invoke("py", 0, ctx()), pool.invoke("js", 0, ctx()))
    running = [asyncio.ensure_future(pool.invoke(s, 0.3, ctx(i))) for i, s in enumerate(["py", "js"] * 3)]
    await asyncio.sleep(0.1)

    # When the pool closes with a grace period longer than they need
    await pool.close(grace=5.0)

    # Then they all completed, and new calls are refused
    assert all(isinstance(r.value["pid"], int) for r in await asyncio.gather(*running))
    with pytest.raises(WorkerCrashed, match="py: the worker pool is closed"):
        await pool.invoke("py", 0, ctx())


async def test_close_kills_workers_that_outlive_the_grace_period(
    tmp_path: Path, make_pool: MakePool, recorder: Recorder
) -> None:
    write(tmp_path, HANDLERS)
    pool = make_pool(app(tmp_path, step("py", "steps/py.py")))
    await pool.invoke("py", 0, ctx())
    running = asyncio.ensure_future(pool.invoke("py", 30, ctx()))
    await asyncio.sleep(0.1)

    await pool.close(grace=0.3)

    with pytest.raises(WorkerCrashed, match=r"py: worker pid \d+ was killed: it did not stop within "
                                            r"the 0.3 s grace period while running this invocation"):
        await running


async def test_reload_replaces_changed_steps_after_their_in_flight_work(
    tmp_path: Path, make_pool: MakePool, recorder: Recorder
) -> None:
    # Given two steps serving, one with a slow invocation in flight
    write(tmp_path, HANDLERS)
    write(tmp_path, {"steps/other.py": "import os\nasync def handler(d, c):\n    return os.getpid()\n"})
    plan = app(tmp_path, step("py", "steps/py.py"), step("other", "steps/other.py"))
    pool = make_pool(plan)
    old = (await pool.invoke("py", 0, ctx())).value["pid"]
    other = (await pool.invoke("other", 0, ctx())).value
    slow = asyncio.ensure_future(pool.invoke("py", 0.5, ctx()))
    await asyncio.sleep(0.1)

    # When the handler changes and the pool reloads that step
    write(tmp_path, {"steps/py.py": """
        import os
        async def handler(data, ctx):
            return {"pid": os.getpid(), "version": 2}
        """})
    await pool.reload(plan, changed=["py"])

    # Then new invocations run the new code in a new worker, the slow one finished on the old
    # worker, which then exited; the unchanged step kept its worker
    assert (await pool.invoke("py", 0, ctx())).value["version"] == 2
    assert (await slow).value == {"pid": old, "version": 1}
    assert (await pool.invoke("other", 0, ctx())).value == other
    for _ in range(50):
        if any(pid == old for _, pid, _ in recorder.named("after_worker_exited")):
            break
        await asyncio.sleep(0.05)
    assert [(s, r) for s, pid, r in recorder.named("after_worker_exited") if pid == old] == [
        ("py", "was retired")]


async def test_reload_drops_removed_steps_and_applies_new_settings(
    tmp_path: Path, make_pool: MakePool
) -> None:
    write(tmp_path, HANDLERS)
    pool = make_pool(app(tmp_path, step("py", "steps/py.py"), step("gone", "steps/py.py")))
    await asyncio.gather(pool.invoke("py", 0, ctx()), pool.invoke("gone", 0, ctx()))

    # When the new plan drops a step and shortens the other's timeout without code changes
    await pool.reload(app(tmp_path, step("py", "steps/py.py", timeout=0.2)), changed=[])

    # Then the dropped step is refused and the kept one uses the new timeout
    assert set(pool.stats()) == {"py"}
    with pytest.raises(KeyError, match="no step named 'gone'"):
        await pool.invoke("gone", 0, ctx())
    with pytest.raises(HandlerTimeout, match="timeout of 0.2 s"):
        await pool.invoke("py", 1, ctx())


async def test_stats_report_each_step(tmp_path: Path, make_pool: MakePool) -> None:
    write(tmp_path, HANDLERS)
    pool = make_pool(app(tmp_path, step("py", "steps/py.py", concurrency=1)))
    await pool.invoke("py", 0, ctx())
    calls = [asyncio.ensure_future(pool.invoke("py", 0.3, ctx(i))) for i in range(3)]
    await asyncio.sleep(0.1)

    stats = pool.stats()["py"]
    assert stats["language"] == "python" and len(stats["pids"]) == 1
    assert (stats["in_flight"], stats["queued"], stats["restarts"]) == (1, 2, 0)
    assert stats["rss"][stats["pids"][0]] > 1024 * 1024
    await asyncio.gather(*calls)


async def test_a_cancelled_caller_cancels_the_invocation_in_the_worker(
    tmp_path: Path, make_pool: MakePool
) -> None:
    # Given a slow handler
    write(tmp_path, HANDLERS)
    pool = make_pool(app(tmp_path, step("py", "steps/py.py")))
    pid = (await pool.invoke("py", 0, ctx())).value["pid"]

    # When the caller gives up waiting
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(pool.invoke("py", 10, ctx()), 0.3)

    # Then the handler was cancelled in its worker, which keeps serving with its slot back
    assert (await pool.invoke("py", 0, ctx())).value["pid"] == pid
    assert pool.stats()["py"]["in_flight"] == 0


@pytest.mark.skipif(not hasattr(os, "sched_getscheduler"), reason="Linux scheduling classes")
async def test_workers_do_not_preempt_the_host_when_woken(
    tmp_path: Path, make_pool: MakePool, node: str
) -> None:
    # Given a Python and a Node.js worker, started
    write(tmp_path, HANDLERS)
    pool = make_pool(app(tmp_path, step("py", "steps/py.py"), step("js", "steps/js.js")),
                     node=node, eager=True)
    await pool.start()
    pids = [(await pool.invoke(name, 0, ctx())).value["pid"] for name in ("py", "js")]
    # Then both run in SCHED_BATCH (no wakeup preemption) at the host's nice level, while
    # the host stays an ordinary process
    assert [os.sched_getscheduler(pid) for pid in pids] == [os.SCHED_BATCH] * 2
    assert [os.getpriority(os.PRIO_PROCESS, pid) for pid in pids] == [os.nice(0)] * 2
    assert os.sched_getscheduler(0) == os.SCHED_OTHER
