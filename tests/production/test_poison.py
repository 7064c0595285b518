"""A poison message is retried outside the consumer, dead-lettered with its error, and
completed by `motia dlq replay` once the handler is fixed. Real replicas, broker and store.
"""

from __future__ import annotations

import json
import subprocess
import sys

import aiohttp
import pytest
from conftest import require_service

from ._cluster import Cluster, Replica, eventually, open_store, queue_stats

pytestmark = pytest.mark.services

POISON_YAML = """
    version: 1
    app: {app}
    defaults:
      timeout: 5s
      retries: 2
      backoff: {initial: 3s, factor: 1, max: 3s}
    schemas:
      Job:
        type: object
        required: [id]
        properties: {id: {type: string}}
    topics:
      job.created: {schema: Job}
    flows:
      jobs: {}
    steps:
      process:
        type: event
        subscribes: [job.created]
        flows: [jobs]
        handler: steps/process.py
"""

BROKEN = """
    async def handler(job, ctx):
        if job["id"] == "poison":
            raise ValueError(f"cannot parse job {job['id']}: unexpected token")
        await ctx.state.incr("processed", job["id"], 1)
"""

FIXED = """
    async def handler(job, ctx):
        await ctx.state.incr("processed", job["id"], 1)
"""


def motia(*args: str) -> subprocess.CompletedProcess[str]:
    """The `motia` command line, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "motia", *args], capture_output=True,
                          text=True, timeout=60, check=False)


async def emit(replica: Replica, job_id: str) -> None:
    async with aiohttp.ClientSession() as session, session.post(
            replica.url + "/__motia/api/emit",
            json={"topic": "job.created", "data": {"id": job_id}}) as response:
        assert response.status in (200, 201, 202), await response.text()


async def test_a_poison_message_is_dead_lettered_then_replayed_after_the_fix(
    cluster: Cluster,
) -> None:
    require_service("rabbitmq")
    require_service("redis")
    # Given two replicas of a step whose handler chokes on one payload
    project = cluster.project(POISON_YAML, {"steps/process.py": BROKEN})
    first, second = await cluster.start(project, 2)
    queue = f"motia.{project.app}.process"
    async with open_store(project.app) as store:
        await emit(first, "good")
        await eventually(lambda: store.get("processed", "good"), 30, what="the good job")
        # When the poison message arrives
        sent = motia("emit", "job.created", '{"id": "poison"}', "--url", first.url)
        assert sent.returncode == 0, sent.stderr
        # Then while it waits out its backoff it sits in a retry queue, not unacked
        retry = f"{queue}.retry.3000"

        async def backing_off() -> dict[str, dict[str, int]] | None:
            stats = await queue_stats(project.app)
            return stats if stats.get(retry, {}).get("ready") else None

        stats = await eventually(backing_off, 30, every=0.1, what="a message in " + retry)
        assert stats[queue]["unacked"] == 0 and stats[queue]["ready"] == 0, stats
        assert "x-message-ttl" in stats[retry]["arguments"] and stats[retry]["durable"]
        # And after its retries it is a dead letter with its error, listed by `motia dlq ls`
        async def dead_letter() -> list[dict[str, object]]:
            listed = motia("dlq", "ls", "--json", "--url", second.url)
            assert listed.returncode == 0, listed.stderr
            return list(json.loads(listed.stdout))

        [letter] = await eventually(dead_letter, 30, every=0.5, what="the dead letter")
        assert (letter["step"], letter["data"], letter["attempts"]) == (
            "process", {"id": "poison"}, 3)
        error = letter["error"]
        assert isinstance(error, dict)
        assert (error["type"], error["message"]) == (
            "ValueError", "cannot parse job poison: unexpected token")
        assert await store.get("processed", "poison") is None
        # When the handler is fixed and the replicas restart with it
        project.write("steps/process.py", FIXED)
        await first.stop()
        await second.stop()
        await first.start()
        await second.start()
        # And the dead letter is replayed
        replayed = motia("dlq", "replay", "--all", "--url", first.url)
        assert replayed.returncode == 0, replayed.stderr
        # Then the poison job completes once and the dead-letter store is empty
        await eventually(lambda: store.get("processed", "poison"), 30, what="the replayed job")
        assert await store.get_group("processed") == {"good": 1, "poison": 1}
        assert await store.dead_letters() == []
    assert "Traceback" not in sent.stderr + replayed.stderr
