"""Python workers forked from the fork server (zygote.py) behave as spawned ones did: own
process and session, the project's cwd and the host's current environment, exit codes and
signals as before, replaced when they crash — and the old spawn path is one variable away."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from motia.errors import HandlerError, UsageError, WorkerCrashed
from motia.runner.workers._forkserver import MODE_ENV, python_start_mode

from .conftest import MakePool, Recorder, app, ctx, step, write

HANDLERS = {
    "steps/who.py": """
        import os, sys
        async def handler(data, ctx):
            return {"pid": os.getpid(), "ppid": os.getppid(), "sid": os.getsid(0),
                    "cwd": os.getcwd(), "env": os.environ.get("MOTIA_TEST_FORK"),
                    "argv": sys.argv[1:] != [], "fd": os.environ["MOTIA_WORKER_FD"]}
        """,
    "steps/exit.py": """
        import os
        def handler(code, ctx):
            os._exit(code)
        """,
}


async def until(condition: object, deadline: float = 10.0) -> None:
    end = time.monotonic() + deadline
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < end, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_forked_worker_is_its_own_process_with_the_projects_cwd_and_env(
    tmp_path: Path, make_pool: MakePool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the default start mode, and a variable set after the host started
    write(tmp_path, HANDLERS)
    monkeypatch.delenv(MODE_ENV, raising=False)
    monkeypatch.setenv("MOTIA_TEST_FORK", "yes")
    pool = make_pool(app(tmp_path, step("who", "steps/who.py", workers=2)), eager=True)
    await pool.start()

    # When each worker says who it is
    seen = [r.value for r in await asyncio.gather(*(pool.invoke("who", None, ctx(i))
                                                   for i in range(4)))]

    # Then both are children of the fork server, each in its own session, in the project
    assert pool.forkserver is not None and pool.forkserver.pid is not None
    assert {s["ppid"] for s in seen} == {pool.forkserver.pid}
    assert len({s["pid"] for s in seen}) == 2
    assert all(s["sid"] == s["pid"] for s in seen)
    assert {(s["cwd"], s["env"], s["argv"]) for s in seen} == {(str(tmp_path), "yes", True)}
    assert os.getsid(0) not in {s["sid"] for s in seen}
    # And `ps` names each as a spawned worker would be named: the step is in its config
    for pid in {s["pid"] for s in seen}:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            title = cmdline.read().replace(b"\0", b" ").decode().strip()
        assert title.startswith(f"{sys.executable} -m motia.runner.workers.python_worker {{")
        assert '"step":"who"' in title


async def test_spawn_mode_starts_a_fresh_interpreter_per_worker(
    tmp_path: Path, make_pool: MakePool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given MOTIA_PYTHON_WORKERS=spawn
    write(tmp_path, HANDLERS)
    monkeypatch.setenv(MODE_ENV, "spawn")
    pool = make_pool(app(tmp_path, step("who", "steps/who.py")))

    # When the worker says who it is
    seen = (await pool.invoke("who", None, ctx())).value

    # Then it is a child of this process and there is no fork server
    assert pool.forkserver is None
    assert seen["ppid"] == os.getpid()


def test_an_unknown_start_mode_names_the_variable_and_the_choices(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MODE_ENV, "vfork")
    with pytest.raises(UsageError, match=r"^MOTIA_PYTHON_WORKERS='vfork' is not a way to start "
                                         r"workers: use fork or spawn$"):
        python_start_mode()


async def test_exit_codes_and_signals_reach_the_caller_as_before(
    tmp_path: Path, make_pool: MakePool, recorder: Recorder
) -> None:
    # Given a forked worker that exits with a code, and one that is killed
    write(tmp_path, HANDLERS)
    pool = make_pool(app(tmp_path, step("exit", "steps/exit.py"), step("who", "steps/who.py")))
    pid = (await pool.invoke("who", None, ctx())).value["pid"]

    # When one exits with 3 and the other is sent SIGKILL while idle
    with pytest.raises(WorkerCrashed, match=r"exited with code 3 while running this invocation"):
        await pool.invoke("exit", 3, ctx(2))
    os.kill(pid, signal.SIGKILL)
    await until(lambda: any(r == "was killed by SIGKILL"
                            for _, _, r in recorder.named("after_worker_exited")))

    # Then both are replaced and serve again
    assert (await pool.invoke("who", None, ctx(3))).value["pid"] != pid
    with pytest.raises(WorkerCrashed, match=r"worker pid \d+ exited while running"):
        await pool.invoke("exit", 0, ctx(4))


async def test_a_dead_fork_server_is_restarted_and_its_workers_replaced(
    tmp_path: Path, make_pool: MakePool, recorder: Recorder
) -> None:
    # Given a worker forked from a fork server
    write(tmp_path, HANDLERS)
    pool = make_pool(app(tmp_path, step("who", "steps/who.py")))
    first = (await pool.invoke("who", None, ctx())).value
    assert pool.forkserver is not None
    zygote = pool.forkserver.pid

    # When the fork server is killed
    assert zygote is not None
    os.kill(zygote, signal.SIGKILL)
    await until(lambda: recorder.named("after_worker_exited"))

    # Then its worker was killed with it, and the next one comes from a new fork server
    assert [r for _, _, r in recorder.named("after_worker_exited")] == ["was killed by SIGKILL"]
    again = (await pool.invoke("who", None, ctx(2))).value
    assert again["ppid"] == pool.forkserver.pid != zygote
    assert again["pid"] != first["pid"]


async def test_a_handler_written_after_the_fork_server_started_is_found(
    tmp_path: Path, make_pool: MakePool
) -> None:
    # Given a running fork server
    write(tmp_path, HANDLERS)
    pool = make_pool(app(tmp_path, step("who", "steps/who.py"), step("new", "steps/new.py")))
    await pool.invoke("who", None, ctx())

    # When a new handler file appears and its step is invoked
    write(tmp_path, {"steps/new.py": "async def handler(data, ctx):\n    raise ValueError('new')\n"})

    # Then the forked worker imports it
    with pytest.raises(HandlerError, match=r"^new: new$"):
        await pool.invoke("new", None, ctx(2))


HOST = """
import asyncio, sys
sys.path.insert(0, sys.argv[2])
from conftest import app, ctx, step
from motia.runner.hooks import Hooks
from motia.runner.logs import Logger
from motia.runner.state.memory import MemoryStore
from motia.runner.workers.pool import WorkerPool

async def main():
    pool = WorkerPool(app(__import__("pathlib").Path(sys.argv[1]), step("who", "steps/who.py")),
                      MemoryStore(), Logger(Hooks(), fmt="none"))
    who = (await pool.invoke("who", None, ctx())).value
    print(pool.forkserver.pid, who["pid"], flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


async def test_a_killed_host_leaves_neither_fork_server_nor_workers_behind(tmp_path: Path) -> None:
    # Given a host process with a fork server and a forked worker
    write(tmp_path, HANDLERS)
    host = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOST, str(tmp_path), str(Path(__file__).parent),
        stdout=asyncio.subprocess.PIPE)
    assert host.stdout is not None
    zygote, worker = map(int, (await asyncio.wait_for(host.stdout.readline(), 30)).split())

    # When the host is killed without a chance to clean up
    host.kill()
    await host.wait()

    # Then both notice their socket closed and exit
    await until(lambda: _gone(zygote) and _gone(worker))
