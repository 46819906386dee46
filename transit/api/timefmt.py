"""Instants at the API's edge: ISO 8601 with the agency zone's offset.

Inside, every instant is POSIX seconds; a rider's app shows local clock times, so each one leaves
the service as ``2026-11-28T08:05:00+08:00``: unambiguous, and readable as it stands.

An arrivals body holds dozens of instants and is rebuilt for every snapshot, while most of them
(scheduled times, the time of a fix, a prediction no new fix has moved) are the same from one
snapshot to the next: the strings are kept in a bounded table per zone.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo

_MAX_CACHED = 200_000
_CACHE: dict[dt.tzinfo, dict[int, str]] = {}


@functools.lru_cache(maxsize=64)
def zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def iso(ts: float | None, tz: dt.tzinfo) -> str | None:
    """Whole seconds, with the offset of ``tz`` at that instant (None stays None)."""
    if ts is None:
        return None
    s = round(ts)
    table = _CACHE.get(tz)
    if table is None:
        table = _CACHE[tz] = {}
    text = table.get(s)
    if text is None:
        if len(table) >= _MAX_CACHED:
            table.clear()
        text = table[s] = dt.datetime.fromtimestamp(s, tz).isoformat()
    return text


def service_date_iso(yyyymmdd: str | None) -> str | None:
    if not yyyymmdd or len(yyyymmdd) != 8:
        return yyyymmdd
    return f"{yyyymmdd[:4]}-{yyyymmdd[4:6]}-{yyyymmdd[6:]}"
