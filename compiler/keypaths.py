"""Dotted key paths into a step's input (`data.customer.id`, `body.id`), checked at compile time.

An idempotency key (and a flow-control key, a path into the data without `data.`) names a value inside what a step
receives. A typo there would fail silently at run time (every event without the value
falls back to its event id), so the compiler walks the path through the JSON Schema the
value must match and reports a property the schema does not declare, with a "did you
mean" over the names it does. Where the schema says nothing definite (no `properties`,
a `oneOf`, a `$ref` outside the document) the rest of the path is taken on trust.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from motia.compiler.ir import JSONSchema
from motia.compiler.suggest import did_you_mean, one_of
from motia.errors import CompileError


@dataclass(frozen=True)
class KeyPath:
    """`root.a.b` split: the part of the input it starts from, and the path inside it."""

    root: str
    parts: tuple[str, ...]

    @property
    def text(self) -> str:
        """As written: `data.id`; a path into the data itself (root "") has no prefix."""
        return ".".join(part for part in (self.root, *self.parts) if part)


def parse_key_path(text: str, roots: Sequence[str]) -> KeyPath:
    """The KeyPath of `text`; CompileError unless it starts with one of `roots`."""
    root, *parts = text.split(".")
    if root not in roots:
        starts = " or ".join(f"`{r}.`" for r in roots)
        hint = did_you_mean(root, roots, fallback=f"e.g. `{roots[0]}.id`")
        raise CompileError(f"key '{text}' must start with {starts}", hint)
    if any(part == "" for part in parts):
        raise CompileError(f"key '{text}' has an empty segment", "write names joined by single dots")
    return KeyPath(root, tuple(parts))


def check_in_schema(path: KeyPath, schema: JSONSchema | None, what: str) -> bool:
    """Raise CompileError when `schema` (of `what`, e.g. "topic 'order.placed' (schema
    Order)") declares properties and the path names one it lacks. True when every
    segment is a required property, so every valid value has the key."""
    node: Any = schema
    required = True
    for depth, part in enumerate(path.parts):
        node = _deref(node, schema)
        if not isinstance(node, Mapping):
            return False
        if _is_array(node) and part.isdigit():
            node, required = node.get("items"), False
            continue
        properties = node.get("properties")
        if not isinstance(properties, Mapping) or not properties:
            return False  # any object: the schema does not say which keys exist
        if part not in properties:
            raise _missing(path, depth, what, properties)
        required = required and part in (node.get("required") or ())
        node = properties[part]
    return required


def _missing(path: KeyPath, depth: int, what: str, properties: Mapping[str, Any]) -> CompileError:
    inside = ".".join(part for part in (path.root, *path.parts[:depth]) if part)
    names = [str(name) for name in properties]
    fallback = f"its properties are {one_of(names)}"
    place = f"in `{inside}`" if inside else "in its data"
    return CompileError(
        f"key '{path.text}': {what} has no property '{path.parts[depth]}' {place}",
        did_you_mean(path.parts[depth], names, fallback=fallback),
    )


def _is_array(node: Mapping[str, Any]) -> bool:
    kind = node.get("type")
    return kind == "array" or (isinstance(kind, list) and "array" in kind)


def _deref(node: Any, root: Any) -> Any:
    """Follow local `$ref`s (`#/$defs/X`) a few levels; anything else is returned as is."""
    for _ in range(8):
        if not isinstance(node, Mapping) or not isinstance(node.get("$ref"), str):
            return node
        ref: str = node["$ref"]
        if not ref.startswith("#/"):
            return None  # not ours to follow: take the path on trust
        target: Any = root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            target = target.get(part) if isinstance(target, Mapping) else None
        node = target
    return None
