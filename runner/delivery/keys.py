"""Reading a business key (`data.id`, `body.id`, `headers.idempotency-key`) out of an input.

The compiler checked the path against the schemas (compiler/keypaths.py); at run time the
value may still be missing (an optional property), which is None here: the caller then
falls back to the event id, or runs the request without deduplication. Key values are
text: a string as it is, anything else as compact JSON with sorted keys, and a value too
long to be a good store key as its SHA-256.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

#: key values longer than this (characters) are replaced by their SHA-256 (hex)
MAX_KEY = 200

KeyReader = Callable[[Any], "str | None"]


def key_reader(path: str, *, root: str | None = None) -> KeyReader:
    """A function reading `path` out of a value. With `root` (e.g. "data"), the path's
    first segment must be it and is dropped (the event's data *is* `data`); header names
    are matched in lower case, as the gateway hands them over."""
    parts = path.split(".")
    if root is not None:
        if parts[0] != root:
            raise ValueError(f"key {path!r} does not start with {root!r}")
        parts = parts[1:]
    if len(parts) == 2 and parts[0] == "headers":
        parts[1] = parts[1].lower()
    steps = tuple(parts)

    def read(value: Any) -> str | None:
        for part in steps:
            value = _child(value, part)
            if value is None:
                return None
        return key_text(value)

    return read


def key_text(value: Any) -> str | None:
    """A key value as store-key text; None for None and the empty string."""
    if value is None or value == "":
        return None
    text = value if isinstance(value, str) else json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    if len(text) > MAX_KEY:
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    return text


def _child(value: Any, part: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(part)
    if isinstance(value, list) and part.isdigit() and int(part) < len(value):
        return value[int(part)]
    return None
