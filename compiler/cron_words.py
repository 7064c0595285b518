"""Cron schedules in plain words, for people who do not read cron.

`describe_cron("*/10 * * * * *")` is "every 10 seconds" and
`describe_cron("0 0 9 * * *", "Europe/Paris")` is "every day at 09:00 (Europe/Paris)".
The Workbench, the diagrams and `motia compile` all word schedules through this module,
so a schedule reads the same everywhere. It reads expressions the way compiler/cron.py
runs them (5 fields, or 6 with seconds first, or a nickname) and assumes they are valid
(the compiler checked them); a shape it has no sentence for is worded field by field
("at second 5, minute 1-10 …"), never misread.

The time zone is named only when the words name a clock time or a day: "every 10
seconds" is the same in every zone, "every day at 09:00" is not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["describe_cron"]

_NICKNAMES = {
    "@hourly": "0 0 * * * *", "@daily": "0 0 0 * * *", "@midnight": "0 0 0 * * *",
    "@weekly": "0 0 0 * * 0", "@monthly": "0 0 0 1 * *", "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
}
_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("", "January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_DAY_ABBR = {d[:3].lower(): i for i, d in enumerate(_DAYS[:7])}
_MONTH_ABBR = {m[:3].lower(): i for i, m in enumerate(_MONTHS) if m}


@dataclass(frozen=True)
class _Fields:
    second: str
    minute: str
    hour: str
    day: str
    month: str
    weekday: str


def describe_cron(expression: str, timezone: str | None = None, *, zone: bool = True) -> str:
    """`expression` in words; the zone (`timezone`, else UTC) is appended in parentheses
    when the words name a clock time or a day and `zone` is true."""
    fields = _fields(expression)
    if fields is None:
        return expression
    clock, fixed_time = _time_words(fields)
    every, date = _date_words(fields)
    if fixed_time and every and clock.startswith("at "):
        words = f"{every} {clock}"
    elif fixed_time and clock.startswith("at "):
        words = f"{date} {clock}".strip()
    else:
        words = f"{clock} {date}".strip()
    if zone and (fixed_time or date):
        words += f" ({timezone or 'UTC'})"
    return words


def _fields(expression: str) -> _Fields | None:
    text = _NICKNAMES.get(expression.strip().lower(), expression)
    parts = text.split()
    if len(parts) == 5:
        parts = ["0", *parts]
    if len(parts) != 6:
        return None
    return _Fields(*parts)


# --- the time of day ---------------------------------------------------------------------


def _time_words(f: _Fields) -> tuple[str, bool]:
    """(words, True when they name one or more clock times)."""
    sec, minute, hour = f.second, f.minute, f.hour
    if hour == "*" and minute == "*":
        if sec.isdigit():
            return "every minute" + (f" at second {sec}" if sec != "0" else ""), False
        return _every("second", sec) or _generic(f, ("second",)), False
    if sec == "0" and hour == "*":
        return _every("minute", minute) or _at_minute(minute), False
    if sec == "0" and minute.isdigit() and _step(hour):
        at = f" at minute {minute}" if minute != "0" else ""
        return f"{_every('hour', hour)}{at}", False
    if sec.isdigit() and minute.isdigit() and _numbers(hour):
        return "at " + _and([_clock(h, minute, sec) for h in _numbers(hour)]), True
    span = _range(hour)
    if sec == "0" and _step(minute) and span:
        low, high = span
        return (f"{_every('minute', minute)} from {_clock(low, '0', '0')} "
                f"to {_clock(high, '59', '0')}"), True
    return _generic(f, ("second", "minute", "hour")), False


def _every(unit: str, value: str) -> str:
    """"every second", "every 10 seconds" for `*` and `*/10`; "" for anything else."""
    if value == "*":
        return f"every {unit}"
    step = _step(value)
    if step is None:
        return ""
    return f"every {unit}" if step == 1 else f"every {step} {unit}s"


def _step(value: str) -> int | None:
    head, slash, step = value.partition("/")
    if slash and head in ("*", "0") and step.isdigit() and int(step) > 0:
        return int(step)
    return None


def _at_minute(minute: str) -> str:
    if minute == "0":
        return "every hour"
    if minute.isdigit():
        return f"every hour at minute {minute}"
    return f"every hour at minutes {_list(minute, str)}"


def _clock(hour: str | int, minute: str, second: str) -> str:
    text = f"{int(hour):02d}:{int(minute):02d}"
    return text if second == "0" else f"{text}:{int(second):02d}"


def _numbers(value: str) -> list[int]:
    """The values of a plain list of numbers (`9` or `9,17`); [] for any other shape."""
    items = value.split(",")
    return [int(item) for item in items] if all(item.isdigit() for item in items) else []


def _range(value: str) -> tuple[int, int] | None:
    low, dash, high = value.partition("-")
    if dash and low.isdigit() and high.isdigit():
        return int(low), int(high)
    return None


def _generic(f: _Fields, units: tuple[str, ...]) -> str:
    """Field by field, for the shapes no sentence above covers."""
    parts = [f"{unit} {getattr(f, unit)}" for unit in units if getattr(f, unit) != "*"]
    return "at " + ", ".join(parts) if parts else "every second"


# --- the days -----------------------------------------------------------------------------


def _date_words(f: _Fields) -> tuple[str, str]:
    """("every Monday"-style words when the days repeat simply, else "", and the days as
    "on …"/"in …" words; ("every day", "") for every day)."""
    day, weekday, month = (f.day not in ("*", "?"), f.weekday not in ("*", "?"), f.month != "*")
    if not (day or weekday or month):
        return "every day", ""
    if weekday and not (day or month):
        return "every " + _weekdays(f.weekday, singular=True), "on " + _weekdays(f.weekday)
    if day and month and f.day.isdigit() and f.month.isdigit():
        return "", f"every year on {int(f.day)} {_month_name(f.month)}"
    parts = []
    if day:
        parts.append(_day_of_month(f.day))
    if weekday:
        parts.append("on " + _weekdays(f.weekday))
    if month:
        parts.append("in " + _list(f.month, _month_name))
    return "", " ".join(parts)


def _day_of_month(day: str) -> str:
    if day.upper() == "L":
        return "on the last day of the month"
    step = _step(day)
    if step is not None:
        return f"every {step} days"
    plural = "day" if day.isdigit() else "days"
    return f"on {plural} {_list(day, str)} of every month"


def _weekdays(value: str, *, singular: bool = False) -> str:
    normal = value.lower()
    if normal in ("1-5", "mon-fri"):
        return "weekday" if singular else "weekdays"
    if normal in ("0,6", "6,0", "sat,sun", "sun,sat", "6-7", "6,7"):
        return "Saturday and Sunday" if singular else "weekends"
    return _list(value, _day_name)


def _day_name(item: str) -> str:
    index = _DAY_ABBR.get(item.lower())
    if index is None and item.isdigit() and int(item) < len(_DAYS):
        index = int(item)
    return _DAYS[index] if index is not None else item


def _month_name(item: str) -> str:
    index = _MONTH_ABBR.get(item.lower())
    if index is None and item.isdigit() and 0 < int(item) < len(_MONTHS):
        index = int(item)
    return _MONTHS[index] if index is not None else item


def _list(value: str, namer: Callable[[str], str]) -> str:
    """A cron list (`1,3,5`, ranges `1-5`, steps) in words, each item through `namer`."""
    words = []
    for item in value.split(","):
        low, dash, high = item.partition("-")
        if dash and "/" not in item:
            words.append(f"{namer(low)} to {namer(high)}")
        else:
            words.append(namer(item) if "/" not in item else item)
    return _and(words)


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
