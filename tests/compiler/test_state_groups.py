"""`state: {reads, writes}` on steps: parsed, checked for consistency, drawn as nodes."""

from __future__ import annotations

from pathlib import Path

from projects import compiled, errors_of, write_project

from motia.compiler.graph import build_graph

APP = """\
version: 1
app: carts
topics:
  cart.updated: {}
flows:
  shop: {}
steps:
  add-item:
    type: api
    method: POST
    path: /carts
    emits: [cart.updated]
    flows: [shop]
    state: {writes: [carts]}
    handler: steps/create.py
  price-cart:
    type: event
    subscribes: [cart.updated]
    flows: [shop]
    state: {reads: [carts, prices], writes: [totals]}
    handler: steps/create.py
  show-total:
    type: api
    method: GET
    path: /totals
    flows: [shop]
    state: {reads: [totls]}
    handler: steps/create.py
"""


def warnings_of(path: Path) -> list[str]:
    return [str(w) for w in compiled(path).warnings]


def test_reads_and_writes_are_part_of_the_plan(tmp_path: Path) -> None:
    app = compiled(write_project(tmp_path, APP, handlers=["steps/create.py"])).app
    assert app.step("add-item").state_writes == ("carts",)
    assert app.step("price-cart").state_reads == ("carts", "prices")
    assert app.step("price-cart").state_writes == ("totals",)


def test_a_group_only_read_is_a_warning_with_did_you_mean(tmp_path: Path) -> None:
    # Given a step reading "totls" (nothing writes it; "totals" is written) and "prices"
    path = write_project(tmp_path, APP, handlers=["steps/create.py"])
    # When compiled, Then it compiles, warning once per group nobody writes
    assert warnings_of(path) == [
        f"{path}:20:28: warning: state group 'prices' is read by step 'price-cart' but no "
        "step writes it\n  hint: add `state: {writes: [prices]}` to the step that sets it, "
        "or remove it from `reads`",
        f"{path}:27:21: warning: state group 'totls' is read by step 'show-total' but no "
        "step writes it\n  hint: did you mean 'totals'?",
    ]


def test_groups_differing_only_in_case_are_a_warning(tmp_path: Path) -> None:
    text = APP.replace("reads: [carts, prices]", "reads: [Carts]").replace("[totls]", "[totals]")
    path = write_project(tmp_path, text, handlers=["steps/create.py"])
    assert warnings_of(path) == [
        f"{path}:20:21: warning: state group 'Carts' is read by step 'price-cart' but no "
        "step writes it\n  hint: did you mean 'carts'?",
        f"{path}:20:21: warning: state groups 'carts' and 'Carts' differ only in case\n"
        "  hint: state group names are case-sensitive: spell them the same way",
    ]


def test_an_unknown_key_or_a_bad_name_under_state_is_an_error(tmp_path: Path) -> None:
    text = APP.replace("state: {writes: [carts]}", "state: {write: [carts]}")
    path = write_project(tmp_path / "a", text, handlers=["steps/create.py"])
    assert [e.split(": ", 1)[1] for e in errors_of(path)] == [
        "unknown key 'write' in step 'add-item'"]
    text = APP.replace("state: {writes: [carts]}", "state: {writes: ['my carts']}")
    path = write_project(tmp_path / "b", text, handlers=["steps/create.py"])
    assert len(errors_of(path)) == 1


def test_groups_are_graph_nodes_between_their_writers_and_readers(tmp_path: Path) -> None:
    text = APP.replace("reads: [carts, prices], writes: [totals]", "reads: [carts, totals], writes: [totals]").replace("[totls]", "[totals]")
    app = compiled(write_project(tmp_path, text, handlers=["steps/create.py"])).app
    graph = build_graph(app)
    assert graph.nodes["state:carts"]["kind"] == "state"
    assert graph.nodes["state:carts"]["flows"] == ["shop"]
    edges = {(s, t): k for s, t, k in graph.edges(data="kind") if "state:" in s + t}
    assert edges == {
        ("step:add-item", "state:carts"): "writes",
        ("state:carts", "step:price-cart"): "reads",
        ("step:price-cart", "state:totals"): "updates",
        ("state:totals", "step:show-total"): "reads",
    }
