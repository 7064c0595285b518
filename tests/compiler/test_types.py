"""`motia compile --types`: schemas as TypedDicts / interfaces, typed req/ctx per step.

The two generated files of a project using every kind of schema are golden files
(tests/compiler/golden/types/; regenerate with MOTIA_UPDATE_GOLDEN=1 after an intended
change and review the diff). Beyond their text: the Python file imports and passes
`mypy --strict`, the declarations file passes `tsc`, and handlers written against them
are accepted or rejected by both checkers as the schemas say.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import textwrap
from pathlib import Path

import pytest
from golden_check import assert_golden
from projects import write_project

from motia.compiler import compile_project
from motia.compiler.ir import App
from motia.compiler.pytypes import render_python_types
from motia.compiler.tstypes import render_ts_types

SHOP = """\
version: 1
app: shop
schemas:
  Address:
    type: object
    required: [city]
    properties:
      city: {type: string, description: "Where \\"it\\" goes"}
      zip: {type: [string, "null"]}
  Order:
    type: object
    required: [id, status, items, ship_to]
    properties:
      id: {type: string}
      status: {enum: [new, paid, shipped], description: Where the order is}
      items:
        type: array
        items:
          type: object
          required: [sku, qty]
          properties:
            sku: {type: string}
            qty: {type: integer, minimum: 1}
            price: {type: number}
      ship_to: {$ref: Address}
      tags: {type: object, additionalProperties: {type: string}}
      meta: {type: object}
      kind: {const: order}
      note: {anyOf: [{type: string}, {type: integer}]}
  Headers:
    type: object
    properties:
      content-type: {type: string}
      from: {type: string}
  Tree:
    type: object
    required: [root]
    properties:
      root: {$ref: "#/$defs/node"}
    $defs:
      node:
        type: object
        properties:
          children: {type: array, items: {$ref: "#/$defs/node"}}
  Status: {enum: [1, 2, 3]}
  Response: {type: object, properties: {ok: {type: boolean}}}
topics:
  order.placed: {schema: Order, description: A customer placed an order}
  order.noted: {schema: {type: object, required: [text], properties: {text: {type: string}}}}
  anything: {}
flows:
  shop: {}
steps:
  create-order:
    type: api
    method: POST
    path: /orders/{shop}/items/{item_id}
    body: Order
    query: {type: object, properties: {dry: {type: boolean}, tag: {type: array, items: {type: string}}}}
    responses: {201: Order, 204: null}
    emits: [order.placed, anything]
    flows: [shop]
    handler: steps/create_order.py
  get-status:
    type: api
    method: GET
    path: /status
    flows: [shop]
    handler: steps/status.js
  on-order:
    type: event
    subscribes: [order.placed, order.noted]
    emits: [order.noted]
    flows: [shop]
    handler: steps/on_order.js
  nightly:
    type: cron
    cron: "0 3 * * *"
    flows: [shop]
    handler: steps/nightly.py
"""
HANDLERS = ("steps/create_order.py", "steps/status.js", "steps/on_order.js", "steps/nightly.py")


@pytest.fixture
def shop(tmp_path: Path) -> App:
    write_project(tmp_path, SHOP, handlers=HANDLERS)
    return compile_project(tmp_path / "motia.yaml").app


def test_the_python_types_match_golden(shop: App) -> None:
    assert_golden("types/motia_types.py.golden", render_python_types(shop))


def test_the_typescript_types_match_golden(shop: App) -> None:
    assert_golden("types/motia-types.d.ts.golden", render_ts_types(shop))


def test_the_python_types_import_and_name_every_schema(shop: App, tmp_path: Path) -> None:
    path = tmp_path / "motia_types.py"
    path.write_text(render_python_types(shop))
    spec = importlib.util.spec_from_file_location("motia_types_shop", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.Order.__required_keys__ == {"id", "status", "items", "ship_to"}
    assert module.Order.__optional_keys__ == {"tags", "meta", "kind", "note"}
    assert module.Headers.__optional_keys__ == {"content-type", "from"}
    # a schema named like an imported name gets a name of its own
    assert module.Response_2.__optional_keys__ == {"ok"}


PY_OK = """\
from motia_types import (CreateOrderContext, CreateOrderRequest, CreateOrderResult,
                         NightlyContext, Order)


async def handler(req: CreateOrderRequest, ctx: CreateOrderContext) -> CreateOrderResult:
    order: Order = req.body
    city: str = order["ship_to"]["city"]
    skus = [item["sku"] for item in order["items"] if item["qty"] > 1]
    shop: str = req.params["shop"]
    dry: bool = req.query.get("dry", False)
    await ctx.emit({"topic": "order.placed", "data": order})
    await ctx.emit({"topic": "anything", "data": [1, 2], "delay": "30s"})
    ctx.logger.info("order %s to %s", order["id"], city, extra={"skus": skus, "dry": dry})
    if order["status"] == "shipped":
        return {"status": 204}
    return {"status": 201, "body": order, "headers": {"Location": f"/orders/{shop}"}}


async def nightly(ctx: NightlyContext) -> None:
    await ctx.state.update("stats", "nightly", [{"increment": "runs"}])
    page = await ctx.state.list("orders", prefix="2024-", limit=50)
    for item in page["items"]:
        ctx.logger.info("order", {"key": item["key"]})
