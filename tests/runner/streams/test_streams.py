"""Streams in one process (memory and SQLite stores, the in-process fan-out): handlers in
both languages write items, WebSocket and SSE clients get the snapshot then every change."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import aiohttp
import pytest
from _runtime_projects import write_project
from _stream_chat import chat_project

from motia.runner.streams import _log, _outbox, _wssink
from motia.streams import StreamClient, StreamRefused, sse
from motia.testing import TestApp

from ._rawws import RawWebSocket


def _project(tmp_path: Path, auth: bool = False, auth_language: str = "py") -> Path:
    yaml, files = chat_project(f"chat{uuid.uuid4().hex[:8]}", auth, auth_language)
    return write_project(tmp_path / "chat", yaml, files)


@pytest.fixture(params=["memory", "sqlite"])
async def chat(request: pytest.FixtureRequest, tmp_path: Path, node: str):
    async with TestApp(_project(tmp_path), state=request.param) as app:
        yield app


async def test_websocket_gets_the_snapshot_then_every_update_in_order(chat: TestApp) -> None:
    # Given a room with two messages before anyone listens
    for n in ("m1", "m2"):
        res = await chat.request("POST", f"/rooms/r1/messages/{n}", json={"text": n})
        assert res.status == 200 and res.json == {"text": n}
    async with StreamClient(chat.url) as client:
        # When a client subscribes, then 30 updates are made by the Python step
        room = await client.subscribe("messages", "r1")
        assert room.items == {"m1": {"text": "m1"}, "m2": {"text": "m2"}}
        assert room.version == 2
        for n in range(30):
            await chat.request("POST", "/rooms/r1/messages/m1", json={"text": "m1", "n": n})
        changes = [await room.next(10) for _ in range(30)]
    # Then each arrives once, in order, as an update with a growing version
    assert [c["data"]["n"] for c in changes] == list(range(30))
    assert {c["op"] for c in changes} == {"update"}
    assert [c["version"] for c in changes] == list(range(3, 33))
    assert room.items["m1"] == {"text": "m1", "n": 29}


async def test_node_handler_writes_sends_and_python_plain_def_deletes(chat: TestApp) -> None:
    async with StreamClient(chat.url) as client:
        room = await client.subscribe("messages", "r2")
        # When the Node.js step sets an item and sends an event, and a plain def deletes it
        res = await chat.request("POST", "/js/rooms/r2/messages/a", json={"text": "from js"})
        assert res.json == {"group": {"a": {"text": "from js"}}}
        res = await chat.request("DELETE", "/rooms/r2/messages/a")
        assert res.status == 204
        frames = [await room.next(10) for _ in range(3)]
    # Then the subscriber sees create, event, delete, in that order
    assert [(f["op"], f.get("id"), f.get("data")) for f in frames] == [
        ("create", "a", {"text": "from js"}),
        ("event", None, {"type": "seen", "data": {"id": "a"}}),
        ("delete", "a", None),
    ]
    assert room.items == {}


async def test_set_that_breaks_the_schema_raises_at_the_call(chat: TestApp) -> None:
    res = await chat.request("POST", "/rooms/r3/messages/x", json={"text": 7, "extra": 1})
    assert res.status == 400
    assert res.json == {"type": "StreamError", "message": (
        "ctx.streams.messages.set('r3', 'x'): data does not match the stream's schema "
        "Message: /: Additional properties are not allowed ('extra' was unexpected); "
        "/text: 7 is not of type 'string'")}
    assert await chat.runtime.streams.items.get("messages", "r3", "x") is None


async def test_a_step_writes_only_the_streams_it_declares(chat: TestApp) -> None:
    res = await chat.request("POST", "/try/messages")
    assert res.json == {"type": "StreamError", "message": (
        "step 'try-write' cannot write stream 'messages': add it to the step's "
        "`streams: [messages]` in motia.yaml")}
    res = await chat.request("POST", "/try/mesages")
    assert res.json == {"type": "StreamError", "message": (
        "ctx.streams.mesages: no stream named 'mesages'; did you mean 'messages'?")}


async def test_item_subscription_gets_only_that_item(chat: TestApp) -> None:
    async with StreamClient(chat.url) as client:
        one = await client.subscribe("messages", "r4", "b")
        room = await client.subscribe("messages", "r4")
        for id_ in ("a", "b", "a"):
            await chat.request("POST", f"/rooms/r4/messages/{id_}", json={"text": id_})
        got_room = [await room.next(10) for _ in range(3)]
        got_one = await one.next(10)
    assert [f["id"] for f in got_room] == ["a", "b", "a"]
    assert (got_one["id"], got_one["op"], one.pending()) == ("b", "create", 0)


async def test_sse_snapshot_updates_and_resume_with_last_event_id(chat: TestApp) -> None:
    await chat.request("POST", "/rooms/r5/messages/a", json={"text": "one"})
    events = sse(chat.url, "messages", "r5")
    # Given an SSE client that got the snapshot and one update
    first_id, snapshot = await events.__anext__()
    assert (first_id, snapshot["op"], snapshot["items"]) == (
        1, "snapshot", [{"id": "a", "data": {"text": "one"}, "version": 1}])
    await chat.request("POST", "/rooms/r5/messages/a", json={"text": "two"}, params={"typing": "1"})
    last_id, update = await events.__anext__()
    assert (last_id, update["op"], update["data"]) == (2, "update", {"text": "two"})
    await events.aclose()
    # When it reconnects with Last-Event-ID after three more changes
    for n in range(3):
        await chat.request("POST", f"/rooms/r5/messages/b{n}", json={"text": str(n)})
    resumed = sse(chat.url, "messages", "r5", last_event_id=last_id)
    frames = [await resumed.__anext__() for _ in range(5)]
    await resumed.aclose()
    # Then it gets a resume marker and exactly what it missed, in order, no snapshot
    assert [(i, f["op"]) for i, f in frames] == [
        (2, "resume"), (3, "event"), (4, "create"), (5, "create"), (6, "create")]


async def test_resume_outside_the_window_is_a_fresh_snapshot_that_says_so(chat: TestApp) -> None:
    hub = chat.runtime.streams
    await hub.set("messages", "r6", "a", {"text": "first"})
    for n in range(_log.RING + 5):
        await hub.set("messages", "r6", "a", {"text": "x", "n": n})
    events = sse(chat.url, "messages", "r6", last_event_id=1)
    event_id, frame = await events.__anext__()
    await events.aclose()
    assert (event_id, frame["op"], frame["items"][0]["data"]["n"]) == (
        _log.RING + 6, "snapshot", _log.RING + 4)
    assert frame["reason"] == (f"version 1 is outside the last {_log.RING} changes this "
                               "server keeps; here is the current state instead")


async def test_items_survive_a_restart(tmp_path: Path, node: str) -> None:
    project = _project(tmp_path)
    async with TestApp(project, state="sqlite") as app:
        await app.request("POST", "/rooms/r7/messages/a", json={"text": "kept"})
    async with TestApp(project, state="sqlite") as app, StreamClient(app.url) as client:
        room = await client.subscribe("messages", "r7")
    assert room.items == {"a": {"text": "kept"}}


async def test_unknown_stream_is_refused_on_both_transports(chat: TestApp) -> None:
    async with StreamClient(chat.url) as client:
        with pytest.raises(StreamRefused) as refused:
            await client.subscribe("mesages", "r1")
    assert (refused.value.status, refused.value.message) == (
        404, "no stream named 'mesages'; did you mean 'messages'?")
    with pytest.raises(StreamRefused) as refused:
        await sse(chat.url, "nope", "r1").__anext__()
    assert (refused.value.status, refused.value.message) == (
        404, "no stream named 'nope'; streams: messages")


@pytest.mark.parametrize("language", ["py", "js"])
async def test_streams_auth_allows_and_refuses_each_subscription(
        tmp_path: Path, node: str, language: str) -> None:
    async with TestApp(_project(tmp_path, auth=True, auth_language=language),
                       state="memory") as app:
        url = app.url
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{url}/__motia/streams?key=let-me-in") as ws:
                await ws.send_json({"subscribe": {"stream": "messages", "group": "secret"}})
                refused = await ws.receive_json(timeout=20)
                await ws.send_json({"subscribe": {"stream": "messages", "group": "open"}})
                allowed = await ws.receive_json(timeout=20)
            async with session.ws_connect(f"{url}/__motia/streams") as ws:
                await ws.send_json({"subscribe": {"stream": "messages", "group": "open"}})
                no_key = await ws.receive_json(timeout=20)
        with pytest.raises(StreamRefused) as sse_refused:
            await sse(url, "messages", "secret").__anext__()
    assert refused == {"error": {"status": 403, "type": "Forbidden",
                                 "message": "no access to secret"},
                       "subscribe": {"stream": "messages", "group": "secret"}}
    assert (allowed["op"], allowed["items"]) == ("snapshot", [])
    assert no_key["error"] == {"status": 403, "type": "Forbidden",
                               "message": "refused by streams_auth"}
    assert (sse_refused.value.status, sse_refused.value.message) == (
        403, "refused by streams_auth")


async def test_a_client_that_stops_reading_is_cut_off_and_the_others_keep_up(
        chat: TestApp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_outbox, "MAX_FRAMES", 50)
    hub = chat.runtime.streams
    text = "x" * 8000
    async with StreamClient(chat.url) as fast:
        # Given a client that subscribes and then never reads, beside one that reads
        slow = await RawWebSocket.connect(chat.url)
        await slow.send_json({"subscribe": {"stream": "messages", "group": "busy"}})
        room = await fast.subscribe("messages", "busy")
        await _until(lambda: hub.subscribers() == 2)
        # When 1,000 updates of 8 kB go out
        latencies, held = [], []
        for n in range(1000):
            sent = time.perf_counter()
            await hub.set("messages", "busy", "a", {"text": text, "n": n})
            change = await room.next(10)
            latencies.append(time.perf_counter() - sent)
            assert change["data"]["n"] == n
            held.append(_held_bytes(hub))
        # Then the slow one was dropped, with the reason, once it reads again
        await _until(lambda: hub.subscribers() == 1)
        code, reason = await asyncio.wait_for(slow.read_until_close(), 30)
        slow.close()
    assert code == 1008 and reason.startswith("too slow: 51 messages ("), (code, reason)
    # And what the server held for it (queue plus socket buffer) stayed bounded: at most
    # the queue's 50 frames, the socket's high-water mark and one frame past it
    frame = len(text) + 100
    assert max(held) <= 51 * frame + _wssink.HIGH_WATER, max(held)
    latencies.sort()
    assert latencies[len(latencies) // 2] < 0.05, f"p50 {latencies[len(latencies) // 2]:.3f} s"


def _held_bytes(hub) -> int:
    """The most bytes any one connection has waiting: its outbox, its sink's pending
    frames and its socket buffer."""
    most = 0
    for subs in hub._subs.values():
        for sub in subs:
            outbox = sub.outbox
            sink = outbox._sink
            most = max(most, outbox._bytes + sink._pending_bytes
                       + sink.transport.get_write_buffer_size())
    return most


async def _until(check, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_off_loopback_without_streams_auth_the_workbench_token_is_required(
        tmp_path: Path, node: str) -> None:
    token = "s3cret-stream-token"
    async with TestApp(_project(tmp_path), host="0.0.0.0", token=token) as app, \
            aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{app.runtime.port}"
        # A WebSocket or SSE client without the token is refused before it subscribes
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(f"{url}/__motia/streams")
        async with session.get(f"{url}/__motia/streams/messages/r1") as res:
            sse_status = res.status
        # With it (here as ?token=), it subscribes; the browser client is always public
        async with session.ws_connect(f"{url}/__motia/streams?token={token}") as ws:
            await ws.send_json({"subscribe": {"stream": "messages", "group": "r1"}})
            snapshot = await ws.receive_json(timeout=20)
        async with aiohttp.ClientSession() as fresh, fresh.get(f"{url}/__motia/streams.js") as res:
            js_status = res.status
    assert (refused.value.status, sse_status, js_status) == (401, 401, 200)
    assert (snapshot["op"], snapshot["items"]) == ("snapshot", [])


async def test_off_loopback_streams_auth_decides_without_the_token(
        tmp_path: Path, node: str) -> None:
    async with TestApp(_project(tmp_path, auth=True), host="0.0.0.0", token="unused") as app, \
            aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{app.runtime.port}"
        async with session.ws_connect(f"{url}/__motia/streams?key=let-me-in") as ws:
            await ws.send_json({"subscribe": {"stream": "messages", "group": "open"}})
            allowed = await ws.receive_json(timeout=20)
        async with session.get(f"{url}/__motia/streams/messages/open") as res:
            refused = (res.status, (await res.json())["error"])
    assert allowed["op"] == "snapshot"
    assert refused[0] == 403
    assert (refused[1]["type"], refused[1]["message"]) == ("Forbidden", "refused by streams_auth")


async def test_the_example_app_pushes_each_orders_status_as_the_flow_runs(
        repo: Path, node: str) -> None:
    order = {"customer": "ada@example.com", "currency": "EUR",
             "items": [{"sku": "book", "quantity": 2, "price": 1250}]}
    async with TestApp(repo / "motia.yaml") as app:
        # Given an order just placed (the README's curl, in Python)
        res = await app.request("POST", "/orders", json=order)
        assert res.status == 201
        events = sse(app.url, "orders", res.json["id"])
        _, snapshot = await events.__anext__()
        statuses = [item["data"]["status"] for item in snapshot["items"]]
        # When the flow charges and pays it, Then the watcher sees each status in order
        while statuses[-1:] != ["paid"]:
            _, change = await asyncio.wait_for(events.__anext__(), 30)
            statuses.append(change["data"]["status"])
        await events.aclose()
    assert statuses == ["placed", "charged", "paid"][-len(statuses):]
    assert snapshot["items"][0]["id"] == "status"
