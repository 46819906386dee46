"""What the tracker derives once per feed version from the schedule index.

The index is built for readers; matching thousands of fixes per batch needs a few more arrays:
sorted global keys so that one ``searchsorted`` finds, for every vehicle at once, the shape
segment or the next call at a given distance; a spatial grid of shapes for trip inference; and a
numbering of stop-to-stop segments that the prediction model learns per segment.  Built lazily
and kept on the network object, which is replaced with the index on a schedule swap.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from transit.schedule.index import ScheduleIndex
from transit.schedule.timetable import TripInstance, frequency_offsets

#: Keys combine an integer id with a distance in metres: ``id * SPAN + dist_m``.  Float64 keeps
#: a tenth of a millimetre of resolution up to ids in the millions.
SPAN = 10_000_000.0

#: Side of the spatial grid cells used to find the shapes near a position.
CELL_M = 250.0

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class DayInstances:
    """Every trip instance of the service dates around one day, as parallel arrays, with an
    index by trip and by shape (so a vehicle's candidates are found without scanning them all)."""

    trip: NDArray[np.int32]
    offset_s: NDArray[np.int32]
    start_ts: F64
    end_ts: F64
    day_start_ts: F64
    day_ordinal: I64
    frequency: NDArray[np.bool_]
    #: instance rows sorted by trip, and where each trip's run starts (CSR over trips)
    by_trip: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    trip_start: I64 = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    #: instance rows sorted by shape, and where each shape's run starts (CSR over shapes)
    by_shape: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    shape_start: I64 = field(default_factory=lambda: np.zeros(1, dtype=np.int64))

    def of_trips(self, trips: I64) -> I64:
        return _gather(self.by_trip, self.trip_start, trips)

    def of_shapes(self, shapes: NDArray[np.int32] | I64) -> I64:
        return _gather(self.by_shape, self.shape_start, np.asarray(shapes, dtype=np.int64))


def _gather(order: I64, start: I64, keys: I64) -> I64:
    keys = keys[(keys >= 0) & (keys < len(start) - 1)]
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    lo, hi = start[keys], start[keys + 1]
    count = hi - lo
    total = int(count.sum())
    offs = np.repeat(lo - (np.cumsum(count) - count), count)
    return order[np.arange(total) + offs]


def _csr(keys: I64, n: int) -> tuple[I64, I64]:
    order = np.argsort(keys, kind="stable")
    start = np.zeros(n + 1, dtype=np.int64)
    start[1:] = np.cumsum(np.bincount(keys, minlength=n))
    return order.astype(np.int64), start


@dataclass(eq=False)
class TrackingNetwork:
    index: ScheduleIndex
    # shapes
    point_shape: NDArray[np.int32] = field(init=False)
    point_key: F64 = field(init=False)  # point_shape * SPAN + shape_dist_m, sorted
    seg_dx: F64 = field(init=False)
    seg_dy: F64 = field(init=False)
    seg_len: F64 = field(init=False)
    #: How far a road may wander from a segment of a synthetic (stop-to-stop) shape: a straight
    #: line between stops 1 km apart is not where the bus drives.  0 on real shapes.
    seg_slack_m: F64 = field(init=False)
    shape_length_m: F64 = field(init=False)
    # calls
    row_key: F64 = field(init=False)  # st_trip * SPAN + st_dist_m, sorted
    row_first: I64 = field(init=False)  # first row of each row's trip
    row_last: I64 = field(init=False)
    row_segment: NDArray[np.int32] = field(init=False)  # model segment arriving at this row; -1 first
    #: Scheduled link time to each call: from the previous call's arrival (its departure when it
    #: is the first stop of the trip or a timepoint, where the bus waits for its departure time).
    row_link_s: F64 = field(init=False)
    row_dwell_s: F64 = field(init=False)  # scheduled departure minus arrival
    #: The timetable as a clock that runs between every pair of calls: where it gives several
    #: calls in a row the same time (whole-minute timetables, or an agency that copied a
    #: timepoint's time to the stops after it), those calls' times are spread by distance up to
    #: the next call with a later time.  What arrival detection shares the time between two
    #: fixes by, and what links are measured against; riders are still shown the timetable.
    row_clock_arr_s: F64 = field(init=False)
    row_clock_dep_s: F64 = field(init=False)
    #: A timepoint inside its trip (an exact time, not the first or last call): buses early there
    #: wait for their time before going on.
    row_hold: NDArray[np.bool_] = field(init=False)
    row_band: NDArray[np.int8] = field(init=False)  # time-of-day band of the scheduled arrival
    n_segments: int = field(init=False)
    segment_from: NDArray[np.int32] = field(init=False)  # stop index
    segment_to: NDArray[np.int32] = field(init=False)
    trip_length_end: F64 = field(init=False)  # distance along the shape of the last call
    trip_first_stop: NDArray[np.int32] = field(init=False)
    trip_last_stop: NDArray[np.int32] = field(init=False)
    _grid: dict[int, NDArray[np.int32]] | None = field(default=None, init=False)
    _days: dict[int, DayInstances] = field(default_factory=dict, init=False)
    _running: dict[dt.date, NDArray[np.bool_]] = field(default_factory=dict, init=False)
    _block_order: dict[int, I64] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        ix = self.index
        n_points = len(ix.shape_x)
        counts = np.diff(ix.shape_start)
        self.point_shape = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
        self.point_key = self.point_shape.astype(np.float64) * SPAN + ix.shape_dist_m
        dx = np.zeros(n_points)
        dy = np.zeros(n_points)
        if n_points > 1:
            dx[:-1] = np.diff(ix.shape_x)
            dy[:-1] = np.diff(ix.shape_y)
        last = ix.shape_start[1:] - 1
        last = last[last >= 0]
        dx[last] = 0.0
        dy[last] = 0.0
        self.seg_dx, self.seg_dy = dx, dy
        self.seg_len = np.hypot(dx, dy)
        self.seg_slack_m = np.where(ix.shape_synthetic[self.point_shape], np.minimum(0.35 * self.seg_len, 500.0), 0.0)
        self.shape_length_m = np.zeros(len(counts))
        has = counts > 0
        self.shape_length_m[has] = ix.shape_dist_m[ix.shape_start[1:][has] - 1]

        n_rows = len(ix.st_trip)
        self.row_key = ix.st_trip.astype(np.float64) * SPAN + ix.st_dist_m
        starts = ix.trip_st_start
        per_trip = np.diff(starts)
        self.row_first = np.repeat(starts[:-1], per_trip)
        self.row_last = np.repeat(starts[1:] - 1, per_trip)
        first = np.zeros(n_rows, dtype=bool)
        first[starts[:-1][per_trip > 0]] = True
        prev_stop = np.empty(n_rows, dtype=np.int64)
        if n_rows:
            prev_stop[1:] = ix.st_stop[:-1]
            prev_stop[0] = 0
        pair = prev_stop * len(ix.stop_ids) + ix.st_stop.astype(np.int64)
        pair[first] = -1
        uniq, inverse = np.unique(pair[~first], return_inverse=True)
        seg = np.full(n_rows, -1, dtype=np.int32)
        seg[~first] = inverse.astype(np.int32)
        self.row_segment = seg
        self.n_segments = len(uniq)
        self.segment_from = (uniq // max(1, len(ix.stop_ids))).astype(np.int32)
        self.segment_to = (uniq % max(1, len(ix.stop_ids))).astype(np.int32)
        self.row_clock_arr_s, self.row_clock_dep_s = _running_clock(ix, first)
        link = np.zeros(n_rows)
        if n_rows:
            prev_first = np.zeros(n_rows, dtype=bool)
            prev_first[1:] = first[:-1]
            prev_t = np.zeros(n_rows)
            prev_hold = np.zeros(n_rows, dtype=bool)
            prev_hold[1:] = ix.st_timepoint[:-1]
            # from the previous call's departure where buses wait for it (first stop, timepoint)
            arr_c, dep_c = self.row_clock_arr_s, self.row_clock_dep_s
            prev_t[1:] = np.where(prev_first[1:] | prev_hold[1:], dep_c[:-1], arr_c[:-1])
            link = arr_c - prev_t
        link[first] = 0.0
        self.row_link_s = np.maximum(link, 0.0)
        self.row_dwell_s = np.maximum(self.row_clock_dep_s - self.row_clock_arr_s, 0.0)
        last_row = np.zeros(n_rows, dtype=bool)
        last_row[starts[1:][per_trip > 0] - 1] = True
        self.row_hold = ix.st_timepoint & ~first & ~last_row
        self.row_band = band_of_seconds(ix.st_arr_s.astype(np.int64))
        self.trip_length_end = np.zeros(ix.n_trips)
        self.trip_length_end[per_trip > 0] = ix.st_dist_m[starts[1:][per_trip > 0] - 1]
        self.trip_first_stop = np.full(ix.n_trips, -1, dtype=np.int32)
        self.trip_last_stop = np.full(ix.n_trips, -1, dtype=np.int32)
        has = per_trip > 0
        self.trip_first_stop[has] = ix.st_stop[starts[:-1][has]]
        self.trip_last_stop[has] = ix.st_stop[starts[1:][has] - 1]

    # ------------------------------------------------------------------ spatial grid
    @property
    def grid(self) -> dict[int, NDArray[np.int32]]:
        if self._grid is None:
            self._grid = _build_grid(self)
        return self._grid

    def shapes_near(self, x: float, y: float, radius_m: float) -> NDArray[np.int32]:
        """Shapes with a segment in a grid cell within ``radius_m`` of (x, y) (a superset)."""
        r = int(np.ceil(radius_m / CELL_M))
        cx, cy = int(np.floor(x / CELL_M)), int(np.floor(y / CELL_M))
        found = []
        grid = self.grid
        for ix in range(cx - r, cx + r + 1):
            for iy in range(cy - r, cy + r + 1):
                hit = grid.get(_cell_key(ix, iy))
                if hit is not None:
                    found.append(hit)
        if not found:
            return np.zeros(0, dtype=np.int32)
        return np.unique(np.concatenate(found))

    # ------------------------------------------------------------------ trip instances
    def instances_around(self, now: float) -> DayInstances:
        """Instances of the service dates that may be running at ``now`` (cached per date)."""
        today = dt.datetime.fromtimestamp(now, self.index.tz).date()
        key = today.toordinal()
        found = self._days.get(key)
        if found is None:
            if len(self._days) > 4:
                self._days.clear()
            found = self._days[key] = _day_instances(self.index, today)
        return found

    def trips_running_on(self, day: dt.date) -> NDArray[np.bool_]:
        """``ScheduleIndex.trips_running_on``, cached per date (a pass over every trip)."""
        found = self._running.get(day)
        if found is None:
            if len(self._running) > 8:
                self._running.clear()
            found = self._running[day] = self.index.trips_running_on(day)
        return found

    def block_trips_ordered(self, block: int) -> I64:
        """Trips of ``block`` sorted by first departure."""
        if self._block_order is None:
            ix = self.index
            order = np.lexsort((ix.trip_first_dep_s, ix.trip_block))
            order = order[ix.trip_block[order] >= 0]
            blocks = ix.trip_block[order]
            bounds = np.flatnonzero(np.diff(blocks)) + 1
            self._block_order = {
                int(ix.trip_block[g[0]]): g for g in np.split(order, bounds) if len(g)
            }
        return self._block_order.get(block, np.zeros(0, dtype=np.int64))

    def instance(self, trip: int, day: dt.date, offset_s: int = 0, frequency: bool = False) -> TripInstance:
        ix = self.index
        start = ix.day_start(day)
        b = start + float(ix.trip_first_dep_s[trip]) + offset_s
        e = start + float(ix.trip_last_arr_s[trip]) + offset_s
        return TripInstance(trip, day, start, offset_s, b, e, frequency)

    def sched_time_at(self, trip: int, dist_m: F64 | float) -> F64:
        """Scheduled seconds-of-day at distances along ``trip``, interpolated between calls:
        at a call the bus is due at its arrival; between calls it runs from departure to the
        next arrival."""
        ix = self.index
        rows = ix.trip_calls(trip)
        d = ix.st_dist_m[rows]
        arr = ix.st_arr_s[rows].astype(np.float64)
        dep = ix.st_dep_s[rows].astype(np.float64)
        # knots: (d_i, arr_i), (d_i + eps, dep_i) so a dwell shows as a step
        xs = np.empty(2 * len(d))
        ys = np.empty(2 * len(d))
        xs[0::2] = d
        xs[1::2] = d + 1e-3
        ys[0::2] = arr
        ys[1::2] = dep
        xs = np.maximum.accumulate(xs)
        return np.interp(np.asarray(dist_m, dtype=np.float64), xs, ys)


#: Time-of-day bands the models learn separately (hour of the service day where each starts).
BAND_STARTS_H = (0, 6, 7, 9, 12, 15, 17, 19)
N_BANDS = len(BAND_STARTS_H)
_HOUR_BAND = np.searchsorted(np.array(BAND_STARTS_H), np.arange(24), side="right").astype(np.int8) - 1


def band_of_seconds(seconds_of_day: NDArray[np.int64] | int) -> NDArray[np.int8]:
    """Band of GTFS seconds (times past 24:00 wrap to the next morning's hours)."""
    hours = (np.asarray(seconds_of_day, dtype=np.int64) // 3600) % 24
    return _HOUR_BAND[hours]


def _cell_key(ix: int | I64, iy: int | I64) -> int | I64:
    return (ix + (1 << 20)) * (1 << 21) + (iy + (1 << 20))


def _build_grid(net: TrackingNetwork) -> dict[int, NDArray[np.int32]]:
    ix = net.index
    seg = np.flatnonzero(net.seg_len > 0)
    if len(seg) == 0:
        # single-point shapes: index the points themselves
        seg = np.arange(len(ix.shape_x))
    steps = np.maximum(1, np.ceil(net.seg_len[seg] / (CELL_M / 2)).astype(np.int64)) + 1
    rep = np.repeat(seg, steps)
    offsets = np.arange(int(steps.sum())) - np.repeat(np.cumsum(steps) - steps, steps)
    frac = offsets / np.repeat(steps - 1, steps).clip(min=1)
    px = ix.shape_x[rep] + frac * net.seg_dx[rep]
    py = ix.shape_y[rep] + frac * net.seg_dy[rep]
    cells = _cell_key(np.floor(px / CELL_M).astype(np.int64), np.floor(py / CELL_M).astype(np.int64))
    shapes = net.point_shape[rep].astype(np.int64)
    pairs = np.unique(np.asarray(cells, dtype=np.int64) * 1_000_000 + shapes)
    cell_of = pairs // 1_000_000
    shape_of = (pairs % 1_000_000).astype(np.int32)
    bounds = np.flatnonzero(np.diff(cell_of)) + 1
    out: dict[int, NDArray[np.int32]] = {}
    for part_cells, part_shapes in zip(np.split(cell_of, bounds), np.split(shape_of, bounds), strict=True):
        if len(part_cells):
            out[int(part_cells[0])] = part_shapes
    return out


def _day_instances(index: ScheduleIndex, today: dt.date) -> DayInstances:
    trips: list[NDArray[np.int64]] = []
    offsets: list[NDArray[np.int64]] = []
    starts: list[F64] = []
    ends: list[F64] = []
    day_starts: list[F64] = []
    ordinals: list[NDArray[np.int64]] = []
    freqs: list[NDArray[np.bool_]] = []
    has_freq = np.diff(index.trip_freq_start) > 0
    for delta in (-1, 0, 1):
        day = today + dt.timedelta(days=delta)
        start = index.day_start(day)
        running = index.trips_running_on(day)
        plain = np.flatnonzero(running & ~has_freq)
        trips.append(plain)
        offsets.append(np.zeros(len(plain), dtype=np.int64))
        starts.append(start + index.trip_first_dep_s[plain].astype(np.float64))
        ends.append(start + index.trip_last_arr_s[plain].astype(np.float64))
        day_starts.append(np.full(len(plain), start))
        ordinals.append(np.full(len(plain), day.toordinal(), dtype=np.int64))
        freqs.append(np.zeros(len(plain), dtype=bool))
        for trip in np.flatnonzero(running & has_freq):
            offs = frequency_offsets(index, int(trip))
            span = float(index.trip_last_arr_s[trip] - index.trip_first_dep_s[trip])
            b = start + float(index.trip_first_dep_s[trip]) + offs
            trips.append(np.full(len(offs), trip, dtype=np.int64))
            offsets.append(offs)
            starts.append(b)
            ends.append(b + span)
            day_starts.append(np.full(len(offs), start))
            ordinals.append(np.full(len(offs), day.toordinal(), dtype=np.int64))
            freqs.append(np.ones(len(offs), dtype=bool))
    all_trips: I64 = np.concatenate(trips).astype(np.int64)
    by_trip, trip_start = _csr(all_trips, index.n_trips)
    by_shape, shape_start = _csr(index.trip_shape[all_trips].astype(np.int64), len(index.shape_ids))
    return DayInstances(
        trip=all_trips.astype(np.int32), offset_s=np.concatenate(offsets).astype(np.int32),
        start_ts=np.concatenate(starts), end_ts=np.concatenate(ends),
        day_start_ts=np.concatenate(day_starts), day_ordinal=np.concatenate(ordinals),
        frequency=np.concatenate(freqs), by_trip=by_trip, trip_start=trip_start, by_shape=by_shape,
        shape_start=shape_start,
    )


def shape_distance_scale(slack_m: F64, off_route_m: float) -> F64:
    """Factor turning a distance from a shape segment into an effective one: 1 on real shapes,
    smaller on long straight stand-ins for roads."""
    return off_route_m / np.maximum(off_route_m, slack_m)


def _running_clock(ix: ScheduleIndex, first: NDArray[np.bool_]) -> tuple[F64, F64]:
    """Arrival and departure seconds per call, with runs of calls the timetable gives no time
    between (arrival no later than the previous call's departure) spread by distance between
    the call before the run and the first call after it with a later time.  A run that reaches
    the end of its trip keeps the timetable's times."""
    arr = ix.st_arr_s.astype(np.float64)
    dep = ix.st_dep_s.astype(np.float64)
    n = len(arr)
    if n < 2:
        return arr, dep
    flat = np.zeros(n, dtype=bool)
    flat[1:] = (arr[1:] <= dep[:-1]) & ~first[1:]
    if not flat.any():
        return arr, dep
    idx = np.arange(n)
    # the call before each run (last call at or before r that is not flat) ...
    before = np.maximum.accumulate(np.where(flat, 0, idx))
    # ... and the first call after it that is not flat (n where none)
    after = np.minimum.accumulate(np.where(flat, n, idx)[::-1])[::-1]
    rows = np.flatnonzero(flat)
    a, b = before[rows], after[rows]
    same_trip = (b < n) & (ix.st_trip[np.minimum(b, n - 1)] == ix.st_trip[rows])
    rows, a, b = rows[same_trip], a[same_trip], b[same_trip]
    da = ix.st_dist_m[a]
    span_m = ix.st_dist_m[b] - da
    # by distance where the calls are apart along the shape, else by their count
    frac = np.where(span_m > 1.0, (ix.st_dist_m[rows] - da) / np.maximum(span_m, 1.0), (rows - a) / (b - a))
    t = dep[a] + np.clip(frac, 0.0, 1.0) * (arr[b] - dep[a])
    clock_arr = arr.copy()
    clock_dep = dep.copy()
    clock_arr[rows] = t
    clock_dep[rows] = t + (dep[rows] - arr[rows])
    return clock_arr, clock_dep
