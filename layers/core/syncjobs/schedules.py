"""EventBridge schedule expressions: `rate(...)` and AWS `cron(...)` (6 fields, UTC), parsed and stepped.

AWS cron fields: minutes hours day-of-month month day-of-week year; one of day-of-month and
day-of-week must be `?`; day-of-week 1-7 is SUN-SAT (croniter counts 0-6 from SUN).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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

    def fires_after(self, after: datetime, anchor: datetime | None = None) -> Iterator[datetime]:
        """Fire times strictly after `after` (UTC). A rate counts from `anchor` (when the rule was made)."""
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
        it = croniter(self.cron, after.replace(tzinfo=None))
        for _ in range(100_000):
            t = it.get_next(datetime).replace(tzinfo=UTC)
            if self.years is None or t.year in self.years:
                yield t
            elif t.year > max(self.years):
                return

    def next_fires(self, after: datetime, count: int = 5, anchor: datetime | None = None) -> list[datetime]:
        out = []
        for t in self.fires_after(after, anchor):
            out.append(t)
            if len(out) == count:
                break
        return out


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
