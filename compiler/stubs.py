"""Handler stubs: a file for every running step whose handler file is missing.

A stub is working code with the right signature for its step type (api `(req, ctx)`,
event `(data, ctx)`, cron `(ctx)`), a docstring or comment showing the payload schema
and the topics the step may emit, and a body that logs and (for api steps) answers 200.
Steps sharing one missing file get one file with a function each. Existing files are
never touched: a stub is a starting point, after which the file belongs to the user.
"""

from __future__ import annotations

import json
import keyword
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from motia.compiler._examples import example_value
from motia.compiler._templates import render
from motia.compiler._typemodel import StepTypes
from motia.compiler._typemodel import build as build_types
from motia.compiler.ir import HANDLER_PARAMS, App, JSONSchema, Step
from motia.errors import CompileError

TEMPLATE_BY_EXTENSION = {".py": "stub.py.j2", ".js": "stub.cjs.j2", ".cjs": "stub.cjs.j2",
                         ".mjs": "stub.mjs.j2"}
_JS_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_JS_RESERVED = frozenset({
    "await", "break", "case", "catch", "class", "const", "continue", "debugger", "default",
    "delete", "do", "else", "enum", "export", "extends", "false", "finally", "for",
    "function", "if", "implements", "import", "in", "instanceof", "interface", "let", "new",
    "null", "package", "private", "protected", "public", "return", "static", "super",
    "switch", "this", "throw", "true", "try", "typeof", "var", "void", "while", "with",
    "yield",
})


def write_stubs(app: App) -> list[Path]:
    """Write a stub for each running step whose handler file is missing; return them sorted.

    Raises CompileError, before writing anything, when a stub could not be valid code:
    an unknown extension, a function name the language rejects, or a handler path
    outside the project.
    """
    files = _missing_files(app)
    texts = {path: stub_text(app, steps).encode("utf-8") for path, steps in files.items()}
    for path, text in texts.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("xb") as out:
            out.write(text)
    return sorted(texts)


def _missing_files(app: App) -> dict[Path, list[Step]]:
    root = Path(app.root).resolve()
    files: dict[Path, list[Step]] = {}
    for step in app.steps:
        if not step.runs or step.handler is None:
            continue
        path = (root / step.handler.path).resolve()
        if not path.is_relative_to(root):
            raise CompileError(
                f"step {step.name!r}: handler {step.handler.path!r} is outside the project",
                "keep handler files under the folder holding motia.yaml",
            )
        if not path.exists():
            files.setdefault(path, []).append(step)
    return files


def stub_text(app: App, steps: Iterable[Step]) -> str:
    """The stub source for `steps`, which share one handler file (one function each)."""
    steps = _distinct_functions(steps)
    extension = Path(steps[0].handler.path if steps[0].handler else "").suffix
    template = TEMPLATE_BY_EXTENSION.get(extension)
    if template is None:
        raise CompileError(
            f"step {steps[0].name!r}: no stub for handler extension {extension!r}",
            f"use one of {', '.join(TEMPLATE_BY_EXTENSION)}",
        )
    for step in steps:
        _check_function(step, extension)
    types = {t.step.name: t for t in build_types(app).steps}
    stubs = [_stub_context(app, step, types[step.name]) for step in steps]
    text: str = render(
        template,
        app_name=app.name,
        names=", ".join(step.name for step in steps),
        stubs=stubs,
        imports=sorted({name for stub in stubs for name in stub["imports"]}),
    )
    return text


def _distinct_functions(steps: Iterable[Step]) -> list[Step]:
    """One step per function name: the first wins when steps share a function."""
    seen: dict[str, Step] = {}
    for step in steps:
        function = step.handler.function if step.handler else "handler"
        seen.setdefault(function, step)
    return list(seen.values())


def _check_function(step: Step, extension: str) -> None:
    function = step.handler.function if step.handler else ""
    if extension == ".py":
        valid = function.isidentifier() and not keyword.iskeyword(function)
    else:
        valid = bool(_JS_NAME.fullmatch(function)) and (
            extension != ".mjs" or function not in _JS_RESERVED
        )
    if not valid:
        raise CompileError(
            f"step {step.name!r}: handler function {function!r} is not a valid name "
            f"in a {extension} file",
            "name the function with letters, digits and underscores, not a keyword",
        )


