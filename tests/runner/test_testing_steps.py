"""motia.testing: `call_step`, `trigger_cron`, the retries/timeout overrides, options
checked with the valid ones listed, and the project found from the test file."""

from __future__ import annotations

from pathlib import Path

import pytest
from _runtime_projects import write_project

from motia.testing import Emitted, StepFailed, StepResult, SyncTestApp, TestApp

YAML = """
    version: 1
    app: steps-harness
    defaults: {retries: 2, backoff: {initial: 50ms, factor: 1, max: 50ms}, timeout: 10s}
    schemas:
      Order: {type: object, required: [id], properties: {id: {type: string}, qty: {type: integer}}}
    topics:
      order.placed: {schema: Order}
      order.shipped: {schema: Order}
      tick.done: {schema: {type: object}}
    flows:
      f: {}
    steps:
      place-order:
        type: api
        method: POST
        path: /shops/{shop}/orders
        body: Order
        emits: [order.placed]
        flows: [f]
        handler: steps/place.py
      ship:
        type: event
        subscribes: [order.placed]
        emits: [order.shipped]
        flows: [f]
        handler: steps/ship.py
      nightly:
        type: cron
        cron: "0 3 * * *"
        emits: [tick.done]
        flows: [f]
        handler: steps/nightly.py
      flaky-cron:
        type: cron
        cron: "0 4 * * *"
        flows: [f]
        handler: steps/flaky.py
      slow:
        type: event
        subscribes: [tick.done]
        flows: [f]
        handler: steps/slow.py
"""

FILES = {
    "steps/place.py": """
        async def handler(req, ctx):
            await ctx.emit({"topic": "order.placed", "data": req.body})
            return {"status": 201, "body": {"shop": req.params["shop"], "id": req.body["id"],
                                            "note": req.query.get("note")}}
    """,
    "steps/ship.py": """
        async def handler(order, ctx):
            if order.get("qty", 1) < 0:
                raise ValueError("negative quantity")
            await ctx.emit({"topic": "order.shipped", "data": {"id": order["id"]}})
            return "shipped"
    """,
    "steps/nightly.py": """
        async def handler(ctx):
            await ctx.state.incr("nightly", "runs", 1)
            await ctx.emit({"topic": "tick.done", "data": {}})
    """,
    "steps/flaky.py": """
        async def handler(ctx):
            await ctx.state.incr("flaky", "attempts", 1)
            raise RuntimeError("the nightly export failed")
    """,
    "steps/slow.py": """
        import asyncio

        async def handler(data, ctx):
            await asyncio.sleep(30)
    """,
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path, YAML, FILES)


async def test_call_step_sends_an_api_request_and_returns_the_response_and_emits(
        project: Path) -> None:
    async with TestApp(project) as app:
        result = await app.call_step("place-order", {
            "params": {"shop": "s 1"}, "body": {"id": "o1", "qty": 2}, "query": {"note": "x"}})
        assert result == StepResult({"shop": "s 1", "id": "o1", "note": "x"},
                                    [Emitted("order.placed", {"id": "o1", "qty": 2})],
                                    result.trace_id, 201, result.headers)
        assert result.body == result.value
        await app.wait_for_topic("order.placed")  # the emit was published: ship ran


async def test_call_step_runs_an_event_step_with_the_given_data(project: Path) -> None:
    async with TestApp(project) as app:
        result = await app.call_step("ship", {"id": "o2"})
        assert (result.value, result.emits) == ("shipped", [Emitted("order.shipped",
                                                                    {"id": "o2"})])
        assert result.emits[0].event_id  # kept, not compared


async def test_call_step_raises_the_handlers_error(project: Path) -> None:
    async with TestApp(project) as app:
        with pytest.raises(StepFailed, match=r"^step 'ship' failed: ValueError: negative "
                                             r"quantity\n") as failure:
            await app.call_step("ship", {"id": "o3", "qty": -1})
        assert 'raise ValueError("negative quantity")' in failure.value.traceback


async def test_call_step_checks_its_input(project: Path) -> None:
    async with TestApp(project) as app:
        with pytest.raises(ValueError, match=r"the data does not match the schema of topic "
                                             r"'order.placed'"):
            await app.call_step("ship", {"qty": 1})
        with pytest.raises(KeyError, match=r"no step 'shipp' \(did you mean 'ship'\?\); "
                                           r"steps that run: place-order, ship, nightly"):
            await app.call_step("shipp", {})
        with pytest.raises(TypeError, match=r"its path /shops/\{shop\}/orders needs params "
                                            r"shop"):
            await app.call_step("place-order", {"body": {"id": "o"}})
        with pytest.raises(TypeError, match=r"unknown request keys json; an API request has "
                                            r"body \(sent as JSON\) or data"):
            await app.call_step("place-order", {"json": {}})
        with pytest.raises(TypeError, match=r"pass body \(JSON\) or data \(raw bytes\), "
                                            r"not both"):
            await app.call_step("place-order", {"body": {}, "data": b"", "params": {"shop": 1}})


async def test_call_step_sends_raw_bytes_as_they_are(project: Path) -> None:
    async with TestApp(project) as app:
        result = await app.call_step("place-order", {
            "params": {"shop": "s"}, "data": b'{"id": "raw", "qty": 1}',
            "headers": {"content-type": "application/json"}})
        assert (result.status, result.body["id"]) == (201, "raw")


