"""The Workbench in headless Chromium against the running example app (motia.yaml).

Each test drives the page as a person would (real mouse clicks, typed values) and saves
a screenshot of the view it checked under test-artifacts/workbench/.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import jsonschema
import pytest
import pytest_asyncio
from cdp import Page
from wb_support import REPO, fifty_steps, require_node, screenshot

from motia.compiler.graph import build_graph
from motia.compiler.layout import layout
from motia.compiler.plan import plan_to_dict
from motia.testing import TestApp

pytestmark = pytest.mark.asyncio(loop_scope="module")

ORDER = {"customer": "ada@example.com", "currency": "EUR",
         "items": [{"sku": "book", "quantity": 2, "price": 1250}]}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shop() -> AsyncIterator[TestApp]:
    require_node()
    async with TestApp(REPO / "motia.yaml") as app:
        yield app


async def open_view(page: Page, app: TestApp, view: str = "#/flows/~all") -> None:
    await page.goto(f"{app.url}/__motia/{view}")
    await page.wait_for("document.body.dataset.ready === 'true'", what="the Workbench to load")


async def js(page: Page, expression: str) -> Any:
    return await page.evaluate(expression)


async def test_the_diagram_shows_every_step_and_topic_without_overlaps(page: Page, shop: TestApp) -> None:
    # Given the example app running
    # When the Workbench opens
    await open_view(page, shop)
    await page.wait_for_selector("svg.diagram .node")
    # Then every step and every topic is a node of the diagram, laid out by the server
    ids = await js(page, "[...document.querySelectorAll('svg.diagram .node')].map((n) => n.dataset.id)")
    expected = ({f"step:{s.name}" for s in shop.app.steps} | {f"topic:{t.name}" for t in shop.app.topics}
                | {f"stream:{s.name}" for s in shop.app.streams}
                | {f"state:{g}" for s in shop.app.steps for g in (*s.state_reads, *s.state_writes)})
    assert set(ids) == expected
    assert await js(page, "document.querySelector('svg.diagram').dataset.layout") == "server"
    # And the kinds are styled apart and explained by the legend
    kinds = await js(page, """Object.fromEntries([...document.querySelectorAll('.node')]
        .map((n) => [n.dataset.id, [...n.classList].find((c) => c.startsWith('node-'))]))""")
    assert kinds["step:create-order"] == "node-api" and kinds["step:charge-payment"] == "node-event"
    assert kinds["step:hourly-report"] == "node-cron" and kinds["step:finance-review"] == "node-noop"
    assert kinds["topic:order.placed"] == "node-topic"
    legend = await page.text(".legend")
    for words in ("API step", "Event step", "Cron step", "Noop step", "Topic", "Stream", "State"):
        assert words in legend
    # And no two boxes overlap and no label is cut
    boxes = await js(page, """[...document.querySelectorAll('.node .node-box')].map((r) => {
        const b = r.getBoundingClientRect(); return [r.parentNode.dataset.id, b.x, b.y, b.width, b.height]; })""")
    for i, (a, ax, ay, aw, ah) in enumerate(boxes):
        for b, bx, by, bw, bh in boxes[i + 1:]:
            assert not (ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah), (a, b)
    labels = await js(page, "[...document.querySelectorAll('.node-name')].map((t) => t.textContent)")
    assert not [label for label in labels if label.endswith("…")]
    await screenshot(page, "flows")


async def test_a_flow_can_be_chosen_and_steps_in_no_flow_are_listed(page: Page, shop: TestApp) -> None:
    await open_view(page, shop)
    # When the reporting flow is chosen
    await page.click('.flow-tab[data-flow="reporting"]')
    await page.wait_for("location.hash === '#/flows/reporting'")
    await page.wait_for("document.querySelectorAll('svg.diagram .node[data-id^=\"step:\"]').length === 3")
    # Then only its steps are drawn
    steps = await js(page, "[...document.querySelectorAll('svg.diagram .node[data-id^=\"step:\"]')].map((n) => n.dataset.id)")
    assert sorted(steps) == ["step:finance-review", "step:get-stats", "step:hourly-report"]
    assert await page.text("#flow-description") == "Revenue figures for the finance team"


async def test_clicking_a_node_shows_its_configuration_and_schemas(page: Page, shop: TestApp) -> None:
    await open_view(page, shop)
    # When a person clicks the create-order box
    await page.click('.node[data-id="step:create-order"]')
    await page.wait_for("!document.querySelector('#details').hidden", what="the details panel")
    panel = await page.text("#details")
    # Then the panel shows its configuration
    assert await page.text("#details h2") == "create-order"
    for words in ("Takes an order and hands it to payment", "POST", "/orders", "order.placed",
                  "checkout", "steps/create_order.py:handler", "Python", "Timeout10 s"):
        assert words in panel, words
    # And its body schema as a field table, nested fields indented under their parent
    rows = await js(page, """[...document.querySelector('#details details.schema table.fields').rows]
        .slice(1).map((r) => [r.cells[0].textContent.replace('↳ ', ''), r.className, r.cells[1].textContent,
                              r.cells[2].textContent, r.cells[3].textContent, r.cells[4].textContent])""")
    by_name = {row[0]: row[1:] for row in rows}
    assert by_name["customer"] == ["depth-0", "string", "required", "at least 1 character",
                                   "Who is buying (e-mail address)"]
    assert by_name["currency"][3] == "matches ^[A-Z]{3}$"
    assert by_name["items"][:3] == ["depth-0", "array of object", "required"]
    assert by_name["sku"][0] == "depth-1" and by_name["price"][4] == "Unit price in cents"
    assert await page.evaluate("document.activeElement.id") == "details-title"
    await screenshot(page, "step-details")
    # When the topic it emits is chosen from the panel
    await page.click("#details .chip-topic")
    await page.wait_for("document.querySelector('#details h2').textContent === 'order.placed'")
    topic = await page.text("#details")
    # Then the topic's schema and both ends are shown
    assert "Sent by" in topic and "create-order" in topic and "charge-payment" in topic
    assert "PlacedOrder" in topic
    assert await page.evaluate("location.hash") == "#/flows/~all?node=topic%3Aorder.placed"


async def test_a_steps_flow_control_rules_are_shown_in_words_with_what_waits(
    page: Page, shop: TestApp,
) -> None:
    await open_view(page, shop)
    # When a person clicks the step with `flow: {concurrency: {limit: 4, key: customer}}`
    await page.click('.node[data-id="step:charge-payment"]')
    await page.wait_for("!!document.querySelector('#details .flow-rules [data-rule]')",
                        what="the flow-control rules")
    # Then the rule is in plain words, with how many events wait on it now
    rules = await js(page, "[...document.querySelectorAll('#details .flow-rules li')]"
                           ".map((li) => li.textContent)")
    assert rules == ["at most 4 running at once per customer — 0 waiting"]
    await screenshot(page, "step-flow-control")


async def test_the_endpoint_tester_sends_a_request_and_shows_the_response(page: Page, shop: TestApp) -> None:
    await open_view(page, shop, "#/endpoints/create-order")
    await page.wait_for_selector("#tester-body")
    # Given the body prefilled with an example generated from the Order schema
    body = json.loads(await page.evaluate("document.querySelector('#tester-body').value"))
    jsonschema.validate(body, shop.app.step("create-order").body)
    # When a person edits it and presses Send
    await page.fill("#tester-body", json.dumps(ORDER, indent=2))
    await page.click("#tester-send")
    await page.wait_for_selector(".response-head .badge")
    # Then the status, the timing and the body are shown, with a link to the trace
    assert await page.text(".response-head .badge") == "201 Created"
    assert float(await page.evaluate("document.querySelector('.timing').dataset.ms")) > 0
    answer = json.loads(await page.text(".response-body"))
    assert answer["total"] == 2500 and answer["customer"] == "ada@example.com"
    assert len(await page.text(".response-head .trace-link")) == 8
    await screenshot(page, "endpoint-tester")
    # And a path parameter is sent too
    await open_view(page, shop, "#/endpoints/get-order")
    await page.fill('input[data-param="id"]', answer["id"])
    await page.click("#tester-send")
    await page.wait_for_selector(".response-head .badge")
    assert await page.text(".response-head .badge") == "200 OK"
    assert json.loads(await page.text(".response-body"))["id"] == answer["id"]


async def test_a_log_line_appears_live_and_opens_its_trace(page: Page, shop: TestApp) -> None:
    await open_view(page, shop, "#/logs")
    await page.wait_for("document.querySelector('.live-status').textContent === 'Live'",
                        what="the log stream to connect")
    # When an order is placed while the page is open
    response = await shop.request("POST", "/orders", json=ORDER)
    trace_id = response.headers["x-trace-id"]
    # Then its log lines appear without reloading
    row = f'#log-lines tr[data-trace="{trace_id}"][data-step="create-order"]'
    await page.wait_for_selector(row)
    assert "order placed" in await page.text(row)
    await page.wait_for_selector(f'#log-lines tr[data-trace="{trace_id}"][data-step="send-receipt"]')
    await screenshot(page, "logs")
    # And filtering by the trace id keeps only that trace's lines
    await page.fill("#log-trace", trace_id)
    traces = await js(page, "[...document.querySelectorAll('#log-lines tr')].map((r) => r.dataset.trace)")
    assert traces and set(traces) == {trace_id}
    # When its trace id is clicked, the trace opens with a bar per step
    await page.click(f"{row} .trace-link")
    await page.wait_for(f"location.hash === '#/traces/{trace_id}'")
    await page.wait_for("document.querySelectorAll('.spans .span').length >= 3", what="three spans")
    steps = await js(page, "[...document.querySelectorAll('.spans .span')].map((s) => s.dataset.step)")
    assert steps[:3] == ["create-order", "charge-payment", "send-receipt"]
    assert await page.evaluate("document.querySelectorAll('.bar-ok').length") >= 3


async def test_recent_traces_list_opens_a_trace_timeline(page: Page, shop: TestApp) -> None:
    response = await shop.request("POST", "/orders", json=ORDER)
    trace_id = response.headers["x-trace-id"]
    await shop.wait_for_topic("receipt.sent")
    await open_view(page, shop, "#/traces")
    await page.wait_for_selector(f'tr.trace-row[data-trace="{trace_id}"]')
    assert "create-order → charge-payment → send-receipt" in await page.text(f'tr[data-trace="{trace_id}"]')
    await screenshot(page, "traces")
    await page.click(f'tr.trace-row[data-trace="{trace_id}"] td:nth-child(3)')
    await page.wait_for("document.querySelectorAll('.spans .span').length === 3")
    head = await page.text(".trace-head")
    assert trace_id in head and "3 span(s) across 3 step(s)" in head
    assert "sent order.placed" in await page.text('.span[data-step="create-order"]')
    await screenshot(page, "trace")


async def test_state_browser_shows_groups_keys_and_values(page: Page, shop: TestApp) -> None:
    response = await shop.request("POST", "/orders", json=ORDER)
    order_id = response.json["id"]
    await shop.wait_until(lambda: shop.state.get("receipts", order_id))
    await open_view(page, shop, "#/state")
    await page.wait_for_selector('nav.groups a[href="#/state/orders"]')
    groups = await js(page, "[...document.querySelectorAll('nav.groups a')].map((a) => a.textContent)")
    assert {"orders", "payments", "receipts", "stats"} <= set(groups)
    await page.click('nav.groups a[href="#/state/orders"]')
    await page.click(f'nav.keys a[href="#/state/orders/{order_id}"]')
    await page.wait_for_selector(".value-pane pre.json")
    value = json.loads(await page.text(".value-pane pre.json"))
    assert value["status"] == "paid" and value["total"] == 2500
    await screenshot(page, "state")
    # When the value is edited and saved, the store has the new value
    await page.click(".value-pane header button")
    await page.fill(".value-pane textarea", json.dumps({**value, "status": "refunded"}))
    await page.click(".value-pane button.primary")
    await page.wait_for("document.querySelector('.value-pane pre.json')?.textContent.includes('refunded')")
    assert (await shop.state.get("orders", order_id))["status"] == "refunded"


async def test_example_values_follow_their_schema(page: Page, shop: TestApp) -> None:
    # Given the example generator the endpoint tester prefills bodies with
    await open_view(page, shop)
    schemas: list[dict[str, Any]] = [
        {"type": "object", "required": ["code"], "properties": {"code": {"type": "string", "pattern": "^[A-Z]{3}$"}}},
        {"type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}$"},
        {"type": "string", "pattern": "^(EUR|USD)$"},
        {"type": "string", "pattern": "^[a-z0-9_-]{3,16}$"},
        {"type": "integer", "minimum": 10, "maximum": 20, "multipleOf": 5},
        {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        {"type": "string", "enum": ["small", "large"]},
        {"const": "fixed"},
        {"type": "string", "default": "dflt", "minLength": 2},
        {"type": "string", "examples": ["from-examples"]},
        {"type": "string", "format": "email"},
        {"type": "string", "format": "date-time"},
        {"type": "string", "minLength": 30, "maxLength": 40},
        {"type": "array", "minItems": 3, "uniqueItems": True, "items": {"type": "integer"}},
        {"type": ["null", "boolean"]},
        {"oneOf": [{"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}}, {"type": "string"}]},
        {"allOf": [{"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}},
                   {"required": ["b"], "properties": {"b": {"type": "boolean"}}}]},
        {"$defs": {"Money": {"type": "integer", "minimum": 1}}, "type": "object", "required": ["m"],
         "properties": {"m": {"$ref": "#/$defs/Money"}}},
        {"type": "object", "required": ["nested"], "additionalProperties": False, "properties": {
            "nested": {"type": "object", "required": ["deep"], "properties": {"deep": {"type": "array", "items": {
                "type": "object", "required": ["x"], "properties": {"x": {"type": "number", "minimum": 2.5}}}}}}}},
        *[step.body for step in shop.app.steps if step.body],
        *[topic.schema for topic in shop.app.topics if topic.schema],
    ]
    # When it makes an example of each
    examples = await page.evaluate(f"""import('/__motia/static/schema.js')
        .then((m) => {json.dumps(schemas)}.map((s) => m.exampleFor(s)))""")
    # Then every example is valid against its schema
    for schema, example in zip(schemas, examples, strict=True):
        jsonschema.validate(example, schema, format_checker=jsonschema.FormatChecker())
    assert examples[0] == {"code": "AAA"} and examples[7] == "fixed" and examples[9] == "from-examples"


# --- a failing step, behind a token: error traces, dead letters, replay -------------------

TOKEN = "wb-test-token"
FRAGILE = {
    "motia.yaml": """\
