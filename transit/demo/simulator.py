"""The bus simulator: buses driving their blocks on any GTFS, reporting noisy GPS fixes.

Pure (no aiohttp, asyncpg or protobuf) and deterministic: the same schedule, seed and start give
the same fixes, however the clock is advanced (one call per second or one per hour), because
every random draw is keyed by what it is for (a duty's trip plans come from the duty's own
stream; a report's jitter and noise are hashed from the vehicle and the report's number).

Usage::

    sim = Simulator(index, seed=1, start_ts=now)          # every duty of the day
    fixes = sim.advance(now + 60)     # list[Fix] with ts <= now + 60, in time order
    sim.truth                         # list[TrueCall]: when each bus really arrived and left
    sim.vehicles                      # list[SimVehicle]: where each bus really is (no noise)

``Simulator(index, *, seed, start_ts, vehicles=None, gps_noise_m=8.0, report_interval_s=10.0,
report_jitter_s=2.0, assignment="trip", model=DrivingModel(), ...)``

- ``vehicles``: how many duties (buses) to run per service date, picked across lines; None: all.
- ``assignment``: what a fix says about its trip, like the real sources do: ``"trip"`` (trip_id,
  route_id, start_date and, for frequency trips, start_time: GTFS-RT AVL), ``"block"`` (block_id
  only: TheTransitClock-style AVL), ``"route"`` (route_id only: JT/T 808 buses know their line),
  ``"none"``, ``"mixed"`` (half trip, a fifth block, a fifth route, a tenth none), or a callable
  ``(vehicle_id, duty) -> one of those``.
- ``gps_noise_m``: standard deviation of the position error along each axis; ``outlier_rate``
  adds rare jumps of 80–300 m (multipath).  Fixes carry speed and bearing.
- ``advance_batch(until)`` returns the same fixes as numpy columns (:class:`FixBatch`), for
  benchmarks that do not need ``Fix`` objects.

How buses behave (see ``duties.py`` and ``motion.py``): each duty is one vehicle's day, a block
or a chain of trips; the bus appears at its first stop ``pullout_s`` before the first trip,
drives each trip along its shape, lays over at the terminal (at least ``model.min_layover_s``),
deadheads in a straight line when the next trip starts elsewhere, and leaves ``pullin_s`` after
its last trip.  Truth records every call of every trip as driven: (vehicle_id, trip_id,
service_date, stop_sequence, stop_id, arrival_ts, departure_ts); a call enters ``truth`` once the
bus has left the stop (departure_ts <= the time advanced to) and only if it left after
``start_ts``.  The first call's arrival is when the bus got to the stop (start of its layover).
"""

from __future__ import annotations

import datetime as dt
import heapq
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from transit.core.fix import Fix
from transit.demo import counter_rng
from transit.demo.duties import Duty, TripRun, build_duties, pick_duties
from transit.demo.motion import DrivingModel, plan_run
from transit.schedule.index import ScheduleIndex
from transit.schedule.service import format_gtfs_date, format_gtfs_time, local_date

F64 = NDArray[np.float64]
Assignment = str | Callable[[str, Duty], str]
#: What a fix says about its assignment: (trip_id, route_id, block_id, start_date, start_time).
Fields = tuple[str | None, str | None, str | None, str | None, str | None]
MODES = ("trip", "block", "route", "none")

_ON_SHAPE, _STRAIGHT = 0, 1
_DEADHEAD_MPS = 8.0


@dataclass(frozen=True, slots=True)
class TrueCall:
    vehicle_id: str
    trip_id: str
    service_date: str  # YYYYMMDD
    stop_sequence: int
    stop_id: str
    arrival_ts: float
    departure_ts: float
    route_id: str = ""
    start_time: str | None = None  # frequency-based trips: the instance's start