def _stub_context(app: App, step: Step, types: StepTypes) -> dict[str, Any]:
    assert step.handler is not None
    status, body = _response_example(step)
    context = {
        "name": step.name,
        "type": step.type,
        "function": step.handler.function,
        "params": HANDLER_PARAMS[step.type],
        "trigger": _trigger(step),
        "kind_line": _kind_line(app, step),
        "description": step.description,
        "sections": _sections(app, step),
        "emits": [_emit(app, topic) for topic in step.emits],
        "returns": _returns(step),
        "status": status,
        "body": body,
        **_typing(step, types),
    }
    context["doc"] = render("stub_doc.txt.j2", s=context).rstrip("\n")
    return context


def _trigger(step: Step) -> str:
    if step.type == "api":
        return f"{step.method} {step.path}"
    if step.type == "cron":
        zone = f" ({step.timezone})" if step.timezone else ""
        return f"cron {step.cron}{zone}"
    return "on " + ", ".join(step.subscribes) if step.subscribes else "event step"


def _kind_line(app: App, step: Step) -> str:
    flows = f", in flows: {', '.join(step.flows)}" if step.flows else ", in no flow"
    return f"The {step.type} step of app {app.name}{flows}."


def _sections(app: App, step: Step) -> list[dict[str, str]]:
    sections: list[dict[str, str]] = []
    if step.path_params:
        params = ", ".join(step.path_params)
        sections.append({"title": "Path parameters (req.params)", "body": params})
    if step.body is not None:
        sections.append(_section("Request body (req.body)", _named(app, step.body), step.body))
    if step.query is not None:
        sections.append(_section("Query (req.query)", _named(app, step.query), step.query))
    for name in step.subscribes if step.type == "event" else ():
        topic = _topic(app, name)
        schema = topic.schema if topic else None
        title = f"Payload of {name} (data)"
        sections.append(_section(title, topic.schema_name if topic else None, schema))
    return sections


def _section(title: str, schema_name: str | None, value: Any) -> dict[str, str]:
    if schema_name:
        title = f"{title}, schema {schema_name}"
    if value is None:
        return {"title": title, "body": "any JSON value (no schema declared)"}
    return {"title": title, "body": json.dumps(value, indent=2, ensure_ascii=False, default=str)}


def _named(app: App, schema: JSONSchema) -> str | None:
    """The name under which `schema` is declared, when the step used a named schema."""
    return next((name for name, named in app.schemas if named == schema), None)


def _topic(app: App, name: str) -> Any:
    return next((topic for topic in app.topics if topic.name == name), None)


def _emit(app: App, name: str) -> dict[str, Any]:
    topic = _topic(app, name)
    return {
        "topic": name,
        "schema_name": topic.schema_name if topic else None,
        "description": topic.description if topic else "",
        "example": example_value(topic.schema) if topic and topic.schema else {},
    }


def _returns(step: Step) -> str:
    if step.type != "api":
        return ""
    statuses = ", ".join(str(response.status) for response in step.responses)
    declared = f" Declared responses: {statuses}." if statuses else ""
    return 'Return {"status": ..., "body": ..., "headers": {...}}.' + declared


def _response_example(step: Step) -> tuple[int, Any]:
    """The status and body a stub answers with: 200, or the first declared response."""
    declared = {r.status: r.schema for r in step.responses}
    status = 200 if 200 in declared or not declared else min(declared)
    schema = declared.get(status)
    if schema is None:
        return status, {"ok": True}
    example = example_value(schema)
    if example == {} and schema.get("additionalProperties") is not False:
        return status, {"ok": True}
    return status, example


def _typing(step: Step, types: StepTypes) -> dict[str, Any]:
    """What a stub needs to be typed with motia_types.py / motia-types.d.ts."""
    assert step.handler is not None
    first = {"api": ("req", types.request), "event": ("data", types.data)}.get(step.type)
    params = [first] if first else []
    params.append(("ctx", types.context))
    depth = len(Path(step.handler.path).parent.parts)
    module = f"{'../' * depth or './'}motia-types.js"
    tags = [f"@param {{import('{module}').{kind}}} {name}" for name, kind in params]
    if types.result:
        tags.append(f"@returns {{Promise<import('{module}').{types.result}>}}")
    return {
        "typed_params": ", ".join(f"{name}: {kind}" for name, kind in params),
        "returns_type": types.result or "None",
        "imports": [kind for _, kind in params] + ([types.result] if types.result else []),
        "jsdoc_tags": tags,
    }
