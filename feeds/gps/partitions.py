"""Which daily partitions of ``positions`` exist, so that a batch never lands in a missing one.

A partition holds one local calendar day of the service's zone.  Most batches fall inside a day
already seen, which is answered from memory; otherwise the missing days are created through
``store.ensure_partitions`` (idempotent, safe against another process doing the same).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable
from typing import Any

from feeds.gps.store import ensure_partitions

_fromtimestamp = dt.datetime.fromtimestamp
#: Within this span every day between a batch's first and last fix gets a partition; wider
#: batches (replays, a long max_past_s) get only the days they hold.
_DENSE_SPAN_S = 3 * 86400.0


class DayPartitions:
    def __init__(self, timezone: str) -> None:
        self.timezone = timezone
        self._tz = zoneinfo.ZoneInfo(timezone)
        self._known: set[dt.date] = set()
        self._ranges: list[tuple[float, float]] = []  # [start, end) POSIX seconds known covered

    async def ensure(self, conn: Any, min_ts: float, max_ts: float, instants: Iterable[dt.datetime]) -> None:
        """Make sure partitions exist for fixes from ``min_ts`` to ``max_ts`` (``instants`` are
        the batch's times, read only for batches spread over more than a few days)."""
        if any(start <= min_ts and max_ts < end for start, end in self._ranges):
            return
        tz = self._tz
        if max_ts - min_ts <= _DENSE_SPAN_S:
            wanted = set(local_days(min_ts, max_ts, tz))
        else:
            buckets = {int(t.timestamp()) // 900 for t in instants}  # zone offsets are k * 15 min
            wanted = {local_date(b * 900.0, tz) for b in buckets}
        missing = wanted - self._known
        if missing:
            await ensure_partitions(conn, missing, self.timezone)
            self._known.update(missing)
        for day in wanted:
            self._ranges.append((local_midnight(day, tz), local_midnight(day + dt.timedelta(days=1), tz)))
        if max_ts - min_ts <= _DENSE_SPAN_S:
            # A batch spanning midnight lies in no single day: remember the union as well.
            first, last = local_date(min_ts, tz), local_date(max_ts, tz) + dt.timedelta(days=1)
            self._ranges.append((local_midnight(first, tz), local_midnight(last, tz)))
        del self._ranges[:-64]


def local_date(ts: float, tz: zoneinfo.ZoneInfo) -> dt.date:
    return _fromtimestamp(ts, tz).date()


def local_midnight(day: dt.date, tz: zoneinfo.ZoneInfo) -> float:
    return dt.datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()


def local_days(min_ts: float, max_ts: float, tz: zoneinfo.ZoneInfo) -> Iterable[dt.date]:
    """Every local date from that of ``min_ts`` to that of ``max_ts``."""
    day = local_date(min_ts, tz)
    last = local_date(max_ts, tz)
    while day <= last:
        yield day
        day += dt.timedelta(days=1)