@dataclass(frozen=True, slots=True)
class SimVehicle:
    """Where a simulated bus really is at the time last advanced to (no GPS noise)."""

    vehicle_id: str
    label: str | None
    assignment: str
    service_date: str
    block_id: str | None
    trip_id: str | None
    route_id: str | None
    start_time: str | None
    state: str  # layover, moving, stopped, deadhead, pull-in
    lat: float
    lon: float
    dist_m: float | None  # along the trip's shape
    speed_mps: float


@dataclass(frozen=True)
class FixBatch:
    """Fixes as columns, sorted by time; ``fields`` are (trip_id, route_id, block_id, start_date,
    start_time) per fix."""

    vehicle_id: list[str]
    ts: F64
    lat: F64
    lon: F64
    speed_mps: F64
    bearing_deg: F64
    fields: list[Fields]
    label: list[str | None]
    source: str

    def __len__(self) -> int:
        return len(self.vehicle_id)

    def to_fixes(self) -> list[Fix]:
        src = self.source
        return [
            Fix(v, ts, la, lo, sp, be, f[0], f[1], f[2], f[3], f[4], lb, None, src)
            for v, ts, la, lo, sp, be, f, lb in zip(
                self.vehicle_id, self.ts.tolist(), self.lat.tolist(), self.lon.tolist(), self.speed_mps.tolist(),
                self.bearing_deg.tolist(), self.fields, self.label, strict=True,
            )
        ]


@dataclass(slots=True)
class _Leg:
    kind: int
    t: F64
    d: F64  # distance along the shape, or the fraction of a straight deadhead
    t1: float  # when the leg ends
    shape: int
    run: TripRun | None
    line: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


@dataclass(slots=True)
class _Slot:
    duty: Duty
    vehicle_id: str
    label: str | None
    mode: str
    legs: Iterator[_Leg]
    leg: _Leg
    fields: Fields = (None, None, None, None, None)


def duty_vehicle_id(prefix: str, duty: Duty) -> str:
    """The bus that drives ``duty`` (the same bus every day; a second one, suffixed with the
    date, only when the first is still out on the previous day's duty)."""
    return f"{prefix}{duty.number + 1:04d}"


def mixed_mode(seed: int, duty: Duty) -> str:
    """What a bus of the ``"mixed"`` fleet reports: public so that a per-vehicle assignment can
    change some buses and leave the rest as "mixed" would have them."""
    u = counter_rng.uniform(seed, np.array([duty.number], dtype=np.uint64), np.zeros(1, dtype=np.uint64), 8)[0]
    mode = "trip" if u < 0.5 else "block" if u < 0.7 else "route" if u < 0.9 else "none"
    return "trip" if mode == "block" and duty.block_id is None else mode


