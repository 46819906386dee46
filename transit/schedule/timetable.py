"""Time queries on the schedule: which trip instances run when, and which calls a stop has.

A *trip instance* is a trip on a service date; a frequency-based trip has one instance per
headway, identified by its start time.  ``offset_s`` shifts the trip's stop times to the
instance (0 for ordinary trips).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from transit.schedule.index import ScheduleIndex
from transit.schedule.service import format_gtfs_date, format_gtfs_time


@dataclass(frozen=True, slots=True)
class TripInstance:
    trip: int
    service_date: dt.date
    day_start_ts: float
    offset_s: int  # added to the trip's stop times (frequency instances)
    start_ts: float  # scheduled departure from the first stop
    end_ts: float  # scheduled arrival at the last stop
    frequency: bool = False

    def entity_id(self, index: ScheduleIndex) -> str:
        base = f"{format_gtfs_date(self.service_date)}:{index.trip_ids[self.trip]}"
        return f"{base}:{self.start_time(index)}" if self.frequency else base

    def start_time(self, index: ScheduleIndex) -> str:
        return format_gtfs_time(int(index.trip_first_dep_s[self.trip]) + self.offset_s)

    def arrival_ts(self, index: ScheduleIndex, row: int) -> float:
        return self.day_start_ts + float(index.st_arr_s[row]) + self.offset_s

    def departure_ts(self, index: ScheduleIndex, row: int) -> float:
        return self.day_start_ts + float(index.st_dep_s[row]) + self.offset_s


@dataclass(frozen=True, slots=True)
class ScheduledCall:
    instance: TripInstance
    row: int  # stop-time row
    arrival_ts: float
    departure_ts: float


def frequency_offsets(index: ScheduleIndex, trip: int) -> np.ndarray:
    """Offsets (int64 seconds) of each headway instance of a frequency-based trip from its
    template times; empty for an ordinary trip."""
    first = int(index.trip_first_dep_s[trip])
    parts = [
        np.arange(int(index.freq_start_s[k]), int(index.freq_end_s[k]), max(1, int(index.freq_headway_s[k])))
        for k in range(*index.trip_frequencies(trip).indices(len(index.freq_trip)))
    ]
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate(parts).astype(np.int64) - first


def instances_between(
    index: ScheduleIndex, t_from: float, t_to: float, trips: np.ndarray | None = None
) -> list[TripInstance]:
    """Trip instances whose [start, end] overlaps [t_from, t_to], over the service dates that
    can reach that window (a day's trips may run past midnight into the next day)."""
    out: list[TripInstance] = []
    tz = index.tz
    first_day = dt.datetime.fromtimestamp(t_from, tz).date() - dt.timedelta(days=2)
    last_day = dt.datetime.fromtimestamp(t_to, tz).date() + dt.timedelta(days=1)
    candidate = np.zeros(index.n_trips, dtype=bool)
    if trips is None:
        candidate[:] = True
    else:
        candidate[np.asarray(trips, dtype=np.int64)] = True
    has_freq = np.diff(index.trip_freq_start) > 0
    day = first_day
    while day <= last_day:
        start = index.day_start(day)
        running = candidate & index.trips_running_on(day)
        plain = running & ~has_freq
        begins = start + index.trip_first_dep_s
        ends = start + index.trip_last_arr_s
        for trip in np.flatnonzero(plain & (begins <= t_to) & (ends >= t_from)):
            out.append(TripInstance(int(trip), day, start, 0, float(begins[trip]), float(ends[trip])))
        for trip in np.flatnonzero(running & has_freq):
            span = int(index.trip_last_arr_s[trip]) - int(index.trip_first_dep_s[trip])
            for offset in frequency_offsets(index, int(trip)).tolist():
                b = float(begins[trip]) + offset
                if b <= t_to and b + span >= t_from:
                    out.append(TripInstance(int(trip), day, start, offset, b, b + span, frequency=True))
        day += dt.timedelta(days=1)
    out.sort(key=lambda inst: (inst.start_ts, inst.trip))
    return out


def calls_at_stop(index: ScheduleIndex, stop: int, t_from: float, t_to: float) -> list[ScheduledCall]:
    """Scheduled calls at ``stop`` arriving within [t_from, t_to], sorted by arrival."""
    rows = index.stop_calls(stop)
    if rows.size == 0:
        return []
    trips = np.unique(index.st_trip[rows])
    by_trip: dict[int, list[int]] = {}
    for r in rows:
        by_trip.setdefault(int(index.st_trip[r]), []).append(int(r))
    out: list[ScheduledCall] = []
    for inst in instances_between(index, t_from - 6 * 3600, t_to, trips):
        for r in by_trip.get(inst.trip, ()):
            a = inst.arrival_ts(index, r)
            if t_from <= a <= t_to:
                out.append(ScheduledCall(inst, r, a, inst.departure_ts(index, r)))
    out.sort(key=lambda c: (c.arrival_ts, c.instance.trip))
    return out


def first_last_at_stop(
    index: ScheduleIndex, stop: int, route: int, day: dt.date
) -> tuple[float, float] | None:
    """First and last scheduled departure of ``route`` at ``stop`` on service date ``day``."""
    rows = index.stop_calls(stop)
    if rows.size == 0:
        return None
    trips = index.st_trip[rows]
    mask = (index.trip_route[trips] == route) & index.trips_running_on(day)[trips]
    # the last call of a trip is an arrival only; boards show departures of the line
    if not mask.any():
        return None
    start = index.day_start(day)
    deps = index.st_dep_s[rows[mask]].astype(np.int64)
    first, last = int(deps.min()), int(deps.max())
    fr = [int(t) for t in np.unique(trips[mask]) if index.is_frequency_trip(int(t))]
    for t in fr:  # frequency trips run until their last window closes
        offsets = frequency_offsets(index, t)
        if offsets.size:
            sel = rows[mask][trips[mask] == t]
            base = index.st_dep_s[sel].astype(np.int64)
            first = min(first, int(base.min()) + int(offsets.min()))
            last = max(last, int(base.max()) + int(offsets.max()))
    return start + first, start + last
