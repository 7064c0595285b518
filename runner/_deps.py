"""Which project files each step's code is made of: its handler and what it imports.

`motia dev` restarts a step's workers only when one of these files changes, so a new
script or a test file elsewhere in the project leaves running workers alone. The files
are found by reading the code, never by running it:

- Python: the `import`/`from ... import` statements (at any depth, so an import inside
  a function counts), resolved the way the worker resolves them (the project root and
  the handler's folder are on `sys.path`; relative imports from the file's package),
  transitively. Modules outside the project (the stdlib, site-packages) are ignored.
- Node.js: `require("./x")`, `import ... from "./x"`, `import("./x")` and
  `export ... from "./x"` with a relative specifier, resolved as Node does (the exact
  file, then `.js`, `.mjs`, `.cjs`, `.json`, then `index.*` in a folder), transitively.

An import built at run time (`importlib.import_module(name)`, `require(variable)`) cannot
be seen; editing such a module needs an edit of the handler (or a restart) to reload.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from pathlib import Path

from motia.compiler.ir import App

IGNORED_DIRS = frozenset({".motia", ".git", "node_modules", "__pycache__", ".venv", "venv",
                          ".mypy_cache", ".pytest_cache", ".ruff_cache"})
NODE_SUFFIXES = (".js", ".mjs", ".cjs", ".json")
_NODE_IMPORT = re.compile(
    r"""(?:\brequire\s*\(\s*|\bimport\s*\(\s*|\bfrom\s+|\bimport\s+)(['"])(\.{1,2}/[^'"]*)\1""")


def step_files(app: App, known: dict[Path, list[Path]] | None = None
               ) -> dict[str, frozenset[Path]]:
    """{step name: the absolute paths of its handler file and every project file it
    imports, transitively} for every step that runs.

    `known` remembers each file's imports as last read: a file that does not parse now
    (mid-edit) keeps the imports it had, so its step still owns them."""
    known = {} if known is None else known
    root = Path(app.root).resolve()
    steps = [*app.steps, *([app.streams_auth] if app.streams_auth is not None else [])]
    found: dict[Path, frozenset[Path]] = {}
    files: dict[str, frozenset[Path]] = {}
    for step in steps:
        if not step.runs or step.handler is None:
            continue
        handler = (root / step.handler.path).resolve()
        if handler not in found:
            found[handler] = frozenset(_closure(root, handler, step.handler.language, known))
        files[step.name] = found[handler]
    return files


def steps_using(files_by_step: dict[str, frozenset[Path]], paths: Iterable[Path]) -> set[str]:
    """The steps one of whose files is among `paths`."""
    wanted = set(paths)
    return {name for name, files in files_by_step.items() if files & wanted}


def _closure(root: Path, handler: Path, language: str,
             known: dict[Path, list[Path]]) -> set[Path]:
    seen: set[Path] = set()
    todo = [handler]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        if language == "python":
            imports = _python_imports(root, handler.parent, path)
        else:
            imports = _node_imports(root, path)
        if imports is None:
            imports = known.get(path, [])
        else:
            known[path] = imports
        todo += imports
    return seen


# --- Python ------------------------------------------------------------------------------

def _python_imports(root: Path, handler_dir: Path, path: Path) -> list[Path] | None:
    """The project files `path` imports; None when it cannot be read or parsed now."""
    try:
        tree = ast.parse(path.read_bytes(), str(path))
    except (OSError, SyntaxError, ValueError):
        return None
    package = _package_of(root, path)
    found: list[Path] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found += _python_module(root, handler_dir, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                up = node.level - 1  # `.` is the file's own package, `..` its parent
                if up > len(package):
                    continue
                base = package[:len(package) - up]
                folder = root.joinpath(*base)
                if (folder / "__init__.py").is_file():  # importing from a package runs it
                    found.append((folder / "__init__.py").resolve())
                module = [*(node.module.split(".") if node.module else [])]
                found += _in_folder(root, folder, module)
                for alias in node.names:  # `from . import helpers` names a module
                    found += _in_folder(root, folder, [*module, alias.name])
            elif node.module:
                found += _python_module(root, handler_dir, node.module)
                for alias in node.names:
                    found += _python_module(root, handler_dir, f"{node.module}.{alias.name}")
    return found


def _package_of(root: Path, path: Path) -> list[str]:
    """The package parts of `path` as the worker imports it (`steps/a/b.py` -> steps, a)."""
    try:
        return list(path.relative_to(root).parent.parts)
    except ValueError:
        return []


def _python_module(root: Path, handler_dir: Path, dotted: str) -> list[Path]:
    parts = dotted.split(".")
    for folder in (handler_dir, root):
        hits = _in_folder(root, folder, parts)
        if hits:
            return hits
    return []


def _in_folder(root: Path, folder: Path, parts: list[str]) -> list[Path]:
    """`a/b/c.py` (or `a/b/c/__init__.py`) under `folder` and the `__init__.py` files of the
    packages on the way, when they are project files."""
    hits: list[Path] = []
    current = folder
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        module = current / f"{part}.py"
        package = current / part
        if last and module.is_file():
            hits.append(module)
            break
        init = package / "__init__.py"
        if init.is_file():
            hits.append(init)
        if not package.is_dir():
            break
        current = package
    return [p.resolve() for p in hits if _in_project(root, p)]


# --- Node.js -----------------------------------------------------------------------------

def _node_imports(root: Path, path: Path) -> list[Path] | None:
    if path.suffix == ".json":
        return []
    try:
        text = path.read_text("utf-8", errors="replace")
    except OSError:
        return None
    found = []
    for match in _NODE_IMPORT.finditer(text):
        target = _node_resolve(path.parent / match.group(2))
        if target is not None and _in_project(root, target):
            found.append(target)
    return found


def _node_resolve(base: Path) -> Path | None:
    candidates = [base, *(base.with_name(base.name + s) for s in NODE_SUFFIXES),
                  *(base / f"index{s}" for s in NODE_SUFFIXES)]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    return None


def _in_project(root: Path, path: Path) -> bool:
    try:
        parts = path.resolve().relative_to(root).parts
    except ValueError:
        return False
    return not any(p in IGNORED_DIRS for p in parts[:-1])
