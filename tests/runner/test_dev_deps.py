"""Which files a step is made of (runner/_deps.py): `motia dev` restarts a step's
workers only when one of them changes."""

from __future__ import annotations

from pathlib import Path

from _runtime_projects import write_project

from motia.compiler.ir import App, Handler, Step
from motia.runner._deps import step_files, steps_using

FILES = {
    "steps/orders.py": """
        import json
        import lib.pricing
        from helpers import fmt
        from lib.tax import rate

        def handler(req, ctx):
            from lib import late  # an import inside a function counts too
            return {}
    """,
    "steps/helpers.py": "from . import sibling\n",
    "steps/sibling.py": "X = 1\n",
    "steps/__init__.py": "",
    "lib/__init__.py": "",
    "lib/pricing.py": "from .money import cents\n",
    "lib/money.py": "def cents(x): return x\n",
    "lib/tax.py": "rate = 0.2\n",
    "lib/late.py": "",
    "lib/unused.py": "",
    "scripts/seed.py": "import lib.unused\n",
    "steps/mail.js": """
        const tpl = require('./templates');
        const { send } = require("../lib/smtp.cjs");
        const fs = require('fs');
        // import('../motia-types.js') in a JSDoc comment resolves to nothing
    """,
    "steps/templates/index.js": "import { x } from './parts.mjs';\n",
    "steps/templates/parts.mjs": "export const x = 1;\n",
    "lib/smtp.cjs": "exports.send = () => {};\n",
    "lib/other.js": "",
}


def app_at(root: Path) -> App:
    return App(name="a", root=str(root), steps=(
        Step(name="orders", type="api", handler=Handler("steps/orders.py")),
        Step(name="mail", type="event", handler=Handler("steps/mail.js", language="node")),
        Step(name="sketch", type="noop"),
    ))


def rel(root: Path, paths: frozenset[Path]) -> set[str]:
    return {str(p.relative_to(root.resolve())) for p in paths}


def test_a_python_step_is_its_handler_and_what_it_imports_transitively(tmp_path: Path) -> None:
    write_project(tmp_path, "version: 1\n", FILES)
    files = step_files(app_at(tmp_path))
    assert rel(tmp_path, files["orders"]) == {
        "steps/orders.py", "steps/helpers.py", "steps/sibling.py", "steps/__init__.py",
        "lib/__init__.py", "lib/pricing.py", "lib/money.py", "lib/tax.py", "lib/late.py"}


def test_a_node_step_is_its_handler_and_its_relative_requires_and_imports(
        tmp_path: Path) -> None:
    write_project(tmp_path, "version: 1\n", FILES)
    files = step_files(app_at(tmp_path))
    assert rel(tmp_path, files["mail"]) == {
        "steps/mail.js", "steps/templates/index.js", "steps/templates/parts.mjs",
        "lib/smtp.cjs"}
    assert set(files) == {"orders", "mail"}  # a noop step has no code


def test_a_file_no_step_imports_names_no_step(tmp_path: Path) -> None:
    write_project(tmp_path, "version: 1\n", FILES)
    files = step_files(app_at(tmp_path))
    root = tmp_path.resolve()
    assert steps_using(files, {root / "lib/unused.py", root / "scripts/seed.py",
                               root / "lib/other.js", root / "new.py"}) == set()
    assert steps_using(files, {root / "lib/money.py"}) == {"orders"}
    assert steps_using(files, {root / "lib/smtp.cjs", root / "lib/tax.py"}) == {"orders", "mail"}


def test_a_broken_file_still_counts_as_the_steps(tmp_path: Path) -> None:
    write_project(tmp_path, "version: 1\n", {**FILES, "lib/tax.py": "rate = (\n"})
    files = step_files(app_at(tmp_path))
    assert "lib/tax.py" in rel(tmp_path, files["orders"])


def test_a_file_broken_mid_edit_keeps_the_imports_it_had(tmp_path: Path) -> None:
    write_project(tmp_path, "version: 1\n", FILES)
    known: dict[Path, list[Path]] = {}
    before = step_files(app_at(tmp_path), known)
    handler = tmp_path / "steps/orders.py"
    handler.write_text(handler.read_text().replace("def handler(req, ctx):", "def handler("))
    assert step_files(app_at(tmp_path), known) == before
    assert "lib/tax.py" not in rel(tmp_path, step_files(app_at(tmp_path))["orders"])
