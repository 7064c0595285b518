"""What a subscription frame from a client must hold, checked once for both transports."""

from __future__ import annotations

import difflib
from collections.abc import Collection
from typing import Any

from motia.errors import StreamError


def subscription_of(raw: Any, streams: Collection[str]) -> tuple[str, str, str | None, int | None]:
    """(stream, group, id, since) of `{"stream", "group", "id"?, "since"?}`; StreamError."""
    if not isinstance(raw, dict):
        raise StreamError('expected {"stream": str, "group": str, "id"?: str, "since"?: int}, '
                          f"got {raw!r}")
    stream, group, id_, since = raw.get("stream"), raw.get("group"), raw.get("id"), raw.get("since")
    if not isinstance(stream, str) or not isinstance(group, str) or not group:
        raise StreamError('a subscription needs "stream" and "group" (non-empty strings)')
    check_stream(stream, streams)
    if id_ is not None and (not isinstance(id_, str) or not id_):
        raise StreamError(f'"id" must be a non-empty string when given, got {id_!r}')
    if since is not None and (isinstance(since, bool) or not isinstance(since, int) or since < 0):
        raise StreamError(f'"since" must be a version (a whole number >= 0), got {since!r}')
    return stream, group, id_, since


def check_stream(stream: str, streams: Collection[str]) -> None:
    if stream in streams:
        return
    close = difflib.get_close_matches(stream, list(streams), n=1)
    hint = (f"; did you mean {close[0]!r}?" if close
            else f"; streams: {', '.join(sorted(streams)) or 'none declared'}")
    raise StreamError(f"no stream named {stream!r}{hint}")


def since_of(raw: str | None) -> int | None:
    """A `Last-Event-ID` (or `?since=`) as a version; None when absent or not a number."""
    if raw is None or not raw.strip().isdigit():
        return None
    return int(raw.strip())
