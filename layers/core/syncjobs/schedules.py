"""EventBridge schedule expressions: `rate(...)` and AWS `cron(...)` (6 fields), parsed and stepped,
in UTC or in an IANA time zone as EventBridge Scheduler evaluates them (ScheduleExpressionTimezone).

AWS cron fields: minutes hours day-of-month month day-of-week year; one of day-of-month and
day-of-week must be `?`; day-of-week 1-7 is SUN-SAT (croniter counts 0-6 from SUN).

Daylight saving time, as EventBridge Scheduler documents it: a cron time that does not exist in the
zone (the hour skipped in spring) is skipped, not moved; a time that exists twice (the hour repeated
in autumn) fires once, at its first occurrence. A rate is a fixed duration whatever the zone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from croniter import croniter

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_DOW_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


class ScheduleError(ValueError):
    """An expression EventBridge would reject; the message says what is wrong."""


@dataclass(frozen=True)
class Schedule:
    expression: str
    rate: timedelta | None = None
    cron: str | None = None  # croniter's 5-field form
    years: frozenset[int] | None = None  # None: every year

    def fires_after(self, after: datetime, anchor: datetime | None = None, timezone: str = "UTC") -> Iterator[datetime]:
        """Fire times (UTC) strictly after `after`. A rate counts from `anchor` (when the rule was made);
        a cron's fields are local times of `timezone`."""
        after = after.astimezone(UTC)
        if self.rate is not None:
            start = (anchor or after).astimezone(UTC)
            steps = max(0, int((after - start) / self.rate) + 1)
            t = start + steps * self.rate
            while True:
                if t > after:
                    yield t
                t += self.rate
        assert self.cron is not None
        yield from cron_fires(self.cron, self.years, after, zone(timezone))

    def next_fires(
        self, after: datetime, count: int = 5, anchor: datetime | None = None, timezone: str = "UTC"
    ) -> list[datetime]:
        out = []
        for t in self.fires_after(after, anchor, timezone):
            out.append(t)
            if len(out) == count:
                break
        return out


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def zone(name: str) -> ZoneInfo:
    """An IANA time zone by its name (Europe/Berlin, case as the database spells it); ScheduleError for
    any other text, a file of the time zone database that names no zone (posixrules) included."""
    if name not in _zone_names():
        raise ScheduleError(f"{name!r} is not an IANA time zone name (e.g. Europe/Berlin, UTC)")
    return ZoneInfo(name)


def local_time(naive: datetime, tz: ZoneInfo) -> datetime | None:
    """The first instant (UTC) the clocks of `tz` read `naive`; None if they never do (skipped forward)."""
    aware = naive.replace(tzinfo=tz, fold=0)
    instant = aware.astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) != naive:
        return None
    return instant


def cron_fires(cron: str, years: frozenset[int] | None, after: datetime, tz: ZoneInfo) -> Iterator[datetime]:
    """Fire times (UTC) strictly after `after` of a croniter expression read as wall-clock times in
    `tz`: a wall time the zone skips never fires, one it repeats fires once (its first occurrence)."""
    after = after.astimezone(UTC)
    # start an hour early in local time: a wall time repeated later may still be ahead in UTC
    start = (after.astimezone(tz) - timedelta(hours=1)).replace(tzinfo=None, fold=0)
    it = croniter(cron, start)
    for _ in range(100_000):
        naive = it.get_next(datetime)
        if years is not None and naive.year not in years:
            if naive.year > max(years):
                return
            continue
        instant = local_time(naive, tz)
        if instant is not None and instant > after:
            yield instant


def _dow(field: str) -> str:
    def one(token: str) -> str:
        if token.upper() in _DOW_NAMES:
            return token.upper()
        if token.isdigit():
            n = int(token)
            if not 1 <= n <= 7:
                raise ScheduleError(f"day-of-week {n} is out of range 1-7 (1 = SUN)")
            return str(n - 1)
        raise ScheduleError(f"day-of-week {token!r} is not 1-7 or SUN-SAT")

    out = []
    for part in field.split(","):
        if part in {"*", "?"}:
            out.append("*")
            continue
        step = ""
        if "/" in part:
            part, step = part.split("/", 1)
            step = "/" + step
        if "#" in part:
            day, nth = part.split("#", 1)
            out.append(f"{one(day)}#{nth}{step}")
        elif part.endswith("L") and len(part) > 1:
            out.append(f"L{one(part[:-1])}")
        elif "-" in part:
            lo, hi = part.split("-", 1)
            out.append(f"{one(lo)}-{one(hi)}{step}")
        else:
            out.append(one(part) + step)
    return ",".join(out)


def _years(field: str) -> frozenset[int] | None:
    if field == "*":
        return None
    years: set[int] = set()
    for part in field.split(","):
        m = re.fullmatch(r"(\d{4})(?:-(\d{4}))?(?:/(\d+))?", part)
        if not m:
            raise ScheduleError(f"year {part!r} is not a year, a range of years or *")
        lo = int(m.group(1))
        hi = int(m.group(2) or (2199 if m.group(3) else lo))
        if not 1970 <= lo <= hi <= 2199:
            raise ScheduleError(f"year {part!r} is out of range 1970-2199")
        years.update(range(lo, hi + 1, int(m.group(3) or 1)))
    return frozenset(years)


def parse(expression: str) -> Schedule:
    expression = expression.strip()
    if m := _RATE.match(expression):
        value, unit = int(m.group(1)), m.group(2)
        if value < 1:
            raise ScheduleError("rate value must be a positive whole number")
        if (value == 1) != (not unit.endswith("s")):
            raise ScheduleError(f"rate({value} {unit}): use '{unit.rstrip('s')}' for 1 and the plural otherwise")
        return Schedule(expression, rate=timedelta(seconds=value * _UNIT_SECONDS[unit.rstrip("s")]))
    if m := _CRON.match(expression):
        fields = m.group(1).split()
        if len(fields) != 6:
            raise ScheduleError(
                f"cron needs 6 fields (minutes hours day-of-month month day-of-week year), got {len(fields)}"
            )
        minutes, hours, dom, month, dow, year = fields
        if (dom == "?") == (dow == "?"):
            raise ScheduleError("cron: exactly one of day-of-month and day-of-week must be '?'")
        if "W" in dom.upper():
            raise ScheduleError("cron: the W (nearest weekday) day-of-month form is not supported here")
        cron = f"{minutes} {hours} {'*' if dom == '?' else dom} {month} {'*' if dow == '?' else _dow(dow)}"
        if not croniter.is_valid(cron):
            raise ScheduleError(f"cron: {' '.join(fields[:5])} is not a valid cron expression")
        return Schedule(expression, cron=cron, years=_years(year))
    raise ScheduleError("expected rate(N minute[s]|hour[s]|day[s]) or cron(min hour dom month dow year)")
