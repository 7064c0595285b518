"""Durations and sizes as people write them (`500ms`, `10s`, `512MB`), as numbers."""

from __future__ import annotations

import math
import re

from motia.errors import CompileError

_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)\s*$")
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]i?b|b)\s*$", re.IGNORECASE)

_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
# MB and MiB both mean 1024**2: memory limits are what people (and Docker) mean by them.
_BYTES = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}

DURATION_HINT = "write a number with a unit: 500ms, 10s, 1m, 1h or 1d (a plain number is seconds)"
SIZE_HINT = "write a number with a unit: 512MB, 1GiB, 64KB (a plain number is bytes)"


def parse_duration(value: object) -> float:
    """Seconds in `value` (a duration string or a number of seconds); raises CompileError."""
    if _is_number(value):
        seconds = float(value)  # type: ignore[arg-type]
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
        raise CompileError(f"invalid duration {value!r}: must be a finite 0 or more", DURATION_HINT)
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise CompileError(f"invalid duration {_show(value)}", DURATION_HINT)
    return float(match.group(1)) * _SECONDS[match.group(2)]


def parse_size(value: object) -> int:
    """Bytes in `value` (a size string or a number of bytes); raises CompileError."""
    if _is_number(value):
        if isinstance(value, int) and value >= 1:
            return value
        raise CompileError(f"invalid size {value!r}: must be a whole number of bytes, at least 1", SIZE_HINT)
    match = _SIZE.match(value) if isinstance(value, str) else None
    if match is None:
        raise CompileError(f"invalid size {_show(value)}", SIZE_HINT)
    size = int(float(match.group(1)) * _BYTES[match.group(2)[0].lower()])
    if size < 1:
        raise CompileError(f"invalid size {_show(value)}: must be at least 1 byte", SIZE_HINT)
    return size


def format_duration(seconds: float) -> str:
    """The shortest exact spelling of `seconds` for summaries (`1m`, `500ms`, `1.5s`)."""
    for unit in ("d", "h", "m", "s"):
        amount = seconds / _SECONDS[unit]
        if amount >= 1 and amount == int(amount):
            return f"{int(amount)}{unit}"
    if seconds >= 1:
        return f"{seconds:g}s"
    return f"{seconds * 1000:g}ms"


def format_size(size: int) -> str:
    """`size` in the largest 1024-based unit that divides it (`512MB`, `1GB`, `100B`)."""
    for unit, label in (("t", "TB"), ("g", "GB"), ("m", "MB"), ("k", "KB")):
        if size >= _BYTES[unit] and size % _BYTES[unit] == 0:
            return f"{size // _BYTES[unit]}{label}"
    return f"{size}B"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _show(value: object) -> str:
    if value is None:
        return "null"
    return f"'{value}'" if isinstance(value, str) else repr(value)
