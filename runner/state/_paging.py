"""`state.list`: keyset pagination over a group, in key (Unicode code point) order.

A page is the next `limit` keys after the previous page's last key, so paging is stable
while the group changes: a key that exists for the whole walk is listed exactly once,
whatever is added or deleted meanwhile; a key added behind the cursor is not seen. Every
store orders keys the same way: code points in Python, UTF-8 bytes in SQLite (BINARY),
PostgreSQL (COLLATE "C") and Redis (ZRANGEBYLEX), which is the same order.

The cursor is the last key of the page, base64url-encoded: opaque to users (they pass
it back, never build it), safe in a URL or a shell, and free of any server-side state.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from motia.errors import StateError

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def check_limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise StateError(f"state.list limit {limit!r}: expected a whole number from 1 to "
                         f"{MAX_LIMIT}")
    return limit


def check_prefix(prefix: object) -> str:
    """'' for no prefix."""
    if prefix is None:
        return ""
    if not isinstance(prefix, str):
        raise StateError(f"state.list prefix {prefix!r}: expected a string (or None for "
                         "every key)")
    return prefix


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: object) -> str | None:
    """The key a cursor stands for (None: the first page); StateError for a made-up one."""
    if cursor is None:
        return None
    try:
        if not isinstance(cursor, str) or not cursor:
            raise ValueError
        key = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not key or encode_cursor(key) != cursor:
            raise ValueError
    except (ValueError, binascii.Error):
        raise StateError(f"state.list cursor {cursor!r}: not a cursor state.list returned; "
                         'pass the "cursor" of the previous page, or None for the first '
                         "page") from None
    return key


def prefix_end(prefix: str) -> str | None:
    """The smallest string above every string that starts with `prefix` (None: no bound)."""
    chars = list(prefix)
    while chars and chars[-1] == "\U0010ffff":
        chars.pop()
    if not chars:
        return None
    following = ord(chars[-1]) + 1
    chars[-1] = chr(0xE000 if 0xD800 <= following <= 0xDFFF else following)
    return "".join(chars)


def key_bounds(after: str | None, prefix: str) -> list[tuple[str, str]]:
    """(comparison, key) conditions for keys after `after` that start with `prefix`, for
    a store to put in its own query language (the SQL stores' WHERE clauses)."""
    bounds = [(">", after)] if after is not None else []
    if prefix:
        bounds.append((">=", prefix))
        end = prefix_end(prefix)
        if end is not None:
            bounds.append(("<", end))
    return bounds


def page(rows: list[tuple[str, str]], limit: int, decode: Any) -> dict[str, Any]:
    """The page users get from `limit + 1` rows: items, and the cursor when more follow."""
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": [{"key": key, "value": decode(text)} for key, text in rows],
            "cursor": encode_cursor(rows[-1][0]) if more else None}
