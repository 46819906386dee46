"""Service days: which services run on a date, and where a service day starts in time.

GTFS times count from "noon minus 12 hours" of the service date in the agency's time zone, so a
trip at 25:10:00 belongs to the previous day's service and runs at 01:10 the next calendar day
(and on a day when clocks change, the count still starts 12 hours before noon).
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def service_day_start(day: dt.date, tz: zoneinfo.ZoneInfo) -> float:
    """POSIX seconds of 'noon minus 12h' on ``day`` in ``tz``: the zero of GTFS times that day."""
    noon = dt.datetime(day.year, day.month, day.day, 12, tzinfo=tz)
    return noon.timestamp() - 12 * 3600


def local_date(ts: float, tz: zoneinfo.ZoneInfo) -> dt.date:
    return dt.datetime.fromtimestamp(ts, tz).date()


@functools.lru_cache(maxsize=4096)
def format_gtfs_date(day: dt.date) -> str:
    """``YYYYMMDD``; memoised, since every arrival and trip instance names its service day and
    a city has only a handful of those in play."""
    return day.strftime("%Y%m%d")


def parse_gtfs_date(text: str) -> dt.date:
    return dt.datetime.strptime(text, "%Y%m%d").date()


def format_gtfs_time(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def parse_gtfs_time(text: str) -> int:
    h, m, s = text.strip().split(":")
    return int(h) * 3600 + int(m) * 60 + int(s)


@dataclass(frozen=True, eq=False)
class ServiceCalendar:
    """calendar.txt and calendar_dates.txt as arrays over service indexes."""

    service_ids: tuple[str, ...]
    weekdays: NDArray[np.bool_]  # (n_services, 7), Monday first
    start_ordinal: NDArray[np.int64]  # date.toordinal(); services without calendar.txt: 0
    end_ordinal: NDArray[np.int64]
    added: dict[int, frozenset[int]]  # date ordinal -> service indexes added that day
    removed: dict[int, frozenset[int]]

    def active_on(self, day: dt.date) -> NDArray[np.bool_]:
        """Boolean mask over services running on ``day``."""
        o = day.toordinal()
        mask = self.weekdays[:, day.weekday()] & (self.start_ordinal <= o) & (o <= self.end_ordinal)
        if o in self.added or o in self.removed:
            mask = mask.copy()
            for s in self.added.get(o, ()):
                mask[s] = True
            for s in self.removed.get(o, ()):
                mask[s] = False
        return mask

    def day_type(self, day: dt.date) -> str:
        """'weekday', 'saturday' or 'sunday' — the day types models learn separately."""
        wd = day.weekday()
        return "weekday" if wd < 5 else ("saturday" if wd == 5 else "sunday")


def build_calendar(
    service_ids: list[str],
    calendar_rows: list[tuple[str, tuple[int, ...], dt.date, dt.date]],
    date_rows: list[tuple[str, dt.date, int]],
) -> ServiceCalendar:
    pos = {sid: i for i, sid in enumerate(service_ids)}
    n = len(service_ids)
    weekdays = np.zeros((n, 7), dtype=bool)
    start = np.zeros(n, dtype=np.int64)
    end = np.zeros(n, dtype=np.int64)
    for sid, flags, s, e in calendar_rows:
        i = pos[sid]
        weekdays[i] = [bool(f) for f in flags]
        start[i] = s.toordinal()
        end[i] = e.toordinal()
    added: dict[int, set[int]] = {}
    removed: dict[int, set[int]] = {}
    for sid, day, kind in date_rows:
        target = added if kind == 1 else removed
        target.setdefault(day.toordinal(), set()).add(pos[sid])
    return ServiceCalendar(
        tuple(service_ids), weekdays, start, end,
        {k: frozenset(v) for k, v in added.items()}, {k: frozenset(v) for k, v in removed.items()},
    )
