"""The admin API behind the Workbench's second pass, on the two-flow app: cron schedules
in words and Run now, the traces filters, a dead letter's story, edited replays, deletes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from two_flows import write_two_flows

from motia.testing import TestApp

pytestmark = pytest.mark.asyncio(loop_scope="module")
API = "/__motia/api"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TestApp]:
    root: Path = tmp_path_factory.mktemp("two-flows")
    async with TestApp(write_two_flows(root)) as running:
        yield running


async def pay(app: TestApp, payment_id: str, amount: int) -> None:
    res = await app.request("POST", "/webhooks/stripe", json={"id": payment_id, "amount": amount})
    assert res.status == 202, res.text
    await app.wait_for_topic("payment.received", count=1)


async def run_now(app: TestApp, key: str) -> str:
    res = await app.request("POST", f"{API}/cron/settle-ledger/run", json={"key": key})
    assert res.status == 202 and res.json["fired"] is True, res.text
    trace_id: str = res.json["trace_id"]
    await app.wait_until(lambda: (t := app.traces.get(trace_id)) is not None and t.status == "ok")
    return trace_id


async def test_cron_schedules_are_given_in_words_with_their_next_fires(app: TestApp) -> None:
    res = await app.request("GET", f"{API}/cron")
    [cron] = res.json["cron"]
    assert (cron["step"], cron["cron"], cron["words"]) == ("settle-ledger", "*/10 * * * * *",
                                                           "every 10 seconds")
    assert len(cron["next"]) == 3 and all(when.endswith("+00:00") for when in cron["next"])


async def test_run_now_fires_one_tick_per_key(app: TestApp) -> None:
    # When Run now is asked twice with the same key (a double submit), then with another
    first = await app.request("POST", f"{API}/cron/settle-ledger/run", json={"key": "k1"})
    again = await app.request("POST", f"{API}/cron/settle-ledger/run", json={"key": "k1"})
    # Then (on a memory store, one process) each ask fires: the lease is per replica set
    assert first.status == again.status == 202
    trace = app.traces.get(first.json["trace_id"])
    assert trace is not None and trace.cron == "settle-ledger"


async def test_run_now_refuses_a_step_that_is_not_cron(app: TestApp) -> None:
    res = await app.request("POST", f"{API}/cron/record-payment/run")
    assert res.status == 404
    assert res.json["error"]["message"] == ("no cron step 'record-payment'; cron steps: "
                                            "settle-ledger")


async def test_traces_filter_by_flow_step_status_time_and_id(app: TestApp) -> None:
    # Given a payment, a chat message and three cron ticks
    await pay(app, "p-1", 500)
    res = await app.request("POST", "/rooms/lobby/messages", json={"text": "hi"})
    assert res.status == 201
    await app.wait_for_topic("message.posted")
    ticks = [await run_now(app, f"filter-{n}") for n in range(3)]
    # When filtered by flow, Then only that flow's traces are listed
    chat = (await app.request("GET", f"{API}/traces?flow=chat")).json["traces"]
    assert [t["steps"] for t in chat] == [["post-message", "store-message"]]
    # By step
    by_step = (await app.request("GET", f"{API}/traces?step=record-payment")).json["traces"]
    assert {tuple(t["steps"]) for t in by_step} == {("stripe-webhook", "record-payment")}
    # By status and by time (nothing started in the future)
    ok = (await app.request("GET", f"{API}/traces?status=ok&cron=show")).json
    assert ok["matched"] >= 5 and {t["status"] for t in ok["traces"]} == {"ok"}
    future = (await app.request("GET", f"{API}/traces?since=4102444800")).json
    assert future == {"traces": [], "matched": 0, "cron_ticks": 0, "cron_hidden": 0}
    # By (a prefix of) a trace id, and by an event id inside a trace
    found = (await app.request("GET", f"{API}/traces?q={ticks[0][:10]}")).json["traces"]
    assert [t["trace_id"] for t in found] == [ticks[0]]
    event_id = app.traces.get(chat[0]["trace_id"]).spans[1].event_id
    found = (await app.request("GET", f"{API}/traces?q={event_id}")).json["traces"]
    assert [t["trace_id"] for t in found] == [chat[0]["trace_id"]]


async def test_cron_ticks_are_hidden_when_they_are_most_of_the_list(app: TestApp) -> None:
    # Given more cron ticks than anything else in the payments flow
    for n in range(4):
        await run_now(app, f"hide-{n}")
    # When listed with cron=auto (the Workbench's default)
    auto = (await app.request("GET", f"{API}/traces?flow=payments&cron=auto")).json
    # Then the ticks are left out and counted
    assert auto["cron_hidden"] == auto["cron_ticks"] > auto["matched"] / 2
    assert auto["traces"] and not [t for t in auto["traces"] if t["cron"]]
    shown = (await app.request("GET", f"{API}/traces?flow=payments&cron=show")).json
    # (the schedule may add a tick in between: compare what is not a tick)
    assert [t for t in shown["traces"] if not t["cron"]] == auto["traces"]
    assert sum(1 for t in shown["traces"] if t["cron"]) == shown["cron_ticks"] >= 4


async def test_a_bad_filter_is_refused_with_what_it_accepts(app: TestApp) -> None:
    res = await app.request("GET", f"{API}/traces?status=broken")
    assert (res.status, res.json["error"]["message"]) == (
        400, "status='broken': expected one of ok, done, error, running")


async def test_an_edited_replay_is_checked_then_the_trace_ends_done(app: TestApp) -> None:
    # Given the unlucky payment dead-lettered
    await pay(app, "p-13", 13)
    [letter] = await app.dead_letters("record-payment")
    trace = app.traces.get(letter.trace_id)
    assert trace is not None and trace.status == "error"
    # When replayed with data that breaks the topic's schema
    res = await app.request("POST", f"{API}/dlq/{letter.id}/replay",
                            json={"data": {"id": "p-13", "amount": 0}})
    # Then nothing is sent, the schema's message says why, and the letter is kept
    assert res.status == 400
    assert res.json["error"]["message"] == (
        "the edited data does not match the schema of topic 'payment.received': "
        "/amount: 0 is less than the minimum of 1")
    assert res.json["errors"] == [{"path": "/amount", "message": "0 is less than the minimum of 1"}]
    assert [d.id for d in await app.dead_letters("record-payment")] == [letter.id]
    # When replayed with corrected data
    res = await app.request("POST", f"{API}/dlq/{letter.id}/replay",
                            json={"data": {"id": "p-13", "amount": 14}})
    assert res.status == 200 and res.json["edited"] is True
    assert res.json["trace_id"] == letter.trace_id
    await app.wait_until(lambda: trace.status not in ("error", "running"))
    # Then the trace tells the whole story and ends "done"
    answer = (await app.request("GET", f"{API}/traces/{letter.trace_id}")).json
    assert answer["status"] == "done"
    assert [(s["kind"], s["step"]) for s in answer["story"]] == [
        ("failed", "record-payment"), ("dead_letter", "record-payment"),
        ("replayed", "record-payment"), ("done", None)]
    assert answer["story"][2]["edited"] is True
    assert await app.state.get("ledger", "p-13") == 14
    done = (await app.request("GET", f"{API}/traces?status=done")).json["traces"]
    assert [t["trace_id"] for t in done] == [letter.trace_id]


async def test_a_dead_letter_can_be_deleted(app: TestApp) -> None:
    await pay(app, "p-13b", 13)
    [letter] = await app.dead_letters("record-payment")
    res = await app.request("DELETE", f"{API}/dlq/{letter.id}")
    assert res.json == {"deleted": letter.id, "step": "record-payment"}
    assert await app.dead_letters("record-payment") == []
    again = await app.request("DELETE", f"{API}/dlq/{letter.id}")
    assert again.status == 404
