"""motia.testing.TestApp itself: what users' test suites rely on."""

from __future__ import annotations

from pathlib import Path

import pytest
from _runtime_projects import FIXABLE_FILES, FIXABLE_YAML, write_project

from motia.runner.logs import LogRecord
from motia.testing import Response, TestApp


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path, FIXABLE_YAML, FIXABLE_FILES)


async def test_it_serves_on_a_free_loopback_port_with_memory_backends(project: Path) -> None:
    async with TestApp(project) as app:
        assert app.url.startswith("http://127.0.0.1:") and not app.url.endswith(":0")
        assert app.state.kind == "memory"
        health = await app.request("GET", "/__motia/api/health")
        assert health == Response(200, {"status": "ok", "app": "fixable", "role": "all",
                                        "events": "memory", "state": "memory", "dev": False},
                                  health.text, health.headers)
    assert not (project.parent / ".motia" / "state.db").exists()


async def test_wait_for_topic_returns_once_every_subscriber_finished(project: Path) -> None:
    async with TestApp(project) as app:
        await app.state.set("config", "fixed", True)
        await app.emit("job.created", {"id": "a"})
        await app.emit("job.created", {"id": "b"})
        await app.wait_for_topic("job.created", count=2)
        assert set(await app.state.get_group("done")) == {"a", "b"}


async def test_wait_for_topic_counts_a_dead_letter_as_finished(project: Path) -> None:
    async with TestApp(project) as app:
        await app.emit("job.created", {"id": "never"})
        await app.wait_for_topic("job.created")
        [letter] = await app.dead_letters()
        assert letter.data == {"id": "never"}


async def test_wait_for_topic_times_out_with_what_is_missing(project: Path) -> None:
    async with TestApp(project) as app:
        with pytest.raises(TimeoutError,
                           match=r"topic 'job.created' not handled within 0.2s "
                                 r"\(0 of 1 event\(s\) published\)"):
            await app.wait_for_topic("job.created", timeout=0.2)


async def test_wait_until_takes_sync_and_async_predicates(project: Path) -> None:
    async with TestApp(project) as app:
        assert await app.wait_until(lambda: 42) == 42
        await app.state.set("g", "k", "v")
        assert await app.wait_until(lambda: app.state.get("g", "k")) == "v"

        def never() -> bool:
            return False

        with pytest.raises(TimeoutError, match=r"condition 'never' not met within 0.1s"):
            await app.wait_until(never, timeout=0.1)


async def test_logs_and_traces_are_readable(project: Path) -> None:
    async with TestApp(project) as app:
        await app.state.set("config", "fixed", True)
        res = await app.request("POST", "/jobs", json={"id": "t"})
        await app.wait_for_topic("job.created")
        assert all(isinstance(r, LogRecord) for r in app.logs)
        trace = app.traces.get(res.headers["x-trace-id"])
        assert trace is not None and [s.step for s in trace.spans] == ["create-job", "run-job"]


async def test_replaying_an_unknown_dead_letter_is_a_key_error(project: Path) -> None:
    async with TestApp(project) as app:
        with pytest.raises(KeyError, match="no dead letter 'nope'"):
            await app.replay("nope")


def test_using_it_before_start_says_how() -> None:
    app = TestApp("motia.yaml")
    with pytest.raises(AssertionError, match=r"TestApp is not started: use `async with"):
        _ = app.state
