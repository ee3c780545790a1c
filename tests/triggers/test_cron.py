"""AWS cron (EventBridge Scheduler) to croniter: conversions, rejections, time zones."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from pipelines.settings.cron import CronError, next_fire_times, to_croniter


@pytest.mark.parametrize(
    ("aws", "cron"),
    [
        ("cron(0 2 * * ? *)", "0 2 * * *"),
        ("cron(15 10 ? * 6L *)", "15 10 * * L5"),  # last Friday of the month
        ("cron(0 18 ? * MON-FRI *)", "0 18 * * 1-5"),
        ("cron(0 8 ? * 2-6 *)", "0 8 * * 1-5"),  # AWS 2-6 (MON-FRI) is cron 1-5
        ("cron(0 9 ? * 1,7 *)", "0 9 * * 0,6"),  # SUN and SAT
        ("cron(0 9 ? * 6#3 *)", "0 9 * * 5#3"),  # third Friday
        ("cron(0/15 * * * ? *)", "0/15 * * * *"),
        ("cron(0 12 L * ? *)", "0 12 L * *"),
        ("cron(0 12 15W * ? *)", "0 12 15W * *"),
        ("cron(30 1 1 JAN,JUL ? *)", "30 1 1 JAN,JUL *"),
    ],
)
def test_aws_cron_converts_to_the_equivalent_croniter_expression(aws: str, cron: str) -> None:
    assert to_croniter(aws) == cron


@pytest.mark.parametrize(
    ("aws", "message"),
    [
        ("0 2 * * *", "is not an AWS cron expression"),
        ("rate(1 day)", "is not an AWS cron expression"),
        ("cron(0 2 * * *)", "has 5 fields"),
        ("cron(0 2 * * MON *)", "exactly one of day-of-month and day-of-week"),
        ("cron(0 2 ? * ? *)", "exactly one of day-of-month and day-of-week"),
        ("cron(0 2 * * ? 2030)", "year field '2030' cannot be honoured"),
        ("cron(0 2 LW * ? *)", "'LW' has no local"),
        ("cron(0 2 ? * 8 *)", "'8' is not a day of week"),
        ("cron(61 2 * * ? *)", "is not a valid cron expression"),
    ],
)
def test_expressions_that_cannot_be_converted_are_rejected_with_the_reason(
    aws: str, message: str
) -> None:
    with pytest.raises(CronError, match=message):
        to_croniter(aws)


def test_fire_times_follow_the_time_zone_across_daylight_saving() -> None:
    paris = ZoneInfo("Europe/Paris")
    times = next_fire_times("cron(0 2 * * ? *)", datetime(2024, 3, 29, 12, tzinfo=paris), 3)

    # 2 AM does not exist on 31 March 2024 in Paris (clocks jump 2:00 -> 3:00).
    assert [t.isoformat() for t in times] == [
        "2024-03-30T02:00:00+01:00",
        "2024-03-31T03:00:00+02:00",
        "2024-04-01T02:00:00+02:00",
    ]


def test_weekday_numbers_land_on_the_same_days_as_aws() -> None:
    utc = ZoneInfo("UTC")
    # AWS day 2 is Monday; 2024-06-03 was a Monday.
    (first,) = next_fire_times("cron(0 9 ? * 2 *)", datetime(2024, 6, 1, tzinfo=utc), 1)
    assert first == datetime(2024, 6, 3, 9, tzinfo=utc)
    assert first.strftime("%A") == "Monday"
