"""The in-memory schedule: the active feed version as numpy arrays.

Built once per feed version (see ``build.py``) and never mutated, so the tracker, the API and the
boards read it without locks; a new version replaces the whole object.

Layout: stops, routes, trips and shapes are numbered 0..n-1 in the order of their ids.  Stop
times are sorted by (trip, stop_sequence) and addressed through ``trip_st_start`` (CSR:
trip ``t`` owns rows ``trip_st_start[t]:trip_st_start[t+1]``).  Shapes likewise through
``shape_start``.  Every trip has a shape: trips without one get a synthetic shape of straight
stop-to-stop segments.  ``st_dist_m`` is each call's distance along its trip's shape.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from transit.schedule.geometry import LocalProjection
from transit.schedule.service import ServiceCalendar, service_day_start

I32 = NDArray[np.int32]
I64 = NDArray[np.int64]
F64 = NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class ScheduleIndex:
    feed_id: int
    timezone: str
    projection: LocalProjection

    # stops
    stop_ids: tuple[str, ...]
    stop_pos: dict[str, int]
    stop_lat: F64
    stop_lon: F64
    stop_x: F64
    stop_y: F64
    stop_name: tuple[str, ...]
    stop_name_en: tuple[str | None, ...]
    stop_code: tuple[str | None, ...]
    stop_parent: tuple[str | None, ...]

    # routes
    route_ids: tuple[str, ...]
    route_pos: dict[str, int]
    route_short_name: tuple[str, ...]
    route_long_name: tuple[str, ...]
    route_long_name_en: tuple[str | None, ...]
    route_type: I32
    route_color: tuple[str | None, ...]
    route_agency: tuple[str | None, ...]

    # trips
    trip_ids: tuple[str, ...]
    trip_pos: dict[str, int]
    trip_route: I32
    trip_service: I32
    trip_direction: NDArray[np.int8]  # -1: not given
    trip_block: I32  # -1: no block
    trip_shape: I32  # always valid (synthetic shapes included)
    trip_headsign: tuple[str, ...]
    trip_headsign_en: tuple[str | None, ...]
    trip_st_start: I64  # len n_trips + 1
    trip_first_dep_s: I32  # seconds since service-day start
    trip_last_arr_s: I32
    trip_length_m: F64

    # stop times, sorted by (trip, stop_sequence)
    st_trip: I32
    st_stop: I32
    st_seq: I32
    st_arr_s: I32  # interpolated where the feed left it empty
    st_dep_s: I32
    st_timepoint: NDArray[np.bool_]  # an exact time given by the feed (not interpolated, timepoint not 0)
    st_pickup: NDArray[np.int8]
    st_dropoff: NDArray[np.int8]
    st_dist_m: F64
    st_headsign: tuple[str | None, ...] | None

    # shapes (CSR), synthetic ones after the feed's
    shape_ids: tuple[str, ...]
    shape_pos: dict[str, int]
    shape_start: I64
    shape_lat: F64
    shape_lon: F64
    shape_x: F64
    shape_y: F64
    shape_dist_m: F64
    shape_synthetic: NDArray[np.bool_]

    # services
    calendar: ServiceCalendar

    # frequencies (rows sorted by trip), CSR over trips
    freq_trip: I32
    freq_start_s: I32
    freq_end_s: I32
    freq_headway_s: I32
    freq_exact: NDArray[np.bool_]
    trip_freq_start: I64

    # blocks
    block_ids: tuple[str, ...]
    block_pos: dict[str, int]

    # calls by stop: stop s owns stop_call_st[stop_call_start[s]:stop_call_start[s+1]],
    # indexes into the stop-time arrays sorted by departure time.
    stop_call_start: I64
    stop_call_st: I64

    agency_name: str = ""
    translations: dict[tuple[str, str, str], dict[str, str]] = field(default_factory=dict)

    # ------------------------------------------------------------------ lookups
    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def n_trips(self) -> int:
        return len(self.trip_ids)

    def find_stop(self, stop_id: str) -> int | None:
        return self.stop_pos.get(stop_id)

    def find_trip(self, trip_id: str) -> int | None:
        return self.trip_pos.get(trip_id)

    def find_route(self, route_id: str) -> int | None:
        return self.route_pos.get(route_id)

    def find_block(self, block_id: str) -> int | None:
        return self.block_pos.get(block_id)

    def trip_calls(self, trip: int) -> slice:
        """The rows of ``trip`` in the stop-time arrays."""
        return slice(int(self.trip_st_start[trip]), int(self.trip_st_start[trip + 1]))

    def shape_points(self, shape: int) -> slice:
        return slice(int(self.shape_start[shape]), int(self.shape_start[shape + 1]))

    def trip_frequencies(self, trip: int) -> slice:
        return slice(int(self.trip_freq_start[trip]), int(self.trip_freq_start[trip + 1]))

    def is_frequency_trip(self, trip: int) -> bool:
        return bool(self.trip_freq_start[trip + 1] > self.trip_freq_start[trip])

    def stop_calls(self, stop: int) -> NDArray[np.int64]:
        """Stop-time rows calling at ``stop``, sorted by scheduled departure (seconds of day)."""
        return self.stop_call_st[int(self.stop_call_start[stop]) : int(self.stop_call_start[stop + 1])]

    def routes_at_stop(self, stop: int) -> list[int]:
        rows = self.stop_calls(stop)
        return sorted({int(r) for r in np.unique(self.trip_route[self.st_trip[rows]])})

    def block_trips(self, block: int) -> I64:
        return np.flatnonzero(self.trip_block == block)

    def translate(self, table: str, field_name: str, record_id: str, language: str = "en") -> str | None:
        return self.translations.get((table, field_name, language), {}).get(record_id)

    # ------------------------------------------------------------------ service days
    def day_start(self, day: dt.date) -> float:
        return _day_start_cached(self.timezone, day)

    def services_on(self, day: dt.date) -> NDArray[np.bool_]:
        return _services_cached(self, day)

    def trips_running_on(self, day: dt.date) -> NDArray[np.bool_]:
        """Boolean mask over trips whose service runs on service date ``day``."""
        return self.services_on(day)[self.trip_service]

    def service_dates_around(self, now: float) -> list[dt.date]:
        """Service dates whose trips may be running at ``now``: yesterday (past-midnight trips),
        today and tomorrow (a day that starts early in the agency zone)."""
        today = dt.datetime.fromtimestamp(now, self.tz).date()
        return [today - dt.timedelta(days=1), today, today + dt.timedelta(days=1)]

    def day_type(self, day: dt.date) -> str:
        return self.calendar.day_type(day)


@functools.lru_cache(maxsize=4096)
def _day_start_cached(timezone: str, day: dt.date) -> float:
    return service_day_start(day, zoneinfo.ZoneInfo(timezone))


# Keyed on the index object itself (identity), so a new feed version never sees stale masks.
@functools.lru_cache(maxsize=256)
def _services_cached(index: ScheduleIndex, day: dt.date) -> NDArray[np.bool_]:
    mask = index.calendar.active_on(day)
    mask.flags.writeable = False
    return mask
