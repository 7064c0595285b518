"""A compiled JSON Schema check for the keywords most schemas use, sure only when valid.

`fast_check(validator)` returns a predicate for the validator's schema, or None when the
schema uses anything beyond the keywords handled here (type, properties, required,
additionalProperties, items, min/max length, items and numeric bounds, annotations).
The predicate returns True only when the instance is valid under draft 2020-12 exactly
as jsonschema decides it; False means "not sure" and the caller asks jsonschema, which
also produces the error list. Values of unusual Python types (tuples, Decimals, dict
subclasses...) are always "not sure", so jsonschema's type checker decides those.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

_ANNOTATIONS = frozenset({"title", "description", "default", "examples", "$comment",
                          "deprecated", "readOnly", "writeOnly"})
_DRAFT = "https://json-schema.org/draft/2020-12/schema"
_NUMBERS = (int, float)


class _Unsupported(Exception):
    """The schema uses a keyword (or keyword value) this module does not compile."""


def _is_integer(x: Any) -> bool:
    t = type(x)
    return t is int or (t is float and x.is_integer())


_TYPES: dict[str, Check] = {
    "null": lambda x: x is None,
    "boolean": lambda x: type(x) is bool,
    "integer": _is_integer,
    "number": lambda x: type(x) in _NUMBERS,
    "string": lambda x: type(x) is str,
    "array": lambda x: type(x) is list,
    "object": lambda x: type(x) is dict,
}

_cache: dict[int, tuple[Any, Check | None]] = {}


def fast_check(validator: Any) -> Check | None:
    """The compiled check of `validator.schema` (cached per validator), or None."""
    entry = _cache.get(id(validator))
    if entry is not None and entry[0] is validator:
        return entry[1]
    check = compile_check(validator.schema)
    if len(_cache) > 4096:  # validators are built once per step/topic; plan swaps add more
        _cache.clear()
    _cache[id(validator)] = (validator, check)
    return check


def compile_check(schema: Any) -> Check | None:
    """The compiled check of a raw draft 2020-12 `schema`, or None when it uses anything
    beyond the keywords handled here. Step workers use this too (it needs no jsonschema):
    an emit it calls valid needs no round trip to the host."""
    try:
        if isinstance(schema, dict) and schema.get("$schema", _DRAFT) == _DRAFT:
            return _compile({k: v for k, v in schema.items() if k != "$schema"})
        if schema is True:
            return _compile(schema)
    except (_Unsupported, RecursionError):
        pass
    return None


def _compile(schema: Any) -> Check:
    if schema is True:
        return lambda x: True
    if schema is False or not isinstance(schema, dict):
        raise _Unsupported
    checks: list[Check] = []
    for key, value in schema.items():
        if key in _ANNOTATIONS:
            continue
        make = _KEYWORDS.get(key)
        if make is None:
            raise _Unsupported(key)
        checks.append(make(value, schema))
    if not checks:
        return lambda x: True
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda x: first(x) and second(x)
    return lambda x: all(c(x) for c in checks)


def _type(value: Any, schema: dict[str, Any]) -> Check:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or any(n not in _TYPES for n in names):
        raise _Unsupported("type")
    tests = [_TYPES[n] for n in names]
    if len(tests) == 1:
        return tests[0]
    return lambda x: any(t(x) for t in tests)


def _properties(value: Any, schema: dict[str, Any]) -> Check:
    if not isinstance(value, dict):
        raise _Unsupported("properties")
    props = [(name, _compile(sub)) for name, sub in value.items()]

    def check(x: Any) -> bool:
        if type(x) is not dict:
            return _not_object(x)
        for name, sub in props:
            if name in x and not sub(x[name]):
                return False
        return True

    return check


def _required(value: Any, schema: dict[str, Any]) -> Check:
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        raise _Unsupported("required")
    names = tuple(value)

    def check(x: Any) -> bool:
        if type(x) is not dict:
            return _not_object(x)
        return all(n in x for n in names)

    return check


def _additional(value: Any, schema: dict[str, Any]) -> Check:
    if "patternProperties" in schema:
        raise _Unsupported("patternProperties")
    declared = schema.get("properties", {})
    if not isinstance(declared, dict):
        raise _Unsupported("properties")
    known = frozenset(declared)
    if value is False:
        def closed(x: Any) -> bool:
            if type(x) is not dict:
                return _not_object(x)
            return known.issuperset(x)

        return closed
    sub = _compile(value)

    def check(x: Any) -> bool:
        if type(x) is not dict:
            return _not_object(x)
        return all(sub(v) for k, v in x.items() if k not in known)

    return check


def _items(value: Any, schema: dict[str, Any]) -> Check:
    if "prefixItems" in schema:
        raise _Unsupported("prefixItems")
    sub = _compile(value) if value is not False else None

    def check(x: Any) -> bool:
        if type(x) is not list:
            return _not_array(x)
        if sub is None:
            return not x
        return all(sub(item) for item in x)

    return check


def _count(kind: Any, compare: Callable[[int, int], bool], name: str) -> Callable[..., Check]:
    def make(value: Any, schema: dict[str, Any]) -> Check:
        if type(value) is not int or value < 0:
            raise _Unsupported(name)

        def check(x: Any) -> bool:
            if type(x) is not kind:
                return x is None or type(x) in (bool, int, float, str, list, dict)
            return compare(len(x), value)

        return check

    return make


def _bound(compare: Callable[[Any, Any], bool], name: str) -> Callable[..., Check]:
    def make(value: Any, schema: dict[str, Any]) -> Check:
        if type(value) not in _NUMBERS:
            raise _Unsupported(name)

        def check(x: Any) -> bool:
            if type(x) not in _NUMBERS:
                return x is None or type(x) in (bool, str, list, dict)
            return compare(x, value)

        return check

    return make


def _not_object(x: Any) -> bool:
    """Object keywords ignore other JSON types; anything not plain JSON is "not sure"."""
    return x is None or type(x) in (bool, int, float, str, list)


def _not_array(x: Any) -> bool:
    return x is None or type(x) in (bool, int, float, str, dict)


_KEYWORDS: dict[str, Callable[[Any, dict[str, Any]], Check]] = {
    "type": _type,
    "properties": _properties,
    "required": _required,
    "additionalProperties": _additional,
    "items": _items,
    "minLength": _count(str, lambda n, v: n >= v, "minLength"),
    "maxLength": _count(str, lambda n, v: n <= v, "maxLength"),
    "minItems": _count(list, lambda n, v: n >= v, "minItems"),
    "maxItems": _count(list, lambda n, v: n <= v, "maxItems"),
    "minimum": _bound(lambda x, v: x >= v, "minimum"),
    "maximum": _bound(lambda x, v: x <= v, "maximum"),
    "exclusiveMinimum": _bound(lambda x, v: x > v, "exclusiveMinimum"),
    "exclusiveMaximum": _bound(lambda x, v: x < v, "exclusiveMaximum"),
}
