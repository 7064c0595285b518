"""Projects on disk for the compiler tests: a motia.yaml, its handlers, its schema files."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path

from motia.compiler import Compiled, compile_project
from motia.errors import ProjectInvalid

# A small valid project: the broken corpus changes one thing in it at a time.
VALID = """\
version: 1
app: shop
schemas:
  Order:
    type: object
    required: [id]
    properties:
      id: {type: string}
topics:
  order.placed: {schema: Order}
flows:
  checkout: {}
steps:
  create-order:
    type: api
    method: POST
    path: /orders
    body: Order
    emits: [order.placed]
    flows: [checkout]
    handler: steps/create.py
  ship:
    type: event
    subscribes: [order.placed]
    flows: [checkout]
    handler: steps/ship.js
"""

HANDLERS = ("steps/create.py", "steps/ship.js")
#: what a handler file named in `handlers` holds: just a `handler` function
HANDLER_SOURCE = {
    ".py": "async def handler(*args):\n    return None\n",
    ".js": "exports.handler = async () => {};\n",
    ".mjs": "export async function handler() {}\n",
    ".cjs": "exports.handler = async () => {};\n",
}

# The SPEC section 3 example, verbatim apart from comments.
SPEC_EXAMPLE = """\
version: 1
app: billing
defaults:
  timeout: 30s
  retries: 3
  backoff: {initial: 500ms, factor: 2, max: 1m}
  workers: 1
  concurrency: 32
  memory: 512MB
adapters:
  events: memory
  state: sqlite
schemas:
  Payment:
    type: object
    required: [id, amount, currency]
    properties:
      id: {type: string}
      amount: {type: integer, minimum: 1}
      currency: {type: string, pattern: "^[A-Z]{3}$"}
  Invoice: {$ref: schemas/invoice.json}
topics:
  payment.received: {schema: Payment, description: Stripe confirmed a payment}
  invoice.created:  {schema: Invoice}
flows:
  billing: {description: From the payment webhook to the invoice e-mail}
steps:
  stripe-webhook:
    type: api
    method: POST
    path: /stripe/webhook
    body: Payment
    responses: {200: {type: object}}
    emits: [payment.received]
    flows: [billing]
    handler: steps/stripe_webhook.py
  create-invoice:
    type: event
    subscribes: [payment.received]
    emits: [invoice.created]
    retries: 5
    timeout: 10s
    flows: [billing]
    handler: steps/create_invoice.js:handler
  nightly-cleanup:
    type: cron
    cron: "0 3 * * *"
    handler: steps/cleanup.py
  accountant-review:
    type: noop
    subscribes: [invoice.created]
    flows: [billing]
"""
INVOICE_JSON = '{"type": "object", "required": ["number"], "properties": {"number": {"type": "string"}}}'
SPEC_FILES = {
    "schemas/invoice.json": INVOICE_JSON,
    "steps/stripe_webhook.py": "async def handler(req, ctx):\n    return {'status': 200}\n",
    "steps/create_invoice.js": "exports.handler = async (data, ctx) => {};\n",
    "steps/cleanup.py": "async def handler(ctx):\n    pass\n",
}


def write_project(
    root: Path,
    text: str | bytes,
    files: Mapping[str, str] | None = None,
    handlers: Iterable[str] = HANDLERS,
) -> Path:
    """Write motia.yaml (dedented) plus `files` and `handlers` (each defining a `handler`
    function) under `root`."""
    root.mkdir(parents=True, exist_ok=True)
    for name in handlers:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(HANDLER_SOURCE.get(Path(name).suffix, ""))
    for name, content in (files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)
    path = root / "motia.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(textwrap.dedent(text))
    return path


def errors_of(path: str | Path = "motia.yaml", **kwargs: bool) -> list[str]:
    """Each error of compiling `path` as `file:line:col: message`, hints left out."""
    try:
        compile_project(path, **kwargs)
    except ProjectInvalid as exc:
        return [f"{d.file}:{d.line}:{d.col}: {d.message}" for d in exc.diagnostics]
    raise AssertionError("the project compiled, but errors were expected")


def hints_of(path: str | Path = "motia.yaml") -> list[str]:
    try:
        compile_project(path)
    except ProjectInvalid as exc:
        return [d.hint for d in exc.diagnostics]
    raise AssertionError("the project compiled, but errors were expected")


def compiled(path: str | Path = "motia.yaml") -> Compiled:
    return compile_project(path)
