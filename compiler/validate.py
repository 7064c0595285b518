"""Stage 2: check motia.yaml against schema/motia.schema.json, in words people read.

jsonschema finds every violation; this module turns each into one located Diagnostic
("unknown key 'handlr' in step 'charge'" at the key, with "did you mean 'handler'?")
and reports which paths were bad, so later stages do not report them a second time.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError

from motia.compiler.loader import Document, JSONPath
from motia.compiler.suggest import did_you_mean, one_of
from motia.compiler.units import parse_duration, parse_size
from motia.errors import CompileError, Diagnostic

STEP_TYPES = ("api", "event", "cron", "noop")

_SECTIONS = {"steps": "step", "topics": "topic", "flows": "flow", "schemas": "schema"}
_TYPE_WORDS = {
    "object": "a mapping", "array": "a list", "string": "a string", "integer": "an integer",
    "number": "a number", "boolean": "true or false", "null": "empty",
}
_TITLE_WORDS = {
    "duration": "a duration (500ms, 10s, 1m)",
    "size": "a size (512MB, 1GiB)",
    "schema name or inline JSON Schema": "a schema name or an inline JSON Schema",
    "JSON Schema": "an inline JSON Schema (a mapping)",
}
_UNIT_PARSERS: dict[str, Callable[[object], object]] = {
    "duration": parse_duration, "size": parse_size,
}
_MISSING_HINTS = {
    "version": "add `version: 1` at the top of the file",
    "app": "add `app: <name>` at the top of the file",
    "type": "add `type: api`, `type: event`, `type: cron` or `type: noop`",
    "method": "add `method: POST` (or GET, PUT, PATCH, DELETE, HEAD, OPTIONS)",
    "path": "add `path: /orders/{id}` (path parameters in braces)",
    "handler": "add `handler: steps/<file>.py` (or a .js file), relative to motia.yaml",
    "subscribes": "add `subscribes: [<topic>]`: the topics whose events run this step",
    "cron": 'add `cron: "0 3 * * *"` (5 fields, or 6 with seconds first)',
}
_NAME_HINT = "use letters, digits, '.', '_' and '-', starting with a letter or digit"
Tainted = set[JSONPath]


@functools.cache
def motia_schema() -> dict[str, Any]:
    """The JSON Schema of motia.yaml, shipped as package data in motia.schema."""
    text = resources.files("motia.schema").joinpath("motia.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


Validator = jsonschema.Draft202012Validator


@functools.cache
def _validators() -> tuple[Any, dict[str, Any]]:
    """A validator for the file without its steps, and one per step type.

    Same verdicts as validating against motia_schema() as a whole, several times faster
    on big files: `$ref`s are inlined once here instead of looked up for every value,
    and each step is checked against its own type's schema instead of trying four
    `if`s. (The shipped schema keeps `$ref`s and `if`s: editors read it.)
    """
    schema = _inline_refs(motia_schema(), motia_schema()["$defs"])
    by_type = {kind: Validator(schema["$defs"][f"{kind}Step"]) for kind in STEP_TYPES}
    steps = schema["properties"]["steps"]
    base_step = {k: v for k, v in steps["additionalProperties"].items() if k != "allOf"}
    schema["properties"]["steps"] = {**steps, "additionalProperties": base_step}
    return Validator(schema), by_type


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    """`node` with every `#/$defs/x` replaced by (a copy of) x; motia's schema has no cycles."""
    if isinstance(node, list):
        return [_inline_refs(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _inline_refs(v, defs) for k, v in node.items() if k != "$ref"}
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return {**_inline_refs(defs[ref.removeprefix("#/$defs/")], defs), **out}
    return out


def _schema_errors(data: Any) -> Iterable[tuple[JSONPath, ValidationError]]:
    """Every violation in `data`, with the path of the value that has it."""
    document, by_type = _validators()
    for error in document.iter_errors(data):
        yield tuple(error.absolute_path), error
    steps = data.get("steps") if isinstance(data, dict) else None
    for name, step in steps.items() if isinstance(steps, dict) else ():
        kind = step.get("type") if isinstance(step, dict) else None
        if isinstance(kind, str) and kind in by_type:
            for error in by_type[kind].iter_errors(step):
                yield ("steps", name, *error.absolute_path), error


@functools.cache
def step_keys() -> dict[str, frozenset[str]]:
    """The keys each step type accepts, read from the schema (its single source)."""
    defs = motia_schema()["$defs"]
    return {kind: frozenset(defs[f"{kind}Step"]["properties"]) for kind in STEP_TYPES}


def validate_document(doc: Document) -> tuple[list[Diagnostic], Tainted]:
    """Every schema violation in `doc` as a Diagnostic, and the paths they make unusable."""
    diagnostics: list[Diagnostic] = []
    tainted: Tainted = set()
    seen: set[tuple[JSONPath, str]] = set()
    for at, error in _schema_errors(doc.data):
        for path, diagnostic in _explain(doc, at, error):
            # jsonschema reports `required` once per missing key; we list them all each time
            if (path, diagnostic.message) not in seen:
                seen.add((path, diagnostic.message))
                diagnostics.append(diagnostic)
            tainted.add(path)
    return diagnostics, tainted


def _explain(
    doc: Document, path: JSONPath, error: ValidationError
) -> Iterable[tuple[JSONPath, Diagnostic]]:
    kind = error.validator
    if kind == "additionalProperties":
        return [_unknown_key(doc, path, key, error) for key in _extra_keys(error)]
    if kind == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return [_missing_key(doc, path, key) for key in missing]
    if "propertyNames" in error.relative_schema_path:
        return [_bad_name(doc, path, str(error.instance))]
    message, hint = _message(path, error)
    return [(path, doc.diagnostic(path, message, hint))]


def _extra_keys(error: ValidationError) -> list[str]:
    allowed = error.schema.get("properties", {})
    patterns = [re.compile(p) for p in error.schema.get("patternProperties", {})]
    return [key for key in error.instance
            if key not in allowed and not any(p.search(key) for p in patterns)]


def _unknown_key(
    doc: Document, path: JSONPath, key: str, error: ValidationError
) -> tuple[JSONPath, Diagnostic]:
    allowed = sorted(error.schema.get("properties", {}))
    where = describe_owner(path)
    hint = did_you_mean(key, allowed) or _other_step_types(path, key, error)
    hint = hint or f"allowed keys here: {one_of(allowed)}"
    message = f"unknown key '{key}' in {where}" if path else f"unknown top-level key '{key}'"
    return path + (key,), doc.diagnostic(path + (key,), message, hint, key=True)


def _other_step_types(path: JSONPath, key: str, error: ValidationError) -> str:
    kind = error.schema.get("title", "")
    if len(path) != 2 or path[0] != "steps" or not kind.endswith(" step"):
        return ""
    owners = [t for t, keys in step_keys().items() if key in keys]
    if not owners:
        return ""
    names = owners[0] if len(owners) == 1 else f"{', '.join(owners[:-1])} and {owners[-1]}"
    return f"'{key}' is only valid for {names} steps, not {kind}s"


def _missing_key(doc: Document, path: JSONPath, key: str) -> tuple[JSONPath, Diagnostic]:
    where = describe_owner(path)
    message = f"{where} is missing required key '{key}'" if path else f"missing required key '{key}'"
    return path + (key,), doc.diagnostic(path, message, _MISSING_HINTS.get(key, ""), key=True)


def _bad_name(doc: Document, path: JSONPath, name: str) -> tuple[JSONPath, Diagnostic]:
    if path and path[-1] == "responses":
        message = f"invalid HTTP status code '{name}' in {describe_owner(path)} responses"
        hint = "use a status code from 100 to 599, e.g. 200"
    else:
        noun = _SECTIONS.get(str(path[-1]) if path else "", "key")
        message, hint = f"invalid {noun} name '{name}'", _NAME_HINT
        if noun == "schema":
            hint = "use letters, digits, '.', '_' and '-', starting with a letter or '_'"
    return path + (name,), doc.diagnostic(path + (name,), message, hint, key=True)


def _message(path: JSONPath, error: ValidationError) -> tuple[str, str]:
    subject = describe_field(path)
    kind, value, expected = error.validator, error.instance, error.validator_value
    title = error.schema.get("title", "") if isinstance(error.schema, dict) else ""
    if kind in ("pattern", "minimum") and title in _UNIT_PARSERS:
        try:
            _UNIT_PARSERS[title](value)
        except CompileError as exc:
            return f"{subject}: {exc.message}", exc.hint
    if kind == "type":
        return f"{subject} must be {_expected_type(expected, title)}, got {show(value)}", ""
    if kind == "enum":
        choices = [str(c) for c in expected]
        hint = did_you_mean(str(value), choices)
        return f"{subject} must be one of {', '.join(choices)}; got {show(value)}", hint
    if kind == "const":
        if path == ("version",):
            return f"unsupported version {show(value)}", "this Motia reads `version: 1` files"
        return f"{subject} must be {show(expected)}, got {show(value)}", ""
    if kind == "minimum":
        return f"{subject} must be at least {expected}, got {show(value)}", ""
    if kind in ("minItems", "minLength"):
        return f"{subject} must not be empty", ""
    if kind == "uniqueItems":
        return f"{subject} lists {show(_first_duplicate(value))} more than once", "remove the repeat"
    return f"{subject}: {error.message}", ""


def _expected_type(expected: object, title: str) -> str:
    if title in _TITLE_WORDS:
        return _TITLE_WORDS[title]
    names = [expected] if isinstance(expected, str) else list(expected)  # type: ignore[call-overload]
    return " or ".join(_TYPE_WORDS.get(str(n), str(n)) for n in names)


def _first_duplicate(values: list[Any]) -> Any:
    seen: list[Any] = []
    for value in values:
        if value in seen:
            return value
        seen.append(value)
    return None


def describe_owner(path: JSONPath) -> str:
    """"step 'x'", "topic 'y'", "defaults"...: the thing a path belongs to, for messages."""
    if len(path) >= 2 and path[0] in _SECTIONS:
        return f"{_SECTIONS[str(path[0])]} '{path[1]}'"
    if path:
        return f"'{path[0]}'"
    return "the top level"


def describe_field(path: JSONPath) -> str:
    """"'retries' in step 'x'", "'backoff.max' in defaults", "'app'": a field, for messages."""
    owner_len = 2 if len(path) >= 2 and path[0] in _SECTIONS else 1
    owner, rest = path[:owner_len], path[owner_len:]
    if not rest:
        return describe_owner(owner) if owner_len == 2 else f"'{path[0]}'" if path else "the file"
    field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in rest).lstrip(".")
    return f"'{field}' in {describe_owner(owner)}"


def show(value: object) -> str:
    """A value as a message shows it: `'text'`, `5`, `true`, `null`, `a mapping`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"'{value}'" if len(value) <= 60 else f"'{value[:57]}...'"
    return repr(value)
