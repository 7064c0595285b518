"""`motia compile` and `motia init`: check a project and generate from it; start one.

`compile` validates everything first and writes nothing unless the whole project is
valid: then the handler stubs (`--stubs`), the exports asked for and `.motia/plan.json`.
Every output is rendered before the first file is written, so a failure while rendering
leaves no half-written set behind. Errors become exit status 1 in motia/cli.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import sys
from collections.abc import Callable
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from motia._generated import generated_files, write_changed
from motia._summary import count, print_summary
from motia.errors import MotiaError, UsageError

if TYPE_CHECKING:  # the compiler is imported when a command runs, not at CLI start
    from motia.compiler.ir import App


def register(sub: Any) -> None:
    """Add `compile` and `init` to the `motia` parser."""
    summary = "validate motia.yaml, build the step graph, write stubs and exports"
    parser = sub.add_parser("compile", help=summary, description=summary)
    parser.add_argument("file", nargs="?", default="motia.yaml",
                        help="motia.yaml or the folder holding it (default: motia.yaml)")
    parser.add_argument("--stubs", action="store_true",
                        help="write a handler file for every step whose file is missing "
                             "(typed with the generated types, which --stubs writes too)")
    parser.add_argument("--types", action="store_true",
                        help="write motia_types.py and motia-types.d.ts (the types of the "
                             "schemas and steps, for mypy and tsc); once they exist, every "
                             "compile keeps them up to date")
    for flag, what in (
        ("--mermaid", "the Mermaid flowchart"),
        ("--openapi", "the OpenAPI document of the API steps (JSON, or YAML for .yaml)"),
        ("--asyncapi", "the AsyncAPI document of the topics (JSON, or YAML for .yaml)"),
        ("--html", "a standalone HTML page of the flows"),
        ("--graph", "the step graph as node-link JSON"),
    ):
        parser.add_argument(flag, metavar="F", help=f"write {what} to F")
    parser.set_defaults(func=compile_command)

    summary = "create a new project with a working example flow"
    parser = sub.add_parser("init", help=summary, description=summary)
    parser.add_argument("dir", help="folder to create (must not exist or be empty)")
    parser.set_defaults(func=init_command)


def compile_command(args: argparse.Namespace) -> int:
    from motia.compiler import compile_project
    from motia.compiler.plan import handler_paths, input_hash, write_plan

    compiled = compile_project(args.file, require_handlers=not args.stubs)
    outputs = _render_outputs(compiled.app, args)
    app = compiled.app
    kept = generated_files(app, types=args.types or args.stubs)
    written: list[Path] = []
    if args.stubs:
        from motia.compiler.stubs import write_stubs

        try:
            stubs = write_stubs(app)
        except OSError as exc:
            raise MotiaError(f"cannot write a handler stub: {exc}") from None
        written += [shown_path(app, path) for path in stubs]
        source = Path(app.root) / Path(app.source).name
        digest = input_hash(source, compiled.ref_files, handler_paths(app))
        app = dataclasses.replace(app, source_hash=digest)
    for target, text in outputs:
        written.append(_write(target, text))
    written += [shown_path(app, path) for path in write_changed(kept)]
    write_plan(app, compiled.ref_files, compiled.warnings)
    written.append(Path(app.source).parent / ".motia" / "plan.json")
    print_summary(dataclasses.replace(compiled, app=app), written, sys.stdout, sys.stderr)
    return 0


def shown_path(app: App, path: Path) -> Path:
    """`path` (absolute, inside the project) as the user named the project."""
    return Path(app.source).parent / os.path.relpath(path, app.root)


def _render_outputs(app: App, args: argparse.Namespace) -> list[tuple[Path, str]]:
    renderers: dict[str, Callable[[App, Path], str]] = {
        "mermaid": lambda a, _: _call("mermaid", "render_mermaid", a),
        "openapi": lambda a, f: _dump(_call("openapi", "render_openapi", a), f),
        "asyncapi": lambda a, f: _dump(_call("asyncapi", "render_asyncapi", a), f),
        "html": lambda a, _: _call("html", "render_html", a),
        "graph": lambda a, f: _dump(_call("graph", "graph_json", a), f),
    }
    outputs = []
    for option, render in renderers.items():
        target = getattr(args, option)
        if target is not None:
            outputs.append((Path(target), render(app, Path(target))))
    return outputs


def _call(module: str, function: str, app: App) -> Any:
    from importlib import import_module

    return getattr(import_module(f"motia.compiler.{module}"), function)(app)


def _dump(document: Any, target: Path) -> str:
    if target.suffix.lower() in (".yaml", ".yml"):
        import yaml

        return str(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _write(target: Path, text: str) -> Path:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, "utf-8")
    except OSError as exc:
        raise MotiaError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target


# --- motia init ----------------------------------------------------------------------

_RENAMES = {"gitignore": ".gitignore"}  # dotfiles are not package data; renamed on copy


def init_command(args: argparse.Namespace) -> int:
    from motia.compiler import compile_project

    target = Path(args.dir)
    _check_empty(target)
    template = resources.files("motia").joinpath("project_template")
    try:
        target.mkdir(parents=True, exist_ok=True)
        _copy_tree(template, target)
        _name_app(target / "motia.yaml", _app_name(target))
    except OSError as exc:
        raise MotiaError(f"cannot create the project in {target}: {exc.strerror or exc}") from None
    compiled = compile_project(target / "motia.yaml")
    write_changed(generated_files(compiled.app, types=True))  # types, the editor's schema
    out = sys.stdout
    out.write(f"created {target}: app '{compiled.app.name}', "
              f"{count(compiled.app.steps, 'step')}\n\n")
    out.write(f"next:\n  cd {target}\n  motia compile --mermaid flows.mmd\n  motia run\n"
              "  pytest        # runs tests/, with the motia_app fixture\n")
    return 0


def _check_empty(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target} exists and is not a folder; choose a new folder name")
    if target.is_dir() and any(target.iterdir()):
        raise UsageError(f"{target} is not empty; `motia init` only writes into a new or "
                         "empty folder, so nothing of yours is overwritten")


def _copy_tree(source: Traversable, target: Path) -> None:
    for entry in sorted(source.iterdir(), key=lambda e: e.name):
        if entry.name == "__pycache__":
            continue
        destination = target / _RENAMES.get(entry.name, entry.name)
        if entry.is_dir():
            destination.mkdir(exist_ok=True)
            _copy_tree(entry, destination)
        else:
            with resources.as_file(entry) as path:
                shutil.copyfile(path, destination)


def _app_name(target: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", target.resolve().name).strip("-.")
    return name or "my-app"


def _name_app(motia_yaml: Path, name: str) -> None:
    import yaml

    if yaml.safe_load(name) != name:  # `123`, `true`, `null`: YAML would not read a string
        name = json.dumps(name)
    text = motia_yaml.read_text("utf-8")
    motia_yaml.write_text(re.sub(r"(?m)^app: .*$", f"app: {name}", text, count=1), "utf-8")
