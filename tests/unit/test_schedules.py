"""EventBridge schedule expressions: AWS cron (6 fields, ?, 1-7 = SUN-SAT) and rate, UTC."""

from datetime import UTC, datetime

import pytest

from syncjobs.schedules import ScheduleError, parse, zone

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


# Europe/Berlin: 2026-03-29 02:00 CET -> 03:00 CEST (02:xx never happens); 2026-10-25 03:00 CEST ->
# 02:00 CET (02:xx happens twice). America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01
# 02:00 EDT -> 01:00 EST (01:xx twice).
@pytest.mark.parametrize(
    ("expression", "timezone", "after", "fires"),
    [
        # a daily 02:00 in Berlin: 01:00 UTC in winter, 00:00 UTC in summer; the skipped day is skipped
        (
            "cron(0 2 * * ? *)",
            "Europe/Berlin",
            "2026-03-27T12:00:00+00:00",
            ["2026-03-28T01:00:00+00:00", "2026-03-30T00:00:00+00:00", "2026-03-31T00:00:00+00:00"],
        ),
        # back in autumn: 02:00 exists twice on the 25th and fires once, at the first (still summer time)
        (
            "cron(0 2 * * ? *)",
            "Europe/Berlin",
            "2026-10-23T12:00:00+00:00",
            ["2026-10-24T00:00:00+00:00", "2026-10-25T00:00:00+00:00", "2026-10-26T01:00:00+00:00"],
        ),
        # every 30 minutes through the repeated hour: each wall time once, none in the second pass
        (
            "cron(0/30 1-3 25 10 ? 2026)",
            "Europe/Berlin",
            "2026-10-24T22:00:00+00:00",
            [
                "2026-10-24T23:00:00+00:00",  # 01:00 CEST
                "2026-10-24T23:30:00+00:00",
                "2026-10-25T00:00:00+00:00",  # 02:00 CEST
                "2026-10-25T00:30:00+00:00",  # 02:30 CEST
                "2026-10-25T02:00:00+00:00",  # 03:00 CET (an hour and a half later)
            ],
        ),
        # asked from inside the repeated hour's second pass: its wall times have fired already
        (
            "cron(0/30 2 25 10 ? 2026)",
            "Europe/Berlin",
            "2026-10-25T01:10:00+00:00",  # 02:10 CET, the second 02:10
            [],
        ),
        # weekdays at 02:00 across the October change: Friday 00:00 UTC, Monday 01:00 UTC
        (
            "cron(0 2 ? * MON-FRI *)",
            "Europe/Berlin",
            "2026-10-22T12:00:00+00:00",
            ["2026-10-23T00:00:00+00:00", "2026-10-26T01:00:00+00:00"],
        ),
        # New York, spring: 02:30 does not exist on March 8th
        (
            "cron(30 2 * * ? *)",
            "America/New_York",
            "2026-03-06T12:00:00+00:00",
            ["2026-03-07T07:30:00+00:00", "2026-03-09T06:30:00+00:00"],
        ),
        # New York, autumn: 01:30 happens twice on November 1st, fires once (EDT, 05:30 UTC)
        (
            "cron(30 1 * * ? *)",
            "America/New_York",
            "2026-10-31T12:00:00+00:00",
            ["2026-11-01T05:30:00+00:00", "2026-11-02T06:30:00+00:00"],
        ),
        # a rate is a fixed duration: the zone changes nothing, across the change too
        (
            "rate(12 hours)",
            "Europe/Berlin",
            "2026-03-28T18:00:00+00:00",
            ["2026-03-29T06:00:00+00:00", "2026-03-29T18:00:00+00:00"],
        ),
        # UTC, the default, as before
        ("cron(0 2 * * ? *)", "UTC", "2026-03-28T12:00:00+00:00", ["2026-03-29T02:00:00+00:00"]),
    ],
)
def test_cron_in_a_time_zone_fires_at_local_wall_times_across_dst(expression, timezone, after, fires):
    start = datetime.fromisoformat(after)
    got = parse(expression).next_fires(start, len(fires) or 3, anchor=start, timezone=timezone)
    if not fires:  # nothing more that day (the year and day are pinned)
        assert got == []
    else:
        assert [t.isoformat() for t in got] == fires


@pytest.mark.parametrize(
    "name", ["Europe/Berln", "CET+1", "", " Europe/Berlin", "../etc/passwd", "Mars/Olympus", "posixrules", "America"]
)
def test_an_unknown_time_zone_is_refused_naming_it(name):
    with pytest.raises(ScheduleError, match="is not an IANA time zone name"):
        zone(name)


def test_known_time_zones_are_accepted():
    assert str(zone("Europe/Berlin")) == "Europe/Berlin"
    assert str(zone("UTC")) == "UTC"