"""
PY_BAD = {
    'order["ship_to"]["city"]': 'TypedDict "Address" has no key "town"',
    'req.params["shop"]': 'TypedDict "CreateOrderParams" has no key "store"',
    '{"topic": "order.placed", "data": order}': 'expected "OrderPlacedEmit | AnythingEmit"',
    '{"status": 201, "body": order,': 'Incompatible return value type',
}
PY_REPLACEMENT = {
    'order["ship_to"]["city"]': 'order["ship_to"]["town"]',
    'req.params["shop"]': 'req.params["store"]',
    '{"topic": "order.placed", "data": order}': '{"topic": "order.shipped", "data": order}',
    '{"status": 201, "body": order,': '{"status": 200, "body": order,',
}


def _mypy(mypy: str, site: Path, root: Path, source: str) -> subprocess.CompletedProcess[str]:
    (root / "handler.py").write_text(source)
    env = {**os.environ, "MYPYPATH": str(site)}
    return subprocess.run([mypy, "--strict", "--no-incremental", "handler.py", "motia_types.py"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_mypy_accepts_a_handler_that_follows_the_schemas(
    mypy: str, motia_for_mypy: Path, shop: App, tmp_path: Path
) -> None:
    (tmp_path / "motia_types.py").write_text(render_python_types(shop))
    result = _mypy(mypy, motia_for_mypy, tmp_path, PY_OK)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("mistake", list(PY_BAD))
def test_mypy_rejects_each_mistake_against_the_schemas(
    mypy: str, motia_for_mypy: Path, shop: App, tmp_path: Path, mistake: str
) -> None:
    (tmp_path / "motia_types.py").write_text(render_python_types(shop))
    result = _mypy(mypy, motia_for_mypy, tmp_path, PY_OK.replace(mistake, PY_REPLACEMENT[mistake]))
    assert result.returncode == 1
    assert PY_BAD[mistake] in result.stdout


JS_OK = """\
/** @type {import('./motia-types.js').OnOrderHandler} */
exports.handler = async (data, ctx) => {
  if ('text' in data) {
    ctx.logger.info('note', { text: data.text });
    return;
  }
  const total = data.items.reduce((sum, item) => sum + item.qty * (item.price ?? 0), 0);
  await ctx.emit({ topic: 'order.noted', data: { text: `${data.ship_to.city}: ${total}` } });
  await ctx.state.update('orders', data.id, [{ set: 'status', value: data.status }]);
};

/** @type {import('./motia-types.js').GetStatusHandler} */
exports.status = async (req, ctx) => ({ status: 200, body: { trace: ctx.traceId, raw: req.rawBody.length } });
"""
JS_BAD = {
    "data.ship_to.city": "Property 'town' does not exist on type 'Address'.",
    "topic: 'order.noted'": "is not assignable to type '\"order.noted\"'",
    "ctx.traceId": "Property 'trace_id' does not exist on type",
}
JS_REPLACEMENT = {"data.ship_to.city": "data.ship_to.town",
                  "topic: 'order.noted'": "topic: 'order.placed'",
                  "ctx.traceId": "ctx.trace_id"}
JSCONFIG = """\
{"compilerOptions": {"checkJs": true, "allowJs": true, "noEmit": true, "strict": true,
 "target": "es2022", "module": "nodenext", "lib": ["es2022"]},
 "include": ["handler.js", "motia-types.d.ts"]}
"""


def _tsc(tsc: str, root: Path, source: str) -> subprocess.CompletedProcess[str]:
    (root / "handler.js").write_text(source)
    (root / "jsconfig.json").write_text(JSCONFIG)
    return subprocess.run([tsc, "-p", "jsconfig.json"], cwd=root, capture_output=True,
                          text=True, timeout=300)


def test_tsc_accepts_a_handler_that_follows_the_schemas(
    tsc: str, shop: App, tmp_path: Path
) -> None:
    (tmp_path / "motia-types.d.ts").write_text(render_ts_types(shop))
    result = _tsc(tsc, tmp_path, JS_OK)
    assert (result.returncode, result.stdout) == (0, "")


@pytest.mark.parametrize("mistake", list(JS_BAD))
def test_tsc_rejects_each_mistake_against_the_schemas(
    tsc: str, shop: App, tmp_path: Path, mistake: str
) -> None:
    (tmp_path / "motia-types.d.ts").write_text(render_ts_types(shop))
    result = _tsc(tsc, tmp_path, JS_OK.replace(mistake, JS_REPLACEMENT[mistake]))
    assert result.returncode == 2
    assert JS_BAD[mistake] in result.stdout


def test_a_step_without_emits_cannot_emit(mypy: str, motia_for_mypy: Path, shop: App,
                                          tmp_path: Path) -> None:
    (tmp_path / "motia_types.py").write_text(render_python_types(shop))
    source = textwrap.dedent("""\
        from motia_types import GetStatusContext


        async def handler(ctx: GetStatusContext) -> None:
            await ctx.emit({"topic": "anything", "data": 1})
        """)
    result = _mypy(mypy, motia_for_mypy, tmp_path, source)
    assert 'expected "Never"' in result.stdout
