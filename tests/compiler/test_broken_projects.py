"""A corpus of broken projects: each mistake is reported at its exact file:line:col.

Every case starts from projects.VALID (or writes its own motia.yaml), changes one thing,
and asserts the complete list of errors, so a case also proves nothing else is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from projects import VALID, errors_of, hints_of, write_project


@dataclass(frozen=True)
class Case:
    id: str
    text: str | bytes
    errors: list[str]
    hints: list[str] | None = None
    files: dict[str, str] = field(default_factory=dict)


def edit(old: str, new: str) -> str:
    assert old in VALID, old
    return VALID.replace(old, new, 1)


CASES = [
    Case(
        "unknown top-level key",
        VALID + "stepz: {}\n",
        ["motia.yaml:27:1: unknown top-level key 'stepz'"],
        ["did you mean 'steps'?"],
    ),
    Case(
        "misspelt step key",
        edit("handler: steps/create.py", "handlr: steps/create.py"),
        [
            "motia.yaml:14:3: step 'create-order' is missing required key 'handler'",
            "motia.yaml:21:5: unknown key 'handlr' in step 'create-order'",
        ],
        [
            "add `handler: steps/<file>.py` (or a .js file), relative to motia.yaml",
            "did you mean 'handler'?",
        ],
    ),
    Case(
        "misspelt topic key",
        edit("order.placed: {schema: Order}", "order.placed: {shema: Order}"),
        ["motia.yaml:10:18: unknown key 'shema' in topic 'order.placed'"],
        ["did you mean 'schema'?"],
    ),
    Case(
        "key of another step type",
        edit("    path: /orders\n", "    path: /orders\n    retries: 2\n"),
        ["motia.yaml:18:5: unknown key 'retries' in step 'create-order'"],
        ["'retries' is only valid for event and cron steps, not api steps"],
    ),
    Case(
        "unknown key far from any",
        edit("    flows: [checkout]\n    handler: steps/ship.js", "    flows: [checkout]\n"
             "    handler: steps/ship.js\n    colour: blue"),
        ["motia.yaml:27:5: unknown key 'colour' in step 'ship'"],
    ),
    Case(
        "emits unknown topic, near miss",
        edit("emits: [order.placed]", "emits: [order.placd]"),
        ["motia.yaml:19:13: step 'create-order' emits undeclared topic 'order.placd'"],
        ["did you mean 'order.placed'?"],
    ),
    Case(
        "subscribes to unknown topic",
        edit("subscribes: [order.placed]", "subscribes: [order.placed, refunds]"),
        ["motia.yaml:24:32: step 'ship' subscribes to undeclared topic 'refunds'"],
        ["declare it under `topics:`"],
    ),
    Case(
        "unknown schema in a topic",
        edit("{schema: Order}", "{schema: Ordr}"),
        ["motia.yaml:10:26: unknown schema 'Ordr'"],
        ["did you mean 'Order'?"],
    ),
    Case(
        "unknown schema in a body",
        edit("body: Order", "body: Customer"),
        ["motia.yaml:18:11: unknown schema 'Customer'"],
        ["declare it under `schemas:`"],
    ),
    Case(
        "invalid inline schema",
        edit("id: {type: string}", "id: {type: strng}"),
        ["motia.yaml:8:18: invalid JSON Schema: unknown type 'strng'"],
        ["did you mean 'string'?"],
    ),
    Case(
        "invalid regular expression in a schema",
        edit("id: {type: string}", "id: {type: string, pattern: '(['}"),
        ["motia.yaml:8:35: invalid JSON Schema: 'pattern' is not a valid regular expression: '(['"],
    ),
    Case(
        "$ref to a missing file",
        edit("  Order:\n", "  Invoice: {$ref: schemas/invoice.json}\n  Order:\n"),
        ["motia.yaml:4:19: schema file 'schemas/invoice.json' not found"],
        ["$ref paths are relative to the folder of motia.yaml"],
    ),
    Case(
        "$ref to invalid JSON",
        edit("  Order:\n", "  Invoice: {$ref: schemas/invoice.json}\n  Order:\n"),
        ["schemas/invoice.json:2:3: invalid JSON: Expecting property name enclosed in double quotes"],
        ["referenced from motia.yaml:4:19"],
        files={"schemas/invoice.json": '{"type": "object",\n  }\n'},
    ),
    Case(
        "$ref to a file that is not a JSON Schema",
        edit("  Order:\n", "  Invoice: {$ref: schemas/invoice.json}\n  Order:\n"),
        [("motia.yaml:4:19: invalid JSON Schema: unknown type 'integr' "
         "(in 'schemas/invoice.json' at /properties/n/type)")],
        files={"schemas/invoice.json": '{"properties": {"n": {"type": "integr"}}}'},
    ),
    Case(
        "remote $ref",
        edit("  Order:\n", "  Invoice: {$ref: 'https://example.com/invoice.json'}\n  Order:\n"),
        ["motia.yaml:4:19: remote $ref 'https://example.com/invoice.json' is not supported"],
    ),
    Case(
        "schemas referring to each other",
        edit("  Order:\n", "  A: {$ref: B}\n  B: {items: {$ref: A}}\n  Order:\n"),
        ["motia.yaml:5:21: schema 'A' refers to itself (A -> B -> A)"],
    ),
    Case(
        "duplicate route",
        edit("  ship:\n", "  create-order-2:\n    type: api\n    method: POST\n"
             "    path: /orders\n    flows: [checkout]\n    handler: steps/create.py\n  ship:\n"),
        ["motia.yaml:25:11: duplicate route POST /orders: step 'create-order' already serves it"],
    ),
    Case(
        "duplicate route through parameter names",
        edit("path: /orders", "path: /orders/{id}").replace(
            "  ship:\n", "  other:\n    type: api\n    method: POST\n    path: /orders/{key}\n"
            "    flows: [checkout]\n    handler: steps/create.py\n  ship:\n"),
        [("motia.yaml:25:11: duplicate route POST /orders/{key}: "
         "step 'create-order' already serves it")],
    ),
    Case(
        "a path the readiness probe takes",
        edit("path: /orders", "path: /readyz/"),
        ["motia.yaml:17:11: path /readyz/ is taken by the readiness probe that every replica "
         "answers; a step cannot serve it"],
        ["pick another path, e.g. /status"],
    ),
    Case(
        "a path the metrics endpoint takes",
        edit("path: /orders", "path: /metrics"),
        ["motia.yaml:17:11: path /metrics is taken by the Prometheus metrics endpoint that "
         "every replica answers; a step cannot serve it"],
        ["pick another path, e.g. /status"],
    ),
    Case(
        "bad path parameter",
        edit("path: /orders", "path: /orders/{order-id}"),
        ["motia.yaml:17:11: invalid path parameter name 'order-id' in '/orders/{order-id}'"],
    ),
    Case(
        "unclosed path parameter",
        edit("path: /orders", "path: /orders/{id"),
        ["motia.yaml:17:11: malformed path parameter '{id' in '/orders/{id'"],
    ),
    Case(
        "path without a leading slash",
        edit("path: /orders", "path: orders"),
        ["motia.yaml:17:11: path 'orders' must start with '/'"],
        ["write `/orders`"],
    ),
    Case(
        "repeated path parameter",
        edit("path: /orders", "path: /a/{id}/b/{id}"),
        ["motia.yaml:17:11: path parameter 'id' appears twice in '/a/{id}/b/{id}'"],
    ),
    Case(
        "bad cron",
        VALID + "  nightly:\n    type: cron\n    cron: '61 * * * *'\n    flows: [checkout]\n"
        "    handler: steps/create.py\n",
        [("motia.yaml:29:11: invalid cron expression '61 * * * *': "
         "[61 * * * *] is not acceptable, out of range")],
    ),
    Case(
        "cron with too few fields",
        VALID + "  nightly:\n    type: cron\n    cron: '0 3 * *'\n    flows: [checkout]\n"
        "    handler: steps/create.py\n",
        ["motia.yaml:29:11: cron expression '0 3 * *' has 4 fields, expected 5 (or 6 with seconds first)"],
    ),
    Case(
        "cron written seconds last",
        VALID + "  poll:\n    type: cron\n    cron: '* * * * * */15'\n    flows: [checkout]\n"
        "    handler: steps/create.py\n",
        [("motia.yaml:29:11: cron expression '* * * * * */15' runs on Sundays only: its 6th "
          "field '*/15' is the day of the week (6 fields are read seconds first)")],
        ['6 fields are read seconds first: did you mean "*/15 * * * * *"?'],
    ),
    Case(
        "bad timezone",
        VALID + "  nightly:\n    type: cron\n    cron: '0 3 * * *'\n    timezone: Europe/Pariss\n"
        "    flows: [checkout]\n    handler: steps/create.py\n",
        ["motia.yaml:30:15: unknown time zone 'Europe/Pariss'"],
        ["did you mean 'Europe/Paris'?"],
    ),
    Case(
        "bad duration",
        edit("    handler: steps/ship.js", "    handler: steps/ship.js\n    timeout: 10 seconds"),
        ["motia.yaml:27:14: 'timeout' in step 'ship': invalid duration '10 seconds'"],
        ["write a number with a unit: 500ms, 10s, 1m, 1h or 1d (a plain number is seconds)"],
    ),
    Case(
        "zero timeout",
        edit("    handler: steps/ship.js", "    handler: steps/ship.js\n    timeout: 0s"),
        ["motia.yaml:27:14: timeout must be longer than 0"],
    ),
    Case(
        "bad size",
        "version: 1\napp: shop\ndefaults:\n  memory: 12XB\n",
        ["motia.yaml:4:11: 'memory' in 'defaults': invalid size '12XB'"],
        ["write a number with a unit: 512MB, 1GiB, 64KB (a plain number is bytes)"],
    ),
    Case(
        "backoff that shrinks",
        "version: 1\napp: shop\ndefaults:\n  backoff: {initial: 2s, max: 1s}\n",
        ["motia.yaml:4:12: backoff max (1s) is shorter than its initial delay (2s)"],
    ),
    Case(
        "missing handler file",
        edit("steps/ship.js", "steps/shipping.js"),
        ["motia.yaml:26:14: handler file 'steps/shipping.js' not found"],
        [("create it, or run `motia compile --stubs` to generate it "
         "(paths are relative to motia.yaml)")],
    ),
    Case(
        "unknown handler extension",
        edit("steps/ship.js", "steps/ship.ts"),
        ["motia.yaml:26:14: unknown handler language for 'steps/ship.ts'"],
        ["use a file ending in .py, .js, .mjs, .cjs"],
    ),
    Case(
        "invalid handler function",
        edit("steps/ship.js", "steps/ship.js:ship-it"),
        ["motia.yaml:26:14: invalid handler function name 'ship-it' in 'steps/ship.js:ship-it'"],
    ),
    Case(
        "Express-style path parameter",
        edit("path: /orders", "path: /orders/:id"),
        ["motia.yaml:17:11: Express-style path parameter ':id' in '/orders/:id'"],
        ["write `/orders/{id}`: path parameters go in braces"],
    ),
    Case(
        "handler function that does not exist",
        edit("steps/create.py", "steps/create.py:get"),
        ["motia.yaml:21:14: steps/create.py has no function 'get'"],
        ["steps/create.py defines handler; did you mean handler: steps/create.py?"],
    ),
    Case(
        "python file defining handle but not handler",
        edit("steps/create.py", "steps/get_chat.py"),
        ["motia.yaml:21:14: steps/get_chat.py has no function 'handler'"],
        ["steps/get_chat.py defines handle, helper; did you mean handler: "
         "steps/get_chat.py:handle?"],
        files={"steps/get_chat.py": "import json\n\nasync def handle(req, ctx):\n    ...\n\n"
                                    "def helper():\n    ...\n"},
    ),
    Case(
        "python file defining no function",
        edit("steps/create.py", "steps/get_chat.py"),
        ["motia.yaml:21:14: steps/get_chat.py has no function 'handler'"],
        ["steps/get_chat.py defines no function; add `async def handler(req, ctx):`"],
        files={"steps/get_chat.py": "# TODO\nLIMIT = 10\n"},
    ),
    Case(
        "python handler with a syntax error",
        VALID,
        ["steps/create.py:3:28: SyntaxError: expected ':'"],
        ["the handler of step 'create-order' (motia.yaml:21:14) cannot be imported until this "
         "is fixed"],
        files={"steps/create.py": "import json\n\nasync def handler(req, ctx)\n    ...\n"},
    ),
    Case(
        "ESM file without that export",
        edit("steps/ship.js", "steps/ship.mjs"),
        ["motia.yaml:26:14: steps/ship.mjs does not export 'handler'"],
        ["steps/ship.mjs exports ship, RATE; add `export async function handler(data, ctx) {}`, "
         "or name one of them: handler: steps/ship.mjs:<function>"],
        files={"steps/ship.mjs": "export async function ship(data, ctx) {}\n"
                                 "export const RATE = 3;\n"},
    ),
    Case(
        "CommonJS file exporting nothing",
        VALID,
        ["motia.yaml:26:14: steps/ship.js does not export 'handler'"],
        ["steps/ship.js exports nothing; add `exports.handler = async (data, ctx) => {}` "
         "(ESM: `export async function handler(data, ctx)`)"],
        files={"steps/ship.js": "async function handler(data, ctx) {}\n"},
    ),
    Case(
        "wrong type for a field",
        edit("    handler: steps/ship.js", "    handler: steps/ship.js\n    retries: three"),
        ["motia.yaml:27:14: 'retries' in step 'ship' must be an integer, got 'three'"],
    ),
    Case(
        "list where a mapping belongs",
        "version: 1\napp: shop\nsteps: [a, b]\n",
        ["motia.yaml:3:8: 'steps' must be a mapping or empty, got a list"],
    ),
    Case(
        "negative worker count",
        edit("    handler: steps/ship.js", "    handler: steps/ship.js\n    workers: 0"),
        ["motia.yaml:27:14: 'workers' in step 'ship' must be at least 1, got 0"],
    ),
    Case("empty file", "", ["motia.yaml:1:1: the file is empty"]),
    Case("only comments", "# nothing yet\n", ["motia.yaml:1:1: the file is empty"]),
    Case(
        "YAML syntax error",
        edit("emits: [order.placed]", "emits: [order.placed"),
        ["motia.yaml:20:10: YAML syntax error: expected ',' or ']', but got ':'"],
    ),
    Case(
        "tab indentation",
        "version: 1\napp: shop\nsteps:\n\tship: {}\n",
        ["motia.yaml:4:1: YAML syntax error: found character '\\t' that cannot start any token"],
        ["indent with spaces, not tabs"],
    ),
    Case(
        "duplicate YAML key",
        edit("  ship:\n", "  create-order: {type: noop}\n  ship:\n"),
        ["motia.yaml:22:3: duplicate key 'create-order' (first defined on line 14)"],
    ),
    Case(
        "top level is a list",
        "- version: 1\n- app: shop\n",
        ["motia.yaml:1:1: the file must be a mapping, got a list"],
    ),
    Case(
        "top level is text",
        "hello\n",
        ["motia.yaml:1:1: the file must be a mapping, got 'hello'"],
    ),
    Case(
        "missing version and app",
        "steps: {}\n",
        ["motia.yaml:1:1: missing required key 'version'", "motia.yaml:1:1: missing required key 'app'"],
        ["add `version: 1` at the top of the file", "add `app: <name>` at the top of the file"],
    ),
    Case(
        "version not 1",
        edit("version: 1", "version: 2"),
        ["motia.yaml:1:10: unsupported version 2"],
        ["this Motia reads `version: 1` files"],
    ),
    Case(
        "api step missing method and path",
        edit("    method: POST\n    path: /orders\n", ""),
        [
            "motia.yaml:14:3: step 'create-order' is missing required key 'method'",
            "motia.yaml:14:3: step 'create-order' is missing required key 'path'",
        ],
    ),
    Case(
        "event step without subscribes",
        edit("    subscribes: [order.placed]\n", ""),
        ["motia.yaml:22:3: step 'ship' is missing required key 'subscribes'"],
    ),
    Case(
        "event step with empty subscribes",
        edit("subscribes: [order.placed]", "subscribes: []"),
        ["motia.yaml:24:17: 'subscribes' in step 'ship' must not be empty"],
    ),
    Case(
        "unknown step type",
        edit("type: event", "type: evnt"),
        ["motia.yaml:23:11: 'type' in step 'ship' must be one of api, event, cron, noop; got 'evnt'"],
        ["did you mean 'event'?"],
    ),
    Case(
        "lower-case HTTP method",
        edit("method: POST", "method: post"),
        [("motia.yaml:16:13: 'method' in step 'create-order' must be one of GET, POST, PUT, "
         "PATCH, DELETE, HEAD, OPTIONS; got 'post'")],
        ["did you mean 'POST'?"],
    ),
    Case(
        "unknown flow",
        edit("    flows: [checkout]\n    handler: steps/ship.js", "    flows: [chekout]\n"
             "    handler: steps/ship.js"),
        ["motia.yaml:25:13: unknown flow 'chekout'"],
        ["did you mean 'checkout'?"],
    ),
    Case(
        "invalid step name",
        edit("  ship:\n", "  ship it:\n"),
        ["motia.yaml:22:3: invalid step name 'ship it'"],
    ),
    Case(
        "invalid response status",
        edit("    body: Order\n", "    body: Order\n    responses: {2000: Order}\n"),
        ["motia.yaml:19:17: invalid HTTP status code '2000' in step 'create-order' responses"],
    ),
    Case(
        "unknown adapter",
        VALID + "adapters: {events: kafka}\n",
        ["motia.yaml:27:20: 'events' in 'adapters' must be one of memory, rabbitmq; got 'kafka'"],
    ),
    Case(
        "noop step with a handler",
        edit("  ship:\n", "  review: {type: noop, handler: steps/create.py}\n  ship:\n"),
        ["motia.yaml:22:24: unknown key 'handler' in step 'review'"],
        ["'handler' is only valid for api, event and cron steps, not noop steps"],
    ),
    Case(
        "middleware file that does not exist",
        edit("    handler: steps/create.py", "    middleware: [steps/auth.py]\n    handler: steps/create.py"),
        ["motia.yaml:21:18: middleware file 'steps/auth.py' not found"],
        ["create it with `async def middleware(req, ctx, next):` (paths are relative to "
         "motia.yaml)"],
    ),
    Case(
        "middleware file without its function",
        edit("    handler: steps/create.py", "    middleware: [steps/auth.py]\n    handler: steps/create.py"),
        ["motia.yaml:21:18: steps/auth.py has no function 'middleware'"],
        ["steps/auth.py defines handler; did you mean middleware: [steps/auth.py:handler]?"],
        files={"steps/auth.py": "async def handler(req, ctx, next):\n    ...\n"},
    ),
    Case(
        "defaults middleware node file without the named export",
        VALID + "defaults:\n  middleware: [steps/auth.js:check]\n",
        ["motia.yaml:28:16: steps/auth.js does not export 'check'"],
        ["steps/auth.js exports middleware; did you mean middleware: [steps/auth.js]?"],
        files={"steps/auth.js": "exports.middleware = async (req, ctx, next) => next();\n"},
    ),
    Case(
        "cors credentials with any origin",
        VALID + "cors: {origins: ['*'], credentials: true}\n",
        ["motia.yaml:27:37: `credentials: true` cannot be used with the origin `*` (browsers "
         "refuse it)"],
        ["list the origins that may send credentials, e.g. https://app.example.com"],
    ),
    Case(
        "cors without origins",
        VALID + "cors: {methods: [GET]}\n",
        ["motia.yaml:27:1: 'cors' is missing required key 'origins'"],
    ),
    Case(
        "YAML tag for a Python object",
        "version: 1\napp: !!python/object/apply:os.system ['true']\n",
        ["motia.yaml:2:6: unsupported YAML tag 'tag:yaml.org,2002:python/object/apply:os.system'"],
    ),
    Case(
        "not UTF-8",
        b"version: 1\napp: caf\xe9\n",
        ["motia.yaml:2:9: the file is not valid UTF-8"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_each_mistake_is_reported_where_it_is(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a project with one mistake
    monkeypatch.chdir(tmp_path)
    write_project(tmp_path, case.text, case.files)
    # When it is compiled, Then exactly that mistake is reported, at its place
    assert errors_of("motia.yaml") == case.errors
    if case.hints is not None:
        assert hints_of("motia.yaml") == case.hints


def test_the_corpus_covers_enough_distinct_mistakes() -> None:
    assert len({c.id for c in CASES}) == len(CASES) >= 25
