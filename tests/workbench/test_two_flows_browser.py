"""The Workbench in headless Chromium on the two-flow app (a payment webhook and a chat),
as a product manager looks at it: the first flow with its description, descriptions on
hover, cron in words with Run now, the traces filters, and fixing a dead letter."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from cdp import Page
from two_flows import write_two_flows
from wb_support import screenshot

from motia.testing import TestApp

pytestmark = pytest.mark.asyncio(loop_scope="module")
API = "/__motia/api"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TestApp]:
    root: Path = tmp_path_factory.mktemp("two-flows-browser")
    async with TestApp(write_two_flows(root, "twoflowsui")) as running:
        yield running


async def open_view(page: Page, app: TestApp, view: str) -> None:
    await page.goto(f"{app.url}/__motia/{view}")
    await page.wait_for("document.body.dataset.ready === 'true'", what="the Workbench to load")


async def js(page: Page, expression: str) -> Any:
    return await page.evaluate(expression)


async def node_ids(page: Page) -> list[str]:
    ids: list[str] = await js(page, "[...document.querySelectorAll('svg.diagram .node')].map((n) => n.dataset.id)")
    return sorted(ids)


async def pay(app: TestApp, payment_id: str, amount: int) -> None:
    res = await app.request("POST", "/webhooks/stripe", json={"id": payment_id, "amount": amount})
    assert res.status == 202, res.text
    await app.wait_for_topic("payment.received")


async def test_the_first_flow_is_shown_on_open_with_its_description(page: Page, app: TestApp) -> None:
    # When a person opens the Workbench
    await open_view(page, app, "")
    await page.wait_for_selector("svg.diagram .node")
    # Then the first flow is shown, its description above the diagram
    assert await js(page, "location.hash") == "#/flows/payments"
    assert await page.text("#flow-description") == "From Stripe's webhook to the ledger"
    assert await node_ids(page) == ["state:ledger", "step:record-payment", "step:settle-ledger",
                                    "step:stripe-webhook", "topic:payment.received"]
    # And the picker lists every flow with its description, "All steps" one click away
    tabs = await js(page, "[...document.querySelectorAll('.flow-tab')].map((t) => t.textContent)")
    assert tabs == ["payments 3From Stripe's webhook to the ledger",
                    "chat 2Messages posted in rooms and kept as each room's history", "All steps 5"]
    # And the state group is a node of its own kind, in the legend
    assert "State — data kept between runs" in await page.text(".legend")
    await screenshot(page, "flow-picker")
    await page.click('.flow-tab[data-flow="~all"]')
    await page.wait_for("document.querySelectorAll('svg.diagram .node').length === 9")
    assert "state:rooms" in await node_ids(page)


async def test_hovering_a_node_shows_its_description(page: Page, app: TestApp) -> None:
    await open_view(page, app, "#/flows/payments")
    # When the mouse rests on the record-payment box
    await page.hover('.node[data-id="step:record-payment"]')
    await page.wait_for("!document.querySelector('#node-tip').hidden", what="the tooltip")
    # Then its description shows, without a click
    assert await page.text("#node-tip .tip-description") == "Writes each payment into the ledger"
    assert await js(page, "document.querySelector('#details').hidden") is True
    # (fully on screen, not cut off by the diagram's scrolling box)
    assert await js(page, """(() => { const r = document.querySelector('#node-tip').getBoundingClientRect();
        return r.top >= 0 && r.bottom <= innerHeight && r.height > 30; })()""")
    await screenshot(page, "node-hover")
    # And the steps table says what each step does
    rows = await js(page, """[...document.querySelectorAll('.steps-table tbody tr')]
        .map((r) => [r.dataset.step, r.querySelector('.step-description').textContent])""")
    assert rows == [["stripe-webhook", "Receives Stripe's payment notifications"],
                    ["record-payment", "Writes each payment into the ledger"],
                    ["settle-ledger", "Totals the ledger"]]


async def test_a_cron_step_reads_in_words_and_runs_now(page: Page, app: TestApp) -> None:
    await open_view(page, app, "#/flows/payments")
    # Then the cron box says its schedule in words
    sub = await page.text('.node[data-id="step:settle-ledger"] .node-sub')
    assert sub == "every 10 seconds"
    # When it is clicked, Then the panel gives the words, the expression and the next run
    await page.click('.node[data-id="step:settle-ledger"]')
    await page.wait_for_selector("#details .cron-words")
    assert await page.text("#details .cron-words") == "every 10 seconds"
    assert "*/10 * * * * *" in await page.text("#details")
    await page.wait_for("document.querySelector('#details .cron-next').textContent !== '…'")
    next_run = await page.text("#details .cron-next")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:[0-5]0, then \d\d:\d\d:[0-5]0 UTC", next_run), next_run
    # When Run now is pressed
    before = sum(1 for t in app.traces.recent(500) if t.cron == "settle-ledger")
    await page.click("#run-now")
    await page.wait_for("document.querySelector('.run-now-result').textContent.includes('Fired')")
    # Then one tick ran, with a link to its trace
    href = await js(page, "document.querySelector('.run-now-result a').getAttribute('href')")
    trace_id = href.removeprefix("#/traces/")
    trace = app.traces.get(trace_id)
    assert trace is not None and trace.cron == "settle-ledger"
    assert sum(1 for t in app.traces.recent(500) if t.cron == "settle-ledger") >= before + 1
    await screenshot(page, "cron-step")


async def test_the_traces_filters_narrow_the_list(page: Page, app: TestApp) -> None:
    # Given a payment, a chat message and many cron ticks
    await pay(app, "ui-1", 700)
    res = await app.request("POST", "/rooms/lobby/messages", json={"text": "hello"})
    assert res.status == 201
    await app.wait_for_topic("message.posted")
    for n in range(6):
        res = await app.request("POST", f"{API}/cron/settle-ledger/run", json={"key": f"ui-{n}"})
        assert res.json["fired"] is True
    # (the schedule adds a tick every 10 s meanwhile: only the non-cron count is fixed)
    others = sum(1 for t in app.traces.recent(500) if not t.cron)
    # When the Traces list opens
    await open_view(page, app, "#/traces")
    await page.wait_for(f"document.querySelectorAll('.trace-row').length === {others}")
    # Then the cron ticks are folded away behind a toggle that counts them
    await page.wait_for_selector("#cron-toggle:not([hidden])")
    toggle = re.fullmatch(r"show (\d+) cron ticks", await page.text("#cron-toggle"))
    assert toggle is not None and int(toggle[1]) >= 6
    tick_rows = "[...document.querySelectorAll('.trace-row')].filter((r) => r.textContent.includes('cron tick')).length"
    assert await js(page, tick_rows) == 0
    await screenshot(page, "traces-filtered")
    await page.click("#cron-toggle")
    await page.wait_for(f"document.querySelectorAll('.trace-row').length >= {others + 6}")
    assert await js(page, tick_rows) >= 6
    assert await page.text("#cron-toggle") == "hide cron ticks"
    await page.click("#cron-toggle")
    await page.wait_for(f"document.querySelectorAll('.trace-row').length === {others}")
    # When the chat flow is chosen, Then only its trace is left
    await js(page, """(() => { const s = document.querySelector('#trace-flow');
        s.value = 'chat'; s.dispatchEvent(new Event('change')); })()""")
    await page.wait_for("document.querySelectorAll('.trace-row').length === 1")
    assert await page.text(".trace-row td:nth-child(3)") == "post-message → store-message"
    # When searching a trace id (any flow), Then that trace alone is listed
    chat_trace = await js(page, "document.querySelector('.trace-row').dataset.trace")
    await js(page, """(() => { const s = document.querySelector('#trace-flow');
        s.value = ''; s.dispatchEvent(new Event('change')); })()""")
    await page.fill("#trace-search", chat_trace[:12])
    await page.wait_for(f"""[...document.querySelectorAll('.trace-row')].map((r) => r.dataset.trace)
        .join() === {json.dumps(chat_trace)}""")
    # And the step and status filters narrow too
    await page.fill("#trace-search", "")
    await js(page, """(() => { const s = document.querySelector('#trace-step');
        s.value = 'record-payment'; s.dispatchEvent(new Event('change')); })()""")
    await page.wait_for("""[...document.querySelectorAll('.trace-row td:nth-child(3)')]
        .every((td) => td.textContent.includes('record-payment'))
        && document.querySelectorAll('.trace-row').length >= 1""")
    await js(page, """(() => { const s = document.querySelector('#trace-status');
        s.value = 'error'; s.dispatchEvent(new Event('change')); })()""")
    await page.wait_for("document.querySelectorAll('.trace-row').length === 0")
    assert await page.text("#traces-note") == "No trace matches these filters."


async def test_an_invalid_edit_is_refused_and_a_fixed_replay_ends_done(page: Page, app: TestApp) -> None:
    # Given the unlucky payment dead-lettered
    await pay(app, "ui-13", 13)
    [letter] = await app.dead_letters("record-payment")
    await open_view(page, app, "#/dlq")
    row = f'.dead-letter[data-id="{letter.id}"]'
    # When a person edits its data so that it breaks the schema and confirms the replay
    await page.click(f"{row} .edit")
    await page.wait_for_selector(".edit-data")
    await page.fill(".edit-data", json.dumps({"id": "ui-13", "amount": 0}))
    await page.click(".edit-replay")
    await page.wait_for_selector(".editor .confirm")
    await page.click(".editor .confirm-yes")
    # Then the page shows the schema's message and the letter stays
    await page.wait_for("document.querySelector('.edit-errors').textContent.length > 0")
    assert await page.text(".edit-errors p") == (
        "the edited data does not match the schema of topic 'payment.received': "
        "/amount: 0 is less than the minimum of 1")
    assert await page.text(".edit-errors .violations") == "/amount 0 is less than the minimum of 1"
    assert [d.id for d in await app.dead_letters("record-payment")] == [letter.id]
    await screenshot(page, "dlq-edit")
    # When the data is fixed and the replay confirmed
    await page.fill(".edit-data", json.dumps({"id": "ui-13", "amount": 14}))
    await page.click(".edit-replay")
    await page.click(".editor .confirm-yes")
    await page.wait_for(f"!document.querySelector('{row}')", what="the letter to leave the list")
    # Then its trace tells the whole story and ends "done"
    await open_view(page, app, f"#/traces/{letter.trace_id}")
    await page.wait_for("document.querySelector('.trace-status')?.dataset.status === 'done'", timeout=15)
    kinds = await js(page, "[...document.querySelectorAll('.story li')].map((li) => li.dataset.kind)")
    assert kinds == ["failed", "dead_letter", "replayed", "done"]
    assert "with edited data" in await page.text(".story .story-replayed")
    assert await page.text(".trace-status") == "done (replayed)"
    await screenshot(page, "trace-story")


async def test_a_dead_letter_is_deleted_after_an_in_page_confirm(page: Page, app: TestApp) -> None:
    await pay(app, "ui-13-again", 13)
    [letter] = await app.dead_letters("record-payment")
    await open_view(page, app, "#/dlq")
    row = f'.dead-letter[data-id="{letter.id}"]'
    await page.click(f"{row} .delete")
    # Then nothing is deleted before the person confirms
    await page.wait_for_selector(f"{row} .confirm")
    assert await page.text(f"{row} .confirm span") == "Delete this dead letter for good?"
    assert len(await app.dead_letters("record-payment")) == 1
    await page.click(f"{row} .confirm-yes")
    await page.wait_for(f"!document.querySelector('{row}')")
    assert await app.dead_letters("record-payment") == []
