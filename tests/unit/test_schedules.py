"""EventBridge schedule expressions: AWS cron (6 fields, ?, 1-7 = SUN-SAT) and rate, UTC."""

from datetime import UTC, datetime

import pytest

from syncjobs.schedules import ScheduleError, parse

T0 = datetime(2026, 11, 21, 13, 50, 30, tzinfo=UTC)  # a Saturday


@pytest.mark.parametrize(
    ("expression", "fires"),
    [
        ("rate(1 minute)", ["13:51:30", "13:52:30"]),
        ("rate(2 hours)", ["15:50:30", "17:50:30"]),
        ("cron(0/15 * * * ? *)", ["14:00:00", "14:15:00"]),
        ("cron(0 8 ? * MON-FRI *)", ["2026-11-23 08:00:00", "2026-11-24 08:00:00"]),
        ("cron(0 8 ? * 2 *)", ["2026-11-23 08:00:00", "2026-11-30 08:00:00"]),  # 2 = MON
        ("cron(30 6 1 * ? 2027)", ["2027-01-01 06:30:00", "2027-02-01 06:30:00"]),
    ],
)
def test_next_fire_times(expression, fires):
    got = parse(expression).next_fires(T0, 2, anchor=T0)
    fmt = "%H:%M:%S" if len(fires[0]) == 8 else "%Y-%m-%d %H:%M:%S"
    assert [t.strftime(fmt) for t in got] == fires


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("cron(0 8 * * MON *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(0 8 * *)", "cron needs 6 fields"),
        ("cron(0 8 ? * 8 *)", "day-of-week 8 is out of range"),
        ("cron(99 8 ? * 1 *)", "not a valid cron expression"),
        ("rate(1 minutes)", "use 'minute' for 1"),
        ("rate(5 minute)", "use 'minute' for 1 and the plural otherwise"),
        ("rate(0 minutes)", "positive"),
        ("every day", "expected rate"),
    ],
)
def test_invalid_expressions_say_what_is_wrong(expression, message):
    with pytest.raises(ScheduleError, match=message):
        parse(expression)
