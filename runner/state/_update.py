"""What `state.update(group, key, ops)` means: the ops checked once, then applied to a value.

One implementation for the memory, SQLite and PostgreSQL stores, each of which runs
`apply_text` inside its own atomic read-modify-write; Redis runs the Lua port in
_redis_update.py, which tests/runner/state/test_update_agreement.py holds to the very
same bytes and the same errors on generated values and op lists.

The rules (docs/state.md has the table users read):
- `path` is a dotted string ("" is the whole value) or a list of segments (for keys that
  contain dots). A segment that is a plain decimal number ("0", "12") indexes an array
  when the value there is an array; on an object it is just a key.
- A missing key is null, and null (or a missing member) on the way to the path is
  replaced by a new object, so `set "a.b.c"` on nothing gives {"a": {"b": {"c": v}}}.
  An array index must exist: `append` is how an array grows.
- `increment` counts null as 0, `append` null as [], `merge` (shallow) null as {}.
  Anything else of the wrong type is a StateError naming the op, the path and the find.
- `remove` never fails: nothing at the path is nothing to remove. `remove ""` deletes
  the key itself (`update` then returns None).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import UnionType
from typing import Any

from motia.compiler.suggest import did_you_mean
from motia.errors import StateError

#: ops and the fields each takes besides its own name (the path)
FIELDS: dict[str, tuple[str, ...]] = {
    "set": ("value",), "merge": ("value",), "increment": ("by",), "append": ("value",),
    "remove": (),
}
#: deeper paths are refused: a path is a few names, not data
MAX_SEGMENTS = 32
_INDEX = re.compile(r"(?:0|[1-9][0-9]*)")
_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


class _Missing:
    """The value of a key (or object member) that is not there; distinct from null."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Op:
    """One checked operation; `text` is its value (or `by`) as the store's JSON text."""

    name: str
    path: tuple[str, ...]
    text: str = "null"

    def value(self) -> Any:
        """A fresh copy of the op's value (ops may run twice: a retried transaction)."""
        return json.loads(self.text)

    def describe(self) -> str:
        return f"{self.name} {show_path(self.path)}"


class _Failed(Exception):
    """Raised inside `apply`: op `index` found `found` (JSON text) at `path[:depth]`."""

    def __init__(self, index: int, code: str, depth: int, found: str = "") -> None:
        super().__init__(code)
        self.index, self.code, self.depth, self.found = index, code, depth, found


# --- checking the ops -----------------------------------------------------------------------


def parse_ops(ops: object) -> tuple[Op, ...]:
    """The ops as `Op`s, or StateError naming the first bad one and what to write instead."""
    if not isinstance(ops, list | tuple):
        raise StateError(f"state.update ops {ops!r}: expected a list of operations such as "
                         '[{"set": "status", "value": "paid"}]')
    return tuple(_parse_op(i, op) for i, op in enumerate(ops))


def _parse_op(index: int, op: object) -> Op:
    where = f"state.update ops[{index}]"
    names = [name for name in FIELDS if isinstance(op, dict) and name in op]
    if not isinstance(op, dict) or len(names) != 1:
        raise StateError(f"{where} {op!r}: expected an object with exactly one of "
                         f"{', '.join(FIELDS)}, e.g. {{\"increment\": \"count\", \"by\": 1}}")
    name = names[0]
    path = parse_path(op[name], f"{where} ({name})")
    where = f"{where} ({name} {show_path(path)})"
    for field in op:
        if field != name and field not in FIELDS[name]:
            raise StateError(f"{where}: unknown field {field!r}; "
                             + did_you_mean(str(field), FIELDS[name],
                                            fallback=f"{name} takes {_takes(name)}"))
    if name == "increment":
        return Op(name, path, _by(op.get("by", 1), where))
    if name == "remove":
        return Op(name, path)
    if "value" not in op:
        raise StateError(f'{where}: "value" is missing')
    value = op["value"]
    if name == "merge" and not isinstance(value, dict):
        raise StateError(f'{where}: "value" must be an object to merge in, got {value!r}')
    return Op(name, path, encode(value))


