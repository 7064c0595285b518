"""JSON Schema checks for requests: compiled once per step, every violation reported.

Gateway and admin API both answer a bad payload with the list of *all* its violations,
each a JSON pointer into the checked document and jsonschema's message, so a client can
fix everything in one round trip. Query strings arrive as text; `coerce_query` turns
them into the types the query schema declares before they are checked.

Every request and every emit is checked, and jsonschema's `iter_errors` costs ~60 us
even for a valid three-field object. `is_valid` first runs a check compiled from the
common keywords (see `_validation_fast.py`), which only ever answers "surely valid" or
"not sure"; jsonschema stays the authority for everything else and for the error list.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from motia.compiler.ir import JSONSchema
from motia.runner._validation_fast import fast_check

_FORMATS = FormatChecker()
_INT = re.compile(r"^[+-]?\d+$")


def compile_schema(schema: JSONSchema | None) -> Draft202012Validator | None:
    """A validator for `schema` (formats checked), or None when there is nothing to check."""
    if schema is None:
        return None
    return Draft202012Validator(schema, format_checker=_FORMATS)


def violations(
    validator: Draft202012Validator, instance: Any, where: str | None = None
) -> list[dict[str, Any]]:
    """Every violation as {"path": JSON pointer, "message"} (plus "in" when `where` is set)."""
    if is_valid(validator, instance):
        return []
    found = [_violation(error) for error in validator.iter_errors(instance)]
    found.sort(key=lambda v: (v["path"], v["message"]))
    if where is not None:
        found = [{"in": where, **v} for v in found]
    return found


def is_valid(validator: Draft202012Validator, instance: Any) -> bool:
    """Whether `instance` matches: the compiled fast check when it is sure, else jsonschema."""
    check = fast_check(validator)
    if check is not None and check(instance):
        return True
    return bool(validator.is_valid(instance))


def _violation(error: ValidationError) -> dict[str, Any]:
    parts = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, Mapping):
        missing = _missing_property(error)
        if missing is not None:
            parts.append(missing)
    return {"path": pointer(parts), "message": error.message}


def _missing_property(error: ValidationError) -> str | None:
    """The property a `required` error is about (pointing at it reads better than at its parent)."""
    required = error.validator_value if isinstance(error.validator_value, list) else []
    for name in required:
        if isinstance(name, str) and name not in error.instance and repr(name) in error.message:
            return name
    return None


def pointer(parts: Iterable[Any]) -> str:
    """RFC 6901 JSON pointer for a path of keys and indexes ("" is the whole document)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


# --- query strings ---------------------------------------------------------------------------


def coerce_query(query: Mapping[str, str] | Any, schema: JSONSchema | None) -> dict[str, Any]:
    """Query parameters typed per the schema's properties; anything unconvertible stays text.

    `query` is aiohttp's MultiDict. The rule (docs/handlers.md): a parameter the schema
    declares as an `array` is always a list (`?tag=a&tag=b`, `?tag=a,b` and `?tag=a` give
    lists); any other parameter is a scalar when given once and a list of every value
    when repeated, so a repeat is never silently dropped (a scalar schema then answers
    400 saying so).
    """
    properties = (schema or {}).get("properties") or {}
    out: dict[str, Any] = {}
    for key in dict.fromkeys(query.keys()):
        prop = properties.get(key) if isinstance(properties, Mapping) else None
        values = list(query.getall(key)) if hasattr(query, "getall") else [query[key]]
        types = _types(prop)
        if "array" in types:
            item_types = _types((prop or {}).get("items"))
            if len(values) == 1 and "," in values[0]:
                values = values[0].split(",")
            out[key] = [_scalar(v, item_types) for v in values]
        elif len(values) == 1:
            out[key] = _scalar(values[0], types)
        else:
            out[key] = [_scalar(v, types) for v in values]
    return out


def _types(schema: Any) -> list[str]:
    if not isinstance(schema, Mapping):
        return []
    declared = schema.get("type")
    if isinstance(declared, str):
        return [declared]
    return [t for t in declared if isinstance(t, str)] if isinstance(declared, list) else []


def _scalar(text: str, types: list[str]) -> Any:
    for type_ in types:
        if type_ == "integer" and _INT.match(text):
            return int(text)
        if type_ == "number":
            number = _number(text)
            if number is not None:
                return number
        if type_ == "boolean" and text.lower() in _BOOLEANS:
            return _BOOLEANS[text.lower()]
        if type_ == "null" and text in ("", "null"):
            return None
        if type_ == "string":
            return text
    return text


_BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


def _number(text: str) -> int | float | None:
    if _INT.match(text):
        return int(text)
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
