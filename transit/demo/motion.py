"""How one bus drives one trip: a piecewise-linear trajectory of distance along the shape in time.

The plan is drawn when the bus starts the trip, from the trip's own random stream, so it does
not depend on how often anyone asks where the bus is.  Running times start from the schedule
(smoothed where the feed rounds times to the minute), then traffic changes them: a time-of-day
speed factor (slow peaks, quick evenings), a factor for the whole trip (a slow driver, a wet
day), one per segment, rare jams, and red lights that stop the bus between stops.  Dwell is
random and longer at busy stops and in the peaks; quiet stops are often passed without
stopping.  A bus never leaves a timepoint more than ``early_tolerance_s`` ahead of schedule
(drivers wait), never leaves its first stop before the scheduled time, and so a delay, once
built up, carries on through the layover into the next trip of the block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from transit.demo.duties import TripRun
from transit.schedule.index import ScheduleIndex

F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class DrivingModel:
    #: Speed relative to what the schedule assumes, by hour: Gaussian dips (centre h, width h, depth).
    peaks: tuple[tuple[float, float, float], ...] = ((7.75, 0.9, 0.10), (17.75, 1.0, 0.12), (12.25, 1.2, 0.04))
    #: Share of the peak dips felt on Saturdays and Sundays.
    weekend_peaks: float = 0.35
    #: Speed bonus before 06:30 and after 20:30 (empty roads).
    off_hours_bonus: float = 0.06
    segment_sigma: float = 0.15  # log-normal spread of each stop-to-stop segment
    trip_sigma: float = 0.07  # log-normal spread shared by a whole trip
    jam_probability: float = 0.01  # per segment: a jam adds jam_s
    jam_s: tuple[float, float] = (60.0, 300.0)
    signal_probability: float = 0.4  # per segment longer than signal_min_m: a red light
    signal_min_m: float = 250.0
    signal_s: tuple[float, float] = (8.0, 45.0)
    max_speed_mps: float = 22.0
    min_speed_mps: float = 1.5
    dwell_base_s: float = 6.0
    #: Mean extra dwell at the busiest stop (scaled by the stop's busy weight, 0..1).
    dwell_busy_s: float = 24.0
    peak_dwell: float = 1.25  # dwell factor in the weekday peaks
    max_dwell_s: float = 120.0
    #: Chance of passing a stop nobody uses without stopping, at the quietest stop.
    skip_quiet: float = 0.45
    alight_s: tuple[float, float] = (12.0, 40.0)  # at the last stop
    start_delay_s: tuple[float, float] = (0.0, 40.0)  # leaving the first stop after the scheduled time
    early_tolerance_s: float = 60.0
    min_layover_s: float = 60.0

    def speed_factor(self, hours: F64, weekend: bool) -> F64:
        h = np.asarray(hours, dtype=np.float64)
        f = np.ones_like(h)
        scale = self.weekend_peaks if weekend else 1.0
        for centre, width, depth in self.peaks:
            f -= scale * depth * np.exp(-(((h - centre) / width) ** 2))
        f += np.where((h < 6.5) | (h > 20.5), self.off_hours_bonus, 0.0)
        return f

    def is_peak(self, hours: F64, weekend: bool) -> NDArray[np.bool_]:
        h = np.asarray(hours)
        peak = ((h >= 7.0) & (h < 9.0)) | ((h >= 17.0) & (h < 19.0))
        return peak & (not weekend)


@dataclass(frozen=True, slots=True)
class RunPlan:
    """Breakpoints (time, distance along the shape) of one trip, and the calls as driven."""

    t: F64
    dist_m: F64
    arrival_ts: F64  # per call: when the bus reached the stop (the first: when it got there)
    departure_ts: F64  # per call: when it left (the last: when it finished letting people off)

    @property
    def end_ts(self) -> float:
        return float(self.departure_ts[-1])


def nominal_running_s(index: ScheduleIndex, rows: slice, dist: F64, model: DrivingModel) -> F64:
    """Scheduled running time per segment, smoothed over stops that share a (rounded) time."""
    arr = index.st_arr_s[rows].astype(np.float64)
    dep = index.st_dep_s[rows].astype(np.float64)
    r = np.maximum(arr[1:] - dep[:-1], 0.0)
    cum = np.concatenate([[0.0], np.cumsum(r)])
    n = len(dist)
    knots = np.unique(np.concatenate([[0, n - 1], np.flatnonzero(r > 0) + 1]))
    smooth = np.interp(dist, dist[knots], cum[knots]) if len(knots) > 1 else cum
    nominal = np.diff(smooth)
    dd = np.diff(dist)
    nominal = np.maximum(nominal, dd / model.max_speed_mps)
    return np.minimum(nominal, np.maximum(dd / model.min_speed_mps, 0.0))


def plan_run(
    index: ScheduleIndex, run: TripRun, at_stop_ts: float, ready_ts: float, rng: np.random.Generator,
    model: DrivingModel, busy: F64,
) -> RunPlan:
    """Drive ``run``: the bus is at the first stop from ``at_stop_ts`` and may leave from
    ``ready_ts`` (after its minimum layover), but not before the scheduled departure."""
    rows = index.trip_calls(run.trip)
    n = rows.stop - rows.start
    dist = index.st_dist_m[rows]
    base = run.day_start_ts + run.offset_s
    s_dep = base + index.st_dep_s[rows].astype(np.float64)
    stops = index.st_stop[rows]
    weekend = run.service_date.weekday() >= 5
    hours = ((s_dep - run.day_start_ts) / 3600.0) % 24.0
    dd = np.diff(dist)

    # every random draw, in a fixed order, so a trip's plan depends only on its stream
    seg_noise = rng.normal(0.0, model.segment_sigma, n - 1)
    trip_noise = rng.normal(0.0, model.trip_sigma)
    jam_u = rng.random(n - 1)
    jam_s = rng.uniform(*model.jam_s, n - 1)
    sig_u = rng.random(n - 1)
    sig_s = rng.uniform(*model.signal_s, n - 1)
    sig_f = rng.uniform(0.3, 0.9, n - 1)
    skip_u = rng.random(n)
    dwell_g = rng.gamma(2.0, 0.5, n)
    alight = rng.uniform(*model.alight_s)
    start_delay = rng.uniform(*model.start_delay_s)

    speed = model.speed_factor(hours[:-1], weekend) * np.exp(seg_noise + trip_noise)
    moving = np.maximum(nominal_running_s(index, rows, dist, model) / speed, dd / model.max_speed_mps)
    moving += np.where(jam_u < model.jam_probability, jam_s, 0.0)
    signal = np.where((dd > model.signal_min_m) & (sig_u < model.signal_probability), sig_s, 0.0)

    w = busy[stops]
    dwell = (model.dwell_base_s + model.dwell_busy_s * w * dwell_g)
    dwell *= np.where(model.is_peak(hours, weekend), model.peak_dwell, 1.0)
    dwell = np.minimum(dwell, model.max_dwell_s)
    quiet = skip_u < model.skip_quiet * (1.0 - w) ** 2
    no_service = (index.st_pickup[rows] == 1) & (index.st_dropoff[rows] == 1)
    dwell[quiet | no_service] = 0.0
    hold = index.st_timepoint[rows]

    arrival = np.empty(n)
    departure = np.empty(n)
    arrival[0] = at_stop_ts
    departure[0] = max(ready_ts, float(s_dep[0])) + start_delay
    for k in range(1, n):
        arrival[k] = departure[k - 1] + moving[k - 1] + signal[k - 1]
        if k == n - 1:
            departure[k] = arrival[k] + alight
        else:
            d = arrival[k] + dwell[k]
            if hold[k]:
                d = max(d, float(s_dep[k]) - model.early_tolerance_s)
            departure[k] = d

    # breakpoints per segment: [red light starts, red light ends, arrive, leave]
    seg_t = np.empty((n - 1, 4))
    seg_d = np.empty((n - 1, 4))
    t_red = departure[:-1] + moving * sig_f
    seg_t[:, 0] = t_red
    seg_t[:, 1] = t_red + signal
    seg_d[:, 0] = seg_d[:, 1] = dist[:-1] + dd * sig_f
    seg_t[:, 2] = arrival[1:]
    seg_t[:, 3] = departure[1:]
    seg_d[:, 2] = seg_d[:, 3] = dist[1:]
    keep = np.empty((n - 1, 4), dtype=bool)
    keep[:, 0] = keep[:, 1] = signal > 0
    keep[:, 2] = True
    keep[:, 3] = departure[1:] > arrival[1:]
    keep[-1, 3] = False  # standing at the last stop needs no breakpoint
    t = np.concatenate([[departure[0]], seg_t[keep]])
    d = np.concatenate([[dist[0]], seg_d[keep]])
    return RunPlan(t, d, arrival, departure)
