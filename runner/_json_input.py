"""Reading JSON that clients send (request bodies, admin API calls, CLI arguments).

`json.loads` alone lets three kinds of input through that fail later, as a 500 with a
traceback, far from the request that caused them:
- `NaN`, `Infinity`, `-Infinity`: not JSON; every encoder of ours refuses to write them
  (a handler's payload, an event, a state value), and no other JSON reader accepts them;
- a lone surrogate (`"\\ud800"`, or its UTF-8 bytes): not a character; UTF-8 cannot
  encode it, so the payload could not be sent to a worker or stored;
- deep nesting: the decoder recurses once per level and fails near 1,000, and schema
  validation (a few frames per level) fails long before that.
`loads` refuses each with a ValueError saying what was wrong and what to send instead, so
the caller answers 400 (or exits 2). Strict stdlib only: the CLI imports this too.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: deepest nesting of arrays and objects accepted; deeper documents are refused
MAX_DEPTH = 100

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (JSON has no NaN or Infinity); send a "
                     "number, a string or null")


_decode = json.JSONDecoder(parse_constant=_constant).decode
_TOO_DEEP = (f"it nests arrays and objects more than {MAX_DEPTH} levels deep; flatten the "
             "document")


def loads(data: str | bytes) -> Any:
    """The value of JSON `data` (bytes must be UTF-8); ValueError when it is not JSON,
    holds NaN/Infinity or a lone surrogate, or nests deeper than MAX_DEPTH."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    elif not data.isascii():
        _check_text(data, "the text")  # e.g. argv bytes that were not UTF-8 (surrogateescape)
    text = data.removeprefix("\ufeff")  # the byte order mark some Windows tools write
    try:
        value = _decode(text)
    except RecursionError:  # the decoder's own limit, near 1,000 levels
        raise ValueError(_TOO_DEEP) from None
    # fewer brackets than MAX_DEPTH cannot nest deeper: most documents skip the walk
    if text.count("[") + text.count("{") > MAX_DEPTH and _too_deep(value):
        raise ValueError(_TOO_DEEP)
    if _SURROGATE_ESCAPE.search(text):
        _refuse_lone_surrogates(value)
    return value


def _too_deep(value: Any) -> bool:
    """True when arrays and objects in `value` nest deeper than MAX_DEPTH. One level of
    containers at a time, in a list comprehension with exact type checks (the decoder
    makes plain dicts and lists): about a third of a json.loads of the same document."""
    t = type
    level = [value] if t(value) is dict or t(value) is list else []
    for _ in range(MAX_DEPTH):
        level = [m for item in level for m in (item.values() if t(item) is dict else item)
                 if t(m) is dict or t(m) is list]
        if not level:
            return False
    return True


def _refuse_lone_surrogates(value: Any) -> None:
    """ValueError naming the first string (or key) that holds a lone surrogate."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        pointer, item = stack.pop()
        if isinstance(item, str):
            _check_text(item, f"the string at {pointer or '/'}")
        elif isinstance(item, dict):
            for key, member in item.items():
                _check_text(key, f"a key of the object at {pointer or '/'}")
                stack.append((f"{pointer}/{_escape(key)}", member))
        elif isinstance(item, list):
            stack.extend((f"{pointer}/{n}", member) for n, member in enumerate(item))


def _check_text(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{what} holds a lone surrogate "
                         f"(\\u{ord(text[exc.start]):04x}), which is not a character; send "
                         "the text as UTF-8 or as a complete surrogate pair") from None


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")
