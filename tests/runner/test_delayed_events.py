"""Delayed events end to end: `ctx.emit({..., "delay"})` from Python and Node.js handlers,
`motia emit --delay` and the admin API, traces that show the wait, and an embedded
default (memory bus + SQLite store) that keeps a delayed event across a restart."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from _runtime_projects import write_project

from motia.cli import main
from motia.testing import TestApp

YAML = """
    version: 1
    app: reminders
    schemas:
      Reminder:
        type: object
        required: [id]
        properties: {id: {type: string}, delay: {}}
    topics:
      reminder.due: {schema: Reminder}
      reminder.followup: {schema: Reminder}
    steps:
      schedule:
        type: api
        method: POST
        path: /reminders
        body: Reminder
        emits: [reminder.due]
        handler: steps/schedule.py
      remind:
        type: event
        subscribes: [reminder.due]
        emits: [reminder.followup]
        handler: steps/remind.js
      follow-up:
        type: event
        subscribes: [reminder.followup]
        handler: steps/follow_up.py
"""
FILES = {
    "steps/schedule.py": """
        async def handler(req, ctx):
            await ctx.emit({"topic": "reminder.due", "data": {"id": req.body["id"]},
                            "delay": req.body["delay"]})
            return {"status": 202, "body": {"scheduled": req.body["id"]}}
        """,
    "steps/remind.js": """
        exports.handler = async (data, ctx) => {
          await ctx.state.set('received', data.id, Date.now() / 1000);
          await ctx.emit({ topic: 'reminder.followup', data: { id: data.id }, delay: 0.5 });
        };
        """,
    "steps/follow_up.py": """
        import time

        async def handler(data, ctx):
            await ctx.state.set("followed", data["id"], time.time())
        """,
}


@pytest.fixture
def project(tmp_path: Path, node: str) -> Path:
    del node  # the remind step is Node.js
    return write_project(tmp_path / "app", YAML, FILES)


async def test_python_and_node_handlers_emit_events_that_arrive_when_due(project: Path) -> None:
    async with TestApp(project) as app:
        # When the API step emits with a 1 s delay (and the Node step re-emits with 0.5 s)
        sent = time.time()
        res = await app.request("POST", "/reminders", json={"id": "r1", "delay": "1s"})
        assert res.status == 202
        followed = await app.wait_until(lambda: app.state.get("followed", "r1"), timeout=15)
        received = await app.state.get("received", "r1")
        # Then each arrived after its delay, within a second of due
        assert sent + 1.0 <= received < sent + 2.0
        assert received + 0.5 <= followed < received + 1.5
        # And the trace shows the delayed emits, when they were due, and that they went out
        trace = app.traces.get(res.headers["x-trace-id"])
        assert trace is not None
        emits = {span.step: span.emits for span in trace.spans}
        [due] = emits["schedule"]
        assert due["topic"] == "reminder.due"
        assert sent + 1.0 <= due["delayed_until"] < sent + 1.5 and due["fired"] >= due["delayed_until"]
        [followup] = emits["remind"]
        assert followup["delayed_until"] == pytest.approx(received + 0.5, abs=0.2)


async def test_a_bad_delay_fails_the_request_naming_the_accepted_forms(project: Path) -> None:
    async with TestApp(project) as app:
        res = await app.request("POST", "/reminders", json={"id": "r2", "delay": "tomorrow"})
        assert res.status == 500
        [failed] = [r.msg for r in app.logs if r.step == "schedule" and r.level == "error"]
        assert failed == (
            "POST /reminders -> 500: EmitError: ctx.emit('reminder.due'): delay must be a "
            "duration such as \"30s\", \"5m\", \"2h\" or \"1d\" (units ms, s, m, h, d), or a "
            "number of seconds from 0, got 'tomorrow'")
        assert await app.state.get("received", "r2") is None


async def test_the_admin_api_and_motia_emit_take_a_delay(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with TestApp(project) as app:
        # The admin API: a bad delay is a 400 naming the forms; a good one answers when due
        res = await app.request("POST", "/__motia/api/emit",
                                json={"topic": "reminder.due", "data": {"id": "a"}, "delay": "1 week"})
        assert res.status == 400
        assert res.json["error"]["message"] == (
            "emit 'reminder.due': delay must be a duration such as \"30s\", \"5m\", \"2h\" or "
            "\"1d\" (units ms, s, m, h, d), or a number of seconds from 0, got '1 week'")
        sent = time.time()
        res = await app.request("POST", "/__motia/api/emit",
                                json={"topic": "reminder.due", "data": {"id": "a"}, "delay": 1})
        assert res.status == 200 and sent + 1 <= res.json["delayed_until"] < sent + 1.5
        # `motia emit --delay`: the CLI checks the delay before sending, then says when
        capsys.readouterr()
        code = await asyncio.to_thread(main, ["emit", "reminder.due", '{"id": "b"}',
                                              "--delay", "1.5s", "--url", app.url])
        out = capsys.readouterr().out
        assert code == 0 and out.startswith("scheduled reminder.due for 20") and " event " in out
        code = await asyncio.to_thread(main, ["emit", "reminder.due", '{"id": "c"}',
                                              "--delay", "later", "--url", app.url])
        err = capsys.readouterr().err
        assert code != 0
        assert err == ("motia: error: motia emit --delay: delay must be a duration such as "
                       "\"30s\", \"5m\", \"2h\" or \"1d\" (units ms, s, m, h, d), or a number of "
                       "seconds from 0, got 'later'\n")
        for key in ("a", "b"):
            at = await app.wait_until(lambda k=key: app.state.get("received", k), timeout=15)
            assert at >= sent + 1.0
        assert await app.state.get("received", "c") is None


async def test_the_embedded_default_keeps_a_delayed_event_across_a_restart(
    project: Path, tmp_path: Path
) -> None:
    # Given the embedded defaults: the memory bus and the SQLite store (a file)
    db = tmp_path / "state.db"
    async with TestApp(project, state="sqlite", state_url=str(db)) as app:
        sent = time.time()
        await app.emit("reminder.due", {"id": "kept"}, delay="2s")
    # When the process is gone before the event is due (the TestApp stopped) and starts
    # again on the same file
    assert time.time() < sent + 2.0
    async with TestApp(project, state="sqlite", state_url=str(db)) as app:
        received = await app.wait_until(lambda: app.state.get("received", "kept"), timeout=15)
    # Then the event arrived when due, once, after the restart
    assert sent + 2.0 <= received < sent + 3.0


ORDERED_YAML = """
    version: 1
    app: ordered
    schemas:
      Msg: {type: object, required: [chat, n], properties: {chat: {type: string}, n: {type: integer}}}
    topics:
      msg: {schema: Msg}
    steps:
      answer:
        type: event
        subscribes: [msg]
        flow:
          order: {key: chat}
        handler: steps/answer.py
