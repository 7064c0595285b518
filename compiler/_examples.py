"""An example value for a JSON Schema, for stubs and documents to show a plausible payload.

Best effort by design: it honours `examples`, `default`, `const`, `enum`, types, required
and declared properties, numeric minimums and string lengths. A value for a `pattern`,
`format` or combinator it cannot satisfy is a readable placeholder, not a guarantee.
"""

from __future__ import annotations

from typing import Any

_MAX_DEPTH = 6
_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "email": "user@example.com",
    "uri": "urn:example",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


def example_value(schema: Any, depth: int = 0) -> Any:
    """A value shaped like `schema` (a dict; `True`/missing schemas give an empty object)."""
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return {}
    for key in ("const", "default"):
        if key in schema:
            return schema[key]
    if isinstance(schema.get("examples"), list) and schema["examples"]:
        return schema["examples"][0]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("allOf", "anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return example_value(options[0], depth + 1)
    return _by_type(schema, _first_type(schema), depth)


def _first_type(schema: dict[str, Any]) -> str:
    declared = schema.get("type")
    if isinstance(declared, list):
        declared = next((t for t in declared if t != "null"), "null")
    if isinstance(declared, str):
        return declared
    return "object" if "properties" in schema else "string" if "pattern" in schema else "object"


def _by_type(schema: dict[str, Any], kind: str, depth: int) -> Any:
    if kind == "object":
        return _object(schema, depth)
    if kind == "array":
        item = example_value(schema.get("items", {}), depth + 1)
        return [item] * max(int(schema.get("minItems", 1)), 1)
    if kind in ("integer", "number"):
        return _number(schema, kind)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string(schema)


def _object(schema: dict[str, Any], depth: int) -> dict[str, Any]:
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return {}
    return {name: example_value(sub, depth + 1) for name, sub in properties.items()}


def _number(schema: dict[str, Any], kind: str) -> int | float:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    value: int | float = low if isinstance(low, (int, float)) else 1
    if "exclusiveMinimum" in schema and "minimum" not in schema:
        value += 1
    high = schema.get("maximum")
    if isinstance(high, (int, float)) and value > high:
        value = high
    return int(value) if kind == "integer" else value


def _string(schema: dict[str, Any]) -> str:
    if schema.get("format") in _FORMATS:
        return _FORMATS[str(schema["format"])]
    text = "string"
    minimum = schema.get("minLength")
    if isinstance(minimum, int) and minimum > len(text):
        text = text.ljust(minimum, "x")
    maximum = schema.get("maxLength")
    return text[:maximum] if isinstance(maximum, int) else text
