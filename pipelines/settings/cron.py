"""AWS cron expressions (EventBridge Scheduler) converted to croniter's 5-field form.

AWS: `cron(minutes hours day-of-month month day-of-week year)`, for example the default
`cron(0 2 * * ? *)`. croniter (classic cron): `minutes hours day-of-month month day-of-week`.
The conversion, field by field:
- minutes, hours, month: same syntax (numbers, names, `*`, `,`, `-`, `/`), copied.
- day-of-month: `?` becomes `*`; `L` (last day) and `nW` (nearest weekday) are copied;
  `LW` has no croniter equivalent and is rejected.
- day-of-week: AWS numbers days 1-7 from SUN, cron 0-6 from SUN, so every number is shifted
  down by one (names are mapped to cron numbers too); `?` becomes `*`; `n#k` (k-th weekday n)
  becomes `(n-1)#k`; `nL` (last weekday n of the month) becomes croniter's `L(n-1)`.
- year: only `*` can be honoured locally; anything else is rejected.
AWS requires `?` in exactly one of day-of-month and day-of-week (classic cron would OR the two
fields); that rule is enforced here too, so an expression that works locally works on AWS.
"""

from __future__ import annotations

import re
from datetime import datetime

from croniter import croniter

_DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_WRAPPER = re.compile(r"^cron\((?P<body>[^()]*)\)$")


class CronError(ValueError):
    """The expression is not a valid AWS cron expression or cannot run locally."""


def parse_aws_cron(expression: str) -> list[str]:
    """The six fields of `cron(...)`; CronError when it is not AWS cron syntax."""
    match = _WRAPPER.match(expression.strip())
    if not match:
        raise CronError(
            f"{expression!r} is not an AWS cron expression; expected cron(minutes hours "
            "day-of-month month day-of-week year), e.g. cron(0 2 * * ? *)"
        )
    fields = match.group("body").split()
    if len(fields) != 6:
        raise CronError(f"{expression!r} has {len(fields)} fields; AWS cron needs exactly 6")
    day_of_month, day_of_week = fields[2], fields[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        raise CronError(
            f"{expression!r}: use '?' in exactly one of day-of-month and day-of-week "
            "(AWS rejects expressions that set both or neither)"
        )
    return fields


def to_croniter(expression: str) -> str:
    """The croniter expression equivalent to an AWS `cron(...)` expression."""
    minutes, hours, day_of_month, month, day_of_week, year = parse_aws_cron(expression)
    if year != "*":
        raise CronError(
            f"{expression!r}: the year field {year!r} cannot be honoured by the local "
            "scheduler; use '*'"
        )
    converted = " ".join(
        (
            minutes,
            hours,
            _day_of_month(expression, day_of_month),
            month,
            _day_of_week(expression, day_of_week),
        )
    )
    if not croniter.is_valid(converted):
        raise CronError(f"{expression!r} is not a valid cron expression (as cron: {converted})")
    return converted


def next_fire_times(expression: str, after: datetime, count: int) -> list[datetime]:
    """The next `count` fire times strictly after `after` (a tz-aware datetime keeps its zone,
    so daylight-saving transitions follow that zone)."""
    iterator = croniter(to_croniter(expression), after)
    return [iterator.get_next(datetime) for _ in range(count)]


def _day_of_month(expression: str, field: str) -> str:
    if field == "?":
        return "*"
    if "LW" in field.upper():
        raise CronError(f"{expression!r}: day-of-month 'LW' has no local (croniter) equivalent")
    return field


def _day_of_week(expression: str, field: str) -> str:
    if field == "?":
        return "*"
    if field == "*":
        return "*"
    return ",".join(_day_of_week_item(expression, item) for item in field.split(","))


def _day_of_week_item(expression: str, item: str) -> str:
    upper = item.upper()
    if upper == "L":
        # Alone in day-of-week, AWS's L is the last day of the week: Saturday.
        return "6"
    if "#" in upper:
        day, _, nth = upper.partition("#")
        return f"{_day_number(expression, day)}#{nth}"
    if upper.endswith("L"):
        return f"L{_day_number(expression, upper[:-1])}"
    start, slash, step = upper.partition("/")
    if start == "*":
        return item
    low, dash, high = start.partition("-")
    converted = _day_number(expression, low)
    if dash:
        converted += f"-{_day_number(expression, high)}"
    return converted + (f"/{step}" if slash else "")


def _day_number(expression: str, token: str) -> str:
    if token in _DAY_NAMES:
        return str(_DAY_NAMES.index(token))
    if token.isdigit() and 1 <= int(token) <= 7:
        return str(int(token) - 1)
    raise CronError(
        f"{expression!r}: {token!r} is not a day of week (AWS uses 1-7 for SUN-SAT or SUN..SAT)"
    )