def _takes(name: str) -> str:
    return " and ".join(f'"{f}"' for f in FIELDS[name]) if FIELDS[name] else "nothing else"


def _by(by: object, where: str) -> str:
    if isinstance(by, bool) or not isinstance(by, int | float) or not math.isfinite(by):
        raise StateError(f'{where}: "by" {by!r}: expected a finite number')
    return encode(by)


def parse_path(path: object, where: str) -> tuple[str, ...]:
    """A dotted string or a list of segments as a tuple of segments; StateError otherwise."""
    if isinstance(path, str):
        segments = tuple(path.split(".")) if path else ()
        if "" in segments:
            raise StateError(f"{where}: path {path!r} has an empty segment; to reach a key "
                             'with dots in it, give the path as a list: ["a.b", "c"]')
    elif isinstance(path, list | tuple) and all(isinstance(s, str) for s in path):
        segments = tuple(path)
    else:
        raise StateError(f'{where}: path {path!r}: expected a dotted string ("a.b") or a '
                         'list of strings (["a.b", "c"])')
    if len(segments) > MAX_SEGMENTS:
        raise StateError(f"{where}: path has {len(segments)} segments; at most "
                         f"{MAX_SEGMENTS} are allowed")
    return segments


def encode(value: Any) -> str:
    """`value` as the stores keep it (compact JSON, ASCII); StateError when it is not JSON."""
    try:
        return _encode(value)
    except (TypeError, ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise StateError(f"state value is not JSON: {reason}") from None


def show_path(path: Sequence[str]) -> str:
    """A path as users wrote it: "a.b", or ["a.b", "c"] when a segment has a dot."""
    if any("." in s or not s for s in path):
        return json.dumps(list(path), ensure_ascii=False)
    return json.dumps(".".join(path), ensure_ascii=False)


def index_of(segment: str) -> int | None:
    """The array index a segment names, or None when it is not a plain decimal number."""
    return int(segment) if _INDEX.fullmatch(segment) else None


# --- applying them --------------------------------------------------------------------------


def apply_text(group: str, key: str, ops: Sequence[Op], current: str | None) -> str | None:
    """The new JSON text of `group/key` after `ops` (None: the key is gone); StateError
    when an op does not fit the value it meets (nothing is written then)."""
    value = MISSING if current is None else json.loads(current)
    try:
        value = apply(value, ops)
    except _Failed as failed:
        raise failure(group, key, ops, failed.index, failed.code, failed.depth,
                      failed.found) from None
    return None if value is MISSING else encode(value)


def apply(value: Any, ops: Sequence[Op]) -> Any:
    """`ops` applied in order to a decoded value (MISSING for no key), in place when it can."""
    holder = [value]
    for index, op in enumerate(ops):
        _APPLY[op.name](holder, op, index)
    return holder[0]


def _child(container: Any, slot: Any) -> Any:
    return container.get(slot, MISSING) if isinstance(container, dict) else container[slot]


def _walk(holder: list[Any], op: Op, index: int) -> tuple[Any, Any]:
    """(container, slot) of `op.path`, creating missing objects on the way."""
    container: Any = holder
    slot: Any = 0
    for depth, segment in enumerate(op.path):
        node = _child(container, slot)
        if node is MISSING or node is None:
            node = container[slot] = {}
        if isinstance(node, dict):
            container, slot = node, segment
            continue
        if not isinstance(node, list):
            raise _Failed(index, "not_container", depth, _token(node))
        position = index_of(segment)
        if position is None:
            raise _Failed(index, "not_index", depth)
        if position >= len(node):
            raise _Failed(index, "out_of_range", depth, str(len(node)))
        container, slot = node, position
    return container, slot


def _find(holder: list[Any], path: tuple[str, ...]) -> tuple[Any, Any] | None:
    """(container, slot) of `path` when every step of the way exists, else None."""
    container: Any = holder
    slot: Any = 0
    for segment in path:
        node = _child(container, slot)
        if isinstance(node, dict):
            container, slot = node, segment
            continue
        position = index_of(segment) if isinstance(node, list) else None
        if position is None or position >= len(node):
            return None
        container, slot = node, position
    return container, slot


def _set(holder: list[Any], op: Op, index: int) -> None:
    container, slot = _walk(holder, op, index)
    container[slot] = op.value()


def _target(holder: list[Any], op: Op, index: int, kind: type | UnionType, empty: Any,
            code: str) -> tuple[Any, Any, Any]:
    """(container, slot, value) for an op that needs a `kind` at its path (null: `empty`)."""
    container, slot = _walk(holder, op, index)
    value = _child(container, slot)
    if value is MISSING or value is None:
        value = container[slot] = empty
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _Failed(index, code, len(op.path), _token(value))
    return container, slot, value


def _merge(holder: list[Any], op: Op, index: int) -> None:
    _target(holder, op, index, dict, {}, "not_object")[2].update(op.value())


def _append(holder: list[Any], op: Op, index: int) -> None:
    _target(holder, op, index, list, [], "not_array")[2].append(op.value())


def _increment(holder: list[Any], op: Op, index: int) -> None:
    container, slot, number = _target(holder, op, index, int | float, 0, "not_number")
    try:
        total = number + op.value()
    except OverflowError:  # an integer too big for a float, added to a float
        raise _Failed(index, "range", len(op.path)) from None
    if isinstance(total, float) and not math.isfinite(total):
        raise _Failed(index, "range", len(op.path))
    container[slot] = total


def _remove(holder: list[Any], op: Op, index: int) -> None:
    found = _find(holder, op.path)
    if found is None:
        return
    container, slot = found
    if container is holder:
        holder[0] = MISSING
    elif isinstance(container, dict):
        container.pop(slot, None)
    else:
        del container[slot]


_APPLY: dict[str, Callable[[list[Any], Op, int], None]] = {
    "set": _set, "merge": _merge, "increment": _increment, "append": _append,
    "remove": _remove,
}


def _token(value: Any) -> str:
    """What was found, as JSON text: containers by their opening bracket only."""
    if isinstance(value, dict):
        return "{"
    if isinstance(value, list):
        return "["
    return encode(value)


# --- the one message per failure, for both implementations -----------------------------------

_EXPECTED = {"not_container": "an object or array", "not_object": "an object",
             "not_array": "an array", "not_number": "a number"}


def failure(group: str, key: str, ops: Sequence[Op], index: int, code: str, depth: int,
            found: str) -> StateError:
    """The StateError for op `index` failing with `code` at `path[:depth]`."""
    op = ops[index]
    at = show_path(op.path[:depth]) + (" (the whole value)" if not depth else "")
    if code in _EXPECTED:
        detail = f"expected {_EXPECTED[code]} at {at}, found {_found(found)}"
    elif code == "not_index":
        detail = f"the array at {at} takes a numeric index, not {op.path[depth]!r}"
    elif code == "out_of_range":
        detail = (f"index {op.path[depth]} is out of range: the array at {at} has {found} "
                  "item(s); append adds one")
    else:
        detail = "the result is out of range"
    return StateError(f"state.update {group}/{key}: ops[{index}] ({op.describe()}): {detail}")


def _found(token: str) -> str:
    if token == "{":
        return "an object"
    if token == "[":
        return "an array"
    shown = token if len(token) <= 40 else token[:37] + "..."
    if token.startswith('"'):
        return f"a string ({shown})"
    if token in ("true", "false"):
        return f"a boolean ({token})"
    return f"a number ({shown})"
