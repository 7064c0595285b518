"""Is this a valid JSON Schema (draft 2020-12)? Fast enough to ask for every schema.

jsonschema's own check walks the official meta-schema, which is split into vocabularies
joined by `$dynamicRef`; resolving those costs ~2.5 ms per schema. The same meta-schema
flattened into one document with plain `$ref`s gives the same verdicts five times faster,
and verdicts are cached by content, so a schema repeated in many steps is checked once.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match
from jsonschema_specifications import REGISTRY

from motia.compiler.loader import JSONPath
from motia.compiler.suggest import did_you_mean

_BASE = "https://json-schema.org/draft/2020-12/"
_VOCABULARIES = (
    "core", "applicator", "unevaluated", "validation", "meta-data", "format-annotation",
    "content",
)
_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")

Problem = tuple[JSONPath, str, str]  # (path inside the schema, message, hint)


def schema_problem(schema: Any) -> Problem | None:
    """The most relevant reason `schema` is not a valid JSON Schema, or None if it is."""
    try:
        key = json.dumps(schema, sort_keys=True)
    except (TypeError, ValueError):
        return (), "a JSON Schema holds only JSON values", ""
    return _cached_problem(key)


@functools.lru_cache(maxsize=4096)
def _cached_problem(key: str) -> Problem | None:
    error = best_match(_meta_validator().iter_errors(json.loads(key)))
    return None if error is None else _explain(error)


def _explain(error: ValidationError) -> Problem:
    path: JSONPath = tuple(error.absolute_path)
    keyword = _keyword(path)
    value = error.instance
    if keyword == "type" and isinstance(value, str):
        hint = did_you_mean(value, _TYPES, fallback=f"use one of {', '.join(_TYPES)}")
        return path, f"unknown type '{value}'", hint
    if error.validator == "format" and error.validator_value == "regex":
        return path, f"'{keyword}' is not a valid regular expression: {value!r}", ""
    where = f"'{keyword}'" if keyword else "the schema"
    return path, f"{where}: {error.message}", ""


def _keyword(path: JSONPath) -> str:
    for part in reversed(path):
        if isinstance(part, str):
            return part
    return ""


@functools.cache
def known_keywords() -> frozenset[str]:
    """Every keyword draft 2020-12 defines (and the older ones it still describes)."""
    flat = _meta_validator().schema
    return frozenset(flat["properties"])


@functools.cache
def _meta_validator() -> jsonschema.Draft202012Validator:
    root = REGISTRY.contents(_BASE + "schema")
    parts = [root] + [REGISTRY.contents(f"{_BASE}meta/{v}") for v in _VOCABULARIES]
    flat: dict[str, Any] = {"type": ["object", "boolean"], "properties": {}, "$defs": {}}
    for part in parts:
        flat["properties"].update(_flatten_refs(part.get("properties", {})))
        flat["$defs"].update(_flatten_refs(part.get("$defs", {})))
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    return jsonschema.Draft202012Validator(flat, format_checker=checker)


def _flatten_refs(node: Any) -> Any:
    """`$dynamicRef: #meta` -> `$ref: #`; `meta/x#/$defs/y` -> `#/$defs/y` (defs merged)."""
    if isinstance(node, list):
        return [_flatten_refs(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _flatten_refs(v) for k, v in node.items()}
    if node.get("$dynamicRef") == "#meta":
        del out["$dynamicRef"]
        out["$ref"] = "#"
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("meta/"):
        out["$ref"] = "#" + ref.partition("#")[2]
    return out
