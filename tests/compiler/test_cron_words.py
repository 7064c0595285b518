"""Cron schedules in words: the table a person reads in the Workbench and the diagrams."""

from __future__ import annotations

import pytest

from motia.compiler.cron_words import describe_cron

WORDS = [
    ("*/10 * * * * *", None, "every 10 seconds"),
    ("* * * * * *", None, "every second"),
    ("*/1 * * * * *", None, "every second"),
    ("0 * * * * *", None, "every minute"),
    ("30 * * * * *", None, "every minute at second 30"),
    ("* * * * *", None, "every minute"),
    ("*/5 * * * *", None, "every 5 minutes"),
    ("0 */15 * * * *", None, "every 15 minutes"),
    ("0 * * * *", None, "every hour"),
    ("15 * * * *", None, "every hour at minute 15"),
    ("0,30 * * * *", None, "every hour at minutes 0 and 30"),
    ("0 */2 * * *", None, "every 2 hours"),
    ("10 */6 * * *", None, "every 6 hours at minute 10"),
    ("@hourly", None, "every hour"),
    ("0 0 9 * * *", "Europe/Paris", "every day at 09:00 (Europe/Paris)"),
    ("0 3 * * *", None, "every day at 03:00 (UTC)"),
    ("@daily", None, "every day at 00:00 (UTC)"),
    ("30 15 3 * * *", None, "every day at 03:15:30 (UTC)"),
    ("0 9,17 * * *", None, "every day at 09:00 and 17:00 (UTC)"),
    ("30 9 * * 1-5", None, "every weekday at 09:30 (UTC)"),
    ("0 9 * * MON-FRI", "America/New_York", "every weekday at 09:00 (America/New_York)"),
    ("0 8 * * sat,sun", None, "every Saturday and Sunday at 08:00 (UTC)"),
    ("0 9 * * 1", None, "every Monday at 09:00 (UTC)"),
    ("0 0 9 * * mon,wed,fri", "Europe/Paris",
     "every Monday, Wednesday and Friday at 09:00 (Europe/Paris)"),
    ("@weekly", None, "every Sunday at 00:00 (UTC)"),
    ("0 0 1 * *", None, "on day 1 of every month at 00:00 (UTC)"),
    ("0 6 1,15 * *", None, "on days 1 and 15 of every month at 06:00 (UTC)"),
    ("0 0 L * *", None, "on the last day of the month at 00:00 (UTC)"),
    ("0 12 1 1 *", None, "every year on 1 January at 12:00 (UTC)"),
    ("0 0 1 1 *", None, "every year on 1 January at 00:00 (UTC)"),
    ("0 7 * 6-8 *", None, "in June to August at 07:00 (UTC)"),
    ("*/15 9-17 * * *", None, "every 15 minutes from 09:00 to 17:59 (UTC)"),
    ("*/10 * * * 1-5", None, "every 10 minutes on weekdays (UTC)"),
    ("5 1-10 * * * *", None, "at second 5, minute 1-10"),
]


@pytest.mark.parametrize(("expression", "timezone", "words"), WORDS)
def test_a_schedule_reads_as_words(expression: str, timezone: str | None, words: str) -> None:
    assert describe_cron(expression, timezone) == words


def test_the_zone_is_left_out_when_asked() -> None:
    # a diagram box has no room for it; the step panel says it
    assert describe_cron("0 0 9 * * *", "Europe/Paris", zone=False) == "every day at 09:00"


def test_a_zone_is_never_named_for_a_schedule_without_a_clock_time() -> None:
    assert describe_cron("*/10 * * * * *", "Europe/Paris") == "every 10 seconds"


def test_an_expression_it_cannot_split_is_returned_as_written() -> None:
    assert describe_cron("@reboot") == "@reboot"
