"""What a handler file defines, read statically: Python with ast, Node.js by its exports.

The Node.js cases are also loaded by real Node with the worker's own `pickFunction`, so
the static reading and the worker agree on every case (or the scan says it cannot tell).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from motia.compiler.exports import node_exports, python_definitions

PYTHON_CASES = [
    ("async def", "async def handler(req, ctx):\n    pass\n", {"handler"}, ("handler",)),
    ("def, class and lambda", "def a(): ...\nclass B: ...\nc = lambda: 1\nD = 3\n",
     {"a", "B", "c", "D"}, ("a", "B", "c")),
    ("imports count, are not listed", "import os.path\nfrom x import y as handler\n",
     {"os", "handler"}, ()),
    ("inside if and try", "try:\n    import ujson as json\nexcept ImportError:\n"
     "    import json\nif True:\n    def handler(): ...\nelse:\n    handler = None\n",
     {"json", "handler"}, ("handler",)),
    ("an annotation alone binds nothing", "handler: object\n", set(), ()),
    ("tuple assignment", "a, (b, c) = 1, (2, 3)\n", {"a", "b", "c"}, ()),
    ("nested functions do not count", "def outer():\n    def handler(): ...\n", {"outer"},
     ("outer",)),
]


@pytest.mark.parametrize(("case", "source", "names", "functions"), PYTHON_CASES,
                         ids=[c[0] for c in PYTHON_CASES])
def test_python_top_level_names(case: str, source: str, names: set[str],
                                functions: tuple[str, ...]) -> None:
    found = python_definitions(source.encode())
    assert (set(found.names), found.functions, found.opaque) == (names, functions, False)


@pytest.mark.parametrize("source", ["from helpers import *\n", "globals()['handler'] = f\n",
                                    "def __getattr__(name): ...\n", "exec('def handler(): 0')\n"])
def test_python_files_that_hide_their_names_are_trusted(source: str) -> None:
    found = python_definitions(source.encode())
    assert found.opaque and found.provides("handler")


def test_a_python_syntax_error_is_located() -> None:
    found = python_definitions(b"import os\n\ndef handler(req, ctx)\n    pass\n")
    assert found.syntax_error == (3, 22, "expected ':'")
    assert not found.provides("handler")


def test_a_python_coding_cookie_is_honoured() -> None:
    source = "# -*- coding: latin-1 -*-\ncafé = 1\ndef handler(): ...\n".encode("latin-1")
    assert python_definitions(source).names == {"café", "handler"}


# (case, file name, source, function, statically: True found / False missing / None can't tell)
NODE_CASES = [
    ("exports.x", "a.js", "exports.handler = async (data, ctx) => {};", "handler", True),
    ("module.exports.x", "a.js", "module.exports.run = async () => {};", "run", True),
    ("module.exports object", "a.js",
     "const helper = 1;\nmodule.exports = { handler, helper: () => helper, async other(x) "
     "{ return { a: 1 } } };\nfunction handler() {}", "other", True),
    ("module.exports object without it", "a.js",
     "module.exports = { handle: async () => {}, helper };\nfunction helper() {}", "handler",
     False),
    ("module.exports = fn is the handler", "a.js", "module.exports = async function (req) {};",
     "handler", True),
    ("module.exports = arrow is the handler", "a.js", "module.exports = async (req) => ({});",
     "handler", True),
    ("module.exports = fn is no other name", "a.js", "module.exports = async (req) => ({});",
     "run", False),
    ("exports['x']", "a.js", "exports['handler'] = async () => {};", "handler", True),
    ("esm function", "a.mjs", "export async function handler(req, ctx) {}", "handler", True),
    ("esm const", "a.mjs", "export const handler = async () => {};", "handler", True),
    ("esm list with rename", "a.mjs", "async function run() {}\nexport { run as handler };",
     "handler", True),
    ("esm without that export", "a.mjs", "export async function handle() {}\n"
     "export const helper = 1;", "handler", False),
    ("esm default function", "a.mjs", "export default async function (req) {}", "handler", True),
    ("esm default object", "a.mjs", "export default { run: async () => {} };", "run", True),
    ("esm default function is no other name", "a.mjs", "export default async () => {};",
     "run", False),
    ("nothing exported", "a.js", "async function handler() {}", "handler", False),
    ("an empty file", "a.js", "", "handler", False),
    ("commented out", "a.js", "// exports.handler = 1\n/* module.exports = {handler} */\n"
     "exports.other = () => 1;", "handler", False),
    ("inside strings and regexes", "a.js", "const s = 'exports.handler = 1';\n"
     "const r = /exports.handler = \"/;\nconst t = `module.exports = ${s}`;\n"
     "exports.other = () => s + r + t;", "handler", False),
    ("after a division", "a.js", "const a = 4 / 2, b = a / 2;\nexports.handler = () => a + b;",
     "handler", True),
    ("require'd object: cannot tell", "a.js", "module.exports = require('./impl.js');",
     "handler", None),
    ("computed export: cannot tell", "a.js", "const n = 'handler';\nexports[n] = () => 1;",
     "handler", None),
    ("star re-export: cannot tell", "a.mjs", "export * from './impl.mjs';", "handler", None),
]
IMPL = {"impl.js": "exports.handler = async () => 1;",
        "impl.mjs": "export async function handler() { return 1; }"}


@pytest.mark.parametrize(("case", "name", "source", "function", "expected"), NODE_CASES,
                         ids=[c[0] for c in NODE_CASES])
def test_node_exports(case: str, name: str, source: str, function: str,
                      expected: bool | None) -> None:
    found = node_exports(source)
    verdict = None if found.opaque else found.provides(function)
    assert verdict is expected


PICK = """
const path = require('path');
const { pathToFileURL } = require('url');
const { pickFunction } = require(process.argv[1]);
(async () => {
  const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
  const out = [];
  for (const [file, fn] of cases) {
    const mod = file.endsWith('.mjs') ? await import(pathToFileURL(file).href) : require(file);
    out.push(pickFunction(mod, fn) !== undefined);
  }
  process.stdout.write(JSON.stringify(out));
})();
"""


def test_the_node_worker_agrees_with_every_static_verdict(node: str, tmp_path: Path,
                                                          repo: Path) -> None:
    # Given every case as a real file (and the modules they re-export)
    for file, text in IMPL.items():
        (tmp_path / file).write_text(text)
    cases = []
    for index, (_, name, source, function, _expected) in enumerate(NODE_CASES):
        file = tmp_path / f"case{index}{Path(name).suffix}"
        file.write_text(source)
        cases.append([str(file), function])
    # When Node loads each one and the worker's pickFunction looks for the function
    worker = repo / "runner" / "workers" / "node_worker.js"
    result = subprocess.run([node, "-e", PICK, str(worker)], input=json.dumps(cases),
                            capture_output=True, text=True, timeout=60, check=True)
    found = json.loads(result.stdout)
    # Then the worker finds it exactly where the scan said so (and where it could not tell)
    static = [True if expected is None else expected for *_, expected in NODE_CASES]
    assert dict(zip([c[0] for c in NODE_CASES], found, strict=True)) == dict(
        zip([c[0] for c in NODE_CASES], static, strict=True))
