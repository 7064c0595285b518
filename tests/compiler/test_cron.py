"""Cron schedules: 6 fields are seconds first, 5 fields unchanged, time zones with DST.

Every case injects "now" (`after`) and asserts the exact fire times: nothing sleeps.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from motia.compiler.cron import check_cron, check_timezone, next_fires, schedule
from motia.errors import CompileError


def at(text: str) -> float:
    """Epoch seconds of an ISO time (UTC unless it says otherwise)."""
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def iso(fires: tuple[datetime, ...]) -> list[str]:
    return [moment.isoformat() for moment in fires]


def test_six_fields_are_seconds_first_every_ten_seconds() -> None:
    # Given "now" a few seconds before noon, When the next fires of */10 in the seconds field
    fires = next_fires("*/10 * * * * *", None, at("2024-05-01T11:59:55"))
    # Then it fires at :00, :10, :20 of the next minute (not every second of every 10th minute)
    assert iso(fires) == ["2024-05-01T12:00:00+00:00", "2024-05-01T12:00:10+00:00",
                          "2024-05-01T12:00:20+00:00"]


def test_six_fields_name_second_minute_hour_in_that_order() -> None:
    fires = next_fires("30 15 3 * * *", None, at("2024-05-01T00:00:00"))
    assert iso(fires) == ["2024-05-01T03:15:30+00:00", "2024-05-02T03:15:30+00:00",
                          "2024-05-03T03:15:30+00:00"]


def test_five_fields_are_minutes_as_always() -> None:
    fires = next_fires("*/10 * * * *", None, at("2024-05-01T11:59:55"))
    assert iso(fires) == ["2024-05-01T12:00:00+00:00", "2024-05-01T12:10:00+00:00",
                          "2024-05-01T12:20:00+00:00"]


def test_a_nickname_schedule() -> None:
    fires = next_fires("@daily", None, at("2024-05-01T11:59:55"))
    assert iso(fires) == ["2024-05-02T00:00:00+00:00", "2024-05-03T00:00:00+00:00",
                          "2024-05-04T00:00:00+00:00"]


def test_fire_times_are_in_the_step_time_zone_across_daylight_saving() -> None:
    # Given 09:00 every day in Paris, the day before DST begins (31 March 2024)
    fires = next_fires("0 9 * * *", "Europe/Paris", at("2024-03-30T06:00:00"))
    # Then the wall-clock hour stays 09:00 while the UTC offset moves from +01:00 to +02:00
    assert iso(fires) == ["2024-03-30T09:00:00+01:00", "2024-03-31T09:00:00+02:00",
                          "2024-04-01T09:00:00+02:00"]


def test_a_seconds_schedule_in_a_time_zone_keeps_its_seconds() -> None:
    fires = next_fires("0 30 2 * * *", "America/New_York", at("2024-11-02T12:00:00"))
    # 2 November is EDT (-04:00); 3 November is the end of DST (-05:00)
    assert iso(fires) == ["2024-11-03T02:30:00-05:00", "2024-11-04T02:30:00-05:00",
                          "2024-11-05T02:30:00-05:00"]


def test_schedule_counts_from_the_previous_tick_in_epoch_seconds() -> None:
    start = at("2024-01-01T12:00:00")
    every_15s = schedule("*/15 * * * * *", None, start)
    assert [every_15s.get_next(float) - start for _ in range(3)] == [15, 30, 45]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 3 * *", "cron expression '0 3 * *' has 4 fields, expected 5 (or 6 with seconds first)"),
        ("* * * * * * *", "cron expression '* * * * * * *' has 7 fields, expected 5 (or 6 with "
                          "seconds first)"),
        ("61 * * * * *", "invalid cron expression '61 * * * * *': [61 * * * * *] is not "
                         "acceptable, out of range"),
    ],
)
def test_bad_expressions_say_what_is_expected(expression: str, message: str) -> None:
    with pytest.raises(CompileError) as caught:
        check_cron(expression)
    assert caught.value.message == message
    assert caught.value.hint == (
        'use 5 fields "minute hour day month weekday" (e.g. "0 3 * * *"), 6 with seconds first '
        '("*/10 * * * * *" is every 10 seconds), or @hourly/@daily/@weekly/@monthly/@yearly')


@pytest.mark.parametrize(
    ("expression", "hint"),
    [("@reboot", "use one of @hourly, @daily, @midnight, @weekly, @monthly, @yearly, "
                      "@annually"),
     ("@dayly", "did you mean '@daily'?")],
)
def test_an_unknown_nickname_lists_the_known_ones(expression: str, hint: str) -> None:
    with pytest.raises(CompileError) as caught:
        check_cron(expression)
    assert (caught.value.message, caught.value.hint) == (
        f"unknown cron nickname '{expression}'", hint)


def test_a_seconds_value_over_59_is_rejected_in_the_first_field_only() -> None:
    check_cron("0 59 * * * *")  # 59 in the minutes field: fine
    with pytest.raises(CompileError, match="out of range"):
        check_cron("60 0 * * * *")


def test_unknown_time_zone_suggests_the_near_one() -> None:
    with pytest.raises(CompileError) as caught:
        check_timezone("Europe/Pariss")
    assert (caught.value.message, caught.value.hint) == (
        "unknown time zone 'Europe/Pariss'", "did you mean 'Europe/Paris'?")


@pytest.mark.parametrize(
    ("expression", "message", "hint"),
    [
        ("* * * * * */15",
         "cron expression '* * * * * */15' runs on Sundays only: its 6th field '*/15' is the "
         "day of the week (6 fields are read seconds first)",
         '6 fields are read seconds first: did you mean "*/15 * * * * *"?'),
        ("*/5 * * * * 30",
         "invalid cron expression '*/5 * * * * 30': [*/5 * * * * 30] is not acceptable, "
         "out of range",
         '6 fields are read seconds first: did you mean "30 */5 * * * *"?'),
    ],
)
def test_a_seconds_last_expression_is_caught_with_the_seconds_first_spelling(
    expression: str, message: str, hint: str
) -> None:
    # Given an expression written seconds last (croniter's own order, the old Motia rule)
    with pytest.raises(CompileError) as caught:
        check_cron(expression)
    # Then it is an error that spells the same schedule seconds first
    assert (caught.value.message, caught.value.hint) == (message, hint)


def test_a_real_weekday_in_the_sixth_field_is_fine() -> None:
    check_cron("0 0 9 * * 1")  # 09:00:00 on Mondays
    check_cron("0 0 9 * * 1-5")
    check_cron("0 0 9 * * */2")  # Sunday, Tuesday, Thursday, Saturday