class Simulator:
    def __init__(
        self,
        index: ScheduleIndex,
        *,
        seed: int,
        start_ts: float,
        vehicles: int | None = None,
        gps_noise_m: float = 8.0,
        report_interval_s: float = 10.0,
        report_jitter_s: float = 2.0,
        time_resolution_s: float = 1.0,
        assignment: Assignment = "trip",
        model: DrivingModel | None = None,
        pullout_s: float = 600.0,
        pullin_s: float = 60.0,
        outlier_rate: float = 0.0,
        vehicle_prefix: str = "bus-",
        label_format: str | None = None,
        record_truth: bool = True,
        source: str = "simulator",
    ) -> None:
        if report_interval_s <= 0:
            raise ValueError("report_interval_s must be positive")
        if isinstance(assignment, str) and assignment not in (*MODES, "mixed"):
            raise ValueError(f"assignment must be one of {', '.join((*MODES, 'mixed'))} or a callable")
        self.index = index
        self.seed = int(seed)
        self.start_ts = float(start_ts)
        self.now = float(start_ts)
        self.limit = vehicles
        self.gps_noise_m = float(gps_noise_m)
        self.interval_s = float(report_interval_s)
        self.resolution_s = float(time_resolution_s)
        self.jitter_s = min(float(report_jitter_s), max(0.0, (self.interval_s - self.resolution_s) / 2))
        self.assignment = assignment
        self.model = model or DrivingModel()
        self.pullout_s = float(pullout_s)
        self.pullin_s = float(pullin_s)
        self.outlier_rate = float(outlier_rate)
        self.prefix = vehicle_prefix
        self.label_format = label_format
        self.record_truth = record_truth
        self.source = source
        self.truth: list[TrueCall] = []

        # per stop: how busy it is (log of its scheduled calls), for dwell times
        calls = np.diff(index.stop_call_start).astype(np.float64)
        self._busy = np.log1p(calls) / max(1.0, float(np.log1p(calls.max()))) if len(calls) else calls
        # one sorted key over all shape points: shape * span + distance, for vectorised lookups
        n_pts = np.diff(index.shape_start)
        self._span = float(index.shape_dist_m.max() + 1000.0) if len(index.shape_dist_m) else 1000.0
        owner = np.repeat(np.arange(len(n_pts), dtype=np.float64), n_pts)
        self._shape_key = owner * self._span + index.shape_dist_m
        running_first = index.trip_first_dep_s[np.diff(index.trip_st_start) >= 2]
        self._earliest_s = float(running_first.min()) if len(running_first) else 0.0

        self._cap = 0
        self._width = 8
        self._slots: list[_Slot | None] = []
        self._free: list[int] = []
        self._active = np.zeros(0, dtype=bool)
        self._t = np.zeros((0, self._width))
        self._d = np.zeros((0, self._width))
        self._t1 = np.zeros(0)
        self._kind = np.zeros(0, dtype=np.int8)
        self._shape = np.zeros(0, dtype=np.int64)
        self._line = np.zeros((0, 4))
        self._next = np.zeros(0)  # next report time (unrounded)
        self._count = np.zeros(0, dtype=np.uint64)  # reports made
        self._vkey = np.zeros(0, dtype=np.uint64)

        self._pending: list[tuple[float, int, Duty]] = []
        self._busy_until: dict[str, float] = {}
        self._truth_heap: list[tuple[float, int, TrueCall]] = []
        self._truth_seq = 0
        self._next_day = local_date(self.start_ts, index.tz) - dt.timedelta(days=1)
        self._stats = {"fixes": 0, "duties_started": 0, "duties_finished": 0}
        self._load_days(self.start_ts)
        self._activate(self.start_ts)

    # ------------------------------------------------------------------ public
    def advance(self, until: float) -> list[Fix]:
        """Run the buses up to ``until``; return the fixes reported in (previous time, until]."""
        return self.advance_batch(until).to_fixes()

    def advance_batch(self, until: float) -> FixBatch:
        until = float(until)
        if until < self.now:
            raise ValueError(f"the simulator is at {self.now}; it cannot go back to {until}")
        self._load_days(until)
        self._activate(until)
        parts: list[tuple[Any, ...]] = []
        while True:
            rows = np.flatnonzero(self._active & (self._next <= until + self.resolution_s))
            ts = self._report_ts(rows)
            rows, ts = rows[ts <= until], ts[ts <= until]
            if rows.size == 0:
                break
            stale = ts > self._t1[rows]
            if stale.any():
                for s in rows[stale]:
                    self._roll(int(s), float(self._report_ts(np.array([s]))[0]))
                rows = rows[self._active[rows]]
                ts = self._report_ts(rows)
            if rows.size:
                parts.append(self._observe(rows, ts))
                self._count[rows] += np.uint64(1)
                jitter = counter_rng.uniform(self.seed, self._vkey[rows], self._count[rows], 0)
                self._next[rows] += self.interval_s + (2.0 * jitter - 1.0) * self.jitter_s
        for s in np.flatnonzero(self._active & (self._t1 <= until)):
            self._roll(int(s), until)
        self.now = until
        self._release_truth(until)
        return self._assemble(parts)

    @property
    def vehicles(self) -> list[SimVehicle]:
        rows = np.flatnonzero(self._active)
        if rows.size == 0:
            return []
        t = np.full(rows.size, self.now)
        x, y, dist, speed, _ = self._positions(rows, t)
        lat, lon = self.index.projection.to_latlon(x, y)
        out = []
        for i, s in enumerate(rows):
            slot = self._slots[s]
            assert slot is not None
            leg = slot.leg
            run = leg.run
            if leg.kind == _STRAIGHT:
                state = "deadhead"
            elif run is None:
                state = "pull-in"
            elif self.now < leg.t[0]:
                state = "layover"
            else:
                state = "moving" if speed[i] > 0 else "stopped"
            trip_id = self.index.trip_ids[run.trip] if run else None
            route_id = self.index.route_ids[self.index.trip_route[run.trip]] if run else None
            out.append(SimVehicle(
                slot.vehicle_id, slot.label, slot.mode, format_gtfs_date(slot.duty.service_date), slot.duty.block_id,
                trip_id, route_id, self._start_time(run), state, float(lat[i]), float(lon[i]),
                float(dist[i]) if leg.kind == _ON_SHAPE else None, float(speed[i]),
            ))
        return sorted(out, key=lambda v: v.vehicle_id)

    def statistics(self) -> dict[str, Any]:
        return {**self._stats, "now": self.now, "vehicles_active": int(self._active.sum()),
                "duties_pending": len(self._pending), "truth_calls": len(self.truth)}

    # ------------------------------------------------------------------ duties
    def _load_days(self, until: float) -> None:
        tz_day = self.index.day_start
        while tz_day(self._next_day) + self._earliest_s - self.pullout_s <= until:
            day = self._next_day
            duties = build_duties(self.index, day, min_layover_s=self.model.min_layover_s)
            for duty in pick_duties(self.index, duties, self.limit):
                heapq.heappush(self._pending, (duty.start_ts - self.pullout_s, duty.key, duty))
            self._next_day = day + dt.timedelta(days=1)

    def _activate(self, until: float) -> None:
        while self._pending and self._pending[0][0] <= until:
            appear, _, duty = heapq.heappop(self._pending)
            if duty.end_ts + 4 * 3600 < self.start_ts:
                continue  # long over before the simulation began
            self._start_duty(duty, appear)

    def _start_duty(self, duty: Duty, appear: float) -> None:
        vehicle_id = duty_vehicle_id(self.prefix, duty)
        if self._busy_until.get(vehicle_id, -math.inf) > appear:
            vehicle_id += f"-{duty.service_date:%m%d}"
        self._busy_until[vehicle_id] = duty.end_ts + 7200.0
        mode = self._mode(vehicle_id, duty)
        label = self.label_format.format(number=duty.number + 1) if self.label_format else None
        legs = self._legs(duty, vehicle_id, appear)
        leg = next(legs)
        s = self._alloc()
        slot = _Slot(duty, vehicle_id, label, mode, legs, leg)
        self._slots[s] = slot
        self._vkey[s] = np.uint64(duty.key)
        self._count[s] = np.uint64(0)
        self._active[s] = True
        self._store(s, leg)
        self._stats["duties_started"] += 1
        first = max(appear, self.start_ts)
        u = counter_rng.uniform(self.seed, self._vkey[s : s + 1], np.zeros(1, dtype=np.uint64), 9)[0]
        self._next[s] = first + u * self.interval_s
        if self._t1[s] < first:
            self._roll(s, first)

    def _mode(self, vehicle_id: str, duty: Duty) -> str:
        a = self.assignment
        if callable(a):
            mode = a(vehicle_id, duty)
            if mode not in MODES:
                raise ValueError(f"assignment for {vehicle_id} returned {mode!r}; expected one of {MODES}")
            return str(mode)
        return a if a != "mixed" else mixed_mode(self.seed, duty)

    def _legs(self, duty: Duty, vehicle_id: str, appear: float) -> Iterator[_Leg]:
        index = self.index
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, self.seed >> 32 & 0xFFFFFFFF, duty.key])
        t = appear
        at: tuple[float, float] | None = None
        last_shape, last_dist = 0, 0.0
        for i, run in enumerate(duty.runs):
            row = int(index.trip_st_start[run.trip])
            stop = int(index.st_stop[row])
            bx, by = float(index.stop_x[stop]), float(index.stop_y[stop])
            if at is not None and math.hypot(bx - at[0], by - at[1]) > 50.0:
                travel = max(60.0, math.hypot(bx - at[0], by - at[1]) / _DEADHEAD_MPS)
                yield _Leg(_STRAIGHT, np.array([t, t + travel]), np.array([0.0, 1.0]), t + travel, -1, run,
                           (at[0], at[1], bx, by))
                t += travel
            ready = t if i == 0 else t + self.model.min_layover_s
            plan = plan_run(index, run, t, ready, rng, self.model, self._busy)
            shape = int(index.trip_shape[run.trip])
            if self.record_truth:
                self._record(vehicle_id, run, plan.arrival_ts, plan.departure_ts)
            yield _Leg(_ON_SHAPE, plan.t, plan.dist_m, plan.end_ts, shape, run)
            t = plan.end_ts
            end_row = int(index.trip_st_start[run.trip + 1]) - 1
            end_stop = int(index.st_stop[end_row])
            at = (float(index.stop_x[end_stop]), float(index.stop_y[end_stop]))
            last_shape, last_dist = shape, float(index.st_dist_m[end_row])
        yield _Leg(_ON_SHAPE, np.array([t]), np.array([last_dist]), t + self.pullin_s, last_shape, None)

    def _roll(self, s: int, t: float) -> None:
        """Move slot ``s`` to the leg that covers ``t``; free it when the duty is over."""
        slot = self._slots[s]
        assert slot is not None
        while self._t1[s] < t:
            leg = next(slot.legs, None)
            if leg is None:
                self._active[s] = False
                self._slots[s] = None
                self._free.append(s)
                self._stats["duties_finished"] += 1
                return
            slot.leg = leg
            self._store(s, leg)

    # ------------------------------------------------------------------ storage
    def _alloc(self) -> int:
        if self._free:
            return self._free.pop()
        if len(self._slots) == self._cap:
            self._grow(max(16, self._cap * 2), self._width)
        self._slots.append(None)
        return len(self._slots) - 1

    def _grow(self, cap: int, width: int) -> None:
        def resize(a: np.ndarray, shape: tuple[int, ...], fill: float) -> np.ndarray:
            out = np.full(shape, fill, dtype=a.dtype)
            out[tuple(slice(0, n) for n in a.shape)] = a
            return out

        # padding times are +inf, so padding distances are never interpolated towards
        self._t = resize(self._t, (cap, width), np.inf)
        self._d = resize(self._d, (cap, width), 0.0)
        self._t1 = resize(self._t1, (cap,), -np.inf)
        self._kind = resize(self._kind, (cap,), 0)
        self._shape = resize(self._shape, (cap,), 0)
        self._line = resize(self._line, (cap, 4), 0.0)
        self._next = resize(self._next, (cap,), np.inf)
        self._count = resize(self._count, (cap,), 0)
        self._vkey = resize(self._vkey, (cap,), 0)
        self._active = resize(self._active, (cap,), False)
        self._cap, self._width = cap, width

    def _store(self, s: int, leg: _Leg) -> None:
        k = len(leg.t)
        if k > self._width:
            self._grow(self._cap, max(k, self._width * 2))
        self._t[s, :k] = leg.t
        self._t[s, k:] = np.inf
        self._d[s, :k] = leg.d
        self._d[s, k:] = leg.d[-1]
        self._t1[s] = leg.t1
        self._kind[s] = leg.kind
        self._shape[s] = max(leg.shape, 0)
        self._line[s] = leg.line
        slot = self._slots[s]
        assert slot is not None
        slot.fields = self._fields(slot, leg.run)

    def _fields(self, slot: _Slot, run: TripRun | None) -> Fields:
        index = self.index
        if slot.mode == "block":
            return (None, None, slot.duty.block_id, None, None)
        last = run or slot.duty.runs[-1]
        if slot.mode == "route":
            return (None, index.route_ids[index.trip_route[last.trip]], None, None, None)
        if slot.mode == "trip" and run is not None:
            return (index.trip_ids[run.trip], index.route_ids[index.trip_route[run.trip]], None,
                    format_gtfs_date(run.service_date), self._start_time(run))
        return (None, None, None, None, None)

    def _start_time(self, run: TripRun | None) -> str | None:
        if run is None or not run.frequency:
            return None
        return format_gtfs_time(int(self.index.trip_first_dep_s[run.trip]) + run.offset_s)

    # ------------------------------------------------------------------ positions
    def _report_ts(self, rows: NDArray[np.int64]) -> F64:
        r = self.resolution_s  # round half up: monotone, so a vehicle's times stay increasing
        return np.floor(self._next[rows] / r + 0.5) * r if r > 0 else self._next[rows]

    def _positions(self, rows: NDArray[np.int64], t: F64) -> tuple[F64, F64, F64, F64, F64]:
        """True x, y, distance (or deadhead fraction), speed and bearing of ``rows`` at ``t``."""
        tm = self._t[rows]
        dm = self._d[rows]
        width = tm.shape[1]
        idx = (tm <= t[:, None]).sum(axis=1)
        i1 = np.clip(idx, 1, width - 1) if width > 1 else np.zeros_like(idx)
        i0 = np.maximum(i1 - 1, 0)
        r = np.arange(rows.size)
        t0, t1 = tm[r, i0], tm[r, i1]
        d0, d1 = dm[r, i0], dm[r, i1]
        span = t1 - t0
        ok = np.isfinite(span) & (span > 0)
        frac = np.where(ok, (t - t0) / np.where(ok, span, 1.0), 0.0)
        inside = ok & (frac > 0) & (frac < 1)
        frac = np.clip(frac, 0.0, 1.0)
        dist = d0 + frac * (d1 - d0)
        rate = np.where(inside, (d1 - d0) / np.where(ok, span, 1.0), 0.0)

        x = np.empty(rows.size)
        y = np.empty(rows.size)
        bearing = np.zeros(rows.size)
        speed = rate.copy()
        kind = self._kind[rows]
        on = kind == _ON_SHAPE
        if on.any():
            index = self.index
            shp = self._shape[rows[on]]
            lo = index.shape_start[shp] + 1
            hi = np.maximum(index.shape_start[shp + 1] - 1, lo)
            j = np.searchsorted(self._shape_key, shp * self._span + dist[on], side="right")
            j = np.clip(j, lo, hi)
            p0 = j - 1
            cum0, cum1 = index.shape_dist_m[p0], index.shape_dist_m[j]
            seg = cum1 - cum0
            g = np.clip(np.where(seg > 0, (dist[on] - cum0) / np.where(seg > 0, seg, 1.0), 0.0), 0.0, 1.0)
            x0, y0, x1, y1 = index.shape_x[p0], index.shape_y[p0], index.shape_x[j], index.shape_y[j]
            x[on] = x0 + g * (x1 - x0)
            y[on] = y0 + g * (y1 - y0)
            bearing[on] = np.degrees(np.arctan2(x1 - x0, y1 - y0))
        st = ~on
        if st.any():
            ax, ay, bx, by = self._line[rows[st]].T
            f = dist[st]
            x[st] = ax + f * (bx - ax)
            y[st] = ay + f * (by - ay)
            bearing[st] = np.degrees(np.arctan2(bx - ax, by - ay))
            speed[st] = rate[st] * np.hypot(bx - ax, by - ay)
        return x, y, dist, speed, np.mod(bearing, 360.0)

    def _observe(self, rows: NDArray[np.int64], ts: F64) -> tuple[Any, ...]:
        x, y, _, speed, bearing = self._positions(rows, ts)
        key, count = self._vkey[rows], self._count[rows]
        seed = self.seed
        if self.gps_noise_m > 0:
            x = x + self.gps_noise_m * counter_rng.normal(seed, key, count, 1)
            y = y + self.gps_noise_m * counter_rng.normal(seed, key, count, 2)
        if self.outlier_rate > 0:
            jump = counter_rng.uniform(seed, key, count, 3) < self.outlier_rate
            if jump.any():
                angle = 2 * np.pi * counter_rng.uniform(seed, key, count, 4)
                size = 80.0 + 220.0 * counter_rng.uniform(seed, key, count, 5)
                x = np.where(jump, x + size * np.sin(angle), x)
                y = np.where(jump, y + size * np.cos(angle), y)
        moving = speed > 0
        speed = np.where(moving, np.maximum(speed * (1.0 + 0.03 * counter_rng.normal(seed, key, count, 6)), 0.0),
                         0.0)
        bearing = np.mod(bearing + 2.0 * counter_rng.normal(seed, key, count, 7), 360.0)
        lat, lon = self.index.projection.to_latlon(x, y)
        slots = [self._slots[s] for s in rows.tolist()]
        return (
            ts, np.round(lat, 6), np.round(lon, 6), np.round(speed, 1), np.mod(np.round(bearing, 0), 360.0),
            key, [sl.vehicle_id for sl in slots], [sl.fields for sl in slots], [sl.label for sl in slots],
        )

    def _assemble(self, parts: list[tuple[Any, ...]]) -> FixBatch:
        if not parts:
            z = np.zeros(0)
            return FixBatch([], z, z, z, z, z, [], [], self.source)
        ts = np.concatenate([p[0] for p in parts])
        key = np.concatenate([p[5] for p in parts])
        order = np.lexsort((key, ts))
        vehicle_ids = [v for p in parts for v in p[6]]
        fields = [f for p in parts for f in p[7]]
        labels = [lb for p in parts for lb in p[8]]
        pick = order.tolist()
        self._stats["fixes"] += len(pick)
        return FixBatch(
            [vehicle_ids[i] for i in pick], ts[order], np.concatenate([p[1] for p in parts])[order],
            np.concatenate([p[2] for p in parts])[order], np.concatenate([p[3] for p in parts])[order],
            np.concatenate([p[4] for p in parts])[order], [fields[i] for i in pick], [labels[i] for i in pick],
            self.source,
        )

    # ------------------------------------------------------------------ truth
    def _record(self, vehicle_id: str, run: TripRun, arrival: F64, departure: F64) -> None:
        index = self.index
        rows = index.trip_calls(run.trip)
        trip_id = index.trip_ids[run.trip]
        route_id = index.route_ids[index.trip_route[run.trip]]
        date = format_gtfs_date(run.service_date)
        start_time = self._start_time(run)
        seqs = index.st_seq[rows].tolist()
        stops = index.st_stop[rows].tolist()
        for k, (a, d) in enumerate(zip(arrival.tolist(), departure.tolist(), strict=True)):
            if d < self.start_ts:
                continue
            call = TrueCall(vehicle_id, trip_id, date, seqs[k], index.stop_ids[stops[k]], a, d, route_id, start_time)
            self._truth_seq += 1
            heapq.heappush(self._truth_heap, (d, self._truth_seq, call))

    def _release_truth(self, until: float) -> None:
        heap = self._truth_heap
        while heap and heap[0][0] <= until:
            self.truth.append(heapq.heappop(heap)[2])
