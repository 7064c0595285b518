"""The SQLite store shared by several processes on one file (e.g. `motia run` and `motia state`)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from motia.runner.state.sqlite import SQLiteStore

CHILD = """
import asyncio, sys
from motia.runner.state.sqlite import SQLiteStore

async def main() -> None:
    async with SQLiteStore("app", sys.argv[1]) as store:
        won = await store.acquire_lease("tick", 30)
        for _ in range(100):
            await store.incr("counters", "c")
        print("won" if won else "lost")

asyncio.run(main())
"""


async def test_processes_sharing_one_file_lose_no_increment_and_share_one_lease(
    tmp_path: Path,
) -> None:
    # Given two other processes and this one, all on one database file
    path = tmp_path / "state.db"
    async with SQLiteStore("app", path) as store:
        children = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", CHILD, str(path), stdout=asyncio.subprocess.PIPE
            )
            for _ in range(2)
        ]
        # When all three increment one key and race for one lease at once
        won_here = await store.acquire_lease("tick", 30)
        await asyncio.gather(*(store.incr("counters", "c") for _ in range(100)))
        outputs = [(await child.communicate())[0].decode().strip() for child in children]
        assert [child.returncode for child in children] == [0, 0]
        # Then every increment counted and exactly one process holds the lease
        assert await store.get("counters", "c") == 300
        assert [won_here, *(out == "won" for out in outputs)].count(True) == 1


async def test_the_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    async with SQLiteStore("app", path) as store:
        await store.set("g", "k", 1)
        assert (tmp_path / "state.db-wal").exists()
