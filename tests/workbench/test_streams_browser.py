"""streams.js in headless Chromium: a page of the app subscribes over WebSocket (the
MotiaStreams client) and over server-sent events (EventSource), and both get the
snapshot and then every update made by Python and Node.js steps, in order."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from _stream_chat import chat_project
from cdp import Page
from wb_support import require_node

from motia.testing import TestApp

pytestmark = pytest.mark.asyncio(loop_scope="module")

PAGE_STEP = """
      page:
        type: api
        method: GET
        path: /live/{room}
        handler: steps/page.py
"""

PAGE = """
HTML = '''<!doctype html>
<meta charset="utf-8">
<title>live room</title>
<script src="/__motia/streams.js"></script>
<ul id="room"></ul>
<script>
  const room = location.pathname.split('/').pop();
  window.ws = []; window.sse = []; window.statuses = [];
  const client = new MotiaStreams(undefined, {onstatus: (s) => window.statuses.push(s)});
  client.subscribe('messages', room, (items, frame) => {
    window.ws.push({frame, items: JSON.parse(JSON.stringify(items))});
    document.getElementById('room').textContent = Object.keys(items).sort().join(',');
  });
  const events = new EventSource('/__motia/streams/messages/' + room);
  events.onmessage = (e) => window.sse.push({id: e.lastEventId, frame: JSON.parse(e.data)});
</script>'''


def handler(req, ctx):
    return {"status": 200, "body": HTML, "headers": {"Content-Type": "text/html; charset=utf-8"}}
"""


def _write(root: Path) -> Path:
    yaml, files = chat_project(f"live{uuid.uuid4().hex[:8]}")
    yaml = yaml.rstrip() + PAGE_STEP  # indented as the chat project's steps are
    files = {**files, "steps/page.py": PAGE}
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip())
    (root / "motia.yaml").write_text(textwrap.dedent(yaml).lstrip())
    return root / "motia.yaml"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chat(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TestApp]:
    require_node()
    async with TestApp(_write(tmp_path_factory.mktemp("live"))) as app:
        yield app


async def test_a_page_gets_the_snapshot_then_every_update_over_websocket_and_sse(
        page: Page, chat: TestApp) -> None:
    # Given a room with two messages before the page opens
    for id_ in ("a", "b"):
        res = await chat.request("POST", f"/rooms/r1/messages/{id_}", json={"text": id_})
        assert res.status == 200
    await page.goto(f"{chat.url}/live/r1")
    await page.wait_for("window.ws.length === 1 && window.sse.length === 1",
                        what="both snapshots")
    # Then both transports start with the snapshot of the two messages
    ws_snapshot = await page.evaluate("window.ws[0]")
    assert ws_snapshot["frame"]["op"] == "snapshot"
    assert ws_snapshot["items"] == {"a": {"text": "a"}, "b": {"text": "b"}}
    sse_snapshot = await page.evaluate("window.sse[0]")
    assert (sse_snapshot["id"], sse_snapshot["frame"]["op"]) == ("2", "snapshot")
    # When Python updates one message 20 times, Node.js adds one (and sends an event),
    # and Python deletes the first
    for n in range(20):
        await chat.request("POST", "/rooms/r1/messages/a", json={"text": "a", "n": n})
    await chat.request("POST", "/js/rooms/r1/messages/c", json={"text": "from js"})
    await chat.request("DELETE", "/rooms/r1/messages/a")
    await page.wait_for("window.ws.length === 24 && window.sse.length === 24",
                        what="23 changes on both transports")
    # Then each transport got every change once, in the order made
    expected = ([("update", "a", n) for n in range(20)]
                + [("create", "c", None), ("event", None, None), ("delete", "a", None)])
    for transport in ("ws", "sse"):
        frames = await page.evaluate(f"window.{transport}.slice(1).map((x) => x.frame)")
        assert [(f["op"], f.get("id"), (f.get("data") or {}).get("n")) for f in frames] == \
            expected, transport
        assert [f["version"] for f in frames] == list(range(3, 26)), transport
    ids = await page.evaluate("window.sse.slice(1).map((x) => Number(x.id))")
    assert ids == list(range(3, 26))
    # And the page's client kept the live items: b and c, a deleted
    final = await page.evaluate("window.ws[window.ws.length - 1].items")
    assert final == {"b": {"text": "b"}, "c": {"text": "from js"}}
    assert await page.text("#room") == "b,c"
    assert await page.evaluate("window.statuses") == ["open"]


async def test_after_its_socket_drops_the_page_resumes_and_misses_nothing(
        page: Page, chat: TestApp) -> None:
    # Given the page live on a room with one message
    await chat.request("POST", "/rooms/r2/messages/a", json={"text": "a", "n": 0})
    await page.goto(f"{chat.url}/live/r2")
    await page.wait_for("window.ws.length === 1", what="the snapshot")
    # When its WebSocket drops and 10 updates are made while it reconnects
    await page.evaluate("client.socket.close()")
    for n in range(1, 11):
        await chat.request("POST", "/rooms/r2/messages/a", json={"text": "a", "n": n})
    await page.wait_for("window.ws.length === 11", what="the 10 updates")
    # Then it reopened once and got each update once, in order (resumed from the ring)
    frames = await page.evaluate("window.ws.slice(1).map((x) => x.frame)")
    assert [(f["op"], f["data"]["n"], f["version"]) for f in frames] == [
        ("update", n, n + 1) for n in range(1, 11)]
    assert await page.evaluate("window.statuses") == ["open", "closed", "open"]
    assert await page.evaluate("window.ws[10].items") == {"a": {"text": "a", "n": 10}}