version: 1
app: fragile
defaults: {retries: 0}
schemas:
  Job: {type: object, required: [id], properties: {id: {type: string, description: Job id}}}
topics:
  job.requested: {schema: Job, description: Somebody asked for a job}
flows:
  jobs: {description: A job that fails until its switch is on}
steps:
  start-job:
    type: api
    method: POST
    path: /jobs
    body: Job
    emits: [job.requested]
    flows: [jobs]
    handler: steps/start_job.py
  run-job:
    type: event
    subscribes: [job.requested]
    flows: [jobs]
    handler: steps/run_job.py
  job-status:
    type: api
    method: GET
    path: /jobs/{id}
    query:
      type: object
      properties:
        detail: {type: string, enum: [short, full], description: How much to say}
    flows: [jobs]
    handler: steps/job_status.py
""",
    "steps/job_status.py": """\
async def handler(req, ctx):
    done = await ctx.state.get("jobs", req.params["id"])
    return {"status": 200, "body": {"id": req.params["id"], "done": bool(done), "detail": req.query.get("detail")}}
""",
    "steps/start_job.py": """\
async def handler(req, ctx):
    await ctx.emit({"topic": "job.requested", "data": {"id": req.body["id"]}})
    return {"status": 202, "body": {"queued": req.body["id"]}}
