"""Import one Python handler file and find its function, or explain in one line why not.

Used inside the Python worker: the message of a `LoadFailure` becomes the text of the
`HandlerLoadError` the caller sees, so it names the file and the fix.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any


class LoadFailure(Exception):
    """Raised when the handler cannot be loaded; `kind` is the underlying error class name."""

    def __init__(self, message: str, kind: str, trace: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.trace = trace


def load_handler(root: str, rel_path: str, function: str) -> Callable[..., Any]:
    """Import `rel_path` (relative to `root`) as a module and return its `function`.

    The project root and the handler's folder go first on sys.path, so the handler can
    import its sibling modules (`import helpers`) and project packages (`from lib import x`).
    """
    path = os.path.join(root, rel_path)
    if not os.path.isfile(path):
        raise LoadFailure(
            f"{rel_path}: handler file not found (create it, or run `motia compile --stubs` "
            "to generate a stub)", "FileNotFoundError")
    for folder in (root, os.path.dirname(path)):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    module = _import(root, rel_path, path)
    fn = getattr(module, function, None)
    if fn is None:
        raise LoadFailure(_missing_function(module, rel_path, function), "AttributeError")
    if not callable(fn):
        raise LoadFailure(
            f"{rel_path}: {function!r} is a {type(fn).__name__}, not a function: define "
            f"`async def {function}(...)`", "TypeError")
    return fn  # type: ignore[no-any-return]


def _module_name(rel_path: str) -> str:
    # `steps/billing/webhook.py` -> `steps.billing.webhook`, so relative imports work when
    # the folders are packages; anything that is not a dotted name gets a neutral one.
    parts = rel_path.replace(os.sep, "/").removesuffix(".py").split("/")
    if all(part.isidentifier() for part in parts):
        return ".".join(parts)
    return "motia_handler"


def _import(root: str, rel_path: str, path: str) -> Any:
    name = _module_name(rel_path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LoadFailure(f"{rel_path}: not an importable Python file", "ImportError")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(name, None)
        where = _relative(root, exc.filename or path)
        raise LoadFailure(
            f"{where}:{exc.lineno}: {type(exc).__name__}: {exc.msg} (fix the file; the "
            f"handler {rel_path} cannot be imported until then)",
            type(exc).__name__, traceback.format_exc()) from None
    except ModuleNotFoundError as exc:
        sys.modules.pop(name, None)
        raise LoadFailure(
            f"{rel_path}: cannot import module {exc.name!r} ({exc}): install it into the "
            f"runner's Python environment ({sys.executable} -m pip install {exc.name}) or "
            "fix the import", "ModuleNotFoundError", traceback.format_exc()) from None
    except BaseException as exc:  # noqa: BLE001 - any import-time failure is a load failure
        sys.modules.pop(name, None)
        raise LoadFailure(
            f"{rel_path}: importing the module raised {type(exc).__name__}: {exc} (fix the "
            "code that runs at import time)", type(exc).__name__, traceback.format_exc()
        ) from None
    return module


def _missing_function(module: Any, rel_path: str, function: str) -> str:
    import difflib  # only on this failure path: the worker's start-up stays lean

    names = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
             and getattr(v, "__module__", None) == module.__name__]
    close = difflib.get_close_matches(function, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (f"{rel_path} has no function {function!r}{hint}: define `async def {function}(...)` "
            f"in it, or name the function in motia.yaml as `handler: {rel_path}:<function>`")


def _relative(root: str, path: str) -> str:
    try:
        rel = os.path.relpath(path, root)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel
