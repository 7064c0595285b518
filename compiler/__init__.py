"""The Motia compiler: motia.yaml in, a validated, frozen App out.

A pipeline of small stages, each a module: `loader` (YAML with positions) ->
`validate` (the JSON Schema of the file) -> `resolve` (schemas, units, defaults; the
App) -> `check` (cross-references, warnings). Every error of every stage is collected
and raised at once as ProjectInvalid; nothing is written by compiling.

The stages import jsonschema, croniter and friends, so they are imported when a
compile runs: workers that only need the IR (`motia.compiler.ir`) stay quick to start.
"""

from __future__ import annotations

import dataclasses
import gc
import os
from dataclasses import dataclass
from pathlib import Path

from motia.compiler.ir import App
from motia.errors import Diagnostic, ProjectInvalid, UsageError

__all__ = ["Compiled", "compile_project", "project_file"]

PROJECT_FILE = "motia.yaml"


@dataclass(frozen=True)
class Compiled:
    """A successful compile: the App, its warnings, and the `$ref` files it read."""

    app: App
    warnings: tuple[Diagnostic, ...] = ()
    ref_files: tuple[str, ...] = ()


def compile_project(
    path: str | Path = PROJECT_FILE, *, require_handlers: bool = True
) -> Compiled:
    """Compile the project at `path` (motia.yaml, or the folder holding it).

    Raises ProjectInvalid with every error found; with `require_handlers=False` a
    missing handler file is not one (`motia compile --stubs` is about to write it).
    Raises UsageError when there is no file to read.
    """
    file, source = project_file(path)
    # Compiling allocates many objects that all live until the end; the cyclic GC would
    # rescan the growing heap again and again (+20-40% at 10,000 steps) to find nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _compile(file, source, require_handlers)
    finally:
        if collecting:
            gc.enable()


def _compile(file: str, source: Path, require_handlers: bool) -> Compiled:
    from motia.compiler._problems import Problems
    from motia.compiler.check import check
    from motia.compiler.loader import load_document
    from motia.compiler.plan import handler_paths, input_hash
    from motia.compiler.resolve import resolve
    from motia.compiler.validate import validate_document

    try:
        doc = load_document(source, file)
    except OSError as exc:
        raise UsageError(f"cannot read {file}: {exc.strerror or exc}") from None
    errors, tainted = validate_document(doc)
    problems = Problems(doc, tainted)
    problems.errors.extend(errors)
    resolved = resolve(problems, source.parent, file)
    check(resolved.app, problems, require_handlers=require_handlers)
    if problems.errors:
        raise ProjectInvalid(problems.sorted_errors())
    digest = input_hash(source, resolved.ref_files, handler_paths(resolved.app))
    app = dataclasses.replace(resolved.app, source_hash=digest)
    return Compiled(app, tuple(problems.sorted_warnings()), resolved.ref_files)


def project_file(path: str | Path = PROJECT_FILE) -> tuple[str, Path]:
    """(the name to show users, the absolute path) of the motia.yaml `path` means: the one
    place a command finds its project. A folder means the motia.yaml inside it; `~` is
    expanded. Raises UsageError, with how to make one, when there is none."""
    shown = Path(path).expanduser()
    folder = shown.is_dir()
    if folder:
        shown = shown / PROJECT_FILE
    absolute = Path.cwd() / shown
    if absolute.is_file():
        return str(shown), Path(os.path.normpath(absolute))
    if folder:
        where = "this folder" if str(path) == "." else str(path)
        raise UsageError(f"no motia.yaml in {where}; pass the project's folder or its "
                         "motia.yaml, or create a project with `motia init DIR`")
    hint = "run `motia init DIR` to create a project, or pass the path to motia.yaml"
    raise UsageError(f"{shown}: no such file; {hint}")
