"""`flow:` (concurrency, rate, debounce, order) compiles into the plan, and each key path,
number and duration is checked at its exact motia.yaml:LINE:COL."""

from __future__ import annotations

from pathlib import Path

import pytest
from projects import VALID, errors_of, hints_of, write_project

from motia.compiler import compile_project
from motia.compiler.flowcontrol import describe
from motia.compiler.ir import Concurrency, Debounce, FlowControl, Order, Rate

NESTED = VALID.replace("      id: {type: string}\n", (
    "      id: {type: string}\n"
    "      customer: {type: object, properties: {email: {type: string}}}\n"))


def _with(event: str) -> str:
    """The project with `event` lines added to the event step `ship` (line 27 on)."""
    return NESTED.replace("    handler: steps/ship.js\n", f"{event}    handler: steps/ship.js\n")


def test_every_rule_reaches_the_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # Given all four rules, keyed and global
    write_project(tmp_path, _with(
        "    flow:\n"
        "      concurrency: {limit: 2, key: id}\n"
        "      rate: {limit: 10, per: 1m, key: customer.email}\n"
        "      debounce: {wait: 500ms}\n"
        "      order: {key: id}\n"))
    compiled = compile_project("motia.yaml")
    ship = compiled.app.step("ship")
    # Then the plan holds them resolved, durations in seconds
    assert ship.flow_control == FlowControl(
        concurrency=Concurrency(2, "id"), rate=Rate(10, 60.0, "customer.email"),
        debounce=Debounce(0.5, None), order=Order("id"))
    assert describe(ship.flow_control) == [
        "one at a time in publish order per id",
        "a burst runs once, 500ms after its last event",
        "at most 2 running at once per id",
        "at most 10 starts per 1m per customer.email",
    ]
    # And a key the schema does not require is a warning
    assert [str(w).split("\n")[0] for w in compiled.warnings] == [
        "motia.yaml:29:34: warning: flow.rate key 'customer.email' is not required by the schema"]


def test_a_step_without_flow_has_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_project(tmp_path, _with("    flow: {}\n"))
    assert compile_project("motia.yaml").app.step("ship").flow_control is None


@pytest.mark.parametrize(("event", "error", "hint"), [
    ("    flow: {concurrency: {limit: 2, key: idd}}\n",
     "motia.yaml:27:41: flow.concurrency key 'idd': topic 'order.placed' (schema Order) has no "
     "property 'idd' in its data", "did you mean 'id'?"),
    ("    flow: {order: {key: customer.emial}}\n",
     "motia.yaml:27:25: flow.order key 'customer.emial': topic 'order.placed' (schema Order) "
     "has no property 'emial' in `customer`", "did you mean 'email'?"),
    ("    flow: {debounce: {wait: 1s, key: data.id}}\n",
     "motia.yaml:27:38: flow.debounce key 'data.id': topic 'order.placed' (schema Order) has "
     "no property 'data' in its data", "its properties are customer, id"),
    ("    flow: {rate: {limit: 10, per: 10y}}\n",
     "motia.yaml:27:35: 'flow.rate.per' in step 'ship': invalid duration '10y'",
     "write a number with a unit: 500ms, 10s, 1m, 1h or 1d (a plain number is seconds)"),
    ("    flow: {rate: {limit: 10, per: 2d}}\n",
     "motia.yaml:27:35: per must be between 10ms and 1d, got 2d", "e.g. `per: 1m`"),
    ("    flow: {debounce: {wait: 0s}}\n",
     "motia.yaml:27:29: wait must be between 10ms and 1d, got 0ms", "e.g. `wait: 5s`"),
    ("    flow: {concurrency: {limit: 0}}\n",
     "motia.yaml:27:33: 'flow.concurrency.limit' in step 'ship' must be at least 1, got 0", ""),
    ("    flow: {rate: {per: 1s}}\n",
     "motia.yaml:27:12: step 'ship' is missing required key 'limit'", ""),
    ("    flow: {concurrency: {limit: 2, keys: id}}\n",
     "motia.yaml:27:36: unknown key 'keys' in step 'ship'", ""),
    ("    flow: {throttle: {limit: 2}}\n",
     "motia.yaml:27:12: unknown key 'throttle' in step 'ship'", ""),
])
def test_a_bad_rule_is_reported_where_it_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, event: str, error: str, hint: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    write_project(tmp_path, _with(event))
    assert errors_of() == [error]
    if hint:
        assert hints_of() == [hint]


def test_the_compile_summary_and_the_html_export_name_the_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io

    from motia._summary import print_summary
    from motia.compiler.html import render_html

    monkeypatch.chdir(tmp_path)
    write_project(tmp_path, _with("    flow: {concurrency: {limit: 2, key: id}, "
                                  "rate: {limit: 10, per: 1s}}\n"))
    compiled = compile_project("motia.yaml")
    out, err = io.StringIO(), io.StringIO()
    print_summary(compiled, [], out, err)
    assert ("FLOW CONTROL  RULES\n"
            "ship          at most 2 running at once per id; at most 10 starts per 1s\n"
            ) in out.getvalue()
    page = render_html(compiled.app)
    assert '<span class="muted">flow: at most 2 running at once per id</span>' in page
    assert '<span class="muted">flow: at most 10 starts per 1s</span>' in page