""",
    "steps/run_job.py": """\
async def handler(job, ctx):
    if not await ctx.state.get("switches", "on"):
        raise RuntimeError(f"job {job['id']} cannot run: the switch is off")
    await ctx.state.set("jobs", job["id"], {"done": True})
    ctx.logger.info("job done", job)
""",
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fragile(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TestApp]:
    root = tmp_path_factory.mktemp("fragile")
    for name, text in FRAGILE.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    # 127.0.0.2 is loopback to the kernel but not to motia: the token is required.
    async with TestApp(root / "motia.yaml", host="127.0.0.2", token=TOKEN) as app:
        yield app


async def test_a_token_guarded_workbench_opens_from_a_link_with_its_token(page: Page, fragile: TestApp) -> None:
    # Given a Workbench bound beyond 127.0.0.1, so guarded by MOTIA_WORKBENCH_TOKEN
    # When it is opened without the token, it is refused
    await page.goto(f"{fragile.url}/__motia/")
    assert '"Unauthorized"' in await page.text("body")
    # When it is opened from a link carrying the token
    await page.goto(f"{fragile.url}/__motia/?token={TOKEN}#/logs")
    await page.wait_for("document.body.dataset.ready === 'true'")
    # Then the page works (its fetches and its log stream use the cookie) and the token
    # is gone from the address bar
    assert await page.evaluate("location.search") == ""
    await page.wait_for("document.querySelector('.live-status').textContent === 'Live'")
    assert await page.evaluate("document.title") == "Logs · fragile · Motia Workbench"


async def test_a_failed_event_is_red_in_its_trace_and_is_replayed_from_dead_letters(
        page: Page, fragile: TestApp) -> None:
    # Given a job whose event step fails (no retries): its event is a dead letter
    response = await fragile.request("POST", "/jobs", json={"id": "j1"},
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status == 202
    trace_id = response.headers["x-trace-id"]
    await fragile.wait_until(fragile.dead_letters)
    # When its trace is opened
    await page.goto(f"{fragile.url}/__motia/?token={TOKEN}#/traces/{trace_id}")
    await page.wait_for_selector(".span-error .span-error-text")
    # Then the failed span is red and says why
    assert "the switch is off" in await page.text(".span-error .span-error-text")
    assert await page.evaluate("document.querySelectorAll('.bar-error').length") == 1
    assert "1 failed" in await page.text(".trace-head")
    assert await page.evaluate("getComputedStyle(document.querySelector('.bar-error')).backgroundColor") \
        == "rgb(201, 42, 42)"
    await screenshot(page, "trace-error")
    # When the dead letters are listed
    await page.evaluate("location.hash = '#/dlq'")
    await page.wait_for_selector("tr.dead-letter")
    row = await page.text("tr.dead-letter")
    assert "run-job" in row and "job.requested" in row and "the switch is off" in row
    await screenshot(page, "dead-letters")
    # And, the cause fixed, Replay is pressed
    await fragile.state.set("switches", "on", True)
    await page.click("tr.dead-letter button.replay")
    # Then the event runs again and the list empties
    await page.wait_for("document.querySelector('tr.dead-letter') === null", what="the list to empty")
    assert await fragile.wait_until(lambda: fragile.state.get("jobs", "j1")) == {"done": True}
    assert await fragile.dead_letters() == []


async def test_fifty_steps_are_drawn_without_overlapping_boxes(page: Page, shop: TestApp) -> None:
    # Given a 50-step app as the admin API would describe it, with and without a server layout
    app = fifty_steps()
    payload = {"plan": plan_to_dict(app), "layout": layout(app)}
    await open_view(page, shop)
    # When the page lays it out and draws it
    result = await page.evaluate(f"""Promise.all([import('/__motia/static/model.js'),
            import('/__motia/static/diagram.js'), import('/__motia/static/layout.js')])
        .then(([model, diagram, lay]) => {{
            const m = model.buildModel({json.dumps(payload)});
            const graph = model.diagramGraph(m, () => true, true);
            return [m.layout, null].map((server) => {{
                const placed = diagram.positions(graph, server);
                const svg = diagram.renderDiagram(placed, {{ onSelect: () => {{}}, label: 'test' }});
                document.body.append(svg);
                const cut = [...svg.querySelectorAll('.node-name')].filter((t) => t.textContent.endsWith('…')).length;
                svg.remove();
                return {{ source: placed.source, nodes: placed.nodes.length, overlaps: lay.overlaps(placed.nodes), cut }};
            }});
        }})""")
    # Then every step and topic is drawn, no two boxes overlap and no name is cut
    nodes = build_graph(app).number_of_nodes()
    assert result == [{"source": "server", "nodes": nodes, "overlaps": [], "cut": 0},
                      {"source": "client", "nodes": nodes, "overlaps": [], "cut": 0}]


async def test_the_endpoint_tester_sends_path_and_query_parameters(page: Page, fragile: TestApp) -> None:
    # Given an endpoint with a path parameter and a query field whose schema is an enum
    await page.goto(f"{fragile.url}/__motia/?token={TOKEN}#/endpoints/job-status")
    await page.wait_for_selector('input[data-query="detail"]')
    # Then the query field is prefilled from the schema and there is no body for a GET
    assert await page.evaluate("document.querySelector('input[data-query=\"detail\"]').value") == "short"
    assert await page.evaluate("document.querySelector('#tester-body')") is None
    # When the id is typed, the query changed and Send pressed
    await page.fill('input[data-param="id"]', "job 7")
    await page.fill('input[data-query="detail"]', "full")
    await page.click("#tester-send")
    await page.wait_for_selector(".response-head .badge")
    # Then the request carried both, encoded, and the answer is shown
    assert await page.text(".response-head .badge") == "200 OK"
    assert json.loads(await page.text(".response-body")) == {"id": "job 7", "done": False, "detail": "full"}
    assert "/jobs/job%207?detail=full" in await page.text("pre.curl")


async def test_dead_letters_that_are_not_failed_events_are_shown_for_what_they_are(
        page: Page, fragile: TestApp) -> None:
    from motia.runner.delivery.policy import raw_record
    from motia.runner.state.base import DeadLetter

    # Given three dead letters that are not a handler's failure: a message nobody could
    # read, data that broke its schema, and a cron tick out of retries
    junk = b"\xff\xfe binary junk"
    raw = raw_record(junk, {"x-origin": "legacy-billing"},
                     routing_key="job.requested", message_id="m-1")
    letters = [
        DeadLetter(step="run-job", topic="job.requested", data=None, event_id="m-1",
                   trace_id="", attempts=0, raw=raw, error={
                       "type": "UnreadableMessage", "traceback": "",
                       "message": "the body is not JSON (...); Motia events are JSON documents"}),
        DeadLetter(step="run-job", topic="job.requested", data={"id": 7}, event_id="e-2",
                   trace_id="t-2", attempts=0, error={
                       "type": "SchemaViolation", "traceback": "",
                       "message": "data on topic 'job.requested' does not match its schema",
                       "errors": [{"path": "/id", "message": "7 is not of type 'string'"}]}),
        DeadLetter(step="run-job", topic="", data=None, event_id="tick-3", trace_id="t-3",
                   attempts=4, error={"type": "RuntimeError", "message": "nightly failed",
                                      "traceback": ""}),
    ]
    for letter in letters:
        await fragile.state.add_dead_letter(letter)
    # When the dead letters are listed
    await page.goto(f"{fragile.url}/__motia/?token={TOKEN}#/dlq")
    await page.wait_for("document.querySelectorAll('tr.dead-letter').length === 3")
    rows = {row: await page.text(f"tr.dead-letter[data-id='{letter.id}']")
            for row, letter in zip(("raw", "schema", "cron"), letters, strict=True)}
    await screenshot(page, "dead-letters-kinds")
    # Then the unreadable one says so and shows its raw body (base64) and headers
    assert "unreadable" in rows["raw"] and "UnreadableMessage" in rows["raw"]
    assert f"raw message (base64, {len(junk)} bytes)" in rows["raw"]
    assert raw["body"] in rows["raw"] and "legacy-billing" in rows["raw"]
    # And the schema violation lists its errors; the cron tick is labelled as one
    assert "/id 7 is not of type 'string'" in rows["schema"]
    assert "cron tick" in rows["cron"] and "nightly failed" in rows["cron"]
    # When Replay is pressed on the unreadable one, Then it is kept, and the page says why
    await page.click(f"tr.dead-letter[data-id='{letters[0].id}'] button.replay")
    await page.wait_for("document.querySelector('.toast-error') !== null", what="the refusal")
    assert "cannot read" in await page.text(".toast-error")
    assert letters[0].id in {d.id for d in await fragile.dead_letters()}
    for letter in letters:
        await fragile.state.take_dead_letter(letter.id)


async def test_the_streams_view_shows_an_orders_status_live(page: Page, shop: TestApp) -> None:
    # Given an order the flow took to "paid"
    response = await shop.request("POST", "/orders", json=ORDER)
    order_id = response.json["id"]
    hub = shop.runtime.streams

    async def paid() -> bool:
        found = await hub.items.get("orders", order_id, "status")
        return found is not None and found[1]["status"] == "paid"

    await shop.wait_until(paid, timeout=20)
    # When the Streams view opens and the order's group is picked with the mouse
    await open_view(page, shop, "#/streams")
    await page.click('.pick-list[aria-label="Streams"] a[href="#/streams/orders"]')
    await page.wait_for_selector(".pick-list[aria-label='Groups']")
    assert "written by: create-order, charge-payment, send-receipt" in await page.text(".value-pane")
    await page.click(f'.pick-list[aria-label="Groups"] a[href="#/streams/orders/{order_id}"]')
    # Then the item shows the current status, then each later change as it is made
    await page.wait_for("document.querySelector('.stream-item[data-id=status]') !== null",
                        what="the order's status item")
    assert '"paid"' in await page.text(".stream-item[data-id=status]")
    await hub.set("orders", order_id, "refund", {"status": "placed", "total": 0})
    await page.wait_for("document.querySelector('.stream-item[data-id=refund]') !== null",
                        what="the item created after the page opened")
    assert "last change: create refund" in await page.text(".value-pane [role=status]")
    await hub.delete("orders", order_id, "refund")
    await page.wait_for("document.querySelector('.stream-item[data-id=refund]') === null",
                        what="the deleted item to go")
    await screenshot(page, "streams")
