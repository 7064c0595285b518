"""`idempotency: {key, ttl}` (and `idempotent: true`) compile into the plan, and a key path
is checked against the schemas it reads from, at its exact motia.yaml:LINE:COL."""

from __future__ import annotations

from pathlib import Path

import pytest
from projects import VALID, errors_of, hints_of, write_project

from motia.compiler import compile_project
from motia.compiler.ir import Idempotency

NESTED = VALID.replace("      id: {type: string}\n", (
    "      id: {type: string}\n"
    "      customer: {type: object, properties: {email: {type: string}}}\n"
    "      lines: {type: array, items: {type: object, properties: {sku: {type: string}}}}\n"))


def _with(api: str = "", event: str = "", text: str = NESTED) -> str:
    """The project with `api` lines added to the API step and `event` lines to the event step."""
    text = text.replace("    handler: steps/create.py\n", f"{api}    handler: steps/create.py\n")
    return text.replace("    handler: steps/ship.js\n", f"{event}    handler: steps/ship.js\n")


def test_keys_and_ttls_reach_the_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # Given an API step keyed by a body field and event steps keyed by data or event id
    write_project(tmp_path, _with(api="    idempotency: {key: body.id, ttl: 1h}\n",
                                  event="    idempotency: {key: data.customer.email}\n")
                  + "  audit:\n    type: event\n    subscribes: [order.placed]\n"
                    "    idempotent: true\n    flows: [checkout]\n    handler: steps/ship.js\n"
                    "  hook:\n    type: api\n    method: POST\n    path: /hook\n"
                    "    idempotent: true\n    flows: [checkout]\n    handler: steps/create.py\n")
    compiled = compile_project("motia.yaml")
    steps = {s.name: s for s in compiled.app.steps}
    # Then each carries its key and ttl; the short forms use the event id / the header
    assert steps["create-order"].idempotency == Idempotency("body.id", 3600.0)
    assert steps["ship"].idempotency == Idempotency("data.customer.email", 86400.0)
    assert steps["audit"].idempotency == Idempotency(None, 86400.0)
    assert steps["hook"].idempotency == Idempotency("headers.idempotency-key", 86400.0)
    assert steps["ship"].idempotent and not compile_project(
        write_project(tmp_path / "plain", NESTED)).app.steps[1].idempotent
    # And an optional key is a warning: such inputs run every time
    assert [str(w).split("\n")[0] for w in compiled.warnings] == [
        "motia.yaml:29:19: warning: idempotency key 'data.customer.email' is not required "
        "by the schema"]


@pytest.mark.parametrize(("api", "event", "error", "hint"), [
    ("    idempotency: {key: body.idd}\n", "",
     "motia.yaml:23:24: idempotency key 'body.idd': the body schema of step 'create-order' "
     "has no property 'idd' in `body`", "did you mean 'id'?"),
    ("", "    idempotency: {key: data.customer.emial}\n",
     "motia.yaml:28:24: idempotency key 'data.customer.emial': topic 'order.placed' (schema "
     "Order) has no property 'emial' in `data.customer`", "did you mean 'email'?"),
    ("", "    idempotency: {key: data.lines.0.skus}\n",
     "motia.yaml:28:24: idempotency key 'data.lines.0.skus': topic 'order.placed' (schema "
     "Order) has no property 'skus' in `data.lines.0`", "did you mean 'sku'?"),
    ("", "    idempotency: {key: dat.id}\n",
     "motia.yaml:28:24: idempotency key 'dat.id' must start with `data.`",
     "did you mean 'data'?"),
    ("    idempotency: {key: id}\n", "",
     "motia.yaml:23:24: idempotency key 'id' must start with `body.` or `query.` or "
     "`params.` or `headers.`", "e.g. `body.id`"),
    ("    idempotency: {key: params.order}\n", "",
     "motia.yaml:23:24: idempotency key 'params.order' names no path parameter of /orders",
     "path parameters of /orders: none"),
    ("", "    idempotency: {key: data.id, ttl: 0s}\n",
     "motia.yaml:28:38: ttl must be longer than 0", "e.g. `ttl: 24h`"),
    ("", "    idempotent: true\n    idempotency: {key: data.id}\n",
     "motia.yaml:28:17: `idempotent: true` and `idempotency:` are both given",
     "keep `idempotency:` (`idempotent: true` is its short form)"),
])
def test_a_bad_key_is_reported_where_it_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api: str, event: str, error: str,
    hint: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    write_project(tmp_path, _with(api=api, event=event))
    assert errors_of() == [error]
    assert hints_of() == [hint]


def test_unknown_idempotency_options_are_schema_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_project(tmp_path, _with(event="    idempotency: {keys: data.id}\n"))
    assert errors_of() == [
        "motia.yaml:28:19: unknown key 'keys' in step 'ship'"]