"""
ORDERED_FILES = {
    "steps/answer.py": """
        async def handler(data, ctx):
            await ctx.state.set("answered", f"{data['chat']}-{data['n']}", True)
            seen = await ctx.state.get("order", data["chat"]) or []
            await ctx.state.set("order", data["chat"], [*seen, data["n"]])
        """,
}


async def test_a_delayed_event_takes_its_place_in_order_when_it_is_published(
    tmp_path: Path
) -> None:
    # Given a step that answers each chat's messages in publish order
    project = write_project(tmp_path / "ordered", ORDERED_YAML, ORDERED_FILES)
    async with TestApp(project) as app:
        # When message 1 is published with a 1 s delay, then 2 and 3 at once
        await app.emit("msg", {"chat": "c", "n": 1}, delay="1s")
        await app.emit("msg", {"chat": "c", "n": 2})
        await app.emit("msg", {"chat": "c", "n": 3})
        # Then 2 and 3 do not wait for it: its place in the order is when it is published
        # (it takes its sequence number then, after 2's and 3's, however slow the machine)
        async def all_three() -> bool:
            return len(await app.state.get("order", "c") or []) == 3

        await app.wait_until(all_three, timeout=15)
        assert await app.state.get("order", "c") == [2, 3, 1]


def test_the_blocking_harness_emits_with_a_delay(project: Path) -> None:
    from motia.testing import SyncTestApp

    # Given the blocking harness users get as the `motia_app` fixture
    with SyncTestApp(project) as app:
        sent = time.time()
        # When an event is emitted with a delay, Then wait_for_topic waits until it was handled
        app.emit("reminder.due", {"id": "sync"}, delay=0.5)
        app.wait_for_topic("reminder.due", timeout=10)
        assert app.state.get("received", "sync") >= sent + 0.5
