"""Report periods: a day, a month or any range of whole days in the service's time zone.

``measured_to_ts`` stops at ``now``: a report for the current month measures the part of it
that has happened, and says so.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass

MAX_DAYS = 366


class PeriodError(ValueError):
    """A period parameter is wrong; the message names it."""

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"{parameter}: {problem}")
        self.parameter = parameter
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Period:
    date_from: dt.date
    date_to: dt.date  # inclusive
    timezone: str
    kind: str  # "day", "month", "range"
    now: float

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    @property
    def from_ts(self) -> float:
        return dt.datetime.combine(self.date_from, dt.time(0), self.tz).timestamp()

    @property
    def to_ts(self) -> float:
        return dt.datetime.combine(self.date_to + dt.timedelta(days=1), dt.time(0), self.tz).timestamp()

    @property
    def measured_to_ts(self) -> float:
        return min(self.to_ts, self.now)

    @property
    def complete(self) -> bool:
        return self.now >= self.to_ts

    @property
    def label(self) -> str:
        if self.kind == "day":
            return f"{self.date_from:%Y年%m月%d日} {self.date_from.isoformat()}"
        if self.kind == "month":
            return f"{self.date_from:%Y年%m月} {self.date_from:%Y-%m}"
        return f"{self.date_from.isoformat()} – {self.date_to.isoformat()}"

    def as_json(self) -> dict[str, object]:
        tz = self.tz
        return {
            "from": self.date_from.isoformat(), "to": self.date_to.isoformat(), "kind": self.kind,
            "label": self.label, "days": self.days, "timezone": self.timezone, "complete": self.complete,
            "measured_until": dt.datetime.fromtimestamp(self.measured_to_ts, tz).isoformat(),
        }


def month_bounds(year: int, month: int) -> tuple[dt.date, dt.date]:
    first = dt.date(year, month, 1)
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return first, nxt - dt.timedelta(days=1)


_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")


def _parse(parameter: str, text: str) -> tuple[dt.date, dt.date, str]:
    """A date (a day) or YYYY-MM (a month): (first day, last day, kind)."""
    text = text.strip()
    match = _MONTH.match(text)
    if match:
        year, month = int(match.group(1)), int(match.group(2))
        if not 1 <= month <= 12:
            raise PeriodError(parameter, f"month {month} does not exist")
        first, last = month_bounds(year, month)
        return first, last, "month"
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise PeriodError(parameter, f"expected YYYY-MM-DD or YYYY-MM, got {text!r}") from None
    return day, day, "day"


def parse_period(date_from: str | None, date_to: str | None, *, now: float, timezone: str,
                 month: str | None = None, day: str | None = None) -> Period:
    """``from``/``to`` (dates, or months for whole months), or ``month``, or ``day``; with none,
    the current month so far."""
    tz = zoneinfo.ZoneInfo(timezone)
    if month:
        first, last, kind = _parse("month", month)
        if kind != "month":
            raise PeriodError("month", f"expected YYYY-MM, got {month!r}")
    elif day:
        first, last, kind = _parse("day", day)
        if kind != "day":
            raise PeriodError("day", f"expected YYYY-MM-DD, got {day!r}")
    elif date_from or date_to:
        if not date_from:
            raise PeriodError("from", "is required with to")
        first, last, kind = _parse("from", date_from)
        if date_to:
            first_b, last, kind_b = _parse("to", date_to)
            if (first, kind) != (first_b, kind_b):
                kind = "range"
        if first > last:
            raise PeriodError("to", f"{last} is before {first}")
        if kind == "range" and first.day == 1 and month_bounds(first.year, first.month) == (first, last):
            kind = "month"
    else:
        today = dt.datetime.fromtimestamp(now, tz).date()
        first, last = month_bounds(today.year, today.month)
        kind = "month"
    if (last - first).days + 1 > MAX_DAYS:
        raise PeriodError("to", f"a report covers at most {MAX_DAYS} days")
    period = Period(first, last, timezone, kind, now)
    if period.from_ts > now:
        raise PeriodError("from", f"the period starts in the future ({first})")
    return period


def previous_months(period_end: dt.date, months: int) -> list[tuple[dt.date, dt.date]]:
    """The ``months`` calendar months ending with the one holding ``period_end``, oldest first."""
    out = []
    year, month = period_end.year, period_end.month
    for _ in range(months):
        out.append(month_bounds(year, month))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return out[::-1]
