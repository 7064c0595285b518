"""A JSON Schema as rows of a field table, for people who don't read JSON Schema.

Each row is `{field, type, required, constraints, description}`: nested object
properties become dotted paths (`address.city`), array items get `[]` (`lines[].sku`),
and keywords that restrict values are spelt out (`min 1`, `pattern ^[A-Z]{3}$`,
`one of: EUR, USD`). The HTML document and the Workbench page both render these rows.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 8
_CONSTRAINTS = (
    ("minimum", "min {}"), ("maximum", "max {}"),
    ("exclusiveMinimum", "> {}"), ("exclusiveMaximum", "< {}"), ("multipleOf", "multiple of {}"),
    ("minLength", "min length {}"), ("maxLength", "max length {}"),
    ("pattern", "pattern {}"), ("format", "format {}"),
    ("minItems", "min items {}"), ("maxItems", "max items {}"),
    ("minProperties", "min properties {}"), ("maxProperties", "max properties {}"),
)


def schema_fields(schema: Any) -> list[dict[str, Any]]:
    """The field rows of `schema`; a non-object schema is one row for the value itself."""
    rows: list[dict[str, Any]] = []
    if isinstance(schema, dict) and _properties(schema):
        _walk(schema, "", rows, 0)
    elif isinstance(schema, dict) and _type(schema) == "array" and isinstance(
            schema.get("items"), dict) and _properties(schema["items"]):
        rows.append(_row("[]", schema, required=True))
        _walk(schema["items"], "[]", rows, 1)
    else:
        rows.append(_row("(value)", schema if isinstance(schema, dict) else {}, required=True))
    return rows


def _walk(schema: dict[str, Any], prefix: str, rows: list[dict[str, Any]], depth: int) -> None:
    declared = schema.get("required")
    required: list[Any] = declared if isinstance(declared, list) else []
    for name, sub in _properties(schema).items():
        path = f"{prefix}.{name}" if prefix else str(name)
        sub = sub if isinstance(sub, dict) else {}
        rows.append(_row(path, sub, required=name in required))
        if depth >= MAX_DEPTH:
            continue
        if _properties(sub):
            _walk(sub, path, rows, depth + 1)
        elif isinstance(sub.get("items"), dict) and _properties(sub["items"]):
            _walk(sub["items"], f"{path}[]", rows, depth + 1)


def _properties(schema: dict[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties")
    return properties if isinstance(properties, dict) else {}


def _row(path: str, schema: dict[str, Any], *, required: bool) -> dict[str, Any]:
    description = schema.get("description") or schema.get("title") or ""
    return {
        "field": path,
        "type": _type(schema),
        "required": required,
        "constraints": ", ".join(_constraints(schema)),
        "description": str(description),
    }


def _type(schema: dict[str, Any]) -> str:
    declared = schema.get("type")
    if isinstance(declared, list):
        return " | ".join(str(t) for t in declared)
    if isinstance(declared, str):
        if declared == "array" and isinstance(schema.get("items"), dict):
            return f"array of {_type(schema['items'])}"
        return declared
    if isinstance(schema.get("$ref"), str):
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    for key in ("oneOf", "anyOf"):
        if isinstance(schema.get(key), list):
            return " | ".join(_type(s) if isinstance(s, dict) else "any" for s in schema[key])
    if "enum" in schema or "const" in schema:
        return "enum" if "enum" in schema else "const"
    return "object" if "properties" in schema else "any"


def _constraints(schema: dict[str, Any]) -> list[str]:
    found = [text.format(_show(schema[key])) for key, text in _CONSTRAINTS if key in schema]
    if isinstance(schema.get("enum"), list):
        found.append("one of: " + ", ".join(_show(value) for value in schema["enum"]))
    if "const" in schema:
        found.append(f"exactly {_show(schema['const'])}")
    if schema.get("uniqueItems") is True:
        found.append("unique items")
    if schema.get("additionalProperties") is False:
        found.append("no other fields")
    if "default" in schema:
        found.append(f"default {_show(schema['default'])}")
    return found


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
