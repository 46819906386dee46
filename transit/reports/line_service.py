"""Counting, per line, the trip instances the timetable scheduled and those that had real-time
predictions served, over a range of service dates.

Each instance is an int64 key (day, trip, start time for frequency-based trips) so that matching
a month of served instances against the timetable is one ``np.isin`` rather than a loop.
Instances that start after ``now`` are not counted on either side: a report for the current
month measures the part of it that has happened.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence

import numpy as np

from transit.reports.indicators_transit import LineService
from transit.schedule.index import ScheduleIndex
from transit.schedule.timetable import frequency_offsets

_START_BITS = 18  # start times (seconds of the service day + 1) below 2**18, about 72 hours

#: (trip_id, start_time ('' unless frequency-based), day offsets from the period's first date)
ServedGroup = tuple[str, str, Sequence[int]]


def route_name(index: ScheduleIndex, route: int) -> str:
    short, long = index.route_short_name[route] or "", index.route_long_name[route] or ""
    return f"{short} {long}".strip() or index.route_ids[route]


def _parse_start(text: str) -> int:
    try:
        h, m, s = text.strip().split(":")
        return int(h) * 3600 + int(m) * 60 + int(s)
    except ValueError:
        return -1


def scheduled_keys(index: ScheduleIndex, date_from: dt.date, date_to: dt.date, now: float) -> np.ndarray:
    """Keys of the trip instances scheduled on service dates ``date_from..date_to`` that start by ``now``."""
    n_trips = index.n_trips
    has_freq = np.diff(index.trip_freq_start) > 0
    freq_trips = np.flatnonzero(has_freq)
    offsets = {int(t): frequency_offsets(index, int(t)) for t in freq_trips}
    first = index.trip_first_dep_s.astype(np.int64)
    earliest = int(first.min()) if first.size else 0
    parts: list[np.ndarray] = []
    for k in range((date_to - date_from).days + 1):
        day = date_from + dt.timedelta(days=k)
        start = index.day_start(day)
        if start + earliest > now:
            break
        running = index.trips_running_on(day)
        plain = np.flatnonzero(running & ~has_freq & (start + first <= now))
        parts.append((k * n_trips + plain.astype(np.int64)) << _START_BITS)
        for t in freq_trips[running[freq_trips]]:
            starts = first[t] + offsets[int(t)]
            starts = starts[start + starts <= now]
            parts.append(((k * n_trips + int(t)) << _START_BITS) + starts + 1)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def served_keys(index: ScheduleIndex, served: Sequence[ServedGroup]) -> np.ndarray:
    """Keys of served instances; a trip not in this feed, or a frequency-based trip served
    under a start time that is not one of its own, matches nothing."""
    has_freq = np.diff(index.trip_freq_start) > 0
    trips = np.full(len(served), -1, dtype=np.int64)
    low = np.zeros(len(served), dtype=np.int64)
    for i, (trip_id, start, _) in enumerate(served):
        trip = index.trip_pos.get(trip_id)
        if trip is None:
            continue
        if has_freq[trip]:
            seconds = _parse_start(start)
            if seconds < 0:
                continue
            low[i] = seconds + 1
        trips[i] = trip
    lengths = np.fromiter((len(g[2]) for g in served), dtype=np.int64, count=len(served))
    days = np.fromiter(itertools.chain.from_iterable(g[2] for g in served), dtype=np.int64, count=int(lengths.sum()))
    group_trip = np.repeat(trips, lengths)
    keep = (group_trip >= 0) & (days >= 0)
    keys = ((days * index.n_trips + group_trip) << _START_BITS) + np.repeat(low, lengths)
    return keys[keep]


def count_line_service(index: ScheduleIndex, date_from: dt.date, date_to: dt.date, now: float,
                       served: Sequence[ServedGroup]) -> list[LineService]:
    """Per line of the feed: scheduled and served instances, and on how many days each.
    ``served`` holds, per (trip_id, start_time), the days (offsets from ``date_from``) on which
    the instance had real-time predictions served."""
    n_routes, n_trips = len(index.route_ids), index.n_trips
    n_days = (date_to - date_from).days + 1
    sched = _sorted_distinct(scheduled_keys(index, date_from, date_to, now))
    served_at = _sorted_distinct(served_keys(index, served))
    if sched.size:
        at = np.minimum(np.searchsorted(sched, served_at), sched.size - 1)
        served_at = served_at[sched[at] == served_at]
    else:
        served_at = served_at[:0]

    def per_route(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        day_trip = keys >> _START_BITS
        routes = index.trip_route[day_trip % n_trips].astype(np.int64)
        counts = np.bincount(routes, minlength=n_routes)
        per_day = np.bincount((day_trip // n_trips) * n_routes + routes, minlength=n_days * n_routes)
        days = (per_day.reshape(n_days, n_routes) > 0).sum(axis=0)
        return counts, days

    n_sched, d_sched = per_route(sched)
    n_served, d_served = per_route(served_at)
    return [LineService(index.route_ids[r], route_name(index, r), int(n_sched[r]), int(n_served[r]),
                        int(d_sched[r]), int(d_served[r])) for r in range(n_routes)]


def _sorted_distinct(keys: np.ndarray) -> np.ndarray:
    """Sort and drop repeats (cheaper than np.unique's hashing for keys that are nearly all distinct)."""
    keys = np.sort(keys)
    return keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if keys.size else keys