async def test_trigger_cron_fires_a_tick_now_and_returns_its_emits(project: Path) -> None:
    async with TestApp(project) as app:
        result = await app.trigger_cron("nightly")
        assert result.emits == [Emitted("tick.done", {})]
        assert await app.state.get("nightly", "runs") == 1
        with pytest.raises(ValueError, match=r"step 'ship' is an event step, not a cron step"):
            await app.trigger_cron("ship")


async def test_trigger_cron_retries_then_fails_with_the_dead_letter(project: Path) -> None:
    async with TestApp(project) as app:
        with pytest.raises(StepFailed, match=r"^step 'flaky-cron' failed: the nightly export "
                                             r"failed"):
            await app.trigger_cron("flaky-cron")
        assert await app.state.get("flaky", "attempts") == 3  # the first try + 2 retries
        [letter] = await app.dead_letters("flaky-cron")
        assert letter.attempts == 3


async def test_retries_and_timeout_are_overridable(project: Path) -> None:
    async with TestApp(project, retries=0, timeout="200ms") as app:
        assert {s.retries for s in app.app.steps if s.runs} == {0}
        with pytest.raises(StepFailed):
            await app.trigger_cron("flaky-cron")
        assert await app.state.get("flaky", "attempts") == 1
        with pytest.raises(StepFailed, match=r"^step 'slow' failed: HandlerTimeout: .*0.2"):
            await app.call_step("slow", {})


VALID = ("project, retries, timeout, events, state, amqp_url, state_url, host, role, "
         "log_format, max_body, grace, eager, dev, check_responses, token, metrics_port, metrics, hooks")


def test_the_valid_options_are_the_run_options_but_the_port() -> None:
    from dataclasses import fields

    from motia._testing_options import OPTIONS
    from motia.runner.config import RunConfig

    assert set(OPTIONS) == {f.name for f in fields(RunConfig)} - {"port"} | {
        "project", "retries", "timeout", "hooks"}
    assert ", ".join(OPTIONS).startswith(VALID)  # new RunConfig fields come before hooks


@pytest.mark.parametrize(("options", "message"), [
    ({"retry": 0}, "TestApp: unknown option 'retry' (did you mean 'retries'?); valid options: "),
    ({"port": 3000}, "TestApp: unknown option 'port' (a test app listens on a free port: "
                     "read its `url`); valid options: "),
    ({"bogus": 1}, "TestApp: unknown option 'bogus'; valid options: "),
])
def test_a_wrong_option_lists_the_valid_ones(project: Path, options: dict[str, object],
                                             message: str) -> None:
    from motia._testing_options import OPTIONS

    message += ", ".join(OPTIONS)
    with pytest.raises(TypeError) as error:
        TestApp(project, **options)
    assert str(error.value) == message
    with pytest.raises(TypeError) as error:
        SyncTestApp(project, **options)
    assert str(error.value) == message.replace("TestApp", "SyncTestApp", 1)


@pytest.mark.parametrize(("options", "message"), [
    ({"retries": -1}, "retries=-1: expected a whole number, 0 or more"),
    ({"timeout": "2x"}, "timeout='2x': invalid duration '2x'"),
])
def test_a_wrong_override_value_says_what_is_expected(project: Path, options: dict[str, object],
                                                     message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}"):
        TestApp(project, **options)


def test_the_project_is_found_from_the_test_file_not_the_cwd(
        project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tests = project.parent / "tests" / "unit"
    tests.mkdir(parents=True)
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    assert TestApp(relative_to=tests).source == project
    assert TestApp("motia.yaml", relative_to=tests).source == project
    assert TestApp("../..", relative_to=tests).source == project
    assert TestApp("../../motia.yaml", relative_to=tests).source == project
    # and by default from the calling file: this one, whose folders hold the repo's example
    assert TestApp().source == Path(__file__).resolve().parents[2] / "motia.yaml"
    with pytest.raises(FileNotFoundError, match=r"motia.yaml not found \(a relative project "
                                                r"path is read from the test file's folder"):
        TestApp("../motia.yaml", relative_to=tests)


def test_sync_test_app_serves_with_blocking_calls(project: Path) -> None:
    with SyncTestApp(project) as app:
        result = app.call_step("place-order", {"params": {"shop": "a"}, "body": {"id": "o9"}})
        assert result.status == 201
        app.wait_for_topic("order.placed")
        assert app.state.get("missing", "key") is None
        app.state.set("g", "k", 1)
        assert app.wait_until(lambda: app.state.get("g", "k")) == 1
        assert app.state.incr("g", "n", 2) == 2
        assert app.state.list("g", limit=1) == {"items": [{"key": "k", "value": 1}],
                                                 "cursor": app.state.list("g", limit=1)["cursor"]}
        assert app.state.get_group("g") == {"k": 1, "n": 2}
        assert "g" in app.state.groups()
        assert app.trigger_cron("nightly").emits == [Emitted("tick.done", {})]
        # calling it with options restarts it with them
        assert app(retries=0) is app and {s.retries for s in app.app.steps if s.runs} == {0}
        assert app.state.get("g", "k") is None  # a fresh in-memory store
