"""The Workbench's Run now fires one tick across replicas, through the same lease as the
schedule: two replicas asked with the same key (a load balancer retrying, two tabs of
one click) run the handler once between them; a new key is a new run."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from conftest import require_service

from ._cluster import Cluster, open_store

pytestmark = pytest.mark.services

YAML = """
    version: 1
    app: {app}
    flows:
      payments: {}
    steps:
      settle-ledger:
        type: cron
        cron: "0 0 3 1 1 *"
        flows: [payments]
        handler: steps/settle.py
"""

FILES = {
    "steps/settle.py": """
        import os

        async def handler(ctx):
            await ctx.state.set("runs", ctx.event_id, {"replica": os.getppid(), "trace": ctx.trace_id})
    """,
}


async def run_now(session: aiohttp.ClientSession, url: str, key: str) -> dict[str, object]:
    async with session.post(f"{url}/__motia/api/cron/settle-ledger/run", json={"key": key}) as r:
        assert r.status == 202, await r.text()
        answer: dict[str, object] = await r.json()
        return answer


async def runs_after(app: str, count: int, timeout: float = 15.0) -> dict[str, dict[str, object]]:
    """The handler's runs once there are `count` (then a little longer, to catch a second)."""
    deadline = time.monotonic() + timeout
    async with open_store(app, "redis") as store:
        while True:
            runs = await store.get_group("runs")
            if len(runs) >= count or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        settle = time.monotonic() + 2.0  # a duplicate would land within this
        while time.monotonic() < settle:
            await asyncio.sleep(0.2)
        return await store.get_group("runs")


async def test_run_now_fires_one_tick_across_two_replicas(cluster: Cluster) -> None:
    require_service("rabbitmq")
    require_service("redis")
    # Given two replicas of an app whose cron step will not fire by itself during the test
    project = cluster.project(YAML, FILES)
    first, second = await cluster.start(project, 2, state="redis")
    async with aiohttp.ClientSession() as session:
        # When both are asked to Run now with the same key, at the same time
        answers = await asyncio.gather(run_now(session, first.url, "click-1"),
                                       run_now(session, second.url, "click-1"))
        runs = await runs_after(project.app, 1)
        # Then exactly one of them fired, and the handler ran exactly once
        assert sorted(a["fired"] for a in answers) == [False, True]
        assert len(runs) == 1
        fired = next(a for a in answers if a["fired"])
        assert next(iter(runs.values()))["trace"] == fired["trace_id"]
        # When Run now is pressed again (a new key), on either replica
        again = await run_now(session, second.url, "click-2")
        runs = await runs_after(project.app, 2)
        # Then it is a second run, once
        assert again["fired"] is True and len(runs) == 2
