"""Cron schedules, read one way by everyone: the compiler's check, the fire times that
`motia compile` prints and the runner's scheduler all go through this module.

An expression has 5 fields (`minute hour day-of-month month day-of-week`), or 6 with
**seconds first** (`*/10 * * * * *` fires every ten seconds), as in Motia, Quartz and
Spring. croniter reads a sixth field as seconds *last* unless told otherwise, which
silently turned "every 10 seconds" into "every second of every tenth minute": every
caller therefore builds its croniter here, never directly. `@hourly`, `@daily`,
`@weekly`, `@monthly`, `@yearly` (and `@midnight`, `@annually`) also work.

The fields are read in the step's `timezone:` (an IANA name; UTC when absent),
daylight-saving changes included.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from datetime import UTC, datetime, tzinfo

from croniter import croniter

from motia.compiler.suggest import did_you_mean
from motia.errors import CompileError

__all__ = ["CRON_HINT", "NICKNAMES", "check_cron", "check_timezone", "next_fires", "schedule", "zone"]

#: `*/7` and above in the day-of-week field (0-7) can only ever match Sunday: a seconds-last
#: leftover (`* * * * * */15`, "every 15 s" in croniter's own order), not a real schedule
_SUNDAY_ONLY = re.compile(r"^(\*|0)/([7-9]|[1-9][0-9]+)$")
NICKNAMES = ("@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually")
CRON_HINT = ('use 5 fields "minute hour day month weekday" (e.g. "0 3 * * *"), 6 with '
             'seconds first ("*/10 * * * * *" is every 10 seconds), or '
             "@hourly/@daily/@weekly/@monthly/@yearly")


@functools.lru_cache(maxsize=1024)  # apps repeat a few schedules; croniter is slow to parse
def check_cron(expression: str) -> None:
    """Raise CompileError unless `expression` is a schedule this module can run."""
    fields = expression.split()
    if len(fields) == 1 and fields[0].startswith("@"):
        if fields[0].lower() not in NICKNAMES:
            hint = did_you_mean(fields[0], NICKNAMES, fallback=f"use one of {', '.join(NICKNAMES)}")
            raise CompileError(f"unknown cron nickname '{fields[0]}'", hint)
    elif len(fields) not in (5, 6):
        raise CompileError(f"cron expression '{expression}' has {len(fields)} fields, "
                           "expected 5 (or 6 with seconds first)", CRON_HINT)
    problem = _parse_error(expression)
    if problem is not None:
        raise CompileError(f"invalid cron expression '{expression}': {problem}",
                           _seconds_last_hint(fields) or CRON_HINT)
    if len(fields) == 6 and _SUNDAY_ONLY.match(fields[5]):
        raise CompileError(
            f"cron expression '{expression}' runs on Sundays only: its 6th field "
            f"'{fields[5]}' is the day of the week (6 fields are read seconds first)",
            _seconds_last_hint(fields) or CRON_HINT)


def _parse_error(expression: str) -> str | None:
    """What croniter says is wrong with `expression`, None when it reads it."""
    try:
        _croniter(expression, datetime(2000, 1, 1, tzinfo=UTC))
    # croniter raises assorted exception types for assorted bad strings; all mean "invalid".
    except Exception as exc:  # noqa: BLE001
        return str(exc)
    return None


def _seconds_last_hint(fields: list[str]) -> str:
    """A "did you mean" for a 6-field expression written seconds last (croniter's order)."""
    if len(fields) != 6:
        return ""
    rotated = " ".join([fields[5], *fields[:5]])
    if _parse_error(rotated) is not None:
        return ""
    return f"6 fields are read seconds first: did you mean \"{rotated}\"?"


def check_timezone(name: str) -> None:
    """Raise CompileError unless `name` is an IANA time zone this machine knows."""
    if name in _timezones():
        return
    try:
        zoneinfo.ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        hint = did_you_mean(name, _timezones(), fallback="use an IANA name like Europe/Paris or UTC")
        raise CompileError(f"unknown time zone '{name}'", hint) from None


def zone(name: str | None) -> tzinfo:
    """The time zone a schedule is read in: `name`, or UTC when the step sets none."""
    return zoneinfo.ZoneInfo(name) if name else UTC


def schedule(expression: str, timezone: str | None, after: float) -> croniter:
    """An iterator over the fire times of `expression` strictly after the epoch time `after`.

    `get_next(float)` gives epoch seconds; the scheduler computes each tick from the
    previous *scheduled* one, so a slow tick never shifts the next.
    """
    return _croniter(expression, datetime.fromtimestamp(after, tz=zone(timezone)))


def next_fires(expression: str, timezone: str | None, after: float,
               count: int = 3) -> tuple[datetime, ...]:
    """The next `count` fire times after `after`, as aware datetimes in the step's zone."""
    ticks = schedule(expression, timezone, after)
    where = zone(timezone)
    return tuple(datetime.fromtimestamp(ticks.get_next(float), tz=where) for _ in range(count))


def _croniter(expression: str, start: datetime) -> croniter:
    return croniter(expression, start, second_at_beginning=True)


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())
