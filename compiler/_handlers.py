"""The compile check of a step's `handler:`: the file exists and defines the function.

A missing function used to surface only when the first request reached a worker that
could not load; now it is a compile error at the `handler:` value, listing what the file
does define and the `file:function` spelling of the nearest one.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

from motia.compiler._problems import Problems
from motia.compiler.exports import Definitions, node_exports, python_definitions
from motia.compiler.ir import HANDLER_PARAMS, MIDDLEWARE_FUNCTION, MIDDLEWARE_PREFIX, Step
from motia.compiler.suggest import closest
from motia.errors import CompileError, Diagnostic


def check_handler(step: Step, root: Path, problems: Problems, *, require_file: bool,
                  where: tuple[str | int, ...] | None = None) -> None:
    """File an error unless the step's handler file exists (when required) and defines
    its function. A missing file under `require_file=False` is for `--stubs` to write.
    `where` is the handler's place in motia.yaml (default: the step's `handler` key)."""
    if step.handler is None:
        return
    file = root / step.handler.path
    if _is(file, Path.is_file):
        _check_function(step, file, problems, where)
        return
    if not require_file and not _is(file, Path.is_dir):
        return
    if _is(file, Path.is_dir):
        message, hint = f"handler '{step.handler.path}' is a directory", "name a file"
    else:
        message = f"handler file '{step.handler.path}' not found"
        hint = "create it, or run `motia compile --stubs` to generate it (paths are relative to motia.yaml)"
        if step.name.startswith(MIDDLEWARE_PREFIX):
            message = f"middleware file '{step.handler.path}' not found"
            hint = (f"create it with `{_signature(step)}` (paths are relative to motia.yaml)")
    problems.error(where or ("steps", step.name, "handler"), CompileError(message, hint))


def _check_function(step: Step, file: Path, problems: Problems,
                    where: tuple[str | int, ...] | None = None) -> None:
    assert step.handler is not None
    where = where or ("steps", step.name, "handler")
    found = _definitions(str(file), step.handler.language)
    if found is None:
        return  # unreadable now: the worker will say why when it loads
    if found.syntax_error is not None:
        problems.add(_syntax_error(step, found.syntax_error, problems, where))
    elif not found.provides(step.handler.function):
        problems.error(where, _missing(step, found))


def _missing(step: Step, found: Definitions) -> CompileError:
    assert step.handler is not None
    path, function = step.handler.path, step.handler.function
    python = step.handler.language == "python"
    message = (f"{path} has no function '{function}'" if python
               else f"{path} does not export '{function}'")
    listed = ", ".join(found.functions)
    what = (f"{path} defines {listed}" if python else f"{path} exports {listed}") if listed else (
        f"{path} defines no function" if python else f"{path} exports nothing")
    near = closest(function, found.functions)
    if near is None and len(found.functions) == 1:
        near = found.functions[0]
    middleware = step.name.startswith(MIDDLEWARE_PREFIX)
    default = MIDDLEWARE_FUNCTION if middleware else "handler"
    if near is not None:
        spelled = path if near == default else f"{path}:{near}"
        key = f"middleware: [{spelled}]" if middleware else f"handler: {spelled}"
        return CompileError(message, f"{what}; did you mean {key}?")
    params = "req, ctx, next" if middleware else HANDLER_PARAMS[step.type]
    if python:
        add = f"`async def {function}({params}):`"
    elif found.esm or path.endswith(".mjs"):
        add = f"`export async function {function}({params}) {{}}`"
    else:
        add = (f"`exports.{function} = async ({params}) => {{}}` (ESM: "
               f"`export async function {function}({params})`)")
    named = f"middleware: [{path}:<function>]" if middleware else f"handler: {path}:<function>"
    other = f", or name one of them: {named}" if listed else ""
    return CompileError(message, f"{what}; add {add}{other}")


def _signature(step: Step) -> str:
    assert step.handler is not None
    function = step.handler.function
    if step.handler.language == "python":
        return f"async def {function}(req, ctx, next):"
    return f"exports.{function} = async (req, ctx, next) => {{}}"


def _syntax_error(step: Step, error: tuple[int, int, str], problems: Problems,
                  where: tuple[str | int, ...]) -> Diagnostic:
    assert step.handler is not None
    line, col, text = error
    shown = os.path.normpath(os.path.join(os.path.dirname(problems.doc.file), step.handler.path))
    yaml_line, yaml_col = problems.doc.mark(where)
    hint = (f"the handler of step '{step.name}' ({problems.doc.file}:{yaml_line}:{yaml_col}) "
            "cannot be imported until this is fixed")
    return Diagnostic(shown, line, col, f"SyntaxError: {text}", hint)


def _definitions(path: str, language: str) -> Definitions | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return _read(path, language, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4096)  # steps share files; `motia dev` recompiles unchanged ones
def _read(path: str, language: str, mtime: int, size: int) -> Definitions | None:
    try:
        source = Path(path).read_bytes()
    except OSError:
        return None
    if language == "python":
        return python_definitions(source)
    return node_exports(source.decode("utf-8", errors="replace"))


def _is(path: Path, test: Callable[[Path], bool]) -> bool:
    try:
        return test(path)
    except (OSError, ValueError):  # a name the OS cannot hold (NUL, too long): not there
        return False
